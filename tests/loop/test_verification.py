"""Verification: a symptom gone is not enough; the cause's whole service must be back."""

from __future__ import annotations

import networkx as nx

from selfheal.analysis.rules import LiveDetection
from selfheal.core import indicators as ind
from selfheal.core.types import Sample, SeriesKey
from selfheal.loop.verification import (
    back_to_baseline,
    did_its_part,
    passed_on_from,
    service_recovered,
)


def key(name: str, **labels: str) -> SeriesKey:
    return SeriesKey.of(name, {"service": "orders", **labels})


def feed(detection: LiveDetection, t: float, values: dict[SeriesKey, float]) -> None:
    detection.observe([Sample(k, t, v) for k, v in values.items()])


def warmed(values: dict[SeriesKey, float]) -> LiveDetection:
    detection = LiveDetection(warmup_samples=3, detector_factory=None)
    for t in range(10):
        feed(detection, float(t), values)
    return detection


P0 = key(ind.LATENCY_P99, instance="orders-0")
P1 = key(ind.LATENCY_P99, instance="orders-1")
EDGE = key(ind.UPSTREAM_LATENCY, target="stock")


def test_back_to_baseline_per_indicator() -> None:
    assert back_to_baseline(ind.ERROR_RATIO, 0.015, 0.0)
    assert not back_to_baseline(ind.ERROR_RATIO, 0.04, 0.0)  # under the 5 % rule, still worse
    assert back_to_baseline(ind.LATENCY_P99, 0.15, 0.1)
    assert not back_to_baseline(ind.LATENCY_P99, 0.35, 0.1)
    assert not back_to_baseline(ind.UP, 0.0, 1.0)
    assert back_to_baseline(ind.CPU, 5.0, 0.1)  # no notion of "worse" here: the rules judge
    assert back_to_baseline(ind.LATENCY_P99, None, 0.1) and back_to_baseline(
        ind.ERROR_RATIO, 0.3, None
    )


def test_one_instance_healed_while_its_sibling_is_still_slow_is_not_recovery() -> None:
    detection = warmed({P0: 0.1, P1: 0.1})
    feed(detection, 20.0, {P0: 2.0, P1: 2.0})  # the fault, on both instances
    # after the action (at 21): orders-0 restarted and fast; orders-1 under the rule's
    # 0.4 s floor but three times its usual latency
    feed(detection, 22.0, {P0: 0.1, P1: 0.35})
    assert not service_recovered(detection, "orders", 21.0, 22.0, stale_after=3.0)
    feed(detection, 23.0, {P0: 0.1, P1: 0.11})
    assert service_recovered(detection, "orders", 21.0, 23.0, stale_after=3.0)


def test_a_series_not_seen_since_the_action_is_waited_for_then_taken_for_gone() -> None:
    detection = warmed({P0: 0.1, P1: 0.1})
    feed(detection, 22.0, {P0: 0.1})  # orders-1 was replaced: its series stops
    assert not service_recovered(detection, "orders", 21.0, 22.0, stale_after=3.0)
    assert service_recovered(detection, "orders", 21.0, 25.0, stale_after=3.0)


def test_calls_to_other_services_are_their_business() -> None:
    detection = warmed({P0: 0.1, EDGE: 0.1})
    feed(detection, 22.0, {P0: 0.1, EDGE: 3.0})  # its calls to a slow callee
    assert service_recovered(detection, "orders", 21.0, 22.0, stale_after=3.0)


OWN_ERRORS = key(ind.ERROR_RATIO)
OPENED_EDGE = key(ind.UPSTREAM_ERROR_RATIO, target="stock")
NEW_EDGE = key(ind.UPSTREAM_LATENCY, target="ledger")
MEMORY = key(ind.MEMORY)


def test_what_remains_passed_on_from_a_callee_that_broke_after_the_decision() -> None:
    healthy = {OWN_ERRORS: 0.0, OPENED_EDGE: 0.0, NEW_EDGE: 0.1, MEMORY: 1e8}
    detection = warmed(healthy)
    symptoms = (OWN_ERRORS, OPENED_EDGE)  # what the action was decided on
    # the action mended the calls to stock, but the calls to ledger turned slow meanwhile
    # and orders still fails some requests through them
    feed(detection, 22.0, {OWN_ERRORS: 0.3, OPENED_EDGE: 0.0, NEW_EDGE: 3.0, MEMORY: 1e8})
    assert passed_on_from(detection, symptoms, "orders", 22.0, stale_after=3.0) == "ledger"
    # the calls the action was meant to mend still fail: it did not do its part
    feed(detection, 23.0, {OWN_ERRORS: 0.3, OPENED_EDGE: 0.5, NEW_EDGE: 3.0, MEMORY: 1e8})
    assert passed_on_from(detection, symptoms, "orders", 23.0, stale_after=3.0) is None
    # trouble of its own (memory) is not passed on from anyone
    feed(detection, 24.0, {OWN_ERRORS: 0.3, OPENED_EDGE: 0.0, NEW_EDGE: 3.0, MEMORY: 9e9})
    assert passed_on_from(detection, symptoms, "orders", 24.0, stale_after=3.0) is None
    # nothing new downstream: nothing to pass the remaining errors on from
    feed(detection, 25.0, {OWN_ERRORS: 0.3, OPENED_EDGE: 0.0, NEW_EDGE: 0.1, MEMORY: 1e8})
    assert passed_on_from(detection, symptoms, "orders", 25.0, stale_after=3.0) is None


PROVIDER_ERRORS = SeriesKey.of(ind.ERROR_RATIO, {"service": "psp"})
TO_PROVIDER = key(ind.UPSTREAM_ERROR_RATIO, target="psp")
TO_PROVIDER_1 = key(ind.UPSTREAM_ERROR_RATIO, target="psp", instance="orders-1")


def test_a_failover_did_its_part_when_the_calls_toward_the_provider_stop_failing() -> None:
    # A memory leak on orders and an outage of its external provider share one incident;
    # the failover routes around the provider, which stays down, and the leak goes on.
    graph = nx.DiGraph([("orders", "psp")])
    healthy = {OWN_ERRORS: 0.0, TO_PROVIDER: 0.0, TO_PROVIDER_1: 0.0, MEMORY: 1e8}
    detection = warmed({**healthy, PROVIDER_ERRORS: 0.0})
    feed(detection, 20.0, {OWN_ERRORS: 0.4, TO_PROVIDER: 1.0, TO_PROVIDER_1: 1.0, MEMORY: 9e9})
    feed(detection, 20.0, {PROVIDER_ERRORS: 1.0})
    symptoms = (MEMORY, OWN_ERRORS, TO_PROVIDER, PROVIDER_ERRORS)

    def part(t: float, external: bool = True) -> bool:
        return did_its_part(detection, symptoms, "psp", graph, 21.0, t, 3.0, external=external)

    after = {OWN_ERRORS: 0.0, TO_PROVIDER: 0.0, MEMORY: 9.5e9}
    # one caller instance's calls to the provider (not among the symptoms) still fail
    feed(detection, 22.0, {**after, TO_PROVIDER_1: 1.0, PROVIDER_ERRORS: 1.0})
    assert not part(22.0)
    feed(detection, 23.0, {**after, TO_PROVIDER_1: 0.0, PROVIDER_ERRORS: 1.0})
    assert part(23.0)
    # judged as an own cause, the provider's own errors (it is still down) keep it failing
    assert not part(23.0, external=False)
    # nothing else among the symptoms: the ordinary verification decides, not a split
    assert not did_its_part(
        detection, (TO_PROVIDER, PROVIDER_ERRORS), "psp", graph, 21.0, 23.0, 3.0, external=True
    )


def test_a_failed_verification_says_which_symptoms_and_own_series_held() -> None:
    from selfheal.loop.verification import what_holds

    errors = key(ind.ERROR_RATIO)
    detection = warmed({P0: 0.1, P1: 0.1, errors: 0.0, EDGE: 0.05})
    for t in range(10, 16):  # orders-1 slow and erring; its calls slow too (not its own)
        feed(detection, float(t), {P0: 0.1, P1: 2.0, errors: 0.3, EDGE: 3.0})
    held = what_holds(detection, (errors, P0), "orders")
    assert held["symptoms"] == [str(errors)]
    assert sorted(held["cause"]) == sorted([str(errors), str(P1)])


def test_a_restart_did_its_part_when_what_stays_on_its_service_comes_from_a_slow_callee() -> None:
    # orders-0 hangs while orders' callee stock carries a delay of its own (another fault):
    # restarted, orders-0 answers again; orders stays slow, and its calls to stock too.
    graph = nx.DiGraph([("orders", "stock")])
    up0 = key(ind.UP, instance="orders-0")
    stock = SeriesKey.of(ind.LATENCY_P99, {"service": "stock"})
    slow = key(ind.LATENCY_P99)
    detection = warmed({up0: 1.0, slow: 0.05, EDGE: 0.05, stock: 0.03})
    feed(detection, 20.0, {up0: 0.0, slow: 2.0, EDGE: 2.0, stock: 1.5})
    symptoms = (up0, slow, EDGE, stock)
    assert not did_its_part(detection, symptoms, "orders", graph, 21.0, 21.0, 3.0)
    for t in (22.0, 23.0, 24.0):
        feed(detection, t, {up0: 1.0, slow: 2.0, EDGE: 2.0, stock: 1.5})
    assert did_its_part(detection, symptoms, "orders", graph, 21.0, 24.0, 3.0)
    # without its own fact the rest is all passed on: nothing tells the action did a part
    assert not did_its_part(detection, (slow, EDGE, stock), "orders", graph, 21.0, 24.0, 3.0)
    # symptoms elsewhere only on a caller, not on a callee: orders' latency is its own
    web = SeriesKey.of(ind.ERROR_RATIO, {"service": "web"})
    with_caller = nx.DiGraph([("orders", "stock"), ("web", "orders")])
    assert not did_its_part(
        detection, (up0, slow, EDGE, web), "orders", with_caller, 21.0, 24.0, 3.0
    )
