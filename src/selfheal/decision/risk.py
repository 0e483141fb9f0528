"""Risk and impact of one action, before it runs.

The planner scores every rung of a plan with ``assess``; the guards compare the
risk with the approval level. Risk combines three independent factors as
probabilities of "something goes wrong" (a noisy-OR):

- the action kind's inherent risk (``BASE_RISK``: a restart of one instance is
  cheap and leaves nothing behind; a failover rewires a dependency),
- the blast-radius share (which share of the service's instances the action
  takes out of service, or touches),
- the service's criticality (from the planning context).

Impact is the capacity the action removes while it runs and how long it is
expected to take. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from selfheal.core.platform import PlanningContext
from selfheal.core.types import Action, ActionKind

#: Inherent risk per action kind, in [0, 1]: reversible, narrow actions low;
#: service-wide or rewiring ones higher.
BASE_RISK: Mapping[ActionKind, float] = {
    ActionKind.RESTART_CONTAINER: 0.10,
    ActionKind.DRAIN_TRAFFIC: 0.10,
    ActionKind.SCALE_SERVICE: 0.15,
    ActionKind.CLEAR_CACHE: 0.20,
    ActionKind.UPDATE_CONFIGURATION: 0.25,
    ActionKind.RESTART_SERVICE: 0.30,
    ActionKind.ROLLBACK_DEPLOYMENT: 0.30,
    ActionKind.FAILOVER: 0.35,
}

#: Extra inherent risk when the parameters make the action worse than its kind's norm.
SCALE_DOWN_RISK = 0.35  # removing capacity during an incident
CONFIG_PATCH_RISK = 0.35  # a new config value, not a known-good revision

#: Weights of the blast-radius share and the criticality in the noisy-OR.
BLAST_WEIGHT = 0.3
CRITICALITY_WEIGHT = 0.3

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


def instances_taken_out(action: Action, total: int) -> int:
    """How many instances the action takes out of service at its worst moment.

    Rolling operations (restart, rollback) take one at a time; config pushes,
    cache clears and failovers reload in place; a scale-down removes instances.
    """
    kind = action.kind
    if kind in (ActionKind.RESTART_CONTAINER, ActionKind.DRAIN_TRAFFIC):
        return 1
    if kind in (ActionKind.RESTART_SERVICE, ActionKind.ROLLBACK_DEPLOYMENT):
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
