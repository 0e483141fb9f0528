"""The demo's judge credits each loop step to the fault it belongs to, also when faults
overlap; counts actions on the wrong target and faults never detected; and calls a
fault healed only once its effect is gone and the journeys through its service are
back, whatever another live fault does."""

from __future__ import annotations

import time
from typing import Any

import httpx

from selfheal.cli.demo import FaultRecord, Judge, ScenarioStep, demo_config, free_port
from selfheal.testbed.load import LoadGenerator, LoadPlan, _Outcome
from selfheal.testbed.topology_file import find_topology


def _judge_with(*faults: tuple[str, str]) -> tuple[Judge, list[FaultRecord]]:
    judge = Judge("http://127.0.0.1:9", load=None, t0=time.time())
    now = time.time()
    for fault, service in faults:
        record = FaultRecord(ScenarioStep(at_seconds=0, fault=fault, service=service))
        record.injected_at = now - 1.0
        judge.records.append(record)
    return judge, judge.records


def _opened(incident: str, service: str, indicator: str) -> dict[str, Any]:
    return {"incident": incident, "signals": [{"service": service, "indicator": indicator}]}


def _action(kind: str, target: str, outcome: str, incident: str) -> dict[str, Any]:
    return {"incident": incident, "action": {"kind": kind, "target": target}, "outcome": outcome}


def test_two_faults_at_once_are_each_credited_their_own_steps() -> None:
    judge, (crash, release) = _judge_with(("crash", "cart"), ("bad_release", "shipping"))
    try:
        judge.on_event("incident_opened", _opened("i1", "cart", "up"))
        judge.on_event("incident_opened", _opened("i2", "shipping", "error_ratio"))
        judge.on_event(
            "decision",
            {
                "incident": "i2",
                "inputs": {
                    "cause": {"service": "shipping", "failure_type": "CodeBug", "confidence": 0.9}
                },
                "strategy": "roll-back",
            },
        )
        judge.on_event(
            "action_result", _action("RollbackDeployment", "shipping", "succeeded", "i2")
        )
        judge.on_event("action_result", _action("RestartContainer", "cart", "succeeded", "i1"))
        assert crash.detected_at is not None and release.detected_at is not None
        assert [a["action"] for a in crash.actions] == ["RestartContainer"]
        assert [a["action"] for a in release.actions] == ["RollbackDeployment"]
        assert release.root_cause == "shipping" and crash.root_cause is None
    finally:
        judge.close()


def test_an_action_on_another_service_goes_to_the_fault_its_incident_was_credited_to() -> None:
    judge, (outage, crash) = _judge_with(("dependency_outage", "bank"), ("crash", "cart"))
    try:
        judge.on_event("incident_opened", _opened("i1", "bank", "error_ratio"))
        judge.on_event("action_result", _action("Failover", "payment", "succeeded", "i1"))
        assert [a["action"] for a in outage.actions] == ["Failover"] and crash.actions == []
        assert judge.false_actions == 0
    finally:
        judge.close()


def test_an_action_after_every_fault_expired_is_a_false_action() -> None:
    judge, (latency,) = _judge_with(("latency", "catalog"))
    try:
        latency.expires_at = time.time() - 10.0
        judge.on_event("action_started", _action("RestartService", "catalog", "", "i9"))
        assert judge.false_actions == 1
    finally:
        judge.close()


def test_the_demo_receives_traces_only_when_asked() -> None:
    plain = demo_config("http://127.0.0.1:9", "/tmp/run")
    assert not plain.otlp.enabled
    traced = demo_config("http://127.0.0.1:9", "/tmp/run", otlp_port=free_port())
    assert traced.otlp.enabled and traced.otlp.port > 0


# -- the strict judge: wrong targets, detection, heals that overlapping faults do not mask --
def test_an_action_on_an_innocent_service_is_a_wrong_target() -> None:
    judge, (errors,) = _judge_with(("errors", "catalog"))
    try:
        for kind, target in (
            ("RestartContainer", "catalog"),  # the faulty service
            ("RestartService", "frontend"),  # a direct caller, caller-side restart: fine
            ("ScaleService", "frontend"),  # a caller, but not a caller-side action
            ("RollbackDeployment", "checkout"),  # neither
        ):
            judge.on_event("action_result", _action(kind, target, "succeeded", "i1"))
        assert errors.wrong_target_actions == 2
        assert errors.summary()["wrong_target_actions"] == 2
    finally:
        judge.close()


def test_a_failover_of_the_providers_caller_is_on_target() -> None:
    judge, (outage,) = _judge_with(("dependency_outage", "bank"))
    try:
        judge.on_event("action_result", _action("Failover", "payment", "succeeded", "i1"))
        judge.on_event("action_result", _action("Failover", "checkout", "failed", "i1"))
        assert outage.wrong_target_actions == 1  # checkout does not call the bank
    finally:
        judge.close()


def test_a_fault_no_incident_named_is_undetected() -> None:
    judge, (crash, leak) = _judge_with(("crash", "cart"), ("memory_leak", "shipping"))
    try:
        judge.on_event("incident_opened", _opened("i1", "cart", "up"))
        assert crash.summary()["detected"] is True
        assert leak.summary()["detected"] is False and leak.summary()["healed"] is False
        keys = set(leak.summary())
        assert {"fault", "service", "injected_at", "detected_at", "root_cause"} <= keys
        assert {"failure_type", "actions", "recovered_at", "healed"} <= keys
    finally:
        judge.close()


class _Platform:
    """The control port's answers the judge reads: fault records and the status."""

    def __init__(self) -> None:
        self.active: dict[str, bool] = {}
        self.payment_uses = "bank"
        self.drained: set[str] = set()

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/faults/"):
            return httpx.Response(200, json={"active": self.active[path.rsplit("/", 1)[1]]})
        services = [
            {
                "name": name,
                "external": name.startswith("bank"),
                "dependencies": {"bank": self.payment_uses} if name == "payment" else {},
                "instances": [
                    {"id": f"{name}-{i}", "healthy": True, "ready": True,
                     "drained": f"{name}-{i}" in self.drained}
                    for i in range(2)
                ],
            }
            for name in ("frontend", "catalog", "cart", "checkout", "payment", "shipping", "bank")
        ]  # fmt: skip
        return httpx.Response(200, json={"services": services})


def _strict_judge(
    platform: _Platform, *faults: tuple[str, str, str | None]
) -> tuple[Judge, list[FaultRecord], LoadGenerator]:
    load = LoadGenerator("http://127.0.0.1:9", plan=LoadPlan.of(find_topology("shop")))
    client = httpx.Client(transport=httpx.MockTransport(platform.handle))
    judge = Judge("http://control", load, time.time(), client=client)
    judge.baseline = {"browse": 1.0, "add_to_cart": 1.0, "checkout": 1.0, "(payments)": 1.0}
    for i, (fault, service, instance) in enumerate(faults):
        step = ScenarioStep(at_seconds=0, fault=fault, service=service, instance=instance)
        record = FaultRecord(step, fault_id=f"f-{i}", injected_at=time.time() - 5)
        platform.active[record.fault_id] = True
        judge.records.append(record)
    return judge, judge.records, load


def _journeys(load: LoadGenerator, journey: str, ok: int, failed: int, suspects: set[str]) -> None:
    now = time.monotonic()
    pays = journey == "checkout"
    for _ in range(ok):
        load._record(_Outcome(now, journey, True, 0.05, True if pays else None, ""))
    for _ in range(failed):
        paid = False if pays and suspects & {"payment", "bank"} else None
        load._record(_Outcome(now, journey, False, 0.05, paid, "x", frozenset(suspects)))


def test_a_fault_is_healed_only_once_it_no_longer_acts() -> None:
    platform = _Platform()
    judge, (latency,), load = _strict_judge(platform, ("latency", "catalog", None))
    try:
        _journeys(load, "browse", 10, 0, set())
        assert not judge.recovered(latency)  # shoppers are fine, but the fault still acts
        platform.active["f-0"] = False
        assert judge.recovered(latency)
    finally:
        judge.close()


def test_draining_the_one_slow_instance_or_failing_over_counts_as_routing_around() -> None:
    platform = _Platform()
    judge, (slow, outage), load = _strict_judge(
        platform, ("latency", "catalog", "catalog-1"), ("dependency_outage", "bank", None)
    )
    try:
        _journeys(load, "browse", 10, 0, set())
        _journeys(load, "checkout", 10, 0, set())
        assert not judge.recovered(slow) and not judge.recovered(outage)
        platform.drained.add("catalog-1")
        platform.payment_uses = "bank-b"
        assert judge.recovered(slow) and judge.recovered(outage)
    finally:
        judge.close()


def test_overlapping_faults_do_not_mask_each_others_heals() -> None:
    platform = _Platform()
    judge, (cart, shipping), load = _strict_judge(
        platform, ("errors", "cart", None), ("bad_release", "shipping", None)
    )
    try:
        platform.active["f-0"] = False  # cart was restarted; shipping still runs v2
        _journeys(load, "add_to_cart", 10, 0, set())
        _journeys(load, "checkout", 2, 8, {"shipping"})
        assert judge.recovered(cart)  # the failing checkouts are shipping's
        assert not judge.recovered(shipping)
        _journeys(load, "checkout", 0, 8, {"checkout", "cart"})
        assert not judge.recovered(cart)  # these name cart: not recovered after all
    finally:
        judge.close()


def test_an_incident_on_services_the_fault_cannot_reach_does_not_detect_it() -> None:
    judge, (slow,) = _judge_with(("latency", "inventory"))
    try:
        judge.on_event("incident_opened", _opened("i1", "cache", "error_ratio"))
        assert slow.detected_at is None  # cache does not call inventory, nor anything above it
        judge.on_event("incident_opened", _opened("i2", "frontend", "latency"))
        assert slow.detected  # frontend → catalog → inventory: where a slow inventory shows
    finally:
        judge.close()


def _decision(incident: str, service: str, failure_type: str) -> dict[str, Any]:
    cause = {"service": service, "failure_type": failure_type, "confidence": 0.8}
    return {"incident": incident, "inputs": {"cause": cause}, "strategy": "s"}


def test_the_steps_after_a_decision_go_to_the_fault_it_was_made_for() -> None:
    # an incident opened on a tray's delay; an outage of the card provider joins it and
    # the next decision names the provider: the failover of its caller that follows is
    # the outage's (right target), not the delay's (wrong target)
    judge, (delay, outage) = _judge_with(("network_delay", "tray"), ("dependency_outage", "card"))
    try:
        judge.on_event("incident_opened", _opened("i1", "tray", "latency"))
        judge.on_event("decision", _decision("i1", "card", "ExternalDependency"))
        judge.on_event("action_result", _action("Failover", "till", "succeeded", "i1"))
        assert [a["action"] for a in outage.actions] == ["Failover"] and delay.actions == []
        assert outage.root_cause == "card" and delay.wrong_target_actions == 0
    finally:
        judge.close()


def test_a_rediagnosis_that_names_a_fault_detects_it_and_takes_its_steps() -> None:
    # errors on the kitchen, a CPU hog on the till it calls: the hog's symptoms joined the
    # kitchen's incident; after the kitchen's action did not help, the rediagnosis names
    # the till. The hog was seen and diagnosed (a cause named for it), and the restart
    # that follows is its own
    judge, (errors, hog) = _judge_with(("errors", "kitchen"), ("cpu_hog", "till"))
    try:
        judge.on_event("incident_opened", _opened("i1", "kitchen", "error_ratio"))
        judge.on_event("decision", _decision("i1", "kitchen", "CodeBug"))
        assert hog.detected_at is None
        rediagnosed = {"incident": "i1", "cause": {"service": "till", "failure_type": "X"}}
        judge.on_event("incident_rediagnosed", rediagnosed | {"reason": "did not help"})
        judge.on_event("action_result", _action("RestartContainer", "till", "succeeded", "i1"))
        assert hog.detected_at is not None and hog.root_cause == "till"
        assert [a["action"] for a in hog.actions] == ["RestartContainer"]
        assert errors.root_cause == "kitchen" and errors.actions == []
    finally:
        judge.close()


def test_an_action_goes_to_its_decisions_fault_though_a_later_one_sits_on_its_target() -> None:
    # an outage of the customs provider: the decision names it and fails its caller tolls
    # over; errors on tolls start before the failover's verification ends. The failover
    # (decided before the errors began) is the outage's, not the errors'
    judge, (outage, errors) = _judge_with(("dependency_outage", "customs"), ("errors", "tolls"))
    try:
        errors.injected_at = None  # not started yet at the decision
        judge.on_event("incident_opened", _opened("i1", "customs", "error_ratio"))
        judge.on_event("decision", _decision("i1", "customs", "ExternalDependency"))
        judge.on_event("action_started", _action("Failover", "tolls", "", "i1"))
        errors.injected_at = time.time()
        judge.on_event("action_result", _action("Failover", "tolls", "succeeded", "i1"))
        assert [a["action"] for a in outage.actions] == ["Failover"] and errors.actions == []
        assert outage.first_success_at is not None and errors.first_success_at is None
        assert judge.false_actions == 0
    finally:
        judge.close()
