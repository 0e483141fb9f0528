"""An approval nobody grants: the engine in fake time over the real guards, the real risk
model with the shipped approval settings, and a real SQLite store.

A failover scores above the shipped ``approval.risk_level``, so the loop files a request
and waits; denied or left to expire, the action never runs, its outcome is recorded as
``denied`` / ``expired`` and the incident is escalated to a human.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from selfheal.analysis.correlation import Correlator
from selfheal.analysis.rules import LiveDetection
from selfheal.core.clock import FakeClock
from selfheal.core.config import Config
from selfheal.core.platform import PlanningContext
from selfheal.core.types import Action, ActionKind, Cause, Incident, IncidentStatus, Plan
from selfheal.decision.guards import Guards
from selfheal.decision.risk import assess
from selfheal.loop.engine import Engine
from selfheal.loop.jobs import InlinePool
from selfheal.loop.settings import EngineSettings
from selfheal.loop.stages import GuardsAdapter, StoreAdapter
from selfheal.store.db import ConflictError
from selfheal.store.state import Store, open_store

from .fakes import FakePlatform, FakeRanker, FakeRunner, World

SHIPPED = Config()


class FailoverPlanner:
    """Plans a failover of the cause's service, scored by the real risk model."""

    def record_outcome(self, strategy: str, success: bool) -> None:
        pass

    def plan(
        self, incident: Incident, cause: Cause, context: PlanningContext, now: float
    ) -> Plan | None:
        action = Action(ActionKind.FAILOVER, cause.service, params={"dependency": "bank"})
        risk = assess(action, context).risk
        scored = Action(action.kind, action.target, params=action.params, risk=risk)
        return Plan(incident.id, cause, "fail-over", (scored,), now, risk=risk)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/approvals.db", FakeClock())
    yield s
    s.close()


def waiting_engine(store: Store) -> tuple[Engine, World, FakeClock]:
    """An engine whose failover for a broken cache is waiting for approval."""
    clock = FakeClock()
    store.approvals.clock = clock
    world = World(clock)
    guards = Guards(SHIPPED.guards, clock, approval=SHIPPED.approval)
    engine = Engine(
        collector=world,
        platform=FakePlatform(world),
        detection=LiveDetection(warmup_samples=3, detector_factory=None),
        correlator=Correlator(window_seconds=60, max_hops=3),
        ranker=FakeRanker(),
        planner=FailoverPlanner(),
        guards=GuardsAdapter(guards),
        runner=FakeRunner(world),
        store=StoreAdapter(store),
        clock=clock,
        settings=EngineSettings(
            cycle_seconds=1.0,
            resolve_after_seconds=5.0,
            approval_expiry_seconds=SHIPPED.approval.expiry_seconds,
        ),
        pool=InlinePool(),
    )
    for _ in range(10):
        engine.step()
        clock.advance(1.0)
    world.broken["cache"] = "Failover"
    for _ in range(10):
        engine.step()
        clock.advance(1.0)
    return engine, world, clock


def kinds(store: Store) -> list[str]:
    return [e.kind for e in store.audit.entries()]


def outcomes(store: Store) -> list[str]:
    return [str(e.payload["outcome"]) for e in store.audit.entries() if e.kind == "action_result"]


def test_unanswered_approval_expires_denies_and_escalates(store: Store) -> None:
    engine, world, clock = waiting_engine(store)
    (request,) = store.approvals.pending()
    assert request.risk >= SHIPPED.approval.risk_level
    assert request.expires_at == pytest.approx(request.requested_at + 900.0)
    clock.advance(SHIPPED.approval.expiry_seconds - 30)  # still inside the window
    engine.step()
    assert store.approvals.get(request.id).status == "pending"  # type: ignore[union-attr]
    clock.advance(60)
    engine.step()
    assert store.approvals.get(request.id).status == "expired"  # type: ignore[union-attr]
    assert world.executed == []
    assert outcomes(store) == ["expired"]
    assert "approval_expired" in kinds(store)
    incident = store.incidents.get(request.incident_id)
    assert incident is not None and incident.status == IncidentStatus.ESCALATED
    with pytest.raises(ConflictError, match="expired"):
        store.decide_approval(request.id, True, by="late-larry")
    assert "approval_decided" not in kinds(store)  # a refused decision records nothing


def test_denied_approval_never_runs_and_escalates(store: Store) -> None:
    engine, world, clock = waiting_engine(store)
    (request,) = store.approvals.pending()
    store.decide_approval(request.id, False, by="ann", reason="bank-b is in maintenance")
    engine.step()
    assert world.executed == []
    assert outcomes(store) == ["denied"]
    incident = store.incidents.get(request.incident_id)
    assert incident is not None and incident.status == IncidentStatus.ESCALATED
    (decided,) = [e.payload for e in store.audit.entries() if e.kind == "approval_decided"]
    assert (decided["by"], decided["status"]) == ("ann", "denied")
