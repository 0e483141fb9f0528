"""Triage: the ranker's causes, typed and ordered by the hard facts an SRE checks first.

The loop calls ``triage`` after the root-cause ranker (``selfheal.analysis.rca``)
has ordered the services by how much the evidence points at each. Triage adds
what the ranker cannot weigh: facts. A change on a service just before the
incident (a deploy, a config push), a dead instance, a sick process (memory or
CPU rules broken on the service itself), one instance failing or much slower
than its siblings, a failing external dependency — "what changed? what is down?
what is full?" — or where on the call graph the errors or latency start (its
own, not passed on from a callee). A cause backed by such a fact is put first and
gets at least the confidence threshold; each cause's failure type is decided here, once, by
``selfheal.analysis.failure_type.classify`` from the structured evidence.

Pure function of its inputs (the incident, the ranked causes, the call graph and
the platform's facts); no I/O, no state. It must not act or plan: it only says
which cause is likeliest and what kind of failure it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace

import networkx as nx

from selfheal.analysis import failure_type as ft
from selfheal.core import indicators as ind
from selfheal.core.platform import PlanningContext
from selfheal.core.types import Anomaly, Cause, FailureType, Incident

# Hardness of a fact, from none to a change just before the incident.
FORMING = -1  # a fact that needs a few more cycles to hold (below: ``Facts``)
NO_FACT = 0
WEAK = 1  # a full pool: often a slow callee's symptom
SPECIFIC = 2  # one slow instance, a failing external dependency, a corrupt cache, or
# the service where the incident's errors or latency start (``symptom_origins``)
SICK_PROCESS = 3  # memory or CPU rules broken, or one instance failing alone
INSTANCE_DOWN = 4
FRESH_CHANGE = 5  # a deploy or config push just before the incident


# A relay's confidence stays under this share of the threshold.
RELAY_CEILING = 0.9
# Symptoms a service shows when its callee is in trouble: its own errors and latency
# through its calls, the calls themselves, and the business rates it counts.
PASSED_ON = frozenset(
    {
        ind.ERROR_RATIO,
        ind.LATENCY_P99,
        ind.UPSTREAM_ERROR_RATIO,
        ind.UPSTREAM_LATENCY,
        *ind.BUSINESS_INDICATORS,
    }
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the platform says beside the incident's own evidence.

    ``platform``: services (instances, external flags) and the change events that
    may explain the incident — the caller leaves out changes the loop itself made
    and changes a heal has already answered. ``since``: changes before this time
    are too old to be the cause. ``observed``: services whose own served latency
    the monitoring currently reads (a callee not listed here — a database without
    metrics, a third party — is never taken for healthy by its silence).
    ``settled_before``: one instance failing while its siblings serve is a fact only once
    its errors began at or before this time. In a fault's first cycles the siblings of the
    instance that failed first may not have failed yet (a corrupt cache's keys, a partial
    error rate: errors reach each instance by chance); until then "one instance fails
    alone" is a picture still forming, and acting on it restarts a healthy process.
    ``slower``: how many seconds slower than its baseline a service now serves (key
    ``(service, None)``) or calls a callee (``(service, callee)``), for the latency
    series read clearly above their baseline — a rise that has not broken a rule yet
    (a rule needs a few samples) still says where the latency comes from."""

    platform: PlanningContext
    since: float = float("-inf")
    observed: frozenset[str] = frozenset()
    settled_before: float = float("inf")
    slower: Mapping[tuple[str, str | None], float] = field(default_factory=dict)

    @property
    def external(self) -> frozenset[str]:
        return frozenset(s.name for s in self.platform.services.values() if s.external)


# A caller's failing calls account for its own errors when the calls fail at least
# this share of its own error ratio (one call per request: about the same ratio).
EXPLAINS_SHARE = 0.5


def failing_edges(incident: Incident) -> set[tuple[str, str]]:
    """``(caller, callee)`` call edges that fail in the incident: the
    ``upstream_error_ratio`` rule broke, or a detector flagged the edge while its calls
    fail at a ratio that accounts for the caller's own errors (at least
    ``EXPLAINS_SHARE`` of the caller's error ratio). The second kind matters when the
    edge's ratio sits under the rule's bar while the caller's own error ratio is over
    its lower one: the caller's errors are its calls failing, not its own."""
    own_errors: dict[str, float] = {}
    for a in incident.anomalies:
        if a.indicator == ind.ERROR_RATIO and math.isfinite(a.value):
            own_errors[a.service] = max(own_errors.get(a.service, 0.0), a.value)
    out = set()
    for a in incident.anomalies:
        if a.indicator != ind.UPSTREAM_ERROR_RATIO or a.series is None:
            continue
        callee = a.series.label("target")
        if callee is None:
            continue
        if is_rule(a):
            out.add((a.service, callee))
            continue
        own = own_errors.get(a.service)
        if own and math.isfinite(a.value) and a.value > 0 and a.value >= EXPLAINS_SHARE * own:
            out.add((a.service, callee))
    return out


def failing_callees(incident: Incident) -> set[str]:
    """Services that calls in the incident fail toward (``failing_edges``)."""
    return {callee for _, callee in failing_edges(incident)}


def is_rule(anomaly: Anomaly) -> bool:
    """Whether a rule (not a statistical detector) raised the anomaly."""
    return anomaly.detector.startswith("rule:")


def triage(
    ranked: Sequence[Cause],
    incident: Incident,
    graph: nx.DiGraph,
    facts: Facts,
    threshold: float,
) -> tuple[Cause, ...]:
    """Classify every cause; put causes backed by a hard fact first.

    Such a cause gets at least ``threshold`` confidence (plus 0.05 per level of
    hardness) and joins the list if the ranker missed it: services the incident's
    failing calls go to are candidates before their own symptoms arrive (a callee's
    error ratio needs more requests to show). Among equally hard facts, the service
    deeper in the call graph (called by more of the incident's services) comes
    first — symptoms travel up to callers — then the higher confidence. One cause
    per service.
    """
    causes = list(ranked)
    known = {c.service for c in causes}
    for service in sorted(incident.services | failing_callees(incident)):
        if service not in known:
            causes.append(Cause(service, 0.0))
            known.add(service)
    # Rule evidence only: a statistical detector flagging a flat memory series on a
    # busy host must not turn a network delay into "memory exhausted".
    evidence = [a for a in incident.anomalies if is_rule(a)]
    external = facts.external
    roles = {name: state.role for name, state in facts.platform.services.items()}
    explained = latency_from_callees(incident, graph, facts)
    relays = symptom_relays(incident, explained) - slow_edge_origins(incident, facts)
    symptomatic = {a.service for a in evidence} | failing_callees(incident)

    forming: set[str] = set()

    def judged(c: Cause, found: ft.Classification) -> tuple[int, Cause]:
        hardness = _hardness(c, found, incident, graph, facts, explained)
        if hardness == FORMING:
            forming.add(c.service)
        hardness = max(hardness, NO_FACT)
        # The live evidence is more specific than a ranker's guess.
        if found.reason != ft.NO_RULE or c.failure_type is FailureType.UNKNOWN:
            c = ft.apply(c, found)
        elif found.instance and not c.instance:
            c = replace(c, instance=found.instance)
        if hardness:
            floor = min(1.0, threshold + 0.05 * hardness)
            c = replace(c, confidence=max(c.confidence, floor))
        elif c.service in relays or c.service not in symptomatic:
            # Every symptom it shows, it passes on from a callee: never acted on as a cause.
            # Nor one with no symptom at all (no rule of its own breaking, no calls failing
            # toward it): the ranker's evidence alone (a log line that stopped, a metric
            # that moved) does not make a service that serves as usual the thing to act on.
            c = replace(c, confidence=min(c.confidence, RELAY_CEILING * threshold))
        return hardness, c

    changes = facts.platform.changes
    out: list[tuple[int, Cause]] = []
    for c in causes:
        callees = list(graph.successors(c.service)) if c.service in graph else []
        state = facts.platform.service(c.service)
        count = state.instances_total if state is not None else 0
        found = ft.classify(c, evidence, changes, external, facts.since, callees, roles, count)
        out.append(judged(c, found))
        if found.indicator == ft.CACHE and found.service not in (None, c.service):
            # Metrics cannot tell a caller's own errors on every instance from bad data
            # its cache serves: the cache comes first (deeper, and clearing it is cheap),
            # and the caller stays a candidate on its own evidence — the next cause to try
            # when clearing the cache does not help.
            own = ft.classify(c, evidence, changes, external, facts.since, (), roles, count)
            mine = judged(c, own)
            if ft.logs_own_errors(c) and mine[0] > WEAK:
                # Its own error logs say it fails and none speaks of bad data: the caller
                # comes first, the cache stays the next candidate.
                out[-1] = (min(out[-1][0], mine[0] - 1), out[-1][1])
            out.append(mine)
    if forming:
        # A fact still forming (``Facts.settled_before``) holds back its own service and
        # the callers its symptoms travel up to: whichever it turns out to be, not yet.
        held = set(forming)
        for service in forming:
            held |= nx.ancestors(graph, service) if service in graph else set()
        ceiling = RELAY_CEILING * threshold
        for i, (h, c) in enumerate(out):
            if c.service in forming:
                h = SICK_PROCESS  # its place, once it holds
            if c.service in held:
                c = replace(c, confidence=min(c.confidence, ceiling))
            out[i] = (h, c)
    depth = {
        c.service: len(nx.ancestors(graph, c.service) & incident.services)
        if c.service in graph
        else 0
        for _, c in out
    }
    out.sort(key=lambda hc: (-hc[0], -depth[hc[1].service], -hc[1].confidence))
    merged: dict[str, Cause] = {}
    for _, c in out:
        merged.setdefault(c.service, c)
    return tuple(merged.values())


def _hardness(
    c: Cause,
    found: ft.Classification,
    incident: Incident,
    graph: nx.DiGraph,
    facts: Facts,
    explained: Set[str],
) -> int:
    """How hard the evidence for ``c`` is: ``NO_FACT`` … ``FRESH_CHANGE``. ``explained``:
    services whose latency a callee's explains (``latency_from_callees``)."""
    own = [a for a in incident.anomalies if a.service == c.service and is_rule(a)]
    if not own and c.service not in failing_callees(incident):
        return NO_FACT  # a fact about a service with no symptom of its own proves nothing
    if found.indicator in (ft.VERSION, ft.CONFIG):
        return FRESH_CHANGE  # failing calls toward it count as its symptom here
    if not own:
        return NO_FACT
    if found.indicator == ind.UP:
        return INSTANCE_DOWN
    if any(a.indicator in (ind.CPU, ind.MEMORY) for a in own):
        return SICK_PROCESS
    failing = {a.instance for a in own if a.indicator == ind.ERROR_RATIO and a.instance}
    state = facts.platform.service(c.service)
    passed_on = any(caller == c.service for caller, _ in failing_edges(incident))
    callees = set(graph.successors(c.service)) if c.service in graph else set()
    callee_errs = any(
        a.service in callees and a.indicator == ind.ERROR_RATIO and is_rule(a)
        for a in incident.anomalies
    )
    if (
        len(failing) == 1
        and not passed_on
        and not callee_errs
        and state is not None
        and state.instances_total >= 2
    ):
        # One instance fails while its siblings serve and nothing it calls fails (a
        # failing callee would be the likelier origin): that process is sick — once it
        # has failed alone for a while (``Facts.settled_before``).
        began = min(
            a.timestamp for a in own if a.indicator == ind.ERROR_RATIO and a.instance in failing
        )
        return SICK_PROCESS if began <= facts.settled_before else FORMING
    slower = {
        a.instance
        for a in own
        if a.indicator in (ind.LATENCY_VS_PEERS, ind.UPSTREAM_LATENCY_VS_PEERS) and a.instance
    }
    if len(slower) == 1 and state is not None and state.instances_total >= 2:
        # One instance (or its calls) much slower than its siblings under the same
        # load: that process or its network path is sick.
        return SPECIFIC
    if found.failure_type is FailureType.EXTERNAL_DEPENDENCY and (
        (found.service or c.service) in facts.external
    ):
        return SPECIFIC
    if found.failure_type is FailureType.DATA_CORRUPTION and found.service:
        return SPECIFIC
    if c.service in symptom_origins(incident, explained) | slow_edge_origins(incident, facts):
        return SPECIFIC  # its errors or latency are its own, not passed on from a callee
    if any(a.indicator in ft.RESOURCE_INDICATORS for a in own):
        return WEAK
    return NO_FACT


def symptom_relays(incident: Incident, explained: Set[str] = frozenset()) -> set[str]:
    """Services whose every rule symptom is passed on: errors only beside failing calls
    to a callee, latency only beside slow calls (or a callee's latency that explains it:
    ``explained``, see ``latency_from_callees``), and nothing else of their own (no
    resource, availability or instance-level trouble)."""
    rules = [a for a in incident.anomalies if is_rule(a)]
    callers = {caller for caller, _ in failing_edges(incident)}
    out = set()
    for service in {a.service for a in rules}:
        own = [a for a in rules if a.service == service]
        kinds = {a.indicator for a in own}
        calls_fail = service in callers
        calls_slow = (
            bool(kinds & {ind.UPSTREAM_LATENCY, ind.UPSTREAM_LATENCY_VS_PEERS})
            or service in explained
        )
        if ind.ERROR_RATIO in kinds and not calls_fail:
            continue
        if ind.LATENCY_P99 in kinds and not calls_slow:
            continue
        if kinds - PASSED_ON or not (calls_fail or calls_slow):
            continue
        out.add(service)
    return out


def symptom_origins(incident: Incident, explained: Set[str] = frozenset()) -> set[str]:
    """Services where the incident's errors or latency start on the call graph.

    A service whose own error ratio broke a rule while none of its calls to other
    services failed produces those errors itself; one whose calls to a callee fail
    passes the callee's errors on (``failing_edges``; likewise for latency and slow calls). So
    the origins are the services with their own symptom and no matching symptom on
    their calls out — whatever the fault, wherever it sits in the graph. A slow service in
    ``explained`` (a callee's latency explains its own, ``latency_from_callees``) is no
    latency origin either.
    """
    rules = [a for a in incident.anomalies if is_rule(a)]
    errors = {a.service for a in rules if a.indicator == ind.ERROR_RATIO}
    slow = {a.service for a in rules if a.indicator == ind.LATENCY_P99}
    calls_fail = {caller for caller, _ in failing_edges(incident)}
    calls_slow = {
        a.service
        for a in rules
        if a.indicator in (ind.UPSTREAM_LATENCY, ind.UPSTREAM_LATENCY_VS_PEERS)
    }
    return (errors - calls_fail) | (slow - calls_slow - explained)


def latency_from_callees(incident: Incident, graph: nx.DiGraph, facts: Facts) -> set[str]:
    """Services whose latency rule broke while a callee explains the rise: the callee
    (on the call graph) serves, or the calls to it run, slower than their baseline by at
    least ``EXPLAINS_SHARE`` of the service's own rise (``Facts.slower``).

    Latency travels up the graph sample by sample, and each rule needs a few samples:
    a caller's latency rule can break before its calls' or the callee's own. Until then
    the caller looks like the origin ("slow, calls out not slow") while the callee's
    series already say otherwise. A callee that serves as usual (``Facts.observed``)
    explains nothing: slow calls into it start on the way there.
    """
    slow = {a.service for a in incident.anomalies if is_rule(a) and a.indicator == ind.LATENCY_P99}
    out = set()
    for service in slow:
        own = facts.slower.get((service, None), 0.0)
        if own <= 0 or service not in graph:
            continue
        for callee in graph.successors(service):
            if callee in facts.observed:
                continue
            rise = max(
                facts.slower.get((callee, None), 0.0), facts.slower.get((service, callee), 0.0)
            )
            if rise >= EXPLAINS_SHARE * own:
                out.add(service)
                break
    return out


def slow_edge_origins(incident: Incident, facts: Facts) -> set[str]:
    """Callers whose calls to a callee are slow while that callee serves at its usual
    speed: the latency starts on the edge into the callee (the caller's side or the
    network between them), not in the callee.

    The callee must be one whose own latency the monitoring reads (``facts.observed``;
    for calls labelled with a dependency's name, the provider the platform says serves
    it now — the standby after a failover; an external dependency too: when its own
    metrics say it serves as usual, the delay is on the way to it, and the caller's side
    of that way is ours) and that shows no symptom of its own — no latency, error or
    availability rule, no slow calls of its own — and the slow calls must not be
    failing: a callee that hangs makes its callers' calls time out, and its silence then
    says nothing.
    """
    rules = [a for a in incident.anomalies if is_rule(a)]
    troubled = {
        a.service
        for a in rules
        if a.indicator
        in (
            ind.LATENCY_P99,
            ind.ERROR_RATIO,
            ind.UP,
            ind.UPSTREAM_LATENCY,
            ind.UPSTREAM_ERROR_RATIO,
        )
    }
    failing = failing_edges(incident)
    out = set()
    for a in rules:
        if a.indicator != ind.UPSTREAM_LATENCY or a.series is None:
            continue
        callee = a.series.label("target")
        if callee is None or (a.service, callee) in failing:
            continue
        # Calls are labelled with the dependency's name; the platform says which provider
        # serves it now (a standby after a failover): that one's latency is the callee's.
        caller = facts.platform.service(a.service)
        served_by = caller.dependencies.get(callee, callee) if caller is not None else callee
        if served_by in facts.observed and not {callee, served_by} & troubled:
            out.add(a.service)
    return out


def apart_from(
    cause: Cause,
    causes: Sequence[Cause],
    incident: Incident,
    graph: nx.DiGraph,
    threshold: float,
) -> frozenset[str]:
    """Services deeper than ``cause`` with a confident cause of their own that it cannot
    explain.

    A fault shows on its own service and travels up to the callers, not down. A service
    that ``cause``'s service calls (directly or through others), that is an origin of the
    incident's symptoms (``symptom_origins``, or its own availability, CPU or memory rule
    broken) and confidently a cause, shows a second fault — ``cause`` came first on a
    harder fact (a fresh deploy, say), not on depth. Grouped with the first by time and
    topology, it needs its own diagnosis and action, not to wait behind the first one's
    verification (which its symptoms, passed up, would hold back). Services beside
    ``cause`` (neither calls the other) are left together: a shared dependency outside
    the call graph, or a busy host, can make both fail at once.
    """
    rules = [a for a in incident.anomalies if is_rule(a)]
    sick = {a.service for a in rules if a.indicator in (ind.UP, ind.CPU, ind.MEMORY)}
    origins = symptom_origins(incident) | sick
    out = set()
    for c in causes:
        if c.service == cause.service or c.confidence < threshold or c.service not in origins:
            continue
        if c.service not in graph or cause.service not in graph:
            continue
        if nx.has_path(graph, cause.service, c.service):
            out.add(c.service)
    return frozenset(out)
