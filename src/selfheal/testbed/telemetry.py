"""What every shop instance emits: Prometheus metrics, JSON log lines and OTLP
traces, exactly as ``docs/local-platform-api.md`` promises.

Used only inside an instance process (``instance.py``). The product reads these
signals from outside (scrape, tail, OTLP receive); it never imports this module.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer
from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Metrics:
    """The instance's Prometheus metrics (default registry, so the process
    collector's ``process_cpu_seconds_total`` and ``process_resident_memory_bytes``
    come along)."""

    requests: Counter
    duration: Histogram
    in_flight: Gauge
    upstream_requests: Counter
    upstream_duration: Histogram
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
    service: str, version: str, counters: tuple[str, ...] = (), cache: bool = False
) -> Metrics:
    """Register the contract's metrics; business ones only where the topology puts them."""
    business = {
        name: (
            Counter(name, f"{name.capitalize()} attempted ({service})."),
            Counter(f"{name}_failed", f"{name.capitalize()} failed ({service})."),
        )
        for name in counters
    }
    metrics = Metrics(
        requests=Counter("http_requests", "Served HTTP requests.", ["route", "method", "status"]),
        duration=Histogram(
            "http_request_duration_seconds",
            "Served latency.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
        ),
        in_flight=Gauge("http_requests_in_flight", "Requests being served."),
        upstream_requests=Counter(
            "upstream_requests", "Calls to dependencies.", ["target", "status"]
        ),
        upstream_duration=Histogram(
            "upstream_request_duration_seconds",
            "Latency of calls to dependencies.",
            ["target"],
            buckets=_LATENCY_BUCKETS,
        ),
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
