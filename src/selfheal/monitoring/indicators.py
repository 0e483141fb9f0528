"""Indicators: the few numbers per service that detection reads, every cycle.

The loop calls :meth:`IndicatorEngine.compute` (or :meth:`IndicatorEngine.update`,
which also writes the result into a window store) once per cycle after the
scraper has filled the window store with raw series. It turns the shop's raw
counters, gauges and histograms (names in ``docs/local-platform-api.md``) into
typed indicator samples, with PromQL semantics (:mod:`selfheal.monitoring.promql`):
counters become ``increase``/``rate`` over the last ``window_seconds`` with
counter resets handled, histograms become ``histogram_quantile`` over the
summed bucket increases. Probe routes (``/metrics``, ``/health``...) are left
out of served traffic, and ratios are only emitted when at least
``min_requests`` events happened in the window (a ratio of 1 out of 2 says
nothing). Reads the store only; no I/O.

Series are named ``<prefix><indicator>`` (prefix ``indicator:`` by default)
and labelled ``service``; per-instance ones also carry the instance label
(``instance_id`` by default), upstream ones ``target`` (the callee).

=============================  ==========  ==================  ===================================
indicator                      unit        labels              from
=============================  ==========  ==================  ===================================
``up``                         0/1         service, instance   scraper's ``up``
``up_ratio``                   0..1        service             share of instances up
``request_rate``               1/s         service [instance]  rate(http_requests_total)
``error_ratio``                0..1        service [instance]  5xx increase / all increase
``latency_p50_seconds``        s           service [instance]  histogram_quantile(0.5, ...)
``latency_p99_seconds``        s           service [instance]  histogram_quantile(0.99, ...)
``cpu_cores``                  cores       service [instance]  rate(process_cpu_seconds_total);
                                                               service: sum
``memory_bytes``               bytes       service [instance]  process_resident_memory_bytes;
                                                               service: max
``in_flight_requests``         requests    service [instance]  http_requests_in_flight; sum
``pool_saturation``            0..1        service [instance]  pool in_use / max; service: max
``pool_wait_timeouts_per_second``  1/s     service [instance]  rate(pool_wait_timeouts_total)
``upstream_request_rate``      1/s         service, target     rate(upstream_requests_total)
``upstream_error_ratio``       0..1        service, target     status 5xx or ``error`` / all
``upstream_latency_p50_seconds``  s        service, target     histogram_quantile(0.5, ...)
``upstream_latency_p99_seconds``  s        service, target     histogram_quantile(0.99, ...)
``order_success_ratio``        0..1        service             1 - orders_failed / orders
``payment_success_ratio``      0..1        service             1 - payments_failed / payments
=============================  ==========  ==================  ===================================

Computed elsewhere, same naming: ``log_error_rate`` (ERROR log lines per second, per
service) by :mod:`selfheal.monitoring.logs`; ``trace_call_rate`` (1/s),
``trace_error_ratio`` and ``trace_latency_p99_seconds`` (per caller ``service`` and
callee ``target``, from spans) by :mod:`selfheal.monitoring.service_graph`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.promql import histogram_quantile, increase
from selfheal.monitoring.window_store import WindowStore

UP = "up"
UP_RATIO = "up_ratio"
REQUEST_RATE = "request_rate"
ERROR_RATIO = "error_ratio"
LATENCY_P50 = "latency_p50_seconds"
LATENCY_P99 = "latency_p99_seconds"
CPU = "cpu_cores"
MEMORY = "memory_bytes"
IN_FLIGHT = "in_flight_requests"
POOL_SATURATION = "pool_saturation"
POOL_TIMEOUTS = "pool_wait_timeouts_per_second"
UPSTREAM_RATE = "upstream_request_rate"
UPSTREAM_ERROR_RATIO = "upstream_error_ratio"
UPSTREAM_LATENCY_P50 = "upstream_latency_p50_seconds"
UPSTREAM_LATENCY_P99 = "upstream_latency_p99_seconds"
ORDER_SUCCESS = "order_success_ratio"
PAYMENT_SUCCESS = "payment_success_ratio"
LOG_ERROR_RATE = "log_error_rate"
TRACE_CALL_RATE = "trace_call_rate"
TRACE_ERROR_RATIO = "trace_error_ratio"
TRACE_LATENCY_P99 = "trace_latency_p99_seconds"

INDICATORS = (
    UP, UP_RATIO, REQUEST_RATE, ERROR_RATIO, LATENCY_P50, LATENCY_P99, CPU, MEMORY, IN_FLIGHT,
    POOL_SATURATION, POOL_TIMEOUTS, UPSTREAM_RATE, UPSTREAM_ERROR_RATIO, UPSTREAM_LATENCY_P50,
    UPSTREAM_LATENCY_P99, ORDER_SUCCESS, PAYMENT_SUCCESS, LOG_ERROR_RATE, TRACE_CALL_RATE,
    TRACE_ERROR_RATIO, TRACE_LATENCY_P99,
)  # fmt: skip

DEFAULT_PREFIX = "indicator:"


@dataclass(frozen=True, slots=True)
class IndicatorSettings:
    """How indicators are computed."""

    # Range of rate()/increase(), seconds. Must hold at least two scrapes; 3 s with the
    # demo's 1 s scrapes sees a fault within two scrapes yet smooths single requests.
    window_seconds: float = 3.0
    # Served (or upstream) requests in the window below which no ratio or quantile is
    # emitted: too few events to mean anything.
    min_requests: float = 5.0
    # Orders / payments in the window below which no business success ratio is emitted.
    min_business_events: float = 3.0
    # Gauges older than this are not read (Prometheus' lookback delta is 5 min).
    lookback_seconds: float = 300.0
    # Routes that are probes, not user traffic.
    ignore_routes: tuple[str, ...] = ("/metrics", "/health", "/healthz", "/ready", "/readyz")
    prefix: str = DEFAULT_PREFIX
    instance_label: str = "instance_id"

    def __post_init__(self) -> None:
        if self.window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {self.window_seconds}")


def indicator_name(key: SeriesKey, prefix: str = DEFAULT_PREFIX) -> str:
    """The bare indicator name of an indicator series (prefix removed)."""
    return key.name[len(prefix) :] if key.name.startswith(prefix) else key.name


Where = tuple[str, str | None]  # (service, instance or None for the whole service)


def _wheres(service: str, instance: str | None) -> tuple[Where, ...]:
    return ((service, None),) if instance is None else ((service, None), (service, instance))


class IndicatorEngine:
    """Computes every indicator of one cycle from a window store of raw series."""

    def __init__(
        self,
        store: WindowStore,
        settings: IndicatorSettings | None = None,
        output: WindowStore | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or IndicatorSettings()
        self.output = output if output is not None else store
        if self.output is store and not self.settings.prefix:
            raise ValueError("indicators written into the raw store need a prefix (names clash)")

    def update(self, now: float) -> list[Sample]:
        """Compute and append to the output store; returns the samples."""
        samples = self.compute(now)
        self.output.append_many(samples)
        return samples

    # -- reading the raw store ---------------------------------------------------------------
    def _counters(
        self, name: str, now: float
    ) -> Iterator[tuple[dict[str, str], str, str | None, float]]:
        """(labels, service, instance, increase over the window) of every series ``name``."""
        start = now - self.settings.window_seconds
        for _, labels, ts, values in self.store.scan(name, start, now):
            service = labels.get("service")
            if not service:
                continue
            inc = increase(ts, values, start, now)
            if not math.isnan(inc):
                yield labels, service, labels.get("instance_id") or labels.get("instance"), inc

    def _gauges(
        self, name: str, now: float
    ) -> Iterator[tuple[dict[str, str], str, str | None, float]]:
        """(labels, service, instance, newest value) of every fresh, non-stale series ``name``."""
        oldest = now - self.settings.lookback_seconds
        for _, labels, ts, value in self.store.scan_latest(name):
            service = labels.get("service")
            if service and ts >= oldest and not math.isnan(value):
                yield labels, service, labels.get("instance_id") or labels.get("instance"), value

    def _served(self, labels: dict[str, str]) -> bool:
        return labels.get("route") not in self.settings.ignore_routes

    # -- the cycle -----------------------------------------------------------------------
    def compute(self, now: float) -> list[Sample]:
        s = self.settings
        window = s.window_seconds
        out: list[Sample] = []

        def emit(name: str, value: float, service: str, **labels: str | None) -> None:
            if math.isnan(value):
                return
            clean = {"service": service}
            for k, v in labels.items():
                if v is not None:
                    clean[s.instance_label if k == "instance" else k] = v
            out.append(Sample(SeriesKey.of(s.prefix + name, clean), now, float(value)))

        # availability
        up_by_service: dict[str, list[float]] = defaultdict(list)
        for _, service, instance, value in self._gauges("up", now):
            emit(UP, value, service, instance=instance)
            up_by_service[service].append(value)
        for service, values in up_by_service.items():
            emit(UP_RATIO, sum(values) / len(values), service)

        # served requests, per service and per instance
        total: dict[Where, float] = defaultdict(float)
        failed: dict[Where, float] = defaultdict(float)
        for labels, service, instance, inc in self._counters("http_requests_total", now):
            if not self._served(labels):
                continue
            bad = labels.get("status", "").startswith("5")
            for where in _wheres(service, instance):
                total[where] += inc
                if bad:
                    failed[where] += inc
        for (service, instance), n in total.items():
            emit(REQUEST_RATE, n / window, service, instance=instance)
            if n >= s.min_requests:
                emit(ERROR_RATIO, failed[(service, instance)] / n, service, instance=instance)
        buckets: dict[Where, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for labels, service, instance, inc in self._counters(
            "http_request_duration_seconds_bucket", now
        ):
            le = _le(labels)
            if le is None or not self._served(labels):
                continue
            for where in _wheres(service, instance):
                buckets[where][le] += inc
        for (service, instance), b in buckets.items():
            if b.get(math.inf, 0.0) >= s.min_requests:
                emit(LATENCY_P50, histogram_quantile(0.5, b.items()), service, instance=instance)
                emit(LATENCY_P99, histogram_quantile(0.99, b.items()), service, instance=instance)

        # resources, per instance with a service aggregate
        self._per_instance(now, "process_cpu_seconds_total", CPU, True, sum, emit)
        self._per_instance(now, "process_resident_memory_bytes", MEMORY, False, max, emit)
        self._per_instance(now, "http_requests_in_flight", IN_FLIGHT, False, sum, emit)
        self._per_instance(now, "pool_wait_timeouts_total", POOL_TIMEOUTS, True, sum, emit)
        in_use = {
            (svc, inst): v for _, svc, inst, v in self._gauges("pool_connections_in_use", now)
        }
        saturation: dict[str, list[float]] = defaultdict(list)
        for _, service, instance, top in self._gauges("pool_connections_max", now):
            used = in_use.get((service, instance))
            if top > 0 and used is not None:
                if instance is not None:
                    emit(POOL_SATURATION, used / top, service, instance=instance)
                saturation[service].append(used / top)
        for service, values in saturation.items():
            emit(POOL_SATURATION, max(values), service)

        # calls to dependencies, per caller → callee
        edge_total: dict[tuple[str, str], float] = defaultdict(float)
        edge_failed: dict[tuple[str, str], float] = defaultdict(float)
        for labels, service, _, inc in self._counters("upstream_requests_total", now):
            target = labels.get("target")
            if not target:
                continue
            edge_total[(service, target)] += inc
            status = labels.get("status", "")
            if status == "error" or status.startswith("5"):
                edge_failed[(service, target)] += inc
        for (service, target), n in edge_total.items():
            emit(UPSTREAM_RATE, n / window, service, target=target)
            if n >= s.min_requests:
                emit(
                    UPSTREAM_ERROR_RATIO, edge_failed[(service, target)] / n, service, target=target
                )
        edge_buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        for labels, service, _, inc in self._counters(
            "upstream_request_duration_seconds_bucket", now
        ):
            target, le = labels.get("target"), _le(labels)
            if target and le is not None:
                edge_buckets[(service, target)][le] += inc
        for (service, target), b in edge_buckets.items():
            if b.get(math.inf, 0.0) >= s.min_requests:
                emit(
                    UPSTREAM_LATENCY_P50, histogram_quantile(0.5, b.items()), service, target=target
                )
                emit(
                    UPSTREAM_LATENCY_P99,
                    histogram_quantile(0.99, b.items()),
                    service,
                    target=target,
                )

        # business outcomes
        self._success(now, "orders_total", "orders_failed_total", ORDER_SUCCESS, emit)
        self._success(now, "payments_total", "payments_failed_total", PAYMENT_SUCCESS, emit)
        return out

    def _per_instance(
        self,
        now: float,
        metric: str,
        indicator: str,
        is_counter: bool,
        aggregate: Callable[[list[float]], float],
        emit: Callable[..., None],
    ) -> None:
        by_service: dict[str, list[float]] = defaultdict(list)
        if is_counter:
            rows = [
                (svc, inst, inc / self.settings.window_seconds)
                for _, svc, inst, inc in self._counters(metric, now)
            ]
        else:
            rows = [(svc, inst, v) for _, svc, inst, v in self._gauges(metric, now)]
        for service, instance, value in rows:
            if instance is not None:
                emit(indicator, value, service, instance=instance)
            by_service[service].append(value)
        for service, values in by_service.items():
            emit(indicator, aggregate(values), service)

    def _success(
        self,
        now: float,
        total_name: str,
        failed_name: str,
        indicator: str,
        emit: Callable[..., None],
    ) -> None:
        totals: dict[str, float] = defaultdict(float)
        failures: dict[str, float] = defaultdict(float)
        for _, service, _, inc in self._counters(total_name, now):
            totals[service] += inc
        for _, service, _, inc in self._counters(failed_name, now):
            failures[service] += inc
        for service, n in totals.items():
            if n >= self.settings.min_business_events:
                emit(indicator, max(0.0, 1.0 - failures[service] / n), service)


def _le(labels: dict[str, str]) -> float | None:
    raw = labels.get("le")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
