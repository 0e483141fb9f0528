"""The planner: from an incident's cause to an ordered plan of actions.

Called by the loop once per incident cause it decides to act on. It picks the
playbook strategy that fits the cause (failure type, indicator, instance,
recent deploys and config pushes, dependency wiring), renders its ladder of
action templates against the cause, drops rungs that cannot work on the
current platform (draining the only instance, an instance the platform does
not know), appends the rungs of the next fitting strategies as further
escalation, and scores each action's risk and impact. It never acts and never
checks guards: the loop runs the plan rung by rung through the guards and the
executor, moving to the next rung when verification fails.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.platform import ChangeKind, PlanningContext
from selfheal.core.types import Action, ActionKind, Cause, Incident, Plan, Strategy
from selfheal.decision.dependencies import cache_service, dependency_pairs, is_external
from selfheal.decision.playbook import Playbook, PlaybookEntry
from selfheal.decision.risk import Assessment, assess

__all__ = [
    "Decision",
    "Planner",
    "cache_service",
    "dependency_pairs",
    "is_external",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """A plan plus how it was reached: the inputs and risk the audit trail records."""

    plan: Plan
    strategy: Strategy | None  # the primary strategy (with learned success probability)
    assessments: tuple[Assessment, ...]  # one per action of the plan, same order
    reasons: tuple[str, ...]  # why strategies / rungs were chosen or left out

    @property
    def escalate(self) -> bool:
        """No action fits: hand the incident to a human."""
        return not self.plan.actions


class Planner:
    """Chooses and renders strategies; learns their success from outcomes."""

    def __init__(
        self,
        playbook: Playbook | None = None,
        clock: Clock | None = None,
        *,
        max_actions: int = 4,
        min_success_probability: float = 0.2,
    ) -> None:
        """``max_actions``: longest ladder a plan may have (rungs beyond are dropped).
        ``min_success_probability``: strategies whose learned probability fell below it
        are passed over while another strategy fits. Changes the loop made itself arrive
        marked (``ChangeEvent.by_selfheal``) and are never taken for a cause."""
        self.playbook = playbook if playbook is not None else Playbook.default()
        self._clock = clock or SystemClock()
        self._max_actions = max_actions
        self._min_success = min_success_probability

    def plan(self, incident: Incident, cause: Cause, context: PlanningContext) -> Plan:
        return self.decide(incident, cause, context).plan

    def record_outcome(self, strategy: str, success: bool) -> float:
        """Feed back whether a strategy healed its incident; returns the new probability."""
        return self.playbook.record_outcome(strategy, success)

    def decide(self, incident: Incident, cause: Cause, context: PlanningContext) -> Decision:
        now = self._clock.now()
        reasons: list[str] = []
        fitting = self._fitting(cause, context, now, reasons)
        actions: list[Action] = []
        assessments: list[Assessment] = []
        for entry in fitting:
            for action in self._render(entry, cause, context, now, reasons):
                if len(actions) >= self._max_actions:
                    break
                if any(_same(action, a) for a in actions):
                    continue
                a = assess(action, context, entry.strategy.expected_duration_seconds)
                actions.append(dataclasses.replace(action, risk=a.risk))
                assessments.append(dataclasses.replace(a, action=actions[-1]))
        primary = self.playbook.learned(fitting[0].strategy) if fitting else None
        if not actions:
            reasons.append("no strategy yields an action for this cause: escalate to a human")
        plan = Plan(
            incident_id=incident.id,
            cause=cause,
            strategy=primary.name if primary else "escalate",
            actions=tuple(actions),
            created_at=now,
            risk=max((a.risk for a in assessments), default=0.0),
        )
        return Decision(plan, primary, tuple(assessments), tuple(reasons))

    # -- selection ---------------------------------------------------------------------

    def _fitting(
        self, cause: Cause, context: PlanningContext, now: float, reasons: list[str]
    ) -> list[PlaybookEntry]:
        ok: list[PlaybookEntry] = []
        for entry in self.playbook.candidates(cause.failure_type):
            if not entry.matches_indicator(cause.indicator):
                continue
            missing = [
                p for p in entry.prerequisites if not self._holds(p, entry, cause, context, now)
            ]
            if missing:
                reasons.append(f"{entry.name}: prerequisite(s) not met: {', '.join(missing)}")
                continue
            ok.append(entry)
        learned = {e.name: self.playbook.success_probability(e.name) for e in ok}
        ok.sort(key=lambda e: (-e.priority, -learned[e.name], e.order))
        trusted = [e for e in ok if learned[e.name] >= self._min_success]
        if trusted and len(trusted) < len(ok):
            for e in ok:
                if e not in trusted:
                    reasons.append(
                        f"{e.name}: passed over, learned success {learned[e.name]:.2f} "
                        f"< {self._min_success:.2f}"
                    )
            ok = trusted
        if ok:
            reasons.insert(
                0,
                f"chose {ok[0].name} for {cause.failure_type.value} on "
                f"{cause.service}{'/' + cause.instance if cause.instance else ''} "
                f"(priority {ok[0].priority}, success {learned[ok[0].name]:.2f})",
            )
        return ok

    def _holds(
        self,
        prerequisite: str,
        entry: PlaybookEntry,
        cause: Cause,
        context: PlanningContext,
        now: float,
    ) -> bool:
        since = now - entry.change_window_seconds
        state = context.service(cause.service)
        if prerequisite == "instance_known":
            return cause.instance is not None
        if prerequisite == "no_instance":
            return cause.instance is None
        if prerequisite == "multiple_instances":
            return state is not None and state.instances_total >= 2
        if prerequisite == "recent_deploy":
            return bool(context.recent_changes(cause.service, since, ChangeKind.DEPLOY))
        if prerequisite == "recent_config_change":
            return bool(context.recent_changes(cause.service, since, ChangeKind.CONFIG))
        if prerequisite == "no_recent_change":
            return not any(
                c.kind in (ChangeKind.DEPLOY, ChangeKind.CONFIG)
                for c in context.recent_changes(cause.service, since)
            )
        if prerequisite == "dependency_known":
            return bool(dependency_pairs(cause, context))
        raise ValueError(f"unknown prerequisite {prerequisite!r}")

    # -- rendering ---------------------------------------------------------------------

    def _render(
        self,
        entry: PlaybookEntry,
        cause: Cause,
        context: PlanningContext,
        now: float,
        reasons: list[str],
    ) -> list[Action]:
        pairs: list[tuple[str | None, str | None]] = list(dependency_pairs(cause, context))
        if not pairs:
            pairs = [(None, None)]
        out: list[Action] = []
        for template in entry.strategy.ladder:
            fans_out = "{dependent}" in _fields(template)
            for dependent, dependency in pairs if fans_out else pairs[:1]:
                values: dict[str, Any] = {
                    "service": cause.service,
                    "instance": cause.instance,
                    "indicator": cause.indicator,
                    "dependent": dependent,
                    "dependency": dependency,
                    "cache": cache_service(cause, context),
                }
                try:
                    action = _fill(template, values)
                except _Missing as missing:
                    reasons.append(
                        f"{entry.name}: {template.kind.value} left out: {missing} unknown"
                    )
                    continue
                action = self._resolve_params(action, entry, context, now)
                why_not = _infeasible(action, context)
                if why_not:
                    reasons.append(f"{entry.name}: {action.describe()} left out: {why_not}")
                    continue
                out.append(action)
        return out

    def _resolve_params(
        self, action: Action, entry: PlaybookEntry, context: PlanningContext, now: float
    ) -> Action:
        params = dict(action.params)
        since = now - entry.change_window_seconds
        if action.kind == ActionKind.UPDATE_CONFIGURATION and params.get("restore") == "last_good":
            pushes = context.recent_changes(action.target, since, ChangeKind.CONFIG)
            del params["restore"]
            # the oldest push in the window is the first bad one: restore what preceded it
            first = pushes[-1] if pushes else None
            if first is not None and first.before.isdigit():
                # the revision in effect before the first push: exact, whatever the clocks
                params["revision"] = int(first.before)
            elif first is not None:
                params["restore_before"] = first.at
            else:
                params["restore"] = "previous"
        if action.kind == ActionKind.ROLLBACK_DEPLOYMENT and params.get("version") == "previous":
            deploys = context.recent_changes(action.target, since, ChangeKind.DEPLOY)
            del params["version"]
            if deploys and deploys[-1].before:
                params["version"] = deploys[-1].before
        return dataclasses.replace(action, params=params)


class _Missing(Exception):
    pass


def _fields(template: Action) -> set[str]:
    texts = [template.target, template.instance or ""]
    texts += [v for v in template.params.values() if isinstance(v, str)]
    return {f"{{{f}}}" for t in texts for _, f, _, _ in string.Formatter().parse(t) if f}


def _fill_text(text: str, values: Mapping[str, Any]) -> str:
    names = [f for _, f, _, _ in string.Formatter().parse(text) if f]
    for name in names:
        if name not in values:
            raise _Missing(f"template field {{{name}}}")
        if values[name] is None:
            raise _Missing(name)
    return text.format_map(values)


def _fill_value(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _fill_text(value, values)
    if isinstance(value, dict):
        return {k: _fill_value(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_value(v, values) for v in value]
    return value


def _fill(template: Action, values: Mapping[str, Any]) -> Action:
    return dataclasses.replace(
        template,
        target=_fill_text(template.target, values),
        instance=_fill_text(template.instance, values) if template.instance else None,
        params=_fill_value(dict(template.params), values),
    )


def _infeasible(action: Action, context: PlanningContext) -> str:
    state = context.service(action.target)
    if state is None:
        return ""  # the platform view is partial; the executor validates
    if action.instance is not None and state.instances and action.instance not in state.instances:
        return f"{action.target} has no instance {action.instance}"
    if action.kind == ActionKind.DRAIN_TRAFFIC:
        others = [i for i in state.instances if i != action.instance and i not in state.unready]
        if not others:
            return "no other ready instance would be left to serve traffic"
    return ""


def _same(a: Action, b: Action) -> bool:
    return (a.kind, a.target, a.instance, dict(a.params)) == (
        b.kind,
        b.target,
        b.instance,
        dict(b.params),
    )
