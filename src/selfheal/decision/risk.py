"""Risk and impact of one action, before it runs.

The planner scores every rung of a plan with ``assess``; the guards compare the
risk with ``approval.risk_level`` (default 0.7): at or above it, a human must
approve. Risk combines three independent factors as probabilities of "something
goes wrong" (a noisy-OR)::

    risk = 1 - (1 - base) * (1 - 0.3 * share) * (1 - 0.5 * criticality)

- ``base``: the action's inherent risk (``BASE_RISK``, raised for a scale-down,
  a node drain or new config values),
- ``share``: the blast-radius share, the share of the service's instances the
  action touches (1/n for one instance, 1 for a service-wide action),
- ``criticality``: the service's, from the planning context (0..1, default 0.5).

Calibration, for the shipped ``approval.risk_level`` 0.7: the two weights leave
at most 0.35 of ``1 - base`` standing (0.7 × 0.5), so

- a base of 0.70 reaches the level on its own, whatever the service: a failover
  (it rewires a dependency), a scale-down (it removes capacity during an
  incident), a node drain (it evicts every pod of a node) always wait for a human;
- a base of 0.10 or less never does (at most 1 - 0.9 × 0.35 = 0.685): restarting
  one container, a rolling restart, clearing a cache, draining one instance,
  adding capacity stay autonomous even on a fully critical service;
- in between, criticality decides: a rollback (0.40, service-wide) waits for a
  human on a service of criticality above 0.57 (a critical one; the default 0.5
  is not), new config values (0.45) above 0.44, a restore of the last good
  config revision (0.20) only above 0.92.

An action that alone would take out more instances than ``guards.
blast_radius_fraction`` allows goes to a human too; that is the blast-radius
guard's call (``selfheal.decision.guards``), which knows the configured share.
Impact is the capacity the action removes while it runs and how long it is
expected to take. Pure functions; no I/O.

>>> from selfheal.core.platform import ServiceState
>>> ctx = PlanningContext(services={"pay": ServiceState("pay", ("p0", "p1"), criticality=0.9)})
>>> assess(Action(ActionKind.RESTART_CONTAINER, "pay", "p0"), ctx).risk
0.5559
>>> assess(Action(ActionKind.ROLLBACK_DEPLOYMENT, "pay"), ctx).risk
0.769
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from selfheal.core.platform import PlanningContext
from selfheal.core.types import Action, ActionKind

#: Inherent risk per action kind, in [0, 1]. Cheap and self-healing: a restart (one
#: container or rolling), a cache clear (entries refill from the source of truth),
#: draining one instance, adding capacity. Reverting to a known-good state sits in
#: between (a config revision, lighter than a release rollback, which may cross data
#: migrations). A failover rewires a dependency for every caller: a human first.
BASE_RISK: Mapping[ActionKind, float] = {
    ActionKind.RESTART_CONTAINER: 0.05,
    ActionKind.DRAIN_TRAFFIC: 0.10,
    ActionKind.SCALE_SERVICE: 0.10,
    ActionKind.CLEAR_CACHE: 0.10,
    ActionKind.RESTART_SERVICE: 0.10,
    ActionKind.UPDATE_CONFIGURATION: 0.20,
    ActionKind.ROLLBACK_DEPLOYMENT: 0.40,
    ActionKind.FAILOVER: 0.70,
}

#: Inherent risk when the parameters make the action worse than its kind's norm.
SCALE_DOWN_RISK = 0.70  # removing capacity during an incident
NODE_DRAIN_RISK = 0.70  # cordoning a node and evicting every pod on it, whoever owns them
CONFIG_PATCH_RISK = 0.45  # a new config value, not a known-good revision

#: Weights of the blast-radius share and the criticality in the noisy-OR.
BLAST_WEIGHT = 0.3
CRITICALITY_WEIGHT = 0.5

#: Kinds that have no undo: a failed attempt cannot be reverted (only outlived).
IRREVERSIBLE = frozenset(
    {ActionKind.RESTART_CONTAINER, ActionKind.RESTART_SERVICE, ActionKind.CLEAR_CACHE}
)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Risk and impact estimate of one action."""

    action: Action
    risk: float  # in [0, 1]
    blast_share: float  # share of the service's instances taken out / touched, in [0, 1]
    instances_out: int  # instances out of service at the worst moment of the action
    reversible: bool
    expected_duration_seconds: float
    reason: str


# Operations that take a service's instances out one at a time.
ROLLING = frozenset({ActionKind.RESTART_SERVICE, ActionKind.ROLLBACK_DEPLOYMENT})


def instances_taken_out(action: Action, total: int) -> int:
    """How many instances the action takes out of service at its worst moment.

    Rolling operations (restart, rollback) take one at a time; config pushes,
    cache clears and failovers reload in place; a scale-down removes instances.
    """
    kind = action.kind
    if kind in (ActionKind.RESTART_CONTAINER, ActionKind.DRAIN_TRAFFIC):
        return 1
    if kind in ROLLING:
        return 1 if total > 0 else 0
    if kind == ActionKind.SCALE_SERVICE:
        wanted = scale_target(action, total)
        return max(0, total - wanted)
    return 0


def scale_target(action: Action, current: int) -> int:
    """Replica count a ScaleService action asks for (``replicas`` or ``delta``)."""
    params = action.params
    if "replicas" in params:
        return int(params["replicas"])
    return current + int(params.get("delta", 1))


def _touched_share(action: Action, total: int) -> float:
    if total <= 0:
        return 1.0
    if action.instance is not None:
        return min(1.0, 1 / total)
    if action.kind == ActionKind.SCALE_SERVICE:
        return min(1.0, instances_taken_out(action, total) / total)
    return 1.0  # a service-wide action touches every instance


def assess(
    action: Action, context: PlanningContext, expected_duration_seconds: float = 30.0
) -> Assessment:
    """Score one action against the current platform state."""
    state = context.service(action.target)
    total = state.instances_total if state else 0
    criticality = state.criticality if state else 0.5
    base = BASE_RISK[action.kind]
    notes = [f"{action.kind.value} base {base:.2f}"]
    if action.kind == ActionKind.SCALE_SERVICE and scale_target(action, total) < total:
        base = max(base, SCALE_DOWN_RISK)
        notes.append("scale-down")
    if action.kind == ActionKind.UPDATE_CONFIGURATION and (
        "patch" in action.params or "multiply" in action.params
    ):
        base = max(base, CONFIG_PATCH_RISK)
        notes.append("new config values")
    if action.kind == ActionKind.DRAIN_TRAFFIC and action.params.get("node"):
        base = max(base, NODE_DRAIN_RISK)
        notes.append(f"drains node {action.params['node']}")
    share = _touched_share(action, total)
    risk = 1 - (1 - base) * (1 - BLAST_WEIGHT * share) * (1 - CRITICALITY_WEIGHT * criticality)
    notes.append(f"touches {share:.0%} of {total} instance(s)")
    notes.append(f"criticality {criticality:.2f}")
    return Assessment(
        action=action,
        risk=round(min(1.0, max(0.0, risk)), 4),
        blast_share=share,
        instances_out=instances_taken_out(action, total),
        reversible=action.kind not in IRREVERSIBLE,
        expected_duration_seconds=expected_duration_seconds,
        reason="; ".join(notes),
    )
