"""The shipped indicator table: every indicator the loop reads, as one PromQL expression.

:class:`selfheal.monitoring.indicators.IndicatorSet` compiles this table (plus
the ``indicators:`` entries of the configuration, which add to it or replace an
entry of the same name) and evaluates it every cycle over the scraped series
(names and labels of ``docs/local-platform-api.md``). Names come from
:mod:`selfheal.core.indicators`. Pure data; the expressions are standard PromQL,
so the same table can be sent to a Prometheus server.

The table is built from a metric :class:`Convention` (where served requests and calls
are counted, what a failure is, how series name their service, instance and callee):
:data:`NATIVE` here, the names of ``docs/local-platform-api.md``, gives
:data:`DEFAULT_INDICATORS`; ``indicator_otel`` builds the OpenTelemetry preset from
the same expressions. What follows describes the native convention; the other keeps
the same semantics over its own names.

``$window`` stands for the range of every ``rate``/``increase``: it is replaced,
when the set is built, by four scrape intervals (``window_seconds``; 4 s with the
demo's 1 s scrapes, 20 s with the default 5 s): Grafana's ``$__rate_interval``, and
the four points (three intervals of observations) the old live deriver read. A
shorter range puts fewer requests behind each instance's p99: with three intervals
(two of observations) the peer ratios of a slow instance's callers flickered over 4
and the end-to-end network-delay test named the caller. What four intervals cost:
Prometheus does not extrapolate a counter that starts inside the range (a new 5xx
series) below its zero while the total is extrapolated to the whole range, so a
fresh failure's ratio reads at about three quarters of its size for its first three
cycles.

What the expressions share:

- an instance is named by the scraper's ``instance_id`` target label where
  there is one, else by ``instance`` (``label_replace(..., "instance", "$1",
  "instance_id", "(.+)")`` leaves a series without ``instance_id`` unchanged);
- probe routes (``/metrics``, ``/health``, ``/healthz``, ``/ready``,
  ``/readyz``) are not served traffic;
- a ratio or a quantile is emitted only from enough events in the window
  (``>= MIN_REQUESTS`` requests, ``>= MIN_EDGE_CALLS`` calls of one edge, ...):
  one failure out of two requests says nothing;
- a failed request is a 5xx; a failed call to a dependency a 5xx or
  ``status="error"`` (connection failure, timeout); ``(failed or total * 0)``
  makes the ratio 0, not absent, while nothing failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selfheal.core import indicators as ind

WINDOW = "$window"
WINDOW_SCRAPES = 4  # the rate/increase range in scrape intervals
PROBES = "/metrics|/health|/healthz|/ready|/readyz"
MIN_REQUESTS = 5  # served requests (or calls of one edge) behind a ratio or a p99
MIN_EDGE_CALLS = 3  # calls of one edge behind its p99: calls are sparser than requests
MIN_INSTANCE_EDGE_CALLS = 2  # one instance's calls of an edge behind its peer ratio
MIN_BUSINESS_EVENTS = 3  # orders / payments behind a business success ratio
SLOW_SECONDS = 0.6  # below this p99 an instance is not slow, whatever its peers do
PEER_FLOOR_SECONDS = 0.01  # the least peer p99 divided by: fast peers do not inflate the ratio
# A call edge is judged against the same edge from the sibling instances, which share the
# host's load: a lower bar is safe there (a 300 ms network delay on one instance's calls
# must stand out), and a higher floor keeps a few fast calls from inflating the ratio.
EDGE_SLOW_SECONDS = 0.3
EDGE_PEER_FLOOR_SECONDS = 0.05
# The same comparison on the median: a delay on every request or call of one instance
# moves its median, a few slow ones among many do not. So the bar can sit under the
# p99's (a 200 ms delay's p99 interpolates to about 0.25 s in the 0.1-0.25 s bucket,
# its median to about 0.175 s) without single slow calls raising it.
MEDIAN_SLOW_SECONDS = 0.15
MEDIAN_PEER_FLOOR_SECONDS = 0.025


@dataclass(frozen=True, slots=True)
class IndicatorDef:
    """One indicator: its name, its expression (with ``$window``), unit and help."""

    name: str
    expr: str
    unit: str = ""
    help: str = ""


SERVICE = "service"
INSTANCE = "service, instance"
EDGE = "service, target"
EDGE_INSTANCE = "service, target, instance"


def _named(vector: str, by: str) -> str:
    """``vector`` with the instance label set from ``instance_id`` when ``by`` is per instance."""
    if "instance" not in by:
        return vector
    return f'label_replace({vector}, "instance", "$1", "instance_id", "(.+)")'


@dataclass(frozen=True, slots=True)
class Convention:
    """Where a metric convention keeps served requests and calls, and how its series
    are named: the one thing a preset of the table changes.

    ``served``/``calls`` are selectors of series that count requests / calls (a
    counter, or a histogram's ``_count``); ``served_failed``/``calls_failed`` are
    selectors whose union counts the failed ones; ``*_buckets`` the latency
    histograms' ``_bucket`` series; ``call_count`` the calls counted per instance's
    edge. ``named(vector, by)`` gives a vector the ``service`` (and, when ``by`` is
    per instance, ``instance``) labels the loop groups by; ``call_named`` does the
    same for call series and also sets ``target``, the callee's service."""

    name: str
    served: str
    served_failed: tuple[str, ...]
    served_buckets: str
    calls: str
    calls_failed: tuple[str, ...]
    call_buckets: str
    call_count: str
    named: Callable[[str, str], str] = _named
    call_named: Callable[[str, str], str] = _named


@dataclass(frozen=True, slots=True)
class IndicatorTable:
    """A preset: every indicator's definition plus the call-graph queries."""

    name: str
    definitions: tuple[IndicatorDef, ...]
    graph_services: str
    graph_edges: str


def _increase(selector: str) -> str:
    return f"increase({selector}[{WINDOW}])"


def _rate(selector: str) -> str:
    return f"rate({selector}[{WINDOW}])"


def _ratio(failed: str, total: str, minimum: int) -> str:
    """failed / total, 0 while nothing failed, absent below ``minimum`` events."""
    return f"({failed} or {total} * 0) / ({total} >= {minimum})"


def _either(*alternatives: str) -> str:
    return " or ".join(f"({a})" for a in alternatives)


def _union(vectors: list[str]) -> str:
    """One vector, or the union of several (disjoint label sets)."""
    return vectors[0] if len(vectors) == 1 else _either(*vectors)


NATIVE = Convention(
    name="native",
    served=f'http_requests_total{{route!~"{PROBES}"}}',
    served_failed=(f'http_requests_total{{route!~"{PROBES}",status=~"5.."}}',),
    served_buckets=f'http_request_duration_seconds_bucket{{route!~"{PROBES}"}}',
    calls='upstream_requests_total{target!=""}',
    calls_failed=('upstream_requests_total{target!="",status=~"5..|error"}',),
    call_buckets='upstream_request_duration_seconds_bucket{target!=""}',
    call_count='upstream_request_duration_seconds_bucket{target!="",le="+Inf"}',
)


class _Builder:
    """The table's expressions over one convention."""

    def __init__(self, c: Convention) -> None:
        self.c = c

    def sum(self, by: str, vector: str) -> str:
        return f"sum by ({by}) ({self.c.named(vector, by)})"

    def requests(self, by: str) -> str:
        return self.sum(by, _increase(self.c.served))

    def error_ratio(self, by: str) -> str:
        """Share of served requests answered 5xx."""
        failed = _union([self.c.named(_increase(s), by) for s in self.c.served_failed])
        return _ratio(f"sum by ({by}) ({failed})", self.requests(by), MIN_REQUESTS)

    def latency_p99(self, by: str, q: float = 0.99) -> str:
        """p99 (or quantile ``q``) of served latency from the summed bucket rates
        (``histogram_quantile``)."""
        buckets = f"sum by ({by}, le) ({self.c.named(_rate(self.c.served_buckets), by)})"
        return f"histogram_quantile({q:g}, {buckets}) and ({self.requests(by)} >= {MIN_REQUESTS})"

    def edge_calls(self, by: str) -> str:
        return f"sum by ({by}) ({self.c.call_named(_increase(self.c.calls), by)})"

    def upstream_error_ratio(self, by: str) -> str:
        failed = _union([self.c.call_named(_increase(s), by) for s in self.c.calls_failed])
        return _ratio(f"sum by ({by}) ({failed})", self.edge_calls(by), MIN_REQUESTS)

    def upstream_latency_p99(self, by: str, q: float = 0.99) -> str:
        """p99 (or quantile ``q``) of the calls of one edge; emitted while the edge (all
        instances) made enough calls."""
        buckets = f"sum by ({by}, le) ({self.c.call_named(_rate(self.c.call_buckets), by)})"
        enough = f"({self.edge_calls(EDGE)} >= {MIN_EDGE_CALLS})"
        return f"histogram_quantile({q:g}, {buckets}) and on (service, target) {enough}"

    def instance_edge_p99(self, q: float = 0.99) -> str:
        count = self.c.call_named(_increase(self.c.call_count), EDGE_INSTANCE)
        enough = f"(sum by ({EDGE_INSTANCE}) ({count}) >= {MIN_INSTANCE_EDGE_CALLS})"
        return f"{self.upstream_latency_p99(EDGE_INSTANCE, q)} and {enough}"

    def success(self, total: str, failed: str) -> str:
        failures, events = self.sum(SERVICE, _increase(failed)), self.sum(SERVICE, _increase(total))
        return f"clamp_min(1 - {_ratio(failures, events, MIN_BUSINESS_EVENTS)}, 0)"


def vs_peers(own: str, group: str, slow: float, floor: float) -> str:
    """Each instance's p99 (``own``, labelled ``group`` + instance) over its peers':
    1.0 while its own p99 is under ``slow``, else own p99 / max(peer p99, ``floor``),
    where the peer p99 is the median of the group's instances' p99s with three or
    more instances and the faster one's with two (the median of two would be their
    mean and halve the ratio); nothing for a group of one.

    The old live deriver divided by the median of the *other* instances; PromQL cannot
    leave an instance out of its own group. For two instances the two agree; with three
    or more the median of all is the median of the others shifted by half a rank."""
    count = f"count by ({group}) ({own})"
    peer = _either(
        f"quantile by ({group}) (0.5, {own}) and {count} > 2",
        f"min by ({group}) ({own}) and {count} == 2",
    )
    slow_ratio = f"(({own}) >= {slow:g}) / on ({group}) group_left () clamp_min({peer}, {floor:g})"
    fast = f"({own}) * 0 + 1 and on ({group}) ({peer})"
    return _either(slow_ratio, fast)


def _larger(a: str, b: str) -> str:
    """The larger of two vectors with the same label sets, per label set (either one
    where the other has no sample)."""
    return f"(({a}) > ({b})) or ({b}) or ({a})"


def vs_peers_tail_or_median(
    quantile: Callable[[float], str], group: str, slow: float, floor: float
) -> str:
    """The larger of the p99 comparison (``vs_peers`` with ``slow``/``floor``) and the
    same comparison on the median (``MEDIAN_SLOW_SECONDS``/``MEDIAN_PEER_FLOOR_SECONDS``);
    ``quantile(q)`` is the per-instance quantile ``q``. The p99 sees a few very slow
    requests, the median a small delay on every one."""
    return _larger(
        vs_peers(quantile(0.99), group, slow, floor),
        vs_peers(quantile(0.5), group, MEDIAN_SLOW_SECONDS, MEDIAN_PEER_FLOOR_SECONDS),
    )


def build_table(c: Convention) -> IndicatorTable:
    """Every indicator of :mod:`selfheal.core.indicators` over convention ``c``."""
    b = _Builder(c)
    definitions = (
        IndicatorDef(
            ind.UP, f'max by ({INSTANCE}) ({c.named("up", INSTANCE)})', "0/1",
            "per instance: 1 when its last scrape succeeded, else 0",
        ),
        IndicatorDef(
            ind.CPU, b.sum(INSTANCE, _rate("process_cpu_seconds_total")), "cores",
            "per instance: CPU seconds used per second",
        ),
        IndicatorDef(
            ind.MEMORY, f'max by ({INSTANCE}) ({c.named("process_resident_memory_bytes", INSTANCE)})',
            "bytes", "per instance: resident memory",
        ),
        IndicatorDef(
            ind.SATURATION,
            f"max by ({INSTANCE}) "
            f'({c.named("pool_connections_in_use / (pool_connections_max > 0)", INSTANCE)})',
            "0..1", "per instance: connections in use over the pool's size",
        ),
        IndicatorDef(
            ind.REQUEST_RATE, b.sum(SERVICE, _rate(c.served)), "1/s",
            "per service: served requests per second, probes left out",
        ),
        IndicatorDef(
            ind.ERROR_RATIO, _either(b.error_ratio(SERVICE), b.error_ratio(INSTANCE)), "0..1",
            f"per service and per instance: 5xx share of served requests (>= {MIN_REQUESTS})",
        ),
        IndicatorDef(
            ind.LATENCY_P99, _either(b.latency_p99(SERVICE), b.latency_p99(INSTANCE)), "s",
            f"per service and per instance: p99 of served latency (>= {MIN_REQUESTS} requests)",
        ),
        IndicatorDef(
            ind.LATENCY_VS_PEERS,
            vs_peers_tail_or_median(
                lambda q: b.latency_p99(INSTANCE, q), SERVICE, SLOW_SECONDS, PEER_FLOOR_SECONDS
            ),
            "ratio",
            "per instance: its p99 over its service's other instances' (1 while under "
            f"{SLOW_SECONDS:g} s), or its median over theirs (1 while under "
            f"{MEDIAN_SLOW_SECONDS:g} s), whichever is larger",
        ),
        IndicatorDef(
            ind.UPSTREAM_ERROR_RATIO, b.upstream_error_ratio(EDGE), "0..1",
            f"per call edge (service → target): share of calls that failed (>= {MIN_REQUESTS})",
        ),
        IndicatorDef(
            ind.UPSTREAM_LATENCY,
            _either(b.upstream_latency_p99(EDGE), b.upstream_latency_p99(EDGE_INSTANCE)), "s",
            f"per call edge and per instance's edge: p99 of call latency (>= {MIN_EDGE_CALLS} calls)",
        ),
        IndicatorDef(
            ind.UPSTREAM_LATENCY_VS_PEERS,
            vs_peers_tail_or_median(
                b.instance_edge_p99, EDGE, EDGE_SLOW_SECONDS, EDGE_PEER_FLOOR_SECONDS
            ),
            "ratio",
            "per instance's call edge: its p99 over the same edge's from the other instances "
            f"(1 while under {EDGE_SLOW_SECONDS:g} s), or its median over theirs (1 while "
            f"under {MEDIAN_SLOW_SECONDS:g} s), whichever is larger",
        ),
        IndicatorDef(
            ind.POOL_TIMEOUTS, b.sum(SERVICE, _rate("pool_wait_timeouts_total")), "1/s",
            "per service: pool waits that timed out, per second",
        ),
        IndicatorDef(
            ind.ORDER_SUCCESS, b.success("orders_total", "orders_failed_total"), "0..1",
            f"per service: share of orders that succeeded (>= {MIN_BUSINESS_EVENTS} orders)",
        ),
        IndicatorDef(
            ind.PAYMENT_SUCCESS, b.success("payments_total", "payments_failed_total"), "0..1",
            f"per service: share of payments that succeeded (>= {MIN_BUSINESS_EVENTS} payments)",
        ),
    )  # fmt: skip
    # The call graph: services are the targets' ``service`` labels, edges the callers'
    # call series, remembered for an hour after their last point (a dead instance's
    # edges stay while it is down).
    services = f"group by (service) ({c.named('up', SERVICE)})"
    edges = f"group by (service, target) ({c.call_named(f'last_over_time({c.calls}[1h])', EDGE)})"
    return IndicatorTable(c.name, definitions, services, edges)


NATIVE_TABLE = build_table(NATIVE)
# The native table's pieces under the names they had before the presets.
SERVED, SERVED_FAILED, SERVED_BUCKETS = (
    NATIVE.served,
    NATIVE.served_failed[0],
    NATIVE.served_buckets,
)
CALLS, CALLS_FAILED = NATIVE.calls, NATIVE.calls_failed[0]
CALL_BUCKETS, CALL_COUNT = NATIVE.call_buckets, NATIVE.call_count
error_ratio = _Builder(NATIVE).error_ratio
latency_p99 = _Builder(NATIVE).latency_p99
upstream_latency_p99 = _Builder(NATIVE).upstream_latency_p99
DEFAULT_INDICATORS: tuple[IndicatorDef, ...] = NATIVE_TABLE.definitions
GRAPH_SERVICES = NATIVE_TABLE.graph_services
GRAPH_EDGES = NATIVE_TABLE.graph_edges
