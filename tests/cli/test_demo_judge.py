"""The demo's judge credits each loop step to the fault it belongs to, also when faults
overlap."""

from __future__ import annotations

import time
from typing import Any

from selfheal.cli.demo import FaultRecord, Judge, ScenarioStep, demo_config, free_port


def _judge_with(*faults: tuple[str, str]) -> tuple[Judge, list[FaultRecord]]:
    judge = Judge("http://127.0.0.1:9", load=None, t0=time.time())
    now = time.time()
    for fault, service in faults:
        record = FaultRecord(ScenarioStep(at_seconds=0, fault=fault, service=service))
        record.injected_at = now - 1.0
        judge.records.append(record)
    return judge, judge.records


def _action(kind: str, target: str, outcome: str, incident: str) -> dict[str, Any]:
    return {"incident": incident, "action": {"kind": kind, "target": target}, "outcome": outcome}


def test_two_faults_at_once_are_each_credited_their_own_steps() -> None:
    judge, (crash, release) = _judge_with(("crash", "cart"), ("bad_release", "shipping"))
    try:
        judge.on_event(
            "incident_opened",
            {"incident": "i1", "signals": [{"service": "cart", "indicator": "up"}]},
        )
        judge.on_event(
            "incident_opened",
            {"incident": "i2", "signals": [{"service": "shipping", "indicator": "error_ratio"}]},
        )
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
        judge.on_event(
            "incident_opened",
            {"incident": "i1", "signals": [{"service": "bank", "indicator": "error_ratio"}]},
        )
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
