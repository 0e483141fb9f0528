"""Triage: hard facts put a cause first and decide its failure type, from rule evidence."""

from __future__ import annotations

from dataclasses import replace

import networkx as nx

from selfheal.analysis.triage import (
    Facts,
    latency_from_callees,
    slow_edge_origins,
    symptom_origins,
    triage,
)
from selfheal.core import indicators as ind
from selfheal.core.platform import ChangeEvent, ChangeKind, PlanningContext, ServiceState
from selfheal.core.types import (
    Anomaly,
    Cause,
    Evidence,
    EvidenceKind,
    FailureType,
    Incident,
    SeriesKey,
)

GRAPH = nx.DiGraph([("frontend", "checkout"), ("checkout", "payment"), ("checkout", "shipping")])


def two_instances(*services: str) -> PlanningContext:
    return PlanningContext(
        services={s: ServiceState(s, instances=(f"{s}-0", f"{s}-1")) for s in services}
    )


def rule(service: str, indicator: str, instance: str | None = None, **labels: str) -> Anomaly:
    key_labels = {"service": service} | ({"instance": instance} if instance else {}) | labels
    return Anomaly(
        service,
        1.0,
        0.9,
        f"rule:{indicator}>4",
        indicator=indicator,
        instance=instance,
        series=SeriesKey.of(indicator, key_labels),
    )


def test_one_instance_slower_than_its_siblings_is_a_hard_fact() -> None:
    inc = Incident(
        "inc-1",
        1.0,
        (
            rule("checkout", ind.UPSTREAM_LATENCY_VS_PEERS, "checkout-0", target="payment"),
            rule("frontend", ind.LATENCY_P99),
        ),
        frozenset({"checkout", "frontend"}),
    )
    ranked = [Cause("frontend", 0.6), Cause("checkout", 0.3)]
    causes = triage(ranked, inc, GRAPH, Facts(two_instances("checkout", "frontend")), 0.7)
    assert causes[0].service == "checkout" and causes[0].confidence >= 0.7
    assert causes[0].instance == "checkout-0"


def test_a_fresh_deploy_on_a_callee_wins_before_its_own_symptoms_arrive() -> None:
    edge = rule("checkout", ind.UPSTREAM_ERROR_RATIO, target="shipping")
    pool = Anomaly("checkout", 1.0, 0.9, "rule:pool_saturation>0.95", indicator=ind.SATURATION)
    inc = Incident("inc-1", 1.0, (edge, pool), frozenset({"checkout"}))
    deploy = PlanningContext(changes=(ChangeEvent("shipping", ChangeKind.DEPLOY, 0.5),))
    causes = triage([Cause("checkout", 0.9)], inc, GRAPH, Facts(deploy, since=0.0), 0.7)
    assert causes[0].service == "shipping" and causes[0].confidence >= 0.7
    assert causes[0].failure_type is FailureType.CODE_BUG
    without = triage([Cause("checkout", 0.9)], inc, GRAPH, Facts(PlanningContext()), 0.7)
    assert without[0].service == "checkout"  # no fact on the callee: nothing changes


def test_a_deploy_older_than_the_change_window_is_no_fact() -> None:
    edge = rule("checkout", ind.UPSTREAM_ERROR_RATIO, target="shipping")
    inc = Incident("inc-1", 1.0, (edge,), frozenset({"checkout"}))
    deploy = PlanningContext(changes=(ChangeEvent("shipping", ChangeKind.DEPLOY, 0.5),))
    causes = triage([Cause("checkout", 0.9)], inc, GRAPH, Facts(deploy, since=0.8), 0.7)
    shipping = next(c for c in causes if c.service == "shipping")
    assert shipping.confidence < 0.7 and shipping.failure_type is not FailureType.CODE_BUG


def test_statistical_noise_does_not_decide_the_failure_type() -> None:
    slow = rule("checkout", ind.UPSTREAM_LATENCY_VS_PEERS, "checkout-0", target="payment")
    noise = Anomaly("checkout", 1.0, 0.99, "detector:default", indicator=ind.MEMORY, value=2.5e7)
    inc = Incident("inc-1", 1.0, (slow, noise), frozenset({"checkout"}))
    (cause, *_) = triage(
        [Cause("checkout", 0.5)], inc, GRAPH, Facts(two_instances("checkout")), 0.7
    )
    assert cause.failure_type is FailureType.NETWORK_FAILURE and cause.instance == "checkout-0"


def test_a_failing_external_dependency_is_typed_as_such_from_the_platforms_flag() -> None:
    edge = rule("checkout", ind.UPSTREAM_ERROR_RATIO, target="payment")
    inc = Incident("inc-1", 1.0, (edge,), frozenset({"checkout"}))
    platform = PlanningContext(services={"payment": ServiceState("payment", external=True)})
    causes = triage([Cause("checkout", 0.8)], inc, GRAPH, Facts(platform), 0.7)
    top = causes[0]
    assert top.service == "payment" and top.failure_type is FailureType.EXTERNAL_DEPENDENCY


def test_one_cause_per_service_and_the_order_is_stable_under_relabelling() -> None:
    a = rule("checkout", ind.ERROR_RATIO)
    b = rule("frontend", ind.ERROR_RATIO)
    inc = Incident("inc-1", 1.0, (a, b), frozenset({"checkout", "frontend"}))
    ranked = [Cause("frontend", 0.5), Cause("checkout", 0.4), Cause("frontend", 0.2)]
    causes = triage(ranked, inc, GRAPH, Facts(PlanningContext()), 0.7)
    assert [c.service for c in causes].count("frontend") == 1
    # no fact either side: the deeper service (called by the other) comes first
    assert causes[0].service == "checkout"


def test_partial_errors_on_a_mid_tier_service_are_its_own_not_its_callers() -> None:
    # frontend -> checkout -> payment: checkout fails a third of its requests itself; the
    # frontend's errors are checkout's, passed on through its failing calls
    inc = Incident(
        "inc-1",
        1.0,
        (
            rule("frontend", ind.ERROR_RATIO),
            rule("frontend", ind.UPSTREAM_ERROR_RATIO, target="checkout"),
            rule("checkout", ind.ERROR_RATIO),
            rule("checkout", ind.ERROR_RATIO, "checkout-0"),
            rule("checkout", ind.ERROR_RATIO, "checkout-1"),
        ),
        frozenset({"frontend", "checkout"}),
    )
    ranked = [Cause("frontend", 0.8), Cause("checkout", 0.5)]
    causes = triage(ranked, inc, GRAPH, Facts(two_instances("checkout", "frontend")), 0.7)
    assert causes[0].service == "checkout" and causes[0].confidence >= 0.7
    assert causes[1].service == "frontend" and causes[1].confidence < 0.7  # a relay


def test_latency_starts_where_calls_out_are_not_slow() -> None:
    inc = Incident(
        "inc-1",
        1.0,
        (
            rule("frontend", ind.LATENCY_P99),
            rule("frontend", ind.UPSTREAM_LATENCY, target="checkout"),
            rule("checkout", ind.LATENCY_P99),
        ),
        frozenset({"frontend", "checkout"}),
    )
    assert symptom_origins(inc) == {"checkout"}
    causes = triage([Cause("frontend", 0.8)], inc, GRAPH, Facts(PlanningContext()), 0.7)
    assert causes[0].service == "checkout"


def test_slow_calls_into_a_callee_that_serves_as_usual_start_at_the_caller() -> None:
    # web -> api -> kv: api's calls to kv are slow, kv's own latency is read and is fine:
    # the latency starts on the edge api -> kv (api's side or its network), so api is the
    # cause, not a relay capped under the threshold
    graph = nx.DiGraph([("web", "api"), ("api", "kv")])
    inc = Incident(
        "inc-1",
        1.0,
        (
            rule("api", ind.UPSTREAM_LATENCY, target="kv"),
            rule("api", ind.LATENCY_P99),
            rule("web", ind.UPSTREAM_LATENCY, target="api"),
        ),
        frozenset({"api", "web"}),
    )
    ranked = [Cause("api", 0.6), Cause("web", 0.3)]
    seen = Facts(PlanningContext(), observed=frozenset({"kv", "api", "web"}))
    causes = triage(ranked, inc, graph, seen, 0.7)
    assert causes[0].service == "api" and causes[0].confidence >= 0.7
    assert causes[0].failure_type is FailureType.NETWORK_FAILURE
    # a callee whose latency is not read (a database without metrics) proves nothing
    unseen = triage(ranked, inc, graph, Facts(PlanningContext()), 0.7)
    assert all(c.confidence < 0.7 for c in unseen)
    # nor does one that shows trouble of its own, or calls that fail (a hang's timeouts)
    slow_kv = replace(
        inc,
        anomalies=(*inc.anomalies, rule("kv", ind.LATENCY_P99)),
        services=inc.services | {"kv"},
    )
    assert triage(ranked, slow_kv, graph, seen, 0.7)[0].service == "kv"
    failing = replace(
        inc, anomalies=(*inc.anomalies, rule("api", ind.UPSTREAM_ERROR_RATIO, target="kv"))
    )
    assert slow_edge_origins(failing, seen) == set()
    assert all(c.confidence < 0.7 for c in triage(ranked, failing, graph, seen, 0.7))


def detected(
    service: str, indicator: str, value: float, instance: str | None = None, **labels: str
) -> Anomaly:
    """An anomaly a statistical detector (not a rule) raised, with the series' value."""
    key_labels = {"service": service} | ({"instance": instance} if instance else {}) | labels
    return Anomaly(
        service,
        1.0,
        0.6,
        "seasonal",
        indicator=indicator,
        value=value,
        instance=instance,
        series=SeriesKey.of(indicator, key_labels),
    )


def test_errors_that_are_the_callers_failing_calls_point_at_the_callee() -> None:
    """checkout serves 13.6 % errors (over the error rule's bar) and its calls to
    shipping fail at the same ratio — under the edge rule's higher bar, flagged only by
    the detector. Its errors are shipping's, passed on; shipping (deployed just before,
    its own error series not in yet) is the cause."""
    inc = Incident(
        "inc-1",
        1.0,
        (
            replace(rule("checkout", ind.ERROR_RATIO), value=0.1357),
            replace(rule("checkout", ind.ORDER_SUCCESS), value=0.87),
            detected("checkout", ind.UPSTREAM_ERROR_RATIO, 0.1357, target="shipping"),
            detected("frontend", ind.UPSTREAM_ERROR_RATIO, 0.1363, target="checkout"),
        ),
        frozenset({"checkout", "frontend"}),
    )
    assert "checkout" not in symptom_origins(inc)
    deploy = replace(
        two_instances("checkout", "frontend", "shipping"),
        changes=(ChangeEvent("shipping", ChangeKind.DEPLOY, 0.5),),
    )
    ranked = [Cause("checkout", 0.95), Cause("frontend", 0.8)]
    causes = triage(ranked, inc, GRAPH, Facts(deploy, since=0.0), 0.7)
    assert causes[0].service == "shipping" and causes[0].failure_type is FailureType.CODE_BUG
    assert causes[0].confidence >= 0.7


def test_a_small_blip_on_a_call_edge_does_not_explain_a_callers_own_errors() -> None:
    """checkout fails 60 % of its requests; a detector sees its calls to shipping fail
    at 2 %: that accounts for little of it, so the errors are checkout's own."""
    inc = Incident(
        "inc-1",
        1.0,
        (
            replace(rule("checkout", ind.ERROR_RATIO), value=0.6),
            detected("checkout", ind.UPSTREAM_ERROR_RATIO, 0.02, target="shipping"),
        ),
        frozenset({"checkout"}),
    )
    assert symptom_origins(inc) == {"checkout"}
    causes = triage([Cause("checkout", 0.5)], inc, GRAPH, Facts(PlanningContext()), 0.7)
    assert causes[0].service == "checkout" and causes[0].confidence >= 0.7


def test_a_caller_failing_on_every_instance_stays_a_candidate_behind_its_cache() -> None:
    """intake fails on both instances, fast, while its calls to the cache succeed: the
    cache's data may be bad (it comes first: deeper, and a clear is cheap) — or intake's
    own code. intake stays a confident candidate, the next one to try."""
    graph = nx.DiGraph([("dock", "intake"), ("intake", "tracking-kv")])
    inc = Incident(
        "inc-1",
        1.0,
        (
            rule("dock", ind.ERROR_RATIO),
            rule("dock", ind.UPSTREAM_ERROR_RATIO, target="intake"),
            rule("intake", ind.ERROR_RATIO),
            rule("intake", ind.ERROR_RATIO, "intake-0"),
            rule("intake", ind.ERROR_RATIO, "intake-1"),
        ),
        frozenset({"dock", "intake"}),
    )
    context = replace(
        two_instances("dock", "intake"),
        services={
            **two_instances("dock", "intake").services,
            "tracking-kv": ServiceState("tracking-kv", instances=("tracking-kv-0",), role="cache"),
        },
    )
    causes = triage([Cause("intake", 0.6)], inc, graph, Facts(context), 0.7)
    assert [c.service for c in causes[:2]] == ["tracking-kv", "intake"]
    assert causes[0].failure_type is FailureType.DATA_CORRUPTION
    assert causes[1].confidence >= 0.7 and causes[1].failure_type is not FailureType.DATA_CORRUPTION
    assert "dock" not in [c.service for c in causes if c.confidence >= 0.7]  # a relay
    # intake's own error logs say it fails, and none speaks of bad data: intake first, the
    # cache the next candidate; error logs that report bad data keep the cache first
    for text, first in (
        ("internal error while handling request", "intake"),
        ("corrupt cart data for u1: not JSON", "tracking-kv"),
    ):
        logged = Cause("intake", 0.6, evidence=(Evidence(EvidenceKind.LOG_ERRORS, "", text=text),))
        causes = triage([logged], inc, graph, Facts(context), 0.7)
        assert causes[0].service == first, text
        assert all(c.confidence >= 0.7 for c in causes[:2])


def test_one_instance_failing_alone_is_a_fact_only_once_it_has_held() -> None:
    """payment-1 started failing at t=5 and payment-0 not yet: in a whole-service fault's
    first cycles that is chance, not a sick process. Before ``settled_before`` reaches the
    start of its errors it is no cause to act on; after, the instance is the cause."""
    inc = Incident(
        "inc-1",
        5.0,
        (
            replace(rule("payment", ind.ERROR_RATIO, "payment-1"), timestamp=5.0),
            replace(rule("payment", ind.ERROR_RATIO), timestamp=5.0),
        ),
        frozenset({"payment"}),
    )
    context = two_instances("payment")
    young = triage([Cause("payment", 0.5)], inc, GRAPH, Facts(context, settled_before=4.0), 0.7)
    assert young[0].service == "payment" and young[0].confidence < 0.7
    held = triage([Cause("payment", 0.5)], inc, GRAPH, Facts(context, settled_before=5.0), 0.7)
    assert held[0].confidence >= 0.7 and held[0].instance == "payment-1"
    assert held[0].failure_type is FailureType.CODE_BUG


def test_a_deeper_origin_that_the_chosen_cause_cannot_explain_is_apart() -> None:
    """frontend was just deployed (it comes first on that fact); payment, which frontend
    calls through checkout, is slow on its own: a second fault, diagnosed apart. checkout,
    which only passes payment's latency on, and a caller of frontend are not."""
    from selfheal.analysis.triage import apart_from

    inc = Incident(
        "inc-1",
        1.0,
        (
            rule("frontend", ind.ERROR_RATIO),
            rule("frontend", ind.UPSTREAM_ERROR_RATIO, target="checkout"),
            rule("checkout", ind.LATENCY_P99),
            rule("checkout", ind.UPSTREAM_LATENCY, target="payment"),
            rule("payment", ind.LATENCY_P99),
        ),
        frozenset({"frontend", "checkout", "payment"}),
    )
    deploy = PlanningContext(changes=(ChangeEvent("frontend", ChangeKind.DEPLOY, 0.5),))
    causes = triage(
        [Cause("payment", 0.5), Cause("checkout", 0.4)], inc, GRAPH, Facts(deploy, 0.0), 0.7
    )
    assert causes[0].service == "frontend"
    assert apart_from(causes[0], causes, inc, GRAPH, 0.7) == {"payment"}
    # the other way round nothing is apart: frontend's symptoms may be payment's
    payment = next(c for c in causes if c.service == "payment")
    assert apart_from(payment, causes, inc, GRAPH, 0.7) == frozenset()


def test_slow_calls_to_an_external_dependency_that_serves_as_usual_start_at_the_caller() -> None:
    """payment's calls to the bank (a third party with its own metrics, which show it
    serving as usual) are slow: the delay is on the way there, and payment's side of it
    is the part the loop can act on. Without the bank's own metrics nothing says so."""
    graph = nx.DiGraph([("checkout", "payment"), ("payment", "bank")])
    inc = Incident(
        "inc-1",
        1.0,
        (
            rule("checkout", ind.LATENCY_P99),
            rule("checkout", ind.UPSTREAM_LATENCY, target="payment"),
            rule("payment", ind.UPSTREAM_LATENCY, target="bank"),
        ),
        frozenset({"checkout", "payment"}),
    )
    context = PlanningContext(
        services={
            "checkout": ServiceState("checkout", instances=("checkout-0",)),
            "payment": ServiceState("payment", instances=("payment-0",)),
            "bank": ServiceState("bank", instances=("bank-0",), external=True),
        }
    )
    seen = Facts(context, observed=frozenset({"checkout", "payment", "bank"}))
    causes = triage([Cause("checkout", 0.6)], inc, graph, seen, 0.7)
    assert causes[0].service == "payment" and causes[0].confidence >= 0.7
    assert causes[0].failure_type is FailureType.NETWORK_FAILURE
    unseen = Facts(context, observed=frozenset({"checkout", "payment"}))
    causes = triage([Cause("checkout", 0.6)], inc, graph, unseen, 0.7)
    assert all(c.confidence < 0.7 for c in causes if c.service == "payment")
    # after a failover the calls, still labelled "bank", go to the standby: the bank's
    # own series went silent, and the standby's (observed, serving as usual) speaks for it
    failed_over = PlanningContext(
        services={
            **context.services,
            "payment": ServiceState(
                "payment", instances=("payment-0",), dependencies={"bank": "bank-b"}
            ),
            "bank-b": ServiceState("bank-b", instances=("bank-b-0",), external=True),
        }
    )
    standby = Facts(failed_over, observed=frozenset({"checkout", "payment", "bank-b"}))
    causes = triage([Cause("checkout", 0.6)], inc, graph, standby, 0.7)
    assert causes[0].service == "payment" and causes[0].confidence >= 0.7
    assert slow_edge_origins(inc, Facts(failed_over, observed=frozenset({"bank"}))) == set()


def test_a_forming_fact_holds_back_the_callers_its_symptoms_reach() -> None:
    """checkout's errors are payment-0's passed on (its calls to payment fail too rarely
    for the edge's rule): while payment-0's failing alone is still forming, checkout is
    no cause to act on either."""
    inc = Incident(
        "inc-1",
        5.0,
        (
            replace(rule("payment", ind.ERROR_RATIO, "payment-0"), timestamp=5.0),
            replace(rule("checkout", ind.ERROR_RATIO), timestamp=5.0),
        ),
        frozenset({"payment", "checkout"}),
    )
    context = two_instances("payment", "checkout")
    young = triage([Cause("checkout", 0.6)], inc, GRAPH, Facts(context, settled_before=4.0), 0.7)
    assert all(c.confidence < 0.7 for c in young)
    assert young[0].service == "payment"
    held = triage([Cause("checkout", 0.6)], inc, GRAPH, Facts(context, settled_before=6.0), 0.7)
    assert held[0].service == "payment" and held[0].instance == "payment-0"
    assert held[0].confidence >= 0.7


def test_a_one_instance_caller_failing_while_its_cache_answers_puts_the_cache_first() -> None:
    """specials runs one instance: that one failing, fast, while its calls to the cache
    succeed is every instance failing — the cache's data first, specials second."""
    graph = nx.DiGraph([("hostess", "specials"), ("specials", "specials-kv")])
    inc = Incident(
        "inc-1",
        1.0,
        (rule("specials", ind.ERROR_RATIO), rule("specials", ind.ERROR_RATIO, "specials-0")),
        frozenset({"specials"}),
    )
    context = PlanningContext(
        services={
            "specials": ServiceState("specials", instances=("specials-0",)),
            "specials-kv": ServiceState("specials-kv", instances=("specials-kv-0",), role="cache"),
        }
    )
    causes = triage([Cause("specials", 0.6)], inc, graph, Facts(context), 0.7)
    assert [c.service for c in causes[:2]] == ["specials-kv", "specials"]
    assert causes[0].failure_type is FailureType.DATA_CORRUPTION and causes[0].confidence >= 0.7
    assert causes[1].confidence >= 0.7
    # with a sibling that serves, one instance failing is that instance's trouble
    two = PlanningContext(
        services={
            **context.services,
            "specials": ServiceState("specials", ("specials-0", "specials-1")),
        }
    )
    causes = triage([Cause("specials", 0.6)], inc, graph, Facts(two), 0.7)
    assert causes[0].service == "specials" and causes[0].instance == "specials-0"


def test_a_service_with_no_symptom_is_no_cause_to_act_on_whatever_the_ranker_says() -> None:
    """The ranker is sure of shipping (a log line of it stopped), but shipping breaks no
    rule and no call toward it fails: it serves as usual, so it is not acted on."""
    inc = Incident("inc-1", 1.0, (rule("checkout", ind.LATENCY_P99),), frozenset({"checkout"}))
    causes = triage(
        [Cause("shipping", 0.95), Cause("checkout", 0.3)],
        inc,
        GRAPH,
        Facts(PlanningContext()),
        0.7,
    )
    shipping = next(c for c in causes if c.service == "shipping")
    assert shipping.confidence < 0.7
    calls = rule("checkout", ind.UPSTREAM_ERROR_RATIO, target="shipping")
    failing = replace(inc, anomalies=(*inc.anomalies, calls))
    causes = triage([Cause("shipping", 0.95)], failing, GRAPH, Facts(PlanningContext()), 0.7)
    assert next(c for c in causes if c.service == "shipping").confidence >= 0.7


def test_a_slow_caller_whose_callee_already_serves_slower_is_no_origin() -> None:
    # a latency fault on the cache under cart: cart's latency rule breaks first (a rule
    # needs a few samples, and cart's p99 rose a sample earlier), while the cache's own
    # latency, read, has already risen more than cart's but broken no rule yet. cart is not
    # where the latency starts: no confident cause until the cache's rule fires.
    graph = nx.DiGraph([("web", "cart"), ("cart", "cache")])
    inc = Incident(
        "inc-1",
        1.0,
        (rule("cart", ind.LATENCY_P99), rule("web", ind.UPSTREAM_ERROR_RATIO, target="cart")),
        frozenset({"cart", "web"}),
    )
    ranked = [Cause("cart", 0.6), Cause("cache", 0.1)]
    context = two_instances("web", "cart", "cache")
    rising = Facts(
        context, observed=frozenset({"web"}), slower={("cart", None): 1.7, ("cache", None): 1.6}
    )
    assert symptom_origins(inc, latency_from_callees(inc, graph, rising)) == set()
    assert all(c.confidence < 0.7 for c in triage(ranked, inc, graph, rising, 0.7))
    # the calls into a callee whose latency is not read say the same
    calls = Facts(context, slower={("cart", None): 1.7, ("cart", "cache"): 1.65})
    assert latency_from_callees(inc, graph, calls) == {"cart"}
    # a callee's small rise does not explain a large one: cart's latency is its own
    small = Facts(context, slower={("cart", None): 1.7, ("cache", None): 0.3})
    assert triage(ranked, inc, graph, small, 0.7)[0].service == "cart"
    # nor does a callee that serves as usual (slow calls into it start on the way there)
    usual = Facts(
        context, observed=frozenset({"cache"}), slower={("cart", None): 1.7, ("cart", "cache"): 1.6}
    )
    assert latency_from_callees(inc, graph, usual) == set()
    # once the cache's own rule fires, it is the origin and comes first
    fired = replace(
        inc,
        anomalies=(*inc.anomalies, rule("cache", ind.LATENCY_P99)),
        services=inc.services | {"cache"},
    )
    first = triage(ranked, fired, graph, rising, 0.7)[0]
    assert first.service == "cache" and first.confidence >= 0.7
