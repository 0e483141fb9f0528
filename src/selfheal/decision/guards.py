"""Safety guards: may this action run now?

The loop asks ``Guards.check`` before every action of a plan, and tells the
guards when an action starts (``started``) and finishes (``finished``) and when
an incident healed (``healed``). Each check returns a typed ``GuardDecision``
naming the guard and the reason. Guards never act and never call the platform;
they only count, remember and compare, with all time from the injected clock.
Their limits are the configuration's ``guards`` section (and ``approval.risk_level``),
``selfheal.core.config.GuardsConfig`` / ``ApprovalConfig``, as read from YAML.
Dry-run is not a guard: the loop decides and records without executing.

Checks, in order (the first refusal wins):

1. pause — a global pause flag (a human said stop);
2. maintenance — inside a (one-off or repeating) maintenance window;
3. storm — too many services need action at once: escalate, do not act;
4. recurrence — the same cause healed N times within a window: stop, escalate;
5. circuit breaker — after N consecutive failed actions, refuse until a
   cool-off passes, then let one probe through (half-open), the classic
   breaker of Nygard, *Release It!* (2007); globally and per service;
6. budget — at most N actions per sliding window across the fleet;
7. cooldown — a target recently acted on waits (a ladder's next rung of the
   same incident is exempt, so escalation is not stalled);
8. blast radius — never more than a share of a service's instances out at once
   (an action wider than that on its own waits for a human's approval instead);
9. approval — risk at or above a level waits for a human.
"""

from __future__ import annotations

import enum
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.config import ApprovalConfig, GuardsConfig, MaintenanceWindow
from selfheal.core.platform import PlanningContext
from selfheal.core.types import Action, Cause, FailureType, Outcome
from selfheal.decision.risk import ROLLING, instances_taken_out

__all__ = [
    "ALLOWED",
    "BreakerState",
    "GuardDecision",
    "Guards",
    "Verdict",
    "open_until",
    "target_key",
]


class Verdict(enum.StrEnum):
    ALLOW = "allow"
    BLOCK = "block"  # not now (may pass later)
    ESCALATE = "escalate"  # stop acting; hand to a human
    PENDING_APPROVAL = "pending_approval"


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """The answer of the guards for one action."""

    verdict: Verdict
    guard: str  # which guard decided; "none" when allowed
    reason: str
    retry_after_seconds: float | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == Verdict.ALLOW

    @property
    def outcome(self) -> Outcome | None:
        """The action outcome to record when it does not run (None when allowed)."""
        return {
            Verdict.ALLOW: None,
            Verdict.BLOCK: Outcome.BLOCKED,
            Verdict.ESCALATE: Outcome.BLOCKED,
            Verdict.PENDING_APPROVAL: Outcome.PENDING_APPROVAL,
        }[self.verdict]


ALLOWED = GuardDecision(Verdict.ALLOW, "none", "every guard passed")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class _Touch:
    at: float
    incident_id: str
    kinds: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _InFlight:
    service: str
    instance: str | None
    out: int  # instances it takes out of service at its worst moment (0: in-place change)
    started_at: float = 0.0
    key: str = ""
    touch_before: _Touch | None = None  # the target's cooldown entry before this start
    probe: bool = False  # this start is the half-open breaker's one probe


_FAILURES = frozenset({Outcome.FAILED, Outcome.ROLLED_BACK})
_SUCCESSES = frozenset({Outcome.SUCCEEDED, Outcome.SKIPPED})


def target_key(action: Action) -> str:
    """The cooldown key: ``service`` or ``service/instance``."""
    return f"{action.target}/{action.instance}" if action.instance else action.target


def open_until(window: MaintenanceWindow, now: float) -> float | None:
    """End of the occurrence of ``window`` covering ``now``, or None when ``now`` is outside.

    >>> daily = MaintenanceWindow(start_seconds=0, end_seconds=3600, every_seconds=86400)
    >>> open_until(daily, 86400 + 600), open_until(daily, 7200)
    (90000.0, None)
    """
    if now < window.start_seconds:
        return None
    duration = window.end_seconds - window.start_seconds
    offset = now - window.start_seconds
    if window.every_seconds is not None:
        offset %= window.every_seconds
    return now + (duration - offset) if offset < duration else None


class Guards:
    """Stateful guards shared by every incident of one loop. Thread-safe."""

    def __init__(
        self,
        settings: GuardsConfig | None = None,
        clock: Clock | None = None,
        *,
        approval: ApprovalConfig | None = None,
        is_paused: Callable[[], bool] | None = None,
    ) -> None:
        """``settings``: the ``guards`` section of the configuration; ``approval``: its
        ``approval`` section (the risk level that waits for a human); ``is_paused``: an
        outside pause flag (e.g. the store's control flag), or-ed with ``pause()``."""
        self.settings = settings or GuardsConfig()
        self.approval = approval or ApprovalConfig()
        self._clock = clock or SystemClock()
        self._outside_pause = is_paused
        self._paused = False
        self._lock = threading.RLock()
        self._starts: deque[float] = deque()
        self._touches: dict[str, _Touch] = {}
        self._inflight: dict[int, _InFlight] = {}
        self._next_token = 0
        self._consecutive_failures = 0
        self._opened_at: float | None = None
        self._probe_out = False
        self._asks: dict[str, float] = {}
        self._target_failures: dict[str, int] = {}
        self._target_opened: dict[str, float] = {}
        self._heals: dict[tuple[str, FailureType], deque[float]] = {}

    # -- controls ----------------------------------------------------------------------

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused or bool(self._outside_pause and self._outside_pause())

    # -- the checks --------------------------------------------------------------------

    def check(
        self,
        action: Action,
        *,
        incident_id: str,
        context: PlanningContext,
        cause: Cause | None = None,
        approved: bool = False,
    ) -> GuardDecision:
        """Run every guard in order; the first refusal wins."""
        with self._lock:
            for decision in (
                self.check_pause(),
                self.check_maintenance(action),
                self.check_storm(action),
                self.check_recurrence(cause),
                self.check_breaker(),
                self.check_target_breaker(action),
                self.check_budget(),
                self.check_cooldown(action, incident_id),
                self.check_blast_radius(action, context),
                self.check_approval(action, approved),
            ):
                if decision is not None:
                    return decision
            return ALLOWED

    def check_pause(self) -> GuardDecision | None:
        if self.paused:
            return GuardDecision(Verdict.BLOCK, "pause", "the loop is paused by an operator")
        return None

    def check_maintenance(self, action: Action) -> GuardDecision | None:
        now = self._clock.now()
        for w in self.settings.maintenance_windows:
            end = open_until(w, now)
            if end is not None and (not w.services or action.target in w.services):
                return GuardDecision(
                    Verdict.BLOCK,
                    "maintenance",
                    f"{action.target} is in a maintenance window until {end:.0f}"
                    + (f" ({w.reason})" if w.reason else ""),
                    retry_after_seconds=end - now,
                )
        return None

    def check_storm(self, action: Action) -> GuardDecision | None:
        """Counts ``action.target`` as needing action now; refuses while in a storm."""
        with self._lock:
            now = self._clock.now()
            self._asks[action.target] = now
            horizon = now - self.settings.storm_window_seconds
            for service in [s for s, at in self._asks.items() if at <= horizon]:
                del self._asks[service]
            limit = self.settings.storm_services
            if len(self._asks) > limit:
                return GuardDecision(
                    Verdict.ESCALATE,
                    "storm",
                    f"storm: {len(self._asks)} services need action within "
                    f"{self.settings.storm_window_seconds:.0f}s (limit {limit}); a shared cause "
                    f"is likely, a human must look",
                )
        return None

    def check_recurrence(self, cause: Cause | None) -> GuardDecision | None:
        if cause is None:
            return None
        with self._lock:
            heals = self._recent_heals(cause)
            limit = self.settings.recurrence_limit
            if heals >= limit:
                return GuardDecision(
                    Verdict.ESCALATE,
                    "recurrence",
                    f"{cause.failure_type.value} on {cause.service} came back after {heals} "
                    f"heals within {self.settings.recurrence_window_seconds:.0f}s "
                    f"(limit {limit}): the fix does not hold, a human must look",
                )
        return None

    def check_breaker(self) -> GuardDecision | None:
        with self._lock:
            state = self.breaker_state
            if state == BreakerState.OPEN:
                assert self._opened_at is not None
                wait = self._opened_at + self.settings.breaker_cooloff_seconds - self._clock.now()
                return GuardDecision(
                    Verdict.BLOCK,
                    "circuit_breaker",
                    f"circuit breaker open after {self._consecutive_failures} consecutive failed "
                    f"actions",
                    retry_after_seconds=max(0.0, wait),
                )
            if state == BreakerState.HALF_OPEN and self._probe_out:
                return GuardDecision(
                    Verdict.BLOCK,
                    "circuit_breaker",
                    "circuit breaker half-open: waiting for the probe action's outcome",
                )
        return None

    def check_target_breaker(self, action: Action) -> GuardDecision | None:
        with self._lock:
            opened = self._target_opened.get(action.target)
            if opened is None:
                return None
            wait = opened + self.settings.breaker_cooloff_seconds - self._clock.now()
            if wait <= 0:
                return None  # half-open: let the next action try; a failure reopens it
            return GuardDecision(
                Verdict.BLOCK,
                "circuit_breaker",
                f"circuit breaker for {action.target} open after "
                f"{self._target_failures.get(action.target, 0)} consecutive failed actions on it",
                retry_after_seconds=wait,
            )

    def check_budget(self) -> GuardDecision | None:
        with self._lock:
            now = self._clock.now()
            self._expire_starts(now)
            budget = self.settings.budget_actions
            if len(self._starts) >= budget:
                wait = self._starts[0] + self.settings.budget_window_seconds - now
                return GuardDecision(
                    Verdict.BLOCK,
                    "budget",
                    f"action budget spent: {len(self._starts)} actions in the last "
                    f"{self.settings.budget_window_seconds:.0f}s (budget {budget})",
                    retry_after_seconds=max(0.0, wait),
                )
        return None

    def check_cooldown(self, action: Action, incident_id: str) -> GuardDecision | None:
        with self._lock:
            key = target_key(action)
            touch = self._touches.get(key)
            if touch is None:
                return None
            elapsed = self._clock.now() - touch.at
            left = self.settings.cooldown_seconds - elapsed
            if left <= 0:
                return None
            escalating = touch.incident_id == incident_id and action.kind.value not in touch.kinds
            if escalating:
                return None
            return GuardDecision(
                Verdict.BLOCK,
                "cooldown",
                f"{key} was acted on {elapsed:.0f}s ago (cooldown {self.settings.cooldown_seconds:.0f}s)",
                retry_after_seconds=left,
            )

    def check_blast_radius(self, action: Action, context: PlanningContext) -> GuardDecision | None:
        state = context.service(action.target)
        if state is None or state.instances_total == 0:
            return None
        with self._lock:
            out_now, adds = self._unavailable_after(action, context)
            allowed = self.allowed_unavailable(state.instances_total)
            if adds > allowed:  # wider than the limit on its own: waiting cannot fix that
                return GuardDecision(
                    Verdict.PENDING_APPROVAL,
                    "blast_radius",
                    f"{action.describe()} alone takes {adds} of {state.instances_total} "
                    f"{action.target} instances out, more than the {allowed} the blast "
                    "radius allows: a human must approve",
                )
            if adds > 0 and out_now + adds > allowed:
                return GuardDecision(
                    Verdict.BLOCK,
                    "blast_radius",
                    f"{action.describe()} would leave {out_now + adds} of "
                    f"{state.instances_total} {action.target} instances out of service "
                    f"(limit {allowed}: {self.settings.blast_radius_fraction:.0%})",
                )
        return None

    def check_approval(self, action: Action, approved: bool) -> GuardDecision | None:
        threshold = self.approval.risk_level
        if action.risk >= threshold and not approved:
            return GuardDecision(
                Verdict.PENDING_APPROVAL,
                "approval",
                f"risk {action.risk:.2f} >= {threshold:.2f}: a human must approve "
                f"{action.describe()}",
            )
        return None

    # -- bookkeeping -------------------------------------------------------------------

    def started(self, action: Action, *, incident_id: str, context: PlanningContext) -> int:
        """Record that ``action`` starts now; returns a token for ``finished``."""
        with self._lock:
            now = self._clock.now()
            self._expire_starts(now)
            self._starts.append(now)
            key = target_key(action)
            touch = self._touches.get(key)
            before = (
                None if touch is None else _Touch(touch.at, touch.incident_id, set(touch.kinds))
            )
            if touch is None or touch.incident_id != incident_id:
                touch = _Touch(now, incident_id)
                self._touches[key] = touch
            touch.at = now
            touch.kinds.add(action.kind.value)
            probe = self.breaker_state == BreakerState.HALF_OPEN
            if probe:
                self._probe_out = True
            state = context.service(action.target)
            # the unadjusted count: an instance already out stays "taken" by this action too,
            # so it is still counted if another action on it finishes first
            takes = instances_taken_out(action, state.instances_total if state else 0)
            self._next_token += 1
            self._inflight[self._next_token] = _InFlight(
                action.target, action.instance, takes, now, key, before, probe
            )
            return self._next_token

    def cancel(self, token: int) -> None:
        """The action of ``token`` never started after all (e.g. its intent was refused:
        another replica leads): give back what ``started`` took — the budget's slot,
        the target's cooldown, the blast radius and the breaker's probe."""
        with self._lock:
            flight = self._inflight.pop(token, None)
            if flight is None:
                return
            if flight.started_at in self._starts:  # else already out of the budget window
                self._starts.remove(flight.started_at)
            if flight.touch_before is None:
                self._touches.pop(flight.key, None)
            else:
                self._touches[flight.key] = flight.touch_before
            if flight.probe:
                self._probe_out = False

    def finished(self, token: int, outcome: Outcome) -> None:
        """Record how the action of ``token`` ended (feeds the circuit breaker)."""
        with self._lock:
            flight = self._inflight.pop(token, None)
            if flight is not None:
                self._count_for_target(flight.service, outcome)
            if outcome in _FAILURES:
                self._consecutive_failures += 1
                half_open = self.breaker_state == BreakerState.HALF_OPEN
                if half_open or self._consecutive_failures >= self.settings.breaker_failures:
                    self._opened_at = self._clock.now()
            elif outcome in _SUCCESSES:
                self._consecutive_failures = 0
                self._opened_at = None
            self._probe_out = False

    def _count_for_target(self, service: str, outcome: Outcome) -> None:
        if outcome in _FAILURES:
            n = self._target_failures.get(service, 0) + 1
            self._target_failures[service] = n
            if n >= self.settings.breaker_target_failures:
                self._target_opened[service] = self._clock.now()
        elif outcome in _SUCCESSES:
            self._target_failures.pop(service, None)
            self._target_opened.pop(service, None)

    def healed(self, cause: Cause) -> None:
        """Record that ``cause``'s incident healed (feeds the recurrence guard)."""
        with self._lock:
            self._heals.setdefault((cause.service, cause.failure_type), deque()).append(
                self._clock.now()
            )

    # -- state -------------------------------------------------------------------------

    @property
    def breaker_state(self) -> BreakerState:
        with self._lock:
            if self._opened_at is None:
                return BreakerState.CLOSED
            if self._clock.now() - self._opened_at < self.settings.breaker_cooloff_seconds:
                return BreakerState.OPEN
            return BreakerState.HALF_OPEN

    def actions_in_window(self) -> int:
        with self._lock:
            self._expire_starts(self._clock.now())
            return len(self._starts)

    def allowed_unavailable(self, total: int) -> int:
        """Instances of a ``total``-instance service that may be out at once."""
        share = math.floor(self.settings.blast_radius_fraction * total + 1e-9)
        return min(total, max(self.settings.blast_radius_floor_instances, share))

    def in_flight_out(self, service: str) -> int:
        """Instances of ``service`` that running actions have taken out."""
        with self._lock:
            named = {f.instance for f in self._inflight.values() if f.service == service and f.out}
            named.discard(None)
            anonymous = sum(
                f.out
                for f in self._inflight.values()
                if f.service == service and f.instance is None
            )
            return len(named) + anonymous

    def _unavailable_after(self, action: Action, context: PlanningContext) -> tuple[int, int]:
        """(instances out now, instances the action would add)."""
        state = context.service(action.target)
        if state is None:
            return 0, 0
        named = set(state.unready)
        anonymous = 0
        for f in self._inflight.values():
            if f.service != action.target or f.out == 0:
                continue
            if f.instance is not None:
                named.add(f.instance)
            else:
                anonymous += f.out
        out_now = len(named) + anonymous
        takes = instances_taken_out(action, state.instances_total)
        if action.instance is not None and action.instance in named:
            takes = 0  # already out: acting on it takes nothing more down
        if action.instance is None and action.kind in ROLLING and state.unready:
            # A rolling restart or rollback replaces the instances that are out first (the
            # platform's executors order them so, as a ReplicaSet scales down unready pods
            # first): its one instance at a time is one already out of service.
            takes = 0
        if len(set(state.unready)) >= state.instances_total:
            takes = 0  # the platform says no instance serves: nothing is left to lose
        return out_now, takes

    def _expire_starts(self, now: float) -> None:
        horizon = now - self.settings.budget_window_seconds
        while self._starts and self._starts[0] <= horizon:
            self._starts.popleft()

    def _recent_heals(self, cause: Cause) -> int:
        heals = self._heals.get((cause.service, cause.failure_type))
        if not heals:
            return 0
        horizon = self._clock.now() - self.settings.recurrence_window_seconds
        while heals and heals[0] < horizon:
            heals.popleft()
        return len(heals)
