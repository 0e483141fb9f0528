"""Diagnosis: from an open incident to a confident cause and the plan for it.

The engine calls ``Diagnoser.diagnose`` each cycle for an open incident that has
no remediation yet, once its first evidence has had a cycle to gather. It asks
the ranker (the RCA over metrics, logs, traces and past incidents), then the
triage of the analysis layer (hard facts first, failure type decided once), and
the impact stage; it stores and audits the diagnosis. With a cause over the
confidence threshold it either

- waits, when another incident's remediation is already working on that cause or
  on a service this incident calls (its symptoms are likely that fault's echo) —
  and closes it as an echo when that fault healed and it no longer points there;
- or asks the planner for a plan, which the engine hands to remediation.

Without a confident cause it escalates, naming the best candidates, after
``diagnose_attempts`` diagnoses that saw no new evidence or ``decide_within_seconds``
after its first diagnosis, whichever comes first: indecision is bounded. ``reconsider`` is the same diagnosis after an action that
did not help: a different cause, not tried yet, gets its own plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import networkx as nx

from selfheal.analysis import failure_type as ft
from selfheal.analysis import impact
from selfheal.analysis.triage import Facts, apart_from, triage
from selfheal.core import indicators as ind
from selfheal.core.types import Cause, Incident, Plan, SeriesKey
from selfheal.loop import serialize as ser
from selfheal.loop.incidents import IncidentBook
from selfheal.loop.ports import Detection, Planner, Ranker
from selfheal.loop.remediation import Tried, symptoms_of
from selfheal.loop.settings import EngineSettings
from selfheal.loop.verification import back_to_baseline
from selfheal.loop.view import AuditTrail, BusinessLevels, CycleView

# How long one instance must fail while its siblings serve before that is taken as a
# fact about the instance (``Facts.settled_before``): a few scrapes, so that a fault on
# the whole service has reached the siblings too.
ALONE_FOR_CYCLES = 3


@dataclass(frozen=True, slots=True)
class Decided:
    """A plan for the incident's cause and the symptoms that will verify it."""

    plan: Plan
    symptoms: tuple[SeriesKey, ...]


class Diagnoser:
    """Names an incident's cause and plans for it; see the module docstring."""

    def __init__(
        self,
        *,
        ranker: Ranker,
        planner: Planner,
        detection: Detection,
        book: IncidentBook,
        view: CycleView,
        business: BusinessLevels,
        audit: AuditTrail,
        settings: EngineSettings,
        in_flight: Callable[[], list[tuple[str, str]]],
    ) -> None:
        self.ranker = ranker
        self.planner = planner
        self.detection = detection
        self.book = book
        self.view = view
        self.business = business
        self.audit = audit
        self.settings = settings
        self.in_flight = in_flight
        self._tries: dict[str, int] = {}
        self._evidence_seen: dict[str, int] = {}
        # incident id -> (the incident it waits behind, that incident's cause service)
        self._waiting: dict[str, tuple[str, str]] = {}
        self._first_at: dict[str, float] = {}  # incident id -> time of its first diagnosis
        book.on_close(self.forget)

    def forget(self, incident_id: str) -> None:
        self._tries.pop(incident_id, None)
        self._evidence_seen.pop(incident_id, None)
        self._waiting.pop(incident_id, None)
        self._first_at.pop(incident_id, None)

    def causes(self, inc: Incident, now: float, facts: Facts | None = None) -> tuple[Cause, ...]:
        """The ranker's causes after triage: typed, hard facts first."""
        ranked = self.ranker.rank(inc, self.view.graph, now)
        return triage(
            ranked,
            still_holding(inc, self.detection, now - 3 * self.settings.cycle_seconds),
            self.view.graph,
            facts or self.facts(inc, now),
            self.settings.rca_threshold,
        )

    def facts(self, inc: Incident, now: float) -> Facts:
        """What the platform and the latest samples say beside ``inc``'s own evidence."""
        context = self.view.context
        # The loop's own changes (an action or its rollback) are never a cause.
        theirs = replace(context, changes=tuple(c for c in context.changes if not c.by_selfheal))
        return Facts(
            theirs,
            since=inc.opened_at - self.settings.change_window_seconds,
            observed=self._observed(now),
            slower=latency_rises(
                self.detection, self.view.graph.nodes, now - 3 * self.settings.cycle_seconds
            ),
            settled_before=now - ALONE_FOR_CYCLES * self.settings.cycle_seconds,
        )

    def _observed(self, now: float) -> frozenset[str]:
        """Services of the call graph seen serving at their usual speed (see
        ``serving_as_usual``)."""
        recent = now - 3 * self.settings.cycle_seconds
        return serving_as_usual(self.detection, self.view.graph.nodes, recent)

    def diagnose(self, inc: Incident, now: float) -> Decided | None:
        # Count only diagnoses that saw no new evidence: while symptoms keep arriving the
        # picture is still forming, and escalating then would be premature.
        seen = self._evidence_seen.get(inc.id, -1)
        tries = 1 if len(inc.anomalies) > seen else self._tries.get(inc.id, 0) + 1
        self._evidence_seen[inc.id] = len(inc.anomalies)
        self._tries[inc.id] = tries
        facts = self.facts(inc, now)
        causes = self.causes(inc, now, facts)
        hurt = impact.assess(
            inc.anomalies,
            self.business.levels(self.detection),
            len(self.view.context.services),
        )
        inc = replace(inc, causes=causes, impact=hurt, updated_at=now)
        self.book.save(inc)
        self.audit(
            "incident_diagnosed",
            {
                "incident": inc.id,
                "attempt": tries,
                "causes": [ser.cause(c) for c in causes[:5]],
                "impact": ser.impact(hurt),
                "latency": latency_facts(facts),
            },
        )
        confident = [c for c in causes if c.confidence >= self.settings.rca_threshold]
        first = self._first_at.setdefault(inc.id, now)
        if not confident:
            undecided = now - first >= self.settings.decide_within_seconds
            if tries >= self.settings.diagnose_attempts or undecided:
                best = ", ".join(f"{c.service} {c.confidence:.2f}" for c in causes[:3])
                self.book.escalate(
                    inc,
                    f"no cause reached the confidence threshold {self.settings.rca_threshold:g}"
                    f" after {tries} diagnoses in {now - first:.0f} s"
                    + (f" (best: {best})" if best else ""),
                    now,
                )
            return None
        cause = confident[0]
        behind = self._consequence_of(inc, cause, now)
        fixing = [*self.in_flight(), *self.book.settling(now)]
        if (
            own_process_trouble(inc, cause.service, self.detection)
            or cause.indicator in CHANGED_ITSELF
        ) and all(origin != cause.service for _, origin in fixing):
            # Its cause's own process is dead, hung or starved (an instance stopped
            # answering, its CPU or memory broke a rule), or the service itself was just
            # changed (a deploy or config push before its symptoms), and no action works
            # on that service: no fault further down passes that on. It is a fault of its
            # own, decided now, not an echo to wait out.
            behind = None
            self._waiting.pop(inc.id, None)
        elif behind is None and self._still_working(inc.id):
            # The fault it waits behind is still being remediated. While a restart there
            # takes instances out, the errors it passes up move from service to service
            # and the best cause with them; only that remediation's end says what this
            # incident is (its echo, or a fault of its own), so it goes on waiting.
            behind = self._waiting[inc.id]
        if behind is None and inc.id in self._waiting:
            waited, origin = self._waiting.pop(inc.id)
            if self.book.healed(waited, now):
                # It waited behind another fault that is now healed and settled: it was
                # that fault's echo. Close it; symptoms that remain open a fresh incident.
                self.book.resolve(inc, now, reason=f"echo of {waited}")
                return None
            # That fault was handed to a human, not healed: this one's symptoms may still be
            # its echo, and acting on them would repeat or pile on what did not help. The
            # human gets both; anything new opens an incident of its own.
            self.book.escalate(
                inc,
                f"it waited behind {waited} (cause {origin}), which the loop could not heal;"
                f" its symptoms may be that fault's (its own best cause: {cause.service})",
                now,
            )
            return None
        if behind is not None:
            # Another incident's remediation is already working on a service this one
            # calls: its symptoms are likely that fault's echo. Wait, do not pile on.
            self._tries[inc.id] = 0
            self.book.freeze(inc.id)  # a new fault elsewhere must not hide in here
            if self._waiting.get(inc.id) != behind:
                self._waiting[inc.id] = behind
                self.audit(
                    "incident_waiting",
                    {"incident": inc.id, "behind": behind[0], "cause": ser.cause(cause)},
                )
            return None
        apart = apart_from(cause, confident, inc, self.view.graph, self.settings.rca_threshold)
        if apart and self.book.split(
            inc,
            apart,
            f"{', '.join(sorted(apart))} fails on its own, which {cause.service} cannot explain",
            now,
        ):
            inc = self.book.current(inc)
        plan = self.planner.plan(inc, cause, self.view.context, now)
        if plan is None or not plan.actions:
            self.book.escalate(
                inc, f"no strategy fits {cause.failure_type.value} on {cause.service}", now
            )
            return None
        symptoms = symptoms_of(inc)
        # An external dependency's own health is not ours to restore (a failover routes
        # around it): verify on our services' symptoms when there are any.
        external = self.view.external
        symptoms = tuple(k for k in symptoms if k.label("service") not in external) or symptoms
        self.audit(
            "decision",
            {
                "incident": inc.id,
                "inputs": {
                    "cause": ser.cause(cause),
                    "impact": ser.impact(hurt),
                    "symptoms": [str(s) for s in symptoms],
                },
                "strategy": plan.strategy,
                "plan": [ser.action(a) for a in plan.actions],
                "risk": plan.risk,
            },
        )
        return Decided(plan, symptoms)

    def reconsider(
        self, inc: Incident, tried: Tried, previous: Cause, now: float, exhausted: bool = False
    ) -> Plan | None:
        """After an action that did not help: does the evidence now name another cause?

        An SRE whose fix failed looks at the evidence again before reaching for the next,
        bigger hammer. When the top confident cause is now a different service or failure
        type, not tried yet, its plan replaces the ladder (returned); otherwise ``None``
        and the ladder goes on. Once the ladder is ``exhausted`` the next confident cause
        not tried yet is taken, even if it is not the top one: the cause tried first
        was wrong, and the evidence still names another before a human is called.
        """
        causes = self.causes(inc, now)
        confident = [c for c in causes if c.confidence >= self.settings.rca_threshold]
        untried = [c for c in confident if (c.service, c.failure_type.value) not in tried]
        if not untried or (not exhausted and untried[0] is not confident[0]):
            return None
        cause = untried[0]
        plan = self.planner.plan(inc, cause, self.view.context, now)
        if plan is None or not plan.actions:
            return None
        self.book.save(replace(inc, causes=causes, updated_at=now))
        self.audit(
            "incident_rediagnosed",
            {
                "incident": inc.id,
                "previous": ser.cause(previous),
                "cause": ser.cause(cause),
                "reason": "the action on the previous cause did not remove the symptom",
                "strategy": plan.strategy,
                "plan": [ser.action(a) for a in plan.actions],
                "risk": plan.risk,
            },
        )
        return plan

    def _still_working(self, incident_id: str) -> bool:
        """Whether ``incident_id`` waits behind a remediation that is not done yet."""
        waiting = self._waiting.get(incident_id)
        return waiting is not None and any(other == waiting[0] for other, _ in self.in_flight())

    def _consequence_of(self, inc: Incident, cause: Cause, now: float) -> tuple[str, str] | None:
        """(id, cause service) of another incident under remediation (or healed moments
        ago, while its echoes settle) whose cause this one's cause depends on."""
        origins = [(other, origin) for other, origin in self.in_flight() if other != inc.id]
        origins += self.book.settling(now)
        graph: nx.DiGraph = self.view.graph
        for other, origin in origins:
            if origin == cause.service:
                return other, origin
            # Its cause calls into that fault's service: its symptoms may be passed on
            # from there. A cause that does not (a failing dependency elsewhere, whose
            # callers happen to call that service too) is a fault of its own.
            if (
                origin in graph
                and cause.service in graph
                and nx.has_path(graph, cause.service, origin)
            ):
                return other, origin
        return None


def serving_as_usual(
    detection: Detection, services: Iterable[str], recent: float
) -> frozenset[str]:
    """Services whose own served latency was read since ``recent`` (warmed up) and is near
    its pre-fault baseline on every such series: their silence in an incident means they
    serve as usual. A service whose latency rose but stays under its rule's floor (a
    200 ms delay at the bottom of a chain, felt by every caller above) is not silent in
    that sense: the calls into it are slow because it is."""
    out = set()
    for service in services:
        served = [
            key
            for key in detection.series_of(service)
            if key.name == ind.LATENCY_P99
            and key.label("target") is None
            and detection.last_seen(key) >= recent
            and detection.warm(key)
        ]
        if served and all(
            back_to_baseline(ind.LATENCY_P99, detection.latest(k), detection.baseline(k))
            for k in served
        ):
            out.add(service)
    return frozenset(out)


def latency_facts(facts: Facts) -> dict[str, object]:
    """The latency facts a diagnosis read, for its audit record: the services serving
    as usual, and the rises over baseline in seconds (``service`` for its own latency,
    ``caller->callee`` for its calls)."""
    return {
        "serving_as_usual": sorted(facts.observed),
        "slower": {
            (s if t is None else f"{s}->{t}"): round(v, 4)
            for (s, t), v in sorted(facts.slower.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        },
    }


def latency_rises(
    detection: Detection, services: Iterable[str], recent: float
) -> dict[tuple[str, str | None], float]:
    """How many seconds slower than its baseline each service serves (key ``(service,
    None)``) or calls a callee (``(service, callee)``): the largest rise among its latency
    series read since ``recent`` (warmed up) and clearly above their baseline (beyond
    the verification's back-to-baseline margin), whether or not a rule broke yet."""
    out: dict[tuple[str, str | None], float] = {}
    for service in services:
        for key in detection.series_of(service):
            if key.name not in (ind.LATENCY_P99, ind.UPSTREAM_LATENCY):
                continue
            if detection.last_seen(key) < recent or not detection.warm(key):
                continue
            value, baseline = detection.latest(key), detection.baseline(key)
            if value is None or baseline is None or not math.isfinite(value - baseline):
                continue
            if back_to_baseline(ind.LATENCY_P99, value, baseline):
                continue
            where = (service, key.label("target"))
            out[where] = max(out.get(where, 0.0), value - baseline)
    return out


# A service's own process facts: what no fault of a service it calls passes on to it.
OWN_PROCESS = frozenset({ind.UP, ind.CPU, ind.MEMORY})
# A cause typed from a change on its own service just before the incident (a deploy, a
# config push: ``failure_type.classify``): nor is that passed on from a callee.
CHANGED_ITSELF = frozenset({ft.VERSION, ft.CONFIG})


def own_process_trouble(inc: Incident, service: str, detection: Detection) -> bool:
    """Whether ``inc`` holds an own-process fact of ``service`` (an instance down, its CPU
    or memory beyond a rule) whose rule still breaks on the latest sample."""
    return any(
        a.service == service
        and a.indicator in OWN_PROCESS
        and a.series is not None
        and detection.breaching(a.series)
        for a in inc.anomalies
    )


def still_holding(inc: Incident, detection: Detection, since: float) -> Incident:
    """The incident with only the symptoms that still hold — a rule breaking now, or
    raised after ``since`` — for the triage's facts: a transient blip that ended (calls
    failing for a moment while a callee restarted) must not make a fault that arrived
    after it look passed on. The ranker keeps the whole history. With nothing holding,
    the incident as it is.

    One exception: an instance whose errors stopped while its service still fails keeps
    its errors. Errors that move from one instance to another (the one restarted serves
    again, its sibling now fails) are one fault of the whole service or below it, not a
    second instance failing alone."""
    kept = [
        a
        for a in inc.anomalies
        if a.series is None or a.timestamp >= since or detection.breaching(a.series)
    ]
    erring = {a.service for a in kept if a.indicator == ind.ERROR_RATIO}
    moved = {
        a.fingerprint
        for a in inc.anomalies
        if a.indicator == ind.ERROR_RATIO and a.instance and a.service in erring
    }
    kept_ids = {id(a) for a in kept}  # identity: an incident may hold hundreds
    holding = tuple(a for a in inc.anomalies if id(a) in kept_ids or a.fingerprint in moved)
    return replace(inc, anomalies=holding) if holding else inc
