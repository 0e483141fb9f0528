"""The ``metrics`` and ``alertmanager`` sections of the configuration
(``selfheal.core.config``): where the loop's indicators are evaluated (its embedded
scraper and evaluator, or a Prometheus server's query API), and how Alertmanager's
webhook alerts map onto services and instances (``selfheal.monitoring.alertmanager``)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from selfheal.core.config_section import _Section


class PrometheusSourceConfig(_Section):
    """A Prometheus server the loop reads its indicators from (``metrics.source: prometheus``)."""

    url: str | None = Field(
        default=None,
        description="Base URL of the Prometheus server (its /api/v1/query is called), e.g. "
        "http://prometheus:9090. Required with metrics.source prometheus.",
    )
    bearer_token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding a bearer token sent to Prometheus, read at "
        "start. Default none (no Authorization header).",
    )
    timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds one query may take before the cycle counts Prometheus as "
        "unreachable (the loop keeps its last view). Default 2 s.",
    )

    backfill_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="On the first cycle Prometheus answers, read this many seconds of every "
        "indicator through /api/v1/query_range into the history the root-cause ranker reads "
        "(a restarted loop ranks causes with the recent past). Default 300 s; 0: off.",
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


class MetricsConfig(_Section):
    """Where the indicator table is evaluated."""

    source: Literal["embedded", "prometheus"] = Field(
        default="embedded",
        description="'embedded': the loop scrapes the targets of the scrape section itself "
        "and evaluates the indicator table in-process; 'prometheus': it evaluates the same "
        "expressions through a Prometheus server's query API and scrapes nothing itself "
        "(services and instances come from the series' labels; scrape.interval_seconds must "
        "then say Prometheus's scrape interval: the rate window is four of it). Default "
        "'embedded'.",
    )
    prometheus: PrometheusSourceConfig = Field(default_factory=PrometheusSourceConfig)

    @model_validator(mode="after")
    def _url_for_prometheus(self) -> MetricsConfig:
        if self.source == "prometheus" and not self.prometheus.url:
            raise ValueError("metrics.source 'prometheus' needs metrics.prometheus.url")
        return self


class AlertmanagerConfig(_Section):
    """Alertmanager's webhook receiver on the loop's API (``POST /alertmanager``)."""

    enabled: bool = Field(
        default=True,
        description="Accept Alertmanager webhook notifications on POST /alertmanager (an "
        "operator's or admin's token once api.tokens are configured). Default on.",
    )
    service_labels: list[str] = Field(
        default_factory=lambda: ["service", "job"],
        min_length=1,
        description="Alert labels naming the service, the first present wins. Default "
        "[service, job]; an alert with none of them is refused (counted).",
    )
    instance_labels: list[str] = Field(
        default_factory=lambda: ["instance", "pod"],
        description="Alert labels naming the instance, the first present wins. Default "
        "[instance, pod]; none: the alert is about the whole service.",
    )
    resolved_hold_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a resolved alert's series reads 0 before it stops (so "
        "verification sees it end). Default 30 s.",
    )
