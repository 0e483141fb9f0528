"""What every shop instance emits: Prometheus metrics, JSON log lines and OTLP
traces, exactly as ``docs/local-platform-api.md`` promises.

The served requests and the calls to dependencies are recorded under one of two
metric conventions, the topology's ``metrics`` key (``docs/topology.md``): the
contract's own names (``native``), or OpenTelemetry's HTTP semantic conventions as
an OpenTelemetry SDK's metrics reach Prometheus through a Collector whose exporter
turns resource attributes into labels (``opentelemetry``): the histograms
``http_server_request_duration_seconds`` and ``http_client_request_duration_seconds``
with the conventions' advised buckets, ``service_name`` and ``service_instance_id``
on every series, and ``http_server_active_requests``. Everything else (process,
pool, business and cache metrics, ``app_info``) is the same in both.

Used only inside an instance process (``instance.py``). The product reads these
signals from outside (scrape, tail, OTLP receive); it never imports this module.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer
from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The HTTP semantic conventions' advised boundaries for the request duration histograms.
OTEL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
NATIVE, OPENTELEMETRY = "native", "opentelemetry"
METRIC_CONVENTIONS = (NATIVE, OPENTELEMETRY)


class HttpMetrics(Protocol):
    """Records served requests and calls to dependencies under one convention."""

    in_flight: Gauge

    def served(self, route: str, method: str, status: int, seconds: float) -> None:
        """One handled request (``route``: the template, ``unmatched`` for none)."""

    def called(
        self, target: str, method: str, port: int | None, status: int | None,
        error: str | None, seconds: float,
    ) -> None:  # fmt: skip
        """One call of dependency ``target``: its status, or ``error`` when no
        response came back (``timeout``, an exception's name)."""


class NativeHttp:
    """The contract's names: ``http_requests_total``, ``upstream_requests_total``, ..."""

    def __init__(self) -> None:
        self.requests = Counter(
            "http_requests", "Served HTTP requests.", ["route", "method", "status"]
        )
        self.duration = Histogram(
            "http_request_duration_seconds", "Served latency.", ["route"], buckets=_LATENCY_BUCKETS
        )
        self.in_flight = Gauge("http_requests_in_flight", "Requests being served.")
        self.upstream_requests = Counter(
            "upstream_requests", "Calls to dependencies.", ["target", "status"]
        )
        self.upstream_duration = Histogram(
            "upstream_request_duration_seconds",
            "Latency of calls to dependencies.",
            ["target"],
            buckets=_LATENCY_BUCKETS,
        )

    def served(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.duration.labels(route=route).observe(seconds)

    def called(
        self, target: str, method: str, port: int | None, status: int | None,
        error: str | None, seconds: float,
    ) -> None:  # fmt: skip
        label = "error" if status is None else str(status)
        self.upstream_requests.labels(target=target, status=label).inc()
        self.upstream_duration.labels(target=target).observe(seconds)


class OtelHttp:
    """OpenTelemetry's HTTP semantic conventions, exported to Prometheus with the
    resource's ``service.name`` / ``service.instance.id`` as labels. An absent
    attribute is an empty label (the same series as no label, to Prometheus)."""

    def __init__(self, service: str, instance_id: str) -> None:
        self._resource = {"service_name": service, "service_instance_id": instance_id}
        resource = list(self._resource)
        self.server = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            [*resource, "http_request_method", "http_route", "http_response_status_code",
             "url_scheme", "error_type"],
            buckets=OTEL_BUCKETS,
        )  # fmt: skip
        self.client = Histogram(
            "http_client_request_duration_seconds",
            "Duration of HTTP client requests.",
            [*resource, "http_request_method", "server_address", "server_port",
             "http_response_status_code", "error_type"],
            buckets=OTEL_BUCKETS,
        )  # fmt: skip
        self.in_flight = Gauge(
            "http_server_active_requests", "Number of active HTTP server requests.", resource
        ).labels(**self._resource)

    def served(self, route: str, method: str, status: int, seconds: float) -> None:
        self.server.labels(
            **self._resource,
            http_request_method=method,
            http_route="" if route == "unmatched" else route,
            http_response_status_code=str(status),
            url_scheme="http",
            error_type=str(status) if status >= 500 else "",
        ).observe(seconds)

    def called(
        self, target: str, method: str, port: int | None, status: int | None,
        error: str | None, seconds: float,
    ) -> None:  # fmt: skip
        # The callee is reached by its service's name, as a cluster's DNS would name it;
        # a client's error_type is the status code on a 4xx/5xx answer.
        failed = status is None or status >= 400
        self.client.labels(
            **self._resource,
            http_request_method=method,
            server_address=target,
            server_port="" if port is None else str(port),
            http_response_status_code="" if status is None else str(status),
            error_type=(error or "_OTHER") if status is None else str(status) if failed else "",
        ).observe(seconds)


def create_http_metrics(convention: str, service: str, instance_id: str) -> HttpMetrics:
    """The served-request and call metrics of ``convention`` (``native`` or ``opentelemetry``)."""
    if convention == OPENTELEMETRY:
        return OtelHttp(service, instance_id)
    if convention == NATIVE:
        return NativeHttp()
    raise ValueError(f"unknown metric convention {convention!r}; known: {METRIC_CONVENTIONS}")


@dataclass(frozen=True, slots=True)
class Metrics:
    """The instance's Prometheus metrics (default registry, so the process
    collector's ``process_cpu_seconds_total`` and ``process_resident_memory_bytes``
    come along)."""

    http: HttpMetrics
    """Served requests and calls, under the topology's metric convention."""
    pool_in_use: Gauge
    pool_max: Gauge
    pool_wait_timeouts: Counter
    app_info: Gauge
    business: dict[str, tuple[Counter, Counter]] = field(default_factory=dict)
    """Counter name (``orders``, ``payments``) → (attempted, failed), for the
    services the topology says emit them."""
    cache_entries: Gauge | None = None
    """Entries held, on a service of role cache."""


def create_metrics(
    service: str,
    version: str,
    counters: tuple[str, ...] = (),
    cache: bool = False,
    *,
    convention: str = NATIVE,
    instance_id: str = "",
) -> Metrics:
    """Register the contract's metrics; business ones only where the topology puts them;
    the HTTP ones under ``convention``."""
    business = {
        name: (
            Counter(name, f"{name.capitalize()} attempted ({service})."),
            Counter(f"{name}_failed", f"{name.capitalize()} failed ({service})."),
        )
        for name in counters
    }
    metrics = Metrics(
        http=create_http_metrics(convention, service, instance_id),
        pool_in_use=Gauge("pool_connections_in_use", "Pool connections held."),
        pool_max=Gauge("pool_connections_max", "Pool size."),
        pool_wait_timeouts=Counter(
            "pool_wait_timeouts", "Calls that found no free pool connection in time."
        ),
        app_info=Gauge("app_info", "Running version.", ["version"]),
        business=business,
        cache_entries=Gauge("cache_entries", "Entries held (cache).") if cache else None,
    )
    metrics.app_info.labels(version=version).set(1)
    return metrics


class JsonLog:
    """One JSON object per line, appended to the instance's log file."""

    def __init__(
        self, stream: TextIO, service: str, instance_id: str, trace_ids: bool = False
    ) -> None:
        self._stream = stream
        self._service = service
        self._instance_id = instance_id
        # With tracing on, each line names the trace and span it was written in
        # (the OpenTelemetry log data model's trace_id / span_id).
        self._trace_ids = trace_ids
        self._lock = threading.Lock()

    def write(self, level: str, msg: str, **fields: Any) -> None:
        record: dict[str, Any] = {
            "ts": time.time(),
            "level": level,
            "service": self._service,
            "instance_id": self._instance_id,
            "msg": msg,
        }
        if self._trace_ids:
            from opentelemetry import trace

            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                record["trace_id"] = format(context.trace_id, "032x")
                record["span_id"] = format(context.span_id, "016x")
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def info(self, msg: str, **fields: Any) -> None:
        self.write("INFO", msg, **fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self.write("WARNING", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.write("ERROR", msg, **fields)


def create_tracer(
    service: str, instance_id: str, version: str, otlp_endpoint: str | None
) -> tuple[Tracer, TracerProvider]:
    """A tracer whose spans go over OTLP/HTTP to ``otlp_endpoint``; with no
    endpoint spans still get ids (for log correlation) but are not exported."""
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": service,
                "service.instance.id": instance_id,
                "service.version": version,
            }
        )
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=otlp_endpoint, timeout=2),
                schedule_delay_millis=1000,
            )
        )
    return provider.get_tracer("selfheal.testbed"), provider
