"""One validated configuration for the whole loop, read from YAML.

``selfheal run --config FILE`` and ``selfheal demo`` build a ``Config`` here and
hand its sections to the stages (the loop's wiring reads them; no stage reads
the file itself). Validation happens at this edge with pydantic: unknown keys
are rejected and every error names the dotted key that is wrong, raised as
``ConfigError``. Each field documents its unit and why its default.

This module parses text; ``load_config`` is the one function that reads a file.
The ``guards``/``approval``, ``api`` and ``metrics``/``alertmanager`` sections live in
``config_guards``, ``config_api`` and ``config_sources`` and are importable from here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from selfheal.core.config_api import MIN_TOKEN_CHARS, ApiConfig, ApiTokenConfig, exposure_problem
from selfheal.core.config_guards import ApprovalConfig, GuardsConfig, MaintenanceWindow
from selfheal.core.config_section import _refuse_twice, _Section
from selfheal.core.config_sources import AlertmanagerConfig, MetricsConfig, PrometheusSourceConfig
from selfheal.core.errors import ConfigError
from selfheal.core.yaml_input import load_yaml, validation_problems

__all__ = [
    "MIN_TOKEN_CHARS",
    "ApiConfig",
    "ApiTokenConfig",
    "AlertmanagerConfig",
    "ApprovalConfig",
    "Config",
    "GuardsConfig",
    "MaintenanceWindow",
    "MetricsConfig",
    "PrometheusSourceConfig",
    "exposure_problem",
    "load_config",
    "parse_config",
    "parse_config_text",
]


class ScrapeConfig(_Section):
    """Where metrics come from and how often."""

    targets: list[str] = Field(
        default_factory=list,
        description="Static scrape targets as host:port (each serves /metrics). Default none.",
    )
    discovery_url: str | None = Field(
        default=None,
        description="Prometheus HTTP service-discovery URL returning target groups; re-read every "
        "5 scrape intervals (at least 5 s). Default none (static targets only).",
    )
    interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between scrapes of one target. Default 5 s: a common Prometheus "
        "setting; the demo uses 1 s.",
    )
    timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Seconds before a scrape counts as failed (target down). Default 2 s.",
    )

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> ScrapeConfig:
        if self.timeout_seconds > max(self.interval_seconds, 0.5) * 2:
            raise ValueError("timeout_seconds must be at most twice interval_seconds")
        return self


class LoopConfig(_Section):
    """The engine's own pace."""

    cycle_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds between two cycles of collect → detect → … → act. Default 2 s "
        "(1–5 s keeps detection within two scrape intervals).",
    )
    max_concurrent_actions: int = Field(
        default=2,
        ge=1,
        description="Actions that may run at the same time across incidents. Default 2.",
    )


class RuleConfig(_Section):
    """One live rule over an indicator series; fires when its condition holds."""

    indicator: str = Field(description="Indicator name, e.g. error_ratio, latency_p99_seconds.")
    above: float | None = Field(
        default=None, description="Fire when value > this (unit of the indicator)."
    )
    below: float | None = Field(
        default=None, description="Fire when value < this (unit of the indicator)."
    )
    baseline_factor: float | None = Field(
        default=None,
        gt=1,
        description="Fire when value > factor × the series' learned baseline. Default off.",
    )
    min_value: float = Field(
        default=0.0,
        description="With baseline_factor: never fire below this absolute value. Default 0.",
    )
    for_samples: int = Field(
        default=1, ge=1, description="Consecutive samples the condition must hold. Default 1."
    )
    services: list[str] | None = Field(
        default=None, description="Only these services. Default none = every service."
    )

    @model_validator(mode="after")
    def _one_condition(self) -> RuleConfig:
        if self.above is None and self.below is None and self.baseline_factor is None:
            raise ValueError(f"rule for {self.indicator!r} needs above, below or baseline_factor")
        return self


class IndicatorConfig(_Section):
    """One indicator defined in PromQL, added to the shipped table or replacing its
    entry of the same name (``monitoring.indicator_table``)."""

    name: str = Field(
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Indicator name (a metric name), e.g. error_ratio or queue_depth.",
    )
    expr: str = Field(
        min_length=1,
        description="PromQL expression yielding an instant vector labelled service (and "
        "instance / target); $window stands for the rate range (4 scrape intervals).",
    )
    help: str = Field(default="", description="One line saying what it measures. Default none.")


class DetectionConfig(_Section):
    """Streaming detectors and live rules."""

    rules: list[RuleConfig] | None = Field(
        default=None,
        description="Live rules. Default none = the built-in rule set (analysis.rules.DEFAULT_RULES).",
    )
    detector: str = Field(
        default="seasonalrange",
        min_length=1,
        description="Statistical detector run per series next to the rules: any name of the "
        "detector registry (analysis.detection.registry; `selfheal detector list`), or 'none'. "
        "Default 'seasonalrange' (seasonal baseline with onset scoring, and the novel-range "
        "rule): the detector whose NAB figure and throughput bench/RESULTS.md reports; the loop "
        "runs it vectorised over every series of a cycle. An unknown name is refused at "
        "start-up with the list of known ones.",
    )
    model: str | None = Field(
        default=None,
        description="Path of a trained detector model (`selfheal detector train`); every series "
        "starts from its learned state and keeps learning. Overrides `detection.detector`. "
        "Default none (each series starts untrained). A corrupt or foreign file is refused at "
        "start-up.",
    )
    detector_threshold: float = Field(
        default=0.99,
        ge=0,
        le=1,
        description="Calibrated score in [0, 1] above which the detector flags a sample. "
        "Default 0.99 (evidence only; rules open incidents).",
    )
    warmup_samples: int = Field(
        default=20,
        ge=0,
        description="Samples per series learned before any rule or detector may fire. Default 20 "
        "(one fresh baseline per series; an instance down fires at once).",
    )


class CorrelationConfig(_Section):
    window_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Anomalies within this many seconds of an open incident's last anomaly and "
        "connected to it in the service graph join it. Default 60 s (the seed's temporal window).",
    )
    max_hops: int = Field(
        default=3,
        ge=0,
        description="Graph distance (edges, any direction) that still counts as connected. Default 3.",
    )
    resolve_after_seconds: float = Field(
        default=10.0,
        gt=0,
        description="An incident with no anomaly for this long, and nothing running, resolves. "
        "Default 10 s.",
    )


class RCAConfig(_Section):
    threshold: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="Causes below this confidence are not acted on. Default 0.7 (the seed's).",
    )
    max_causes: int = Field(
        default=10,
        ge=1,
        description="Causes kept per incident (candidates the planner may fall back on). "
        "Default 10.",
    )


class StoreConfig(_Section):
    url: str = Field(
        default="sqlite:///selfheal.db",
        description="SQLAlchemy URL of the state store (audit, intents, incidents, approvals, "
        "strategy outcomes, healed incidents' signatures). Default a SQLite file in the working "
        "directory; postgresql+psycopg://… in production.",
    )


class LocalExecutorConfig(_Section):
    control_url: str | None = Field(
        default=None, description="Base URL of the local platform API (docs/local-platform-api.md)."
    )


class KubernetesExecutorConfig(_Section):
    namespace: str = Field(
        default="default", description="Namespace of the workloads. Default 'default'."
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Path of a kubeconfig. Default the in-cluster service account when running "
        "in a pod, else ~/.kube/config.",
    )
    deployment_name: str = Field(
        default="{service}",
        description="Deployment name of a service ('{service}' is replaced). Default the service name.",
    )
    config_map_name: str = Field(
        default="{service}-config",
        description="ConfigMap holding a service's configuration. Default '{service}-config'.",
    )
    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Timeout of each Kubernetes API call (platform view and actions), seconds. "
        "Default 5 s (an unreachable API server delays a cycle by at most this per call).",
    )

    @field_validator("deployment_name", "config_map_name")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        if value.count("{service}") != 1:
            raise ValueError("must contain '{service}' exactly once")
        return value


class WebhookExecutorConfig(_Section):
    url: str | None = Field(default=None, description="URL that receives each action as JSON POST.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="HTTP timeout. Default 10 s.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    secret_env: str | None = Field(
        default=None,
        description="Environment variable holding the HMAC secret that signs each request "
        "(X-Selfheal-Signature). Default none: unsigned.",
    )


class ExecutorConfig(_Section):
    type: Literal["local", "kubernetes", "webhook"] = Field(
        default="local",
        description="Which platform executes actions and is watched: 'local' (the local "
        "platform API), 'kubernetes' (a namespace, through the official client) or 'webhook' "
        "(a signed POST per action step). Default 'local'.",
    )
    local: LocalExecutorConfig = Field(default_factory=LocalExecutorConfig)
    kubernetes: KubernetesExecutorConfig = Field(default_factory=KubernetesExecutorConfig)
    webhook: WebhookExecutorConfig = Field(default_factory=WebhookExecutorConfig)

    @model_validator(mode="after")
    def _settings_for_type(self) -> ExecutorConfig:
        if self.type == "webhook" and not self.webhook.url:
            raise ValueError("executor type 'webhook' needs webhook.url")
        return self


class PlatformServiceConfig(_Section):
    """One service as configured (see ``PlatformConfig``)."""

    name: str = Field(min_length=1, description="Service name, as in the scraped series.")
    instances: list[str] = Field(
        default_factory=list, description="Instance names (webhook platforms only)."
    )
    criticality: float = Field(
        default=0.5, ge=0, le=1, description="0 (nobody notices) .. 1 (revenue path). Default 0.5."
    )
    external: bool = Field(default=False, description="A provider outside, with a standby.")
    role: str = Field(
        default="",
        description="What the service is to the loop: 'entry', 'cache' (its entries can go "
        "bad: clear it), 'database', or empty for a plain service. Default: what the "
        "platform says (Kubernetes: label or annotation selfheal.io/role), else plain.",
    )
    dependencies: dict[str, str] = Field(
        default_factory=dict, description="Dependency name -> its current target."
    )


class PlatformConfig(_Section):
    """What the platform view cannot read from the platform itself. With
    ``executor.type: webhook`` these entries are every service the loop knows; with
    ``kubernetes`` they add criticality, dependencies and external providers to the
    Deployments read from the namespace (their ``instances`` are ignored there)."""

    services: list[PlatformServiceConfig] = Field(
        default_factory=list,
        description="Services: {name, instances, criticality, external, role, dependencies}. "
        "Default none.",
    )

    @field_validator("services")
    @classmethod
    def _unique(cls, value: list[PlatformServiceConfig]) -> list[PlatformServiceConfig]:
        _refuse_twice("listed twice", [s.name for s in value])
        return value


class LogsConfig(_Section):
    """Log sources. The loop tails them each cycle and hands the lines around an
    incident to the root-cause ranker (new, surging or vanished log templates)."""

    globs: list[str] = Field(
        default_factory=list,
        description="Glob patterns of JSON-lines log files to tail. Default none.",
    )
    discovery_url: str | None = Field(
        default=None,
        description="URL listing log files ({'files': [{service, path}]}). Default none.",
    )


class OtlpConfig(_Section):
    """Trace receiver (OTLP/HTTP, protobuf or JSON, on 127.0.0.1). The call edges seen
    in traces join the call graph the loop derives from ``upstream_requests_total``."""

    enabled: bool = Field(default=True, description="Run the OTLP/HTTP receiver. Default on.")
    port: int = Field(
        default=4318, ge=0, le=65535, description="Receiver port; 0 picks a free one. Default 4318."
    )


class HaConfig(_Section):
    """High availability: several ``selfheal run`` replicas on one shared store
    (PostgreSQL); the one holding the lease acts, the others watch, warm, and the first
    to find the lease expired takes over."""

    enabled: bool = Field(
        default=False,
        description="Lead through a lease (ha.lock) instead of acting alone. Default off "
        "(one replica). Needs a store every replica reaches: store.url on PostgreSQL.",
    )
    lock: Literal["store", "kubernetes"] = Field(
        default="store",
        description="What the lease is: 'store' (a row in the shared store) or 'kubernetes' "
        "(a coordination.k8s.io/v1 Lease named ha.lease_name in executor.kubernetes.namespace, "
        "through the executor's credentials; needs executor.type: kubernetes). Either way "
        "intents are fenced by the store's lease row (with 'kubernetes' its epoch is the "
        "Lease's leaseTransitions). Default 'store'.",
    )
    lease_name: str = Field(
        default="selfheal", min_length=1, description="The lease the replicas share."
    )
    replica_name: str | None = Field(
        default=None,
        description="This replica's name in the lease and the audit trail. Default hostname:pid.",
    )
    lease_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Seconds a leader's lease lasts after its last renewal (it renews every "
        "cycle). Default three cycles. A standby tries again the moment the lease it saw "
        "expires, so it takes over this long after the leader's last renewal. With ha.lock "
        "kubernetes rounded up to whole seconds (the Lease's leaseDurationSeconds is an "
        "integer).",
    )


class Config(_Section):
    """The root of the configuration: one section per concern."""

    scrape: ScrapeConfig = Field(default_factory=ScrapeConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    alertmanager: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    correlation: CorrelationConfig = Field(default_factory=CorrelationConfig)
    rca: RCAConfig = Field(default_factory=RCAConfig)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    dry_run: bool = Field(
        default=False, description="Decide and record, but never execute an action. Default off."
    )
    playbooks: str | None = Field(
        default=None, description="Path of a YAML playbook file. Default the shipped playbooks."
    )
    store: StoreConfig = Field(default_factory=StoreConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    otlp: OtlpConfig = Field(default_factory=OtlpConfig)
    ha: HaConfig = Field(default_factory=HaConfig)
    indicators: list[IndicatorConfig] = Field(
        default_factory=list,
        description="Indicators added to the shipped table, or replacing its entry of the same "
        "name: {name, expr, help?}. Expressions are compiled at start. Default none.",
    )
    indicators_preset: Literal["native", "opentelemetry"] = Field(
        default="native",
        description="The metric convention the shipped indicator table reads: 'native' (the "
        "names of docs/local-platform-api.md: http_requests_total, upstream_requests_total, ...) "
        "or 'opentelemetry' (the HTTP semantic conventions as exported to Prometheus: "
        "http_server_request_duration_seconds, http_client_request_duration_seconds; "
        "docs/indicators-opentelemetry.md). The indicators entries apply to either. "
        "Default 'native'.",
    )

    @field_validator("indicators")
    @classmethod
    def _unique_indicators(cls, value: list[IndicatorConfig]) -> list[IndicatorConfig]:
        _refuse_twice("indicator defined twice", [i.name for i in value])
        return value


def parse_config(data: Any, source: str = "configuration") -> Config:
    """Validate a parsed mapping; raise ``ConfigError`` naming every bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(validation_problems(exc))) from None
    exposed = exposure_problem(config.api.host, bool(config.api.tokens))
    if config.api.enabled and exposed:
        raise ConfigError(f"{source}: api.host: {exposed}")
    if config.ha.lock == "kubernetes" and config.executor.type != "kubernetes":
        raise ConfigError(
            f"{source}: ha.lock: 'kubernetes' needs executor.type: kubernetes (the Lease lives "
            f"in executor.kubernetes.namespace), not {config.executor.type!r}"
        )
    return config


def parse_config_text(text: str, source: str = "configuration") -> Config:
    """Parse YAML text into a validated ``Config``."""
    return parse_config(load_yaml(text, source), source)


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    return parse_config_text(text, str(p))
