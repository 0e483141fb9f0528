"""Failure type from evidence."""

from __future__ import annotations

import pytest

from selfheal.analysis.failure_type import apply, classify, from_evidence
from selfheal.core.platform import ChangeEvent, ChangeKind
from selfheal.core.types import Anomaly, Cause, Evidence, EvidenceKind, FailureType, SeriesKey


def a(
    service: str,
    indicator: str,
    instance: str | None = None,
    target: str | None = None,
    message: str = "",
) -> Anomaly:
    labels = {"service": service} | ({"target": target} if target else {})
    return Anomaly(
        service,
        10.0,
        0.9,
        "rule:x",
        indicator=indicator,
        instance=instance,
        series=SeriesKey.of(indicator, labels),
        message=message,
    )


def test_recent_deploy_means_code_bug_and_config_push_means_configuration_error() -> None:
    cause = Cause("cart", 0.9)
    found = classify(
        cause, [a("cart", "error_ratio")], [ChangeEvent("cart", ChangeKind.DEPLOY, 5.0)], since=0
    )
    assert found.failure_type is FailureType.CODE_BUG
    found = classify(
        cause, [a("cart", "error_ratio")], [ChangeEvent("cart", ChangeKind.CONFIG, 5.0)], since=0
    )
    assert found.failure_type is FailureType.CONFIGURATION_ERROR
    old = classify(
        cause, [a("cart", "error_ratio")], [ChangeEvent("cart", ChangeKind.CONFIG, 5.0)], since=6
    )
    assert old.failure_type is FailureType.UNKNOWN


def test_errors_toward_external_dependency() -> None:
    ev = [a("payment", "upstream_error_ratio", target="bank"), a("bank", "error_ratio")]
    found = classify(Cause("bank", 0.9), ev, external=frozenset({"bank", "bank-b"}))
    assert found.failure_type is FailureType.EXTERNAL_DEPENDENCY


def test_down_instance_is_restartable_resource_exhaustion() -> None:
    found = classify(Cause("cart", 0.9), [a("cart", "up", instance="cart-1")])
    assert (found.failure_type, found.indicator, found.instance) == (
        FailureType.RESOURCE_EXHAUSTION,
        "up",
        "cart-1",
    )


def test_memory_on_one_instance() -> None:
    found = classify(Cause("cart", 0.9), [a("cart", "memory_bytes", instance="cart-0")])
    assert found.failure_type is FailureType.RESOURCE_EXHAUSTION
    assert found.instance == "cart-0"


def test_a_cause_the_platform_calls_a_cache_serves_bad_data() -> None:
    found = classify(Cause("kv", 0.9), [a("cart", "error_ratio")], roles={"kv": "cache"})
    assert found.failure_type is FailureType.DATA_CORRUPTION


def test_a_name_alone_decides_nothing() -> None:
    found = classify(Cause("cache", 0.9), [a("cart", "error_ratio")])
    assert found.failure_type is not FailureType.DATA_CORRUPTION


def test_a_cache_that_crashed_is_restarted_not_cleared() -> None:
    found = classify(Cause("kv", 0.9), [a("kv", "up", instance="kv-0")], roles={"kv": "cache"})
    assert (found.failure_type, found.instance) == (FailureType.RESOURCE_EXHAUSTION, "kv-0")


def test_a_cache_answering_with_errors_of_its_own_is_not_corrupt_data() -> None:
    # corrupt entries make the callers fail while the cache itself serves fine; a cache
    # that answers most requests with errors is a failing service like any other
    evidence = [a("kv", "error_ratio"), a("web", "upstream_error_ratio", target="kv")]
    found = classify(Cause("kv", 0.9), evidence, roles={"kv": "cache"})
    assert found.failure_type is not FailureType.DATA_CORRUPTION


def test_a_slow_cache_is_slow_not_corrupt() -> None:
    # a latency fault on the cache: its own latency rule broke, its callers' calls time out
    evidence = [a("kv", "latency_p99_seconds"), a("web", "upstream_error_ratio", target="kv")]
    rose = Evidence(EvidenceKind.METRIC, "latency rose", "latency_p99_seconds", rising=True)
    found = classify(Cause("kv", 0.9, evidence=(rose,)), evidence, roles={"kv": "cache"})
    assert found.failure_type is FailureType.NETWORK_FAILURE
    # the same cache answering at its usual speed while its callers fail: bad data
    quick = classify(Cause("kv", 0.9, evidence=(rose,)), evidence[1:], roles={"kv": "cache"})
    assert quick.failure_type is FailureType.DATA_CORRUPTION


def test_several_instances_down_name_the_service_not_one_instance() -> None:
    evidence = [a("kv", "up", instance="kv-0"), a("kv", "up", instance="kv-1")]
    found = classify(Cause("kv", 0.9, instance="kv-1"), evidence)
    assert (found.failure_type, found.indicator, found.instance) == (
        FailureType.RESOURCE_EXHAUSTION,
        "up",
        None,
    )
    assert apply(Cause("kv", 0.9, instance="kv-1"), found).instance is None


def test_latency_on_one_edge_is_network_failure() -> None:
    ev = [a("checkout", "upstream_latency_p99_seconds", target="shipping")]
    found = classify(Cause("shipping", 0.9), ev)
    assert found.failure_type is FailureType.NETWORK_FAILURE


def test_apply_keeps_evidence_and_adds_reason() -> None:
    cause = Cause("cart", 0.9, evidence=(Evidence(EvidenceKind.CAUSALITY, "pagerank"),))
    new = apply(cause, classify(cause, [a("cart", "up", instance="cart-1")]))
    assert new.instance == "cart-1" and new.evidence[0] == cause.evidence[0]
    assert len(new.evidence) == 2 and new.evidence[1].kind is EvidenceKind.FACT


def test_one_instance_slower_than_its_peers_is_restartable() -> None:
    found = classify(
        Cause("catalog", 0.9), [a("catalog", "latency_p99_vs_peers", instance="catalog-0")]
    )
    assert (found.failure_type, found.instance) == (FailureType.RESOURCE_EXHAUSTION, "catalog-0")


def test_caller_of_a_failing_external_dependency_points_at_it() -> None:
    ev = [a("payment", "upstream_error_ratio", target="bank")]
    found = classify(Cause("payment", 0.9), ev, external=frozenset({"bank"}))
    assert (found.failure_type, found.service) == (FailureType.EXTERNAL_DEPENDENCY, "bank")


def test_all_instances_failing_hard_while_the_cache_answers_points_at_the_cache() -> None:
    def err(instance: str | None, value: float) -> Anomaly:
        labels = {"service": "cart"} | ({"instance": instance} if instance else {})
        return Anomaly(
            "cart",
            1.0,
            0.9,
            "rule:x",
            indicator="error_ratio",
            value=value,
            instance=instance,
            series=SeriesKey.of("error_ratio", labels),
        )

    evidence = [err(None, 0.6), err("cart-0", 0.6), err("cart-1", 0.6)]
    roles = {"kv": "cache"}
    found = classify(Cause("cart", 0.9), evidence, callees=["kv"], roles=roles)
    assert (found.failure_type, found.service) == (FailureType.DATA_CORRUPTION, "kv")
    one = [err(None, 0.1), err("cart-0", 0.1)]
    assert classify(Cause("cart", 0.9), one, callees=["kv"], roles=roles).service is None
    # a callee the platform does not call a cache is not one, whatever its name
    assert classify(Cause("cart", 0.9), evidence, callees=["cache"]).service is None
    # another callee failing on its own explains the errors better than the cache
    sorter = Anomaly("sorter", 1.0, 0.9, "rule:x", indicator="error_ratio", value=0.5)
    found = classify(Cause("cart", 0.9), [*evidence, sorter], callees=["kv", "sorter"], roles=roles)
    assert found.failure_type is not FailureType.DATA_CORRUPTION and found.service is None

    # ... and so does one its own error logs name as failing (a relay), even before that
    # callee's own rules break; a log naming the cache, or another name that merely
    # contains the callee's, does not
    def logging(text: str) -> Cause:
        return Cause("cart", 0.9, evidence=(Evidence(EvidenceKind.LOG_ERRORS, text, text=text),))

    # its own pool running dry (requests timing out for a connection) is its own fault
    pool = Anomaly("cart", 1.0, 0.9, "rule:x", indicator="pool_wait_timeouts_per_second")
    found = classify(Cause("cart", 0.9), [*evidence, pool], callees=["kv"], roles=roles)
    assert found.service is None and found.failure_type is not FailureType.DATA_CORRUPTION
    relay = logging("sorter failed with HTTP <NUM>: no ready instance of depot")
    found = classify(relay, evidence, callees=["kv", "sorter"], roles=roles)
    assert found.failure_type is not FailureType.DATA_CORRUPTION and found.service is None
    for text in ("kv answered <NUM> bytes", "sorter-v2 failed with HTTP <NUM>"):
        found = classify(logging(text), evidence, callees=["kv", "sorter"], roles=roles)
        assert (found.failure_type, found.service) == (FailureType.DATA_CORRUPTION, "kv"), text
    # the cache was just deployed (or reconfigured): that change is the cause, on the cache
    deploy = [ChangeEvent("kv", ChangeKind.DEPLOY, 0.5)]
    found = classify(Cause("cart", 0.9), evidence, deploy, since=0.0, callees=["kv"], roles=roles)
    assert (found.failure_type, found.service, found.indicator) == (
        FailureType.CODE_BUG,
        "kv",
        "version",
    )
    push = [ChangeEvent("kv", ChangeKind.CONFIG, 0.5)]
    found = classify(Cause("cart", 0.9), evidence, push, since=0.0, callees=["kv"], roles=roles)
    assert (found.failure_type, found.service) == (FailureType.CONFIGURATION_ERROR, "kv")
    # a change older than the window says nothing
    old = classify(Cause("cart", 0.9), evidence, deploy, since=0.8, callees=["kv"], roles=roles)
    assert old.failure_type is FailureType.DATA_CORRUPTION


def test_errors_on_one_instance_beside_a_full_pool_point_at_that_instance() -> None:
    ev = [a("catalog", "error_ratio", instance="catalog-1"), a("catalog", "pool_saturation")]
    found = classify(Cause("catalog", 0.9), ev)
    assert (found.failure_type, found.instance) == (FailureType.CODE_BUG, "catalog-1")


def test_one_instance_calling_slower_than_its_siblings_is_a_network_failure_there() -> None:
    evidence = [
        a("checkout", "upstream_latency_p99_vs_peers", "checkout-0", target="payment"),
        a("checkout", "upstream_latency_p99_seconds", target="payment"),
        a("frontend", "upstream_latency_p99_seconds", target="checkout"),  # second edge
        a("checkout", "pool_saturation", "checkout-0"),  # the slow calls fill its pool
    ]
    found = classify(Cause("checkout", 0.9), evidence)
    assert found.failure_type is FailureType.NETWORK_FAILURE
    assert found.instance == "checkout-0"
    assert "payment" in found.reason


def ev(
    kind: EvidenceKind, indicator: str = "", rising: bool | None = None, text: str = ""
) -> Evidence:
    return Evidence(kind, f"{kind.value} {indicator} {text}", indicator, rising=rising, text=text)


M, LOG, VANISHED = EvidenceKind.METRIC, EvidenceKind.LOG_ERRORS, EvidenceKind.LOG_VANISHED


@pytest.mark.parametrize(
    ("indicator", "evidence", "expected"),
    [
        ("cpu_cores", (), FailureType.RESOURCE_EXHAUSTION),
        ("latency_p99_seconds", (ev(M, "memory_bytes", True),), FailureType.RESOURCE_EXHAUSTION),
        ("network_latency", (), FailureType.NETWORK_FAILURE),
        ("error_ratio", (), FailureType.CODE_BUG),
        ("log:error_template", (ev(LOG, text="ERROR null"),), FailureType.CODE_BUG),
        (
            "log:error_template",
            (ev(LOG, text="invalid config value"),),
            FailureType.CONFIGURATION_ERROR,
        ),
        ("error_ratio", (ev(LOG, text="checksum mismatch"),), FailureType.DATA_CORRUPTION),
        (
            "trace:skipped_step",
            (ev(EvidenceKind.TRACE_PATTERN, text="PlaceOrder -> EmptyUserCart"),),
            FailureType.CODE_BUG,
        ),
        # CPU that falls when requests return early is a consequence, not exhaustion
        (
            "log:error_template",
            (ev(M, "cpu_cores", False), ev(LOG, text="ERROR No contacts found")),
            FailureType.CODE_BUG,
        ),
        ("", (ev(VANISHED, text="seat booked"),), FailureType.CODE_BUG),
        (
            "",
            (ev(EvidenceKind.TRACE_NETWORK, "network_latency", True),),
            FailureType.NETWORK_FAILURE,
        ),
        (
            "",
            (Evidence(EvidenceKind.HISTORY, "h", failure_type=FailureType.EXTERNAL_DEPENDENCY),),
            FailureType.EXTERNAL_DEPENDENCY,
        ),
    ],
)
def test_the_rankers_evidence_decides_when_no_live_rule_does(
    indicator: str, evidence: tuple[Evidence, ...], expected: FailureType
) -> None:
    cause = Cause("svc", 0.9, indicator=indicator or None, evidence=evidence)
    found = from_evidence(cause)
    assert found is not None and found[0] is expected
    assert classify(cause, []).failure_type is expected


def test_no_evidence_decides_nothing_and_a_name_never_does() -> None:
    assert from_evidence(Cause("bank_remote", 0.9)) is None
    assert classify(Cause("bank_remote", 0.9), []).failure_type is FailureType.UNKNOWN
    # the notes are for humans: words there decide nothing
    noted = Cause("svc", 0.9, evidence=(Evidence(EvidenceKind.FACT, "cpu memory timeout"),))
    assert from_evidence(noted) is None
