"""Verification: is the symptom that opened an incident gone after an action?

The remediation state machine (``selfheal.loop.remediation``) asks these
questions once per cycle while an action is being verified. They read what the
live detection knows of each symptom series (breaching its rule now, warmed up,
last seen) through the ``Detection`` port; they change nothing.

- ``symptoms_gone``: every series that opened the incident is healthy again;
- ``service_recovered``: every series of the cause's own service — all its
  instances, not only the one an action touched — breaks no rule and its error
  ratio, latency and availability are back near their pre-fault baseline;
- ``did_its_part``: the symptoms nearest the cause are gone while others remain
  (two faults in one incident);
- ``passed_on_from``: what still breaks a rule on the cause's service is what a
  callee's trouble passes on, and the cause's calls to that callee began failing
  after the decision (a second fault further down, starting while the first heals);
- ``missed_target``: a stateless action whose target serves again while the
  symptom has not eased once — it did not reach the cause.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from selfheal.analysis.rules import FACTS
from selfheal.analysis.triage import PASSED_ON
from selfheal.core import indicators as ind
from selfheal.core.platform import PlanningContext
from selfheal.core.types import Action, ActionKind, SeriesKey
from selfheal.loop.ports import Detection

# Actions with nothing to restore on rollback: a wrong one may be given up early.
STATELESS = frozenset(
    {ActionKind.RESTART_CONTAINER, ActionKind.RESTART_SERVICE, ActionKind.CLEAR_CACHE}
)


def symptoms_gone(
    detection: Detection,
    keys: Sequence[SeriesKey],
    since: float,
    now: float,
    stale_after: float,
) -> bool:
    """Whether every series in ``keys`` is healthy on its latest sample after ``since``.

    A series not seen since ``since`` is not judged yet, until ``stale_after`` seconds
    have passed: then it vanished (an instance replaced or removed) and is no longer a
    symptom. A series whose detection restarted moments ago is not judged healthy
    (except facts: ``up``, a firing alert)."""
    for key in keys:
        seen = detection.last_seen(key)
        if seen <= since:
            if now - since < stale_after:
                return False
            continue
        if not detection.warm(key) and key.name not in FACTS:
            return False
        if detection.breaching(key):
            return False
    return True


# How close to its pre-fault baseline an indicator must be to count as recovered: the
# rules fire far beyond these (5 % errors, 4x latency), so a service that crossed back
# under a rule's threshold but stays visibly worse than before is not yet recovered.
ERROR_RATIO_MARGIN = 0.02  # absolute share of requests above the baseline
LATENCY_FACTOR = 2.0  # times the baseline p99 ...
LATENCY_MARGIN_SECONDS = 0.1  # ... or this much above it, whichever is larger


def back_to_baseline(indicator: str, value: float | None, baseline: float | None) -> bool:
    """Whether ``value`` of ``indicator`` is near its pre-fault ``baseline`` (unknown
    values and baselines, and indicators without a notion of "worse", pass)."""
    if value is None or value != value:
        return True
    if indicator == ind.UP:
        return value >= 0.5
    if baseline is None or baseline != baseline:
        return True
    if indicator == ind.ERROR_RATIO:
        return value <= baseline + ERROR_RATIO_MARGIN
    if indicator == ind.LATENCY_P99:
        return value <= max(LATENCY_FACTOR * baseline, baseline + LATENCY_MARGIN_SECONDS)
    return True


def service_recovered(
    detection: Detection, service: str, since: float, now: float, stale_after: float
) -> bool:
    """Whether ``service``'s own series (not those of its calls to others) break no rule
    and are back near their baseline on their latest samples after ``since``. A series
    not seen since ``since`` is waited for ``stale_after`` seconds, then taken for gone
    (an instance replaced or removed)."""
    for key in detection.series_of(service):
        if key.label("target") is not None:
            continue  # calls it makes: its callees' health, judged on their own
        if detection.last_seen(key) <= since:
            if now - since < stale_after:
                return False
            continue
        if detection.breaching(key):
            return False
        if not back_to_baseline(key.name, detection.latest(key), detection.baseline(key)):
            return False
    return True


def what_holds(
    detection: Detection, keys: Sequence[SeriesKey], service: str
) -> dict[str, list[str]]:
    """For a failed verification's audit record: the symptoms (of ``keys``) whose rule
    still breaks on the latest sample, and the series of ``service`` itself (not its calls)
    that break a rule or stay off their baseline — which part of the picture held."""
    off = [
        str(k)
        for k in detection.series_of(service)
        if k.label("target") is None
        and (
            detection.breaching(k)
            or not back_to_baseline(k.name, detection.latest(k), detection.baseline(k))
        )
    ]
    return {"symptoms": [str(k) for k in keys if detection.breaching(k)], "cause": off}


def did_its_part(
    detection: Detection,
    symptoms: Sequence[SeriesKey],
    origin: str,
    graph: nx.DiGraph,
    since: float,
    now: float,
    stale_after: float,
    external: bool = False,
) -> bool:
    """Whether the symptoms nearest the cause ``origin`` — on its own service, or on its
    direct callers when it shows none itself (a corrupt cache shows only in its callers'
    errors) — are gone while others remain.

    An ``external`` cause's own series are not ours to restore (a failover routes around
    it; it stays down): its part is the calls toward it — every call edge labelled with
    its name, among the symptoms or followed live on its callers — and its own series
    count neither way."""
    if external:
        toward = {k for k in symptoms if k.label("target") == origin}
        if origin in graph:
            for caller in graph.predecessors(origin):
                toward.update(k for k in detection.series_of(caller) if k.label("target") == origin)
        rest = tuple(
            k for k in symptoms if k.label("target") != origin and k.label("service") != origin
        )
        return (
            bool(toward)
            and bool(rest)
            and symptoms_gone(detection, tuple(toward), since, now, stale_after)
        )
    near = {origin}
    if origin in graph and not any(k.label("service") == origin for k in symptoms):
        near.update(graph.predecessors(origin))
    own = tuple(k for k in symptoms if k.label("service") in near)
    rest = tuple(k for k in symptoms if k.label("service") not in near)
    # A callee of the cause with symptoms of its own (another fault) passes errors and
    # latency up: the cause's calls to it, and the cause's own errors and latency while
    # it calls it, are that callee's part, not the action's (a hung instance restarted
    # while its callee carries a network delay: the restart did its part once the
    # instance answers again).
    sick = {k.label("service") for k in rest}
    if origin in graph and sick & set(graph.successors(origin)):
        own = tuple(
            k for k in own if k.name not in PASSED_ON or k.label("target") not in (None, *sick)
        )
    return bool(own) and bool(rest) and symptoms_gone(detection, own, since, now, stale_after)


def passed_on_from(
    detection: Detection,
    symptoms: Sequence[SeriesKey],
    origin: str,
    now: float,
    stale_after: float,
) -> str | None:
    """The callee whose trouble now explains every symptom left on ``origin``, or None.

    That is: a call edge of ``origin`` breaks a rule now that was not among the
    ``symptoms`` the action was decided on, no edge that was among them still breaks
    one, and each series of ``origin`` itself still breaking a rule is of a kind a
    callee's trouble passes on (errors, latency, the business rates). The action then
    answered its own fault; what remains started further down."""
    opened = set(symptoms)
    callee = None
    recent = now - stale_after
    for key in detection.series_of(origin):
        if detection.last_seen(key) < recent or not detection.breaching(key):
            continue
        target = key.label("target")
        if target is not None:
            if key in opened:
                return None  # the calls the action was meant to mend still fail
            if target != origin:
                callee = callee or target
        elif key.name not in PASSED_ON:
            return None  # trouble of its own (availability, memory, CPU…)
    return callee


def missed_target(
    action: Action,
    context: PlanningContext,
    executed_at: float,
    eased: bool,
    now: float,
    early_verdict_seconds: float,
) -> bool:
    """The early verdict: a stateless action whose target serves again (every instance
    ready) while the symptom has not eased once in ``early_verdict_seconds``."""
    if early_verdict_seconds <= 0 or eased or action.kind not in STATELESS:
        return False
    if now - executed_at < early_verdict_seconds:
        return False
    state = context.service(action.target)
    return state is not None and state.instances_total > 0 and not state.unready
