"""Build a running loop from one ``Config``: the stages, their adapters, the engine.

``selfheal run`` and ``selfheal demo`` call ``build``; it is the only place that
knows which concrete stage fills which port. ``Runtime.close`` releases
everything it opened (HTTP clients, the store).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from selfheal.analysis.correlation import Correlator
from selfheal.analysis.rules import LiveDetection, rules_from_config
from selfheal.core.clock import Clock, SystemClock
from selfheal.core.config import Config
from selfheal.core.errors import ConfigError
from selfheal.core.platform import ServiceState
from selfheal.decision.guards import Guards
from selfheal.decision.planner import Planner
from selfheal.decision.playbook import Playbook
from selfheal.execution.base import Executor
from selfheal.execution.kubernetes import KubernetesExecutor, load_apis, load_coordination_api
from selfheal.execution.kubernetes_view import KubernetesNamespaceView
from selfheal.execution.local import LocalExecutor
from selfheal.execution.runner import ActionRunner
from selfheal.execution.webhook import WebhookExecutor
from selfheal.loop.collector import PrometheusCollector, ScrapeCollector
from selfheal.loop.engine import Engine
from selfheal.loop.jobs import ThreadPool
from selfheal.loop.leadership import Alone, LeaseLeadership
from selfheal.loop.leadership_kubernetes import KubernetesLeaseLeadership
from selfheal.loop.platform import LocalPlatformView, ObservedPlatformView
from selfheal.loop.ports import PlatformView
from selfheal.loop.settings import EngineSettings
from selfheal.loop.stages import (
    GuardsAdapter,
    PlannerAdapter,
    RankerAdapter,
    StoreAdapter,
)
from selfheal.monitoring.alertmanager import AlertInbox
from selfheal.monitoring.indicator_table import WINDOW_SCRAPES
from selfheal.monitoring.indicators import IndicatorSet, window_seconds
from selfheal.monitoring.log_tailer import HttpLogDiscovery, LogTailer
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.otlp import OtlpReceiver
from selfheal.monitoring.prometheus_source import PrometheusSource
from selfheal.monitoring.scraper import HttpServiceDiscovery, Scraper, ScrapeTarget
from selfheal.monitoring.service_graph import ServiceGraph
from selfheal.monitoring.span_window import SpanWindow
from selfheal.monitoring.window_store import WindowStore
from selfheal.store.state import Store, open_store

# The raw series are read only over the indicators' window: a few points beyond it.
RAW_POINTS_PER_SERIES = WINDOW_SCRAPES + 4
# A fleet of a few hundred targets (200 series each) fits before the least recently
# written series are evicted; 16 bytes × 8 points per series bound the points at 13 MB.
RAW_MAX_SERIES = 100_000


@dataclass
class Runtime:
    engine: Engine
    store: Store
    config: Config
    closers: list[Callable[[], None]] = field(default_factory=list)
    otlp_endpoint: str | None = None  # where services send traces, when the receiver runs
    # The windows the ranker reads (indicator history; log lines with a tailer; spans with
    # the OTLP receiver), for a recorder reading them from outside the loop's cycle.
    history: WindowStore | None = None
    log_window: LogWindow | None = None
    span_window: SpanWindow | None = None
    alerts: AlertInbox | None = None  # Alertmanager's webhook receiver feeds it

    def close(self) -> None:
        self.engine.stop()
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):  # closing must not hide the first error
                close()


def build(
    config: Config,
    clock: Clock | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> Runtime:
    """The running loop's parts for ``config``; on a bad setting (``ConfigError`` naming the
    key) everything opened so far is closed again, so nothing is left half-built."""
    closers: list[Callable[[], None]] = []
    try:
        return _build(config, clock or SystemClock(), on_event, closers)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):  # the first error is the one to report
                close()
        raise


def _build(
    config: Config,
    clock: Clock,
    on_event: Callable[[str, dict[str, Any]], None] | None,
    closers: list[Callable[[], None]],
) -> Runtime:
    factory, detector_name = detector_for(config)
    from selfheal.analysis.detection.live import live_fleet

    scrape = config.scrape
    # the indicator table first: a bad configured expression stops the start before
    # anything is opened
    indicators = IndicatorSet.from_config(
        config.indicators,
        window_seconds=window_seconds(scrape.interval_seconds),
        preset=config.indicators_preset,
    )
    # then the metrics source: a source without targets stops the start here too
    source: Scraper | PrometheusSource
    if config.metrics.source == "prometheus":
        source = prometheus_source(config, indicators)
    else:
        source = scraper_for(config, clock)
    closers.append(source.close)
    executor, platform = platform_for(config, clock)
    closers.append(platform.close)
    close_executor = getattr(executor, "close", None)
    if callable(close_executor):
        closers.append(close_executor)
    history = WindowStore(max_points_per_series=600)
    tailer = None
    if config.logs.globs or config.logs.discovery_url:
        tailer = LogTailer(
            config.logs.globs,
            discovery=HttpLogDiscovery(config.logs.discovery_url)
            if config.logs.discovery_url
            else None,
        )
    log_window = LogWindow()
    trace_graph = None
    span_window = None
    otlp_endpoint = None
    if config.otlp.enabled:
        trace_graph = ServiceGraph(clock)
        span_window = SpanWindow(clock)
        receiver = OtlpReceiver(trace_graph, port=config.otlp.port, on_spans=span_window.add)
        try:
            receiver.start()
        except OSError as exc:
            raise ConfigError(
                f"otlp.port: cannot listen on 127.0.0.1:{config.otlp.port} ({exc.strerror});"
                " choose another port, 0 for a free one, or set otlp.enabled: false"
            ) from None
        otlp_endpoint = receiver.endpoint
        closers.append(receiver.stop)
    alerts = None
    if config.alertmanager.enabled:
        am = config.alertmanager
        alerts = AlertInbox(am.service_labels, am.instance_labels, am.resolved_hold_seconds)
    collector: ScrapeCollector | PrometheusCollector
    if isinstance(source, PrometheusSource):
        collector = PrometheusCollector(
            source,
            history,
            clock,
            tailer,
            log_window,
            trace_graph,
            alerts,
            backfill_seconds=config.metrics.prometheus.backfill_seconds,
            step_seconds=scrape.interval_seconds,
        )
    else:
        collector = ScrapeCollector(
            source,
            source.store,
            history,
            clock,
            indicators,
            tailer,
            log_window,
            trace_graph,
            alerts,
        )
    closers.append(collector.close)
    store = open_store(config.store.url, clock)
    closers.append(store.close)
    leadership = leadership_for(config, store)
    runner = ActionRunner(executor, clock)
    det = config.detection
    detection = LiveDetection(
        rules_from_config([r.model_dump() for r in det.rules] if det.rules is not None else None),
        detector_factory=factory,
        detector_name=f"detector:{detector_name}",
        fleet=live_fleet(det.detector, det.model),
        detector_threshold=det.detector_threshold,
        warmup_samples=det.warmup_samples,
    )
    correlator = Correlator(
        window_seconds=config.correlation.window_seconds,
        max_hops=config.correlation.max_hops,
        opens=lambda a: a.detector.startswith("rule:"),
        continuing_seconds=3 * config.loop.cycle_seconds,
    )
    playbook = Playbook.load(config.playbooks) if config.playbooks else Playbook.default()
    guards = Guards(config.guards, clock, approval=config.approval)
    engine = Engine(
        collector=collector,
        platform=platform,
        detection=detection,
        correlator=correlator,
        ranker=RankerAdapter(
            history,
            logs=log_window if tailer is not None else None,
            spans=span_window,
            memory=store.past_incidents,
            max_causes=config.rca.max_causes,
        ),
        planner=PlannerAdapter(Planner(playbook, clock), store.outcomes),
        guards=GuardsAdapter(guards),
        runner=runner,
        store=StoreAdapter(
            store,
            # one replica writes its intents unfenced; replicas fence each under their lease
            fence=None if isinstance(leadership, Alone) else leadership.fence,
        ),
        clock=clock,
        settings=EngineSettings(
            cycle_seconds=config.loop.cycle_seconds,
            rca_threshold=config.rca.threshold,
            approval_expiry_seconds=config.approval.expiry_seconds,
            dry_run=config.dry_run,
            resolve_after_seconds=config.correlation.resolve_after_seconds,
            diagnose_after_seconds=diagnose_after_seconds(config),
        ),
        pool=ThreadPool(config.loop.max_concurrent_actions),
        on_event=on_event,
        leadership=leadership,
    )
    return Runtime(
        engine,
        store,
        config,
        closers,
        otlp_endpoint=otlp_endpoint,
        history=history,
        log_window=log_window if tailer is not None else None,
        span_window=span_window,
        alerts=alerts,
    )


def scraper_for(config: Config, clock: Clock) -> Scraper:
    """The embedded scraper of the ``scrape`` section, over a short raw window store;
    ``ConfigError`` when it names neither targets nor a discovery URL."""
    scrape = config.scrape
    discovery = []
    if scrape.discovery_url:
        discovery.append(
            HttpServiceDiscovery(
                scrape.discovery_url,
                refresh_seconds=max(5.0, scrape.interval_seconds * 5),
                interval_seconds=scrape.interval_seconds,
                timeout_seconds=scrape.timeout_seconds,
            )
        )
    targets = [
        ScrapeTarget(
            t if "://" in t else f"http://{t}/metrics",
            interval_seconds=scrape.interval_seconds,
            timeout_seconds=scrape.timeout_seconds,
        )
        for t in scrape.targets
    ]
    if not targets and not discovery:
        raise ConfigError("scrape: give targets or discovery_url (or metrics.source: prometheus)")
    raw = WindowStore(max_points_per_series=RAW_POINTS_PER_SERIES, max_series=RAW_MAX_SERIES)
    return Scraper(raw, targets=targets, discovery=discovery, clock=clock, max_workers=8)


def prometheus_source(config: Config, indicators: IndicatorSet) -> PrometheusSource:
    """The Prometheus server of ``metrics.prometheus``, evaluating ``indicators``;
    ``ConfigError`` when its token variable is unset. Makes no network call."""
    prom = config.metrics.prometheus
    if not prom.url:
        raise ConfigError("metrics.prometheus.url: required with metrics.source prometheus")
    token = None
    if prom.bearer_token_env:
        token = os.environ.get(prom.bearer_token_env)
        if not token:
            raise ConfigError(
                f"metrics.prometheus.bearer_token_env: environment variable "
                f"{prom.bearer_token_env} is not set"
            )
    return PrometheusSource(
        prom.url, indicators, bearer_token=token, timeout_seconds=prom.timeout_seconds
    )


def diagnose_after_seconds(config: Config) -> float:
    """Evidence gathered before an incident's first diagnosis: most of two cycles, since
    the symptoms one fault causes elsewhere arrive a scrape later. Through Prometheus,
    two of its scrape intervals more: it scrapes its targets at different moments, and
    a rate over a series that just appeared (the first failed request's status code)
    needs two scrapes of it — until then the first caller to show errors may look like
    the only one failing."""
    wait = 1.9 * config.loop.cycle_seconds
    if config.metrics.source == "prometheus":
        wait += 2 * config.scrape.interval_seconds
    return wait


def leadership_for(
    config: Config, store: Store
) -> Alone | LeaseLeadership | KubernetesLeaseLeadership:
    """Alone, or a lease (``ha.enabled``): in the shared store, or a Kubernetes Lease
    (``ha.lock: kubernetes``) fencing intents through the store's lease row. A SQLite store
    only serves replicas on one machine, which is allowed (tests, a warm spare on the same
    host). Building the Kubernetes one makes no network call."""
    ha = config.ha
    if not ha.enabled:
        return Alone()
    name = ha.replica_name or f"{socket.gethostname()}:{os.getpid()}"
    ttl = ha.lease_seconds or 3 * config.loop.cycle_seconds
    if ha.lock == "kubernetes":
        k = config.executor.kubernetes
        try:
            coordination = load_coordination_api(k.kubeconfig)
        except ConfigError as exc:
            raise ConfigError(f"executor.kubernetes.kubeconfig: {exc}") from None
        return KubernetesLeaseLeadership(
            coordination,
            store.leases,
            k.namespace,
            ha.lease_name,
            name,
            ttl,
            timeout_seconds=k.timeout_seconds,
        )
    return LeaseLeadership(store.leases, ha.lease_name, name, ttl)


class _ClosablePlatformView(PlatformView, Protocol):
    def close(self) -> None: ...


def platform_for(config: Config, clock: Clock) -> tuple[Executor, _ClosablePlatformView]:
    """The executor and the platform view for ``executor.type``; ``ConfigError`` naming the
    key when a setting it needs is missing. Constructing them makes no network call."""
    ex = config.executor
    configured = [
        ServiceState(
            name=s.name,
            instances=tuple(s.instances),
            criticality=s.criticality,
            external=s.external,
            role=s.role,
            dependencies=dict(s.dependencies),
        )
        for s in config.platform.services
    ]
    # what the configuration sets explicitly wins over what the platform says
    explicit = {
        s.name: frozenset(s.model_fields_set & {"criticality", "external", "role"})
        for s in config.platform.services
    }
    if ex.type == "local":
        if not ex.local.control_url:
            raise ConfigError("executor.local.control_url: required for the local executor")
        return LocalExecutor(ex.local.control_url), LocalPlatformView(ex.local.control_url)
    if ex.type == "kubernetes":
        k = ex.kubernetes
        try:
            apps, core = load_apis(k.kubeconfig)
        except ConfigError as exc:
            raise ConfigError(f"executor.kubernetes.kubeconfig: {exc}") from None
        executor = KubernetesExecutor(
            k.namespace,
            apps_api=apps,
            core_api=core,
            deployment_name=k.deployment_name,
            config_map_name=k.config_map_name,
            clock=clock,
            timeout_seconds=k.timeout_seconds,
        )
        source = KubernetesNamespaceView(
            k.namespace,
            apps_api=apps,
            core_api=core,
            deployment_name=k.deployment_name,
            config_map_name=k.config_map_name,
            timeout_seconds=k.timeout_seconds,
        )
        # configured instances belong to webhook platforms; here the Pods are the instances
        extra = [dataclasses.replace(s, instances=()) for s in configured]
        return executor, ObservedPlatformView(source, extra, explicit)
    if ex.type == "webhook":
        w = ex.webhook
        if not w.url:
            raise ConfigError("executor.webhook.url: required for the webhook executor")
        secret = None
        if w.secret_env:
            secret = os.environ.get(w.secret_env)
            if not secret:
                raise ConfigError(
                    f"executor.webhook.secret_env: environment variable {w.secret_env} is not set"
                )
        webhook = WebhookExecutor(
            w.url, secret=secret, timeout_seconds=w.timeout_seconds, headers=w.headers, clock=clock
        )
        return webhook, ObservedPlatformView(None, configured)
    raise ConfigError(f"executor.type: unknown executor type {ex.type!r}")


def detector_for(config: Config) -> tuple[Callable[[], Any] | None, str]:
    """The per-series detector factory of ``detection.detector`` / ``detection.model`` and
    the name its anomalies carry; ``ConfigError`` naming the key when either is unusable."""
    from selfheal.analysis.detection.live import UnknownDetector, detector_name, live_factory
    from selfheal.core.errors import ModelFormatError

    det = config.detection
    try:
        factory = live_factory(det.detector, det.model)
    except UnknownDetector as exc:
        raise ConfigError(f"detection.detector: {exc}") from None
    except FileNotFoundError:
        raise ConfigError(f"detection.model: {det.model}: no such file") from None
    except (ModelFormatError, OSError) as exc:
        raise ConfigError(f"detection.model: {exc}") from None
    if det.model is not None and factory is not None:
        return factory, detector_name(factory())
    return factory, det.detector
