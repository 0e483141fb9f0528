"""The shipped indicator table: every indicator the loop reads, as one PromQL expression.

:class:`selfheal.monitoring.indicators.IndicatorSet` compiles this table (plus
the ``indicators:`` entries of the configuration, which add to it or replace an
entry of the same name) and evaluates it every cycle over the scraped series
(names and labels of ``docs/local-platform-api.md``). Names come from
:mod:`selfheal.core.indicators`. Pure data; the expressions are standard PromQL,
so the same table can be sent to a Prometheus server.

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


def _sum(by: str, vector: str) -> str:
    return f"sum by ({by}) ({_named(vector, by)})"


def _increase(selector: str) -> str:
    return f"increase({selector}[{WINDOW}])"


def _rate(selector: str) -> str:
    return f"rate({selector}[{WINDOW}])"


def _ratio(failed: str, total: str, minimum: int) -> str:
    """failed / total, 0 while nothing failed, absent below ``minimum`` events."""
    return f"({failed} or {total} * 0) / ({total} >= {minimum})"


def _either(*alternatives: str) -> str:
    return " or ".join(f"({a})" for a in alternatives)


SERVED = f'http_requests_total{{route!~"{PROBES}"}}'
SERVED_FAILED = f'http_requests_total{{route!~"{PROBES}",status=~"5.."}}'
SERVED_BUCKETS = f'http_request_duration_seconds_bucket{{route!~"{PROBES}"}}'
CALLS = 'upstream_requests_total{target!=""}'
CALLS_FAILED = 'upstream_requests_total{target!="",status=~"5..|error"}'
CALL_BUCKETS = 'upstream_request_duration_seconds_bucket{target!=""}'
CALL_COUNT = 'upstream_request_duration_seconds_bucket{target!="",le="+Inf"}'


def _requests(by: str) -> str:
    return _sum(by, _increase(SERVED))


def error_ratio(by: str) -> str:
    """Share of served requests answered 5xx."""
    return _ratio(_sum(by, _increase(SERVED_FAILED)), _requests(by), MIN_REQUESTS)


def latency_p99(by: str) -> str:
    """p99 of served latency from the summed bucket rates (PromQL's ``histogram_quantile``)."""
    buckets = f"sum by ({by}, le) ({_named(_rate(SERVED_BUCKETS), by)})"
    return f"histogram_quantile(0.99, {buckets}) and ({_requests(by)} >= {MIN_REQUESTS})"


def _edge_calls(by: str) -> str:
    return _sum(by, _increase(CALLS))


def upstream_latency_p99(by: str) -> str:
    """p99 of the calls of one edge; emitted while the edge (all instances) made enough calls."""
    buckets = f"sum by ({by}, le) ({_named(_rate(CALL_BUCKETS), by)})"
    enough = f"({_edge_calls(EDGE)} >= {MIN_EDGE_CALLS})"
    return f"histogram_quantile(0.99, {buckets}) and on (service, target) {enough}"


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


def _instance_edge_p99() -> str:
    enough = f"({_sum(EDGE_INSTANCE, _increase(CALL_COUNT))} >= {MIN_INSTANCE_EDGE_CALLS})"
    return f"{upstream_latency_p99(EDGE_INSTANCE)} and {enough}"


def _success(total: str, failed: str) -> str:
    failures, events = _sum(SERVICE, _increase(failed)), _sum(SERVICE, _increase(total))
    return f"clamp_min(1 - {_ratio(failures, events, MIN_BUSINESS_EVENTS)}, 0)"


DEFAULT_INDICATORS: tuple[IndicatorDef, ...] = (
    IndicatorDef(
        ind.UP, f'max by ({INSTANCE}) ({_named("up", INSTANCE)})', "0/1",
        "per instance: 1 when its last scrape succeeded, else 0",
    ),
    IndicatorDef(
        ind.CPU, _sum(INSTANCE, _rate("process_cpu_seconds_total")), "cores",
        "per instance: CPU seconds used per second",
    ),
    IndicatorDef(
        ind.MEMORY, f'max by ({INSTANCE}) ({_named("process_resident_memory_bytes", INSTANCE)})',
        "bytes", "per instance: resident memory",
    ),
    IndicatorDef(
        ind.SATURATION,
        f"max by ({INSTANCE}) "
        f'({_named("pool_connections_in_use / (pool_connections_max > 0)", INSTANCE)})',
        "0..1", "per instance: connections in use over the pool's size",
    ),
    IndicatorDef(
        ind.REQUEST_RATE, _sum(SERVICE, _rate(SERVED)), "1/s",
        "per service: served requests per second, probes left out",
    ),
    IndicatorDef(
        ind.ERROR_RATIO, _either(error_ratio(SERVICE), error_ratio(INSTANCE)), "0..1",
        f"per service and per instance: 5xx share of served requests (>= {MIN_REQUESTS})",
    ),
    IndicatorDef(
        ind.LATENCY_P99, _either(latency_p99(SERVICE), latency_p99(INSTANCE)), "s",
        f"per service and per instance: p99 of served latency (>= {MIN_REQUESTS} requests)",
    ),
    IndicatorDef(
        ind.LATENCY_VS_PEERS,
        vs_peers(latency_p99(INSTANCE), SERVICE, SLOW_SECONDS, PEER_FLOOR_SECONDS), "ratio",
        "per instance: its p99 over its service's other instances' (1 while under "
        f"{SLOW_SECONDS:g} s)",
    ),
    IndicatorDef(
        ind.UPSTREAM_ERROR_RATIO,
        _ratio(_sum(EDGE, _increase(CALLS_FAILED)), _edge_calls(EDGE), MIN_REQUESTS), "0..1",
        f"per call edge (service → target): share of calls that failed (>= {MIN_REQUESTS})",
    ),
    IndicatorDef(
        ind.UPSTREAM_LATENCY,
        _either(upstream_latency_p99(EDGE), upstream_latency_p99(EDGE_INSTANCE)), "s",
        f"per call edge and per instance's edge: p99 of call latency (>= {MIN_EDGE_CALLS} calls)",
    ),
    IndicatorDef(
        ind.UPSTREAM_LATENCY_VS_PEERS,
        vs_peers(_instance_edge_p99(), EDGE, EDGE_SLOW_SECONDS, EDGE_PEER_FLOOR_SECONDS), "ratio",
        "per instance's call edge: its p99 over the same edge's from the other instances "
        f"(1 while under {EDGE_SLOW_SECONDS:g} s)",
    ),
    IndicatorDef(
        ind.POOL_TIMEOUTS, _sum(SERVICE, _rate("pool_wait_timeouts_total")), "1/s",
        "per service: pool waits that timed out, per second",
    ),
    IndicatorDef(
        ind.ORDER_SUCCESS, _success("orders_total", "orders_failed_total"), "0..1",
        f"per service: share of orders that succeeded (>= {MIN_BUSINESS_EVENTS} orders)",
    ),
    IndicatorDef(
        ind.PAYMENT_SUCCESS, _success("payments_total", "payments_failed_total"), "0..1",
        f"per service: share of payments that succeeded (>= {MIN_BUSINESS_EVENTS} payments)",
    ),
)  # fmt: skip

# The call graph: services are the targets' ``service`` labels, edges the callers'
# ``upstream_requests_total{target}`` series, remembered for an hour after their last
# point (a dead instance's edges stay while it is down).
GRAPH_SERVICES = "group by (service) (up)"
GRAPH_EDGES = 'group by (service, target) (last_over_time(upstream_requests_total{target!=""}[1h]))'
