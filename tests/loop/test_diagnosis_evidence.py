"""Diagnosis reads the symptoms that still hold: a blip that ended is history, not a fact."""

from __future__ import annotations

import networkx as nx

from selfheal.analysis.rules import LiveDetection
from selfheal.analysis.triage import Facts, triage
from selfheal.core import indicators as ind
from selfheal.core.platform import PlanningContext, ServiceState
from selfheal.core.types import Anomaly, Cause, Incident, Sample, SeriesKey
from selfheal.loop.diagnosis import (
    latency_facts,
    latency_rises,
    serving_as_usual,
    still_holding,
)

OWN = SeriesKey.of(ind.ERROR_RATIO, {"service": "web", "instance": "web-1"})
CALLS = SeriesKey.of(ind.UPSTREAM_ERROR_RATIO, {"service": "web", "target": "stock"})


def anomaly(series: SeriesKey, at: float) -> Anomaly:
    return Anomaly(
        "web",
        at,
        0.9,
        f"rule:{series.name}>0.05",
        indicator=series.name,
        instance=series.label("instance"),
        series=series,
    )


def test_a_blip_of_failing_calls_that_ended_does_not_hide_an_instance_failing_alone() -> None:
    detection = LiveDetection(warmup_samples=3, detector_factory=None)
    for t in range(10):  # learn the healthy baseline
        detection.observe([Sample(OWN, float(t), 0.0), Sample(CALLS, float(t), 0.0)])
    # t=10: web's calls to stock fail for a moment (stock restarted); t=11 web-1 starts
    # failing on its own; by t=20 the calls are fine again and web-1 still fails
    detection.observe([Sample(OWN, 10.0, 0.0), Sample(CALLS, 10.0, 0.5)])
    for t in range(11, 21):
        detection.observe([Sample(OWN, float(t), 0.6), Sample(CALLS, float(t), 0.0)])
    inc = Incident("inc-1", 10.0, (anomaly(CALLS, 10.0), anomaly(OWN, 11.0)), frozenset({"web"}))
    now = 20.0
    holding = still_holding(inc, detection, since=now - 3.0)
    assert [a.series for a in holding.anomalies] == [OWN]
    facts = Facts(PlanningContext(services={"web": ServiceState("web", ("web-0", "web-1"))}))
    ranked = [Cause("web", 0.5)]
    # with the blip in the facts, web-1's errors look passed on from stock: no confident cause
    assert triage(ranked, inc, _graph(), facts, 0.7)[0].confidence < 0.7
    # with what still holds, one instance failing alone is a sick process: restart it
    (web,) = [c for c in triage(ranked, holding, _graph(), facts, 0.7) if c.service == "web"]
    assert web.confidence >= 0.7 and web.instance == "web-1"


def test_with_nothing_holding_the_incident_is_kept_whole() -> None:
    detection = LiveDetection(warmup_samples=3, detector_factory=None)
    inc = Incident("inc-1", 1.0, (anomaly(CALLS, 1.0),), frozenset({"web"}))
    assert still_holding(inc, detection, since=50.0) is inc


def _graph() -> nx.DiGraph:
    return nx.DiGraph([("web", "stock")])


def test_errors_that_moved_to_a_sibling_are_not_one_instance_failing_alone() -> None:
    """web-1 failed and was restarted (its errors stopped); now web-0 fails: the errors
    moved, so the fault is the service's (or below it), not web-0's own."""
    first = SeriesKey.of(ind.ERROR_RATIO, {"service": "web", "instance": "web-1"})
    second = SeriesKey.of(ind.ERROR_RATIO, {"service": "web", "instance": "web-0"})
    detection = LiveDetection(warmup_samples=3, detector_factory=None)
    for t in range(10):
        detection.observe([Sample(first, float(t), 0.0), Sample(second, float(t), 0.0)])
    detection.observe([Sample(first, 10.0, 0.6), Sample(second, 10.0, 0.0)])
    for t in range(11, 21):
        detection.observe([Sample(first, float(t), 0.0), Sample(second, float(t), 0.6)])
    inc = Incident("inc-1", 10.0, (anomaly(first, 10.0), anomaly(second, 12.0)), frozenset({"web"}))
    holding = still_holding(inc, detection, since=17.0)
    assert [a.series for a in holding.anomalies] == [first, second]
    facts = Facts(PlanningContext(services={"web": ServiceState("web", ("web-0", "web-1"))}))
    (web,) = [c for c in triage([Cause("web", 0.5)], holding, _graph(), facts, 0.7)]
    assert web.instance is None
    # once web-0's errors stop too, nothing of web holds: the incident is kept whole
    for t in range(21, 30):
        detection.observe([Sample(first, float(t), 0.0), Sample(second, float(t), 0.0)])
    assert still_holding(inc, detection, since=27.0) is inc


def test_a_callee_slower_than_usual_under_its_rules_floor_does_not_serve_as_usual() -> None:
    # a database at the bottom of a chain turns 200 ms slower: its p99 stays under the
    # latency rule's 0.4 s floor, so no rule breaks on it, while every caller above breaks
    # one. Its silence must not make the calls into it look slow "on the way there".
    db = SeriesKey.of(ind.LATENCY_P99, {"service": "db"})
    depot = SeriesKey.of(ind.LATENCY_P99, {"service": "depot"})
    detection = LiveDetection(warmup_samples=3, detector_factory=None)
    for t in range(10):
        detection.observe([Sample(db, float(t), 0.02), Sample(depot, float(t), 0.05)])
    detection.observe([Sample(db, 10.0, 0.25), Sample(depot, 10.0, 0.06)])
    assert not detection.breaching(db)  # under the rule's floor
    assert serving_as_usual(detection, ["db", "depot", "unseen"], recent=8.0) == {"depot"}
    # read too long ago: not seen serving at all
    assert serving_as_usual(detection, ["depot"], recent=11.0) == frozenset()


def test_latency_rises_read_before_any_rule_breaks() -> None:
    # the cache's own p99 and cart's calls to it rise well above their baselines one
    # sample in: no rule breaks yet (it needs a few samples), the rise is already read
    cache = SeriesKey.of(ind.LATENCY_P99, {"service": "cache"})
    calls = SeriesKey.of(ind.UPSTREAM_LATENCY, {"service": "cart", "target": "cache"})
    quiet = SeriesKey.of(ind.LATENCY_P99, {"service": "cart"})
    detection = LiveDetection(warmup_samples=3, detector_factory=None)
    for t in range(10):
        detection.observe(
            [
                Sample(cache, float(t), 0.01),
                Sample(calls, float(t), 0.02),
                Sample(quiet, float(t), 0.05),
            ]
        )
    raised = detection.observe(
        [Sample(cache, 10.0, 1.66), Sample(calls, 10.0, 1.7), Sample(quiet, 10.0, 0.12)]
    )
    assert raised == []  # no rule has fired yet
    rises = latency_rises(detection, ["cache", "cart"], recent=8.0)
    assert rises.keys() == {("cache", None), ("cart", "cache")}  # cart's own: within margin
    assert abs(rises[("cache", None)] - 1.65) < 1e-9
    assert abs(rises[("cart", "cache")] - 1.68) < 1e-9
    assert latency_rises(detection, ["cache"], recent=11.0) == {}  # read too long ago


def test_a_diagnosis_records_the_latency_facts_it_read() -> None:
    facts = Facts(
        PlanningContext(),
        observed=frozenset({"web", "cart"}),
        slower={("cart", "cache"): 1.651234, ("cache", None): 1.6, ("cart", None): 2.4},
    )
    assert latency_facts(facts) == {
        "serving_as_usual": ["cart", "web"],
        "slower": {"cache": 1.6, "cart": 2.4, "cart->cache": 1.6512},
    }
