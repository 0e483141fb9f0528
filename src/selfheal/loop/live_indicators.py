"""Indicators the live rules read, derived from scraped Prometheus series.

The loop's collector (``selfheal.loop.collector``) calls ``derive`` once per
cycle over the raw window store the scraper fills. Counters become rates and
ratios over a short sliding window (``window_seconds``, default 3 s: long enough
to smooth a handful of requests, short enough to see a fault within two 1 s
scrapes); histograms become p99 by linear interpolation inside the bucket
(Prometheus ``histogram_quantile``). Names follow ``selfheal.analysis.rules``.

Per service (summed over its instances): ``error_ratio``, ``latency_p99_seconds``,
``request_rate``, ``pool_wait_timeouts_per_second``, the business
``order_success_ratio`` / ``payment_success_ratio``; per caller → callee edge:
``upstream_error_ratio``, ``upstream_latency_p99_seconds``; per instance: ``up``,
``cpu_cores``, ``memory_bytes``, ``pool_saturation``. The call graph comes from
the ``upstream_requests_total{target}`` series. Reads the store; no I/O.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import networkx as nx
import numpy as np

from selfheal.core import indicators as ind
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring import promql
from selfheal.monitoring.window_store import WindowStore

MIN_REQUESTS = 5.0  # fewer requests than this in the window: a ratio says nothing
MIN_ORDERS = 3.0
MIN_CALLS = 3.0  # calls to one dependency are sparser than served requests
_PROBES = ("/metrics", "/health", "/ready")


def _service(key: SeriesKey) -> str | None:
    return key.label("service")


def _instance(key: SeriesKey) -> str | None:
    return key.label("instance_id") or key.label("instance")


def _delta(store: WindowStore, key: SeriesKey, since: float) -> tuple[float, float]:
    """Increase of a counter over the window (resets handled, no extrapolation) and
    the time its points span."""
    ts, values = store.window(key, since=since)
    finite = ts[~np.isnan(values)]
    if finite.size < 2:
        return 0.0, 0.0
    return promql.raw_increase(values), float(finite[-1] - finite[0])


def _p99(buckets: dict[float, float]) -> float:
    """Quantile 0.99 from cumulative bucket counts keyed by upper bound
    (PromQL's ``histogram_quantile``; NaN without a ``+Inf`` bucket or counts)."""
    return promql.histogram_quantile(0.99, buckets.items())


SLOW_SECONDS = 0.6  # below this p99 an instance is not slow, whatever its peers do
# A call edge is judged against the same edge from sibling instances: the peers share the
# host's load, so a lower bar is safe there (a 300 ms network delay on one instance's
# calls must stand out); the peer floor keeps a few fast calls from inflating the ratio.
EDGE_SLOW_SECONDS = 0.3
EDGE_PEER_FLOOR_SECONDS = 0.05
MIN_INSTANCE_CALLS = 2.0  # an instance's edge p99 from fewer calls is not compared


def _vs_peers(
    by_instance: dict[str, float], slow: float = SLOW_SECONDS, floor: float = 0.01
) -> dict[str, float]:
    """Each instance's p99 over the median p99 of the others (1.0 when it is fast).

    ``slow``: below this p99 an instance is not slow, whatever its peers do; ``floor``:
    the least peer p99 divided by, so that very fast peers do not inflate the ratio.
    """
    if len(by_instance) < 2:
        return {}
    out = {}
    for inst, value in by_instance.items():
        others = sorted(v for i, v in by_instance.items() if i != inst)
        peer = (
            others[len(others) // 2]
            if len(others) % 2
            else (others[len(others) // 2 - 1] + others[len(others) // 2]) / 2
        )
        out[inst] = value / max(peer, floor) if value >= slow else 1.0
    return out


class IndicatorDeriver:
    """Turns the raw scraped series into the loop's indicator samples."""

    def __init__(self, window_seconds: float = 3.0) -> None:
        self.window_seconds = window_seconds

    def derive(self, raw: WindowStore, now: float) -> tuple[list[Sample], nx.DiGraph]:
        since = now - self.window_seconds - 0.5
        out: list[Sample] = []
        graph = nx.DiGraph()

        def emit(name: str, value: float, **labels: str | None) -> None:
            clean = {k: v for k, v in labels.items() if v is not None}
            out.append(Sample(SeriesKey.of(name, clean), now, value))

        # up, cpu, memory, pool saturation: per instance.
        for key in raw.select("up"):
            svc = _service(key)
            latest = raw.latest(key)
            if svc and latest is not None and not math.isnan(latest.value):
                emit(ind.UP, latest.value, service=svc, instance=_instance(key))
                graph.add_node(svc)
        for key in raw.select("process_cpu_seconds_total"):
            used, span = _delta(raw, key, since)
            if span > 0 and _service(key):
                emit(ind.CPU, used / span, service=_service(key), instance=_instance(key))
        for key in raw.select("process_resident_memory_bytes"):
            latest = raw.latest(key)
            if latest is not None and not math.isnan(latest.value) and _service(key):
                emit(ind.MEMORY, latest.value, service=_service(key), instance=_instance(key))
        in_use = {
            (_service(k), _instance(k)): raw.latest(k)
            for k in raw.select("pool_connections_in_use")
        }
        for key in raw.select("pool_connections_max"):
            top = raw.latest(key)
            now_used = in_use.get((_service(key), _instance(key)))
            if top and now_used and top.value > 0 and not math.isnan(now_used.value):
                emit(
                    ind.SATURATION,
                    now_used.value / top.value,
                    service=_service(key),
                    instance=_instance(key),
                )

        # Served requests: per service.
        # Served requests: per service and per instance (a fault often hits one instance).
        Where = tuple[str, str | None]
        total: dict[Where, float] = defaultdict(float)
        failed: dict[Where, float] = defaultdict(float)
        spans: dict[Where, float] = defaultdict(float)
        for key in raw.select("http_requests_total"):
            svc = _service(key)
            if not svc or key.label("route") in _PROBES:
                continue
            inc, span = _delta(raw, key, since)
            bad = (key.label("status") or "").startswith("5")
            for where in ((svc, None), (svc, _instance(key))):
                total[where] += inc
                spans[where] = max(spans[where], span)
                if bad:
                    failed[where] += inc
        for (svc, inst), n in total.items():
            if spans[(svc, inst)] > 0 and inst is None:
                emit(ind.REQUEST_RATE, n / spans[(svc, inst)], service=svc)
            if n >= MIN_REQUESTS:
                emit(ind.ERROR_RATIO, failed[(svc, inst)] / n, service=svc, instance=inst)
        buckets: dict[Where, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for key in raw.select("http_request_duration_seconds_bucket"):
            svc = _service(key)
            if not svc or key.label("route") in _PROBES:
                continue
            inc, _ = _delta(raw, key, since)
            le = float(key.label("le") or "inf")
            for where in ((svc, None), (svc, _instance(key))):
                buckets[where][le] += inc
        per_instance: dict[str, dict[str, float]] = defaultdict(dict)
        for (svc, inst), b in buckets.items():
            if total.get((svc, inst), 0.0) >= MIN_REQUESTS:
                value = _p99(b)
                if not math.isnan(value):
                    emit(ind.LATENCY_P99, value, service=svc, instance=inst)
                    if inst is not None:
                        per_instance[svc][inst] = value
        for svc, by_inst in per_instance.items():
            for inst, ratio in _vs_peers(by_inst).items():
                emit(ind.LATENCY_VS_PEERS, ratio, service=svc, instance=inst)

        # Calls to dependencies: per edge.
        edge_total: dict[tuple[str, str], float] = defaultdict(float)
        edge_failed: dict[tuple[str, str], float] = defaultdict(float)
        for key in raw.select("upstream_requests_total"):
            svc, target = _service(key), key.label("target")
            if not svc or not target:
                continue
            graph.add_edge(svc, target)
            inc, _ = _delta(raw, key, since)
            edge_total[(svc, target)] += inc
            status = key.label("status") or ""
            if status == "error" or status.startswith("5"):
                edge_failed[(svc, target)] += inc
        for (svc, target), n in edge_total.items():
            if n >= MIN_REQUESTS:
                emit(
                    ind.UPSTREAM_ERROR_RATIO,
                    edge_failed[(svc, target)] / n,
                    service=svc,
                    target=target,
                )
        Edge = tuple[str, str, str | None]
        edge_buckets: dict[Edge, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for key in raw.select("upstream_request_duration_seconds_bucket"):
            svc, target = _service(key), key.label("target")
            if svc and target:
                inc, _ = _delta(raw, key, since)
                le = float(key.label("le") or "inf")
                edge_buckets[(svc, target, None)][le] += inc
                edge_buckets[(svc, target, _instance(key))][le] += inc
        edge_instances: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for (svc, target, inst), b in edge_buckets.items():
            if edge_total.get((svc, target), 0.0) >= MIN_CALLS:
                value = _p99(b)
                if not math.isnan(value):
                    emit(ind.UPSTREAM_LATENCY, value, service=svc, target=target, instance=inst)
                    if inst is not None and b.get(math.inf, 0.0) >= MIN_INSTANCE_CALLS:
                        edge_instances[(svc, target)][inst] = value
        for (svc, target), by_inst in edge_instances.items():
            ratios = _vs_peers(by_inst, EDGE_SLOW_SECONDS, EDGE_PEER_FLOOR_SECONDS)
            for inst, ratio in ratios.items():
                emit(
                    ind.UPSTREAM_LATENCY_VS_PEERS, ratio, service=svc, target=target, instance=inst
                )

        # Pool timeouts and business success rates: per service.
        self._rate(raw, "pool_wait_timeouts_total", ind.POOL_TIMEOUTS, since, emit)
        self._success(raw, "orders_total", "orders_failed_total", ind.ORDER_SUCCESS, since, emit)
        self._success(
            raw, "payments_total", "payments_failed_total", ind.PAYMENT_SUCCESS, since, emit
        )
        return out, graph

    @staticmethod
    def _by_service(raw: WindowStore, name: str, since: float) -> dict[str, tuple[float, float]]:
        sums: dict[str, tuple[float, float]] = {}
        for key in raw.select(name):
            svc = _service(key)
            if not svc:
                continue
            inc, span = _delta(raw, key, since)
            prev = sums.get(svc, (0.0, 0.0))
            sums[svc] = (prev[0] + inc, max(prev[1], span))
        return sums

    def _rate(self, raw: WindowStore, name: str, indicator: str, since: float, emit) -> None:  # type: ignore[no-untyped-def]
        for svc, (inc, span) in self._by_service(raw, name, since).items():
            if span > 0:
                emit(indicator, inc / span, service=svc)

    def _success(  # type: ignore[no-untyped-def]
        self,
        raw: WindowStore,
        total_name: str,
        failed_name: str,
        indicator: str,
        since: float,
        emit,
    ) -> None:
        failed = self._by_service(raw, failed_name, since)
        for svc, (n, _) in self._by_service(raw, total_name, since).items():
            if n >= MIN_ORDERS:
                emit(indicator, 1.0 - failed.get(svc, (0.0, 0.0))[0] / n, service=svc)


def business_services(samples: Iterable[Sample]) -> set[str]:
    return {
        s.series.label("service") or "" for s in samples if s.series.name in ind.BUSINESS_INDICATORS
    }
