"""Failure type of a cause, decided in one place from structured evidence.

``selfheal.analysis.triage`` calls ``classify`` for every cause the root-cause
ranker returned; the benchmarks call it for the ranker's top cause. The ranker
itself types nothing: it hands over each cause's structured evidence
(``core.types.Evidence``). The evidence read here is the incident's rule
anomalies, the platform's recent changes, its external dependencies and roles,
and the cause's own evidence from the ranker — fields, never prose. The rules
read like an SRE's triage, most specific first:

1. a deploy on the cause service shortly before the incident → ``CodeBug``;
2. a config push on it → ``ConfigurationError``;
3. a firing alert whose ``failure_type`` label names one → that type;
   errors only on calls toward an external dependency → ``ExternalDependency``;
4. a service the platform calls a cache that answers, with no errors or process
   trouble of its own, or a service whose every instance fails fast while its calls to a cache
   succeed, no other callee fails, its error logs name no other callee and its own
   pool is not running dry → ``DataCorruption`` (on the cache);
5. an instance down or not answering (crash / hang) → ``ResourceExhaustion`` on
   that instance, indicator ``up`` (restarting the instance is the remedy); several
   down → the same on the whole service (restarting the service is); one
   instance much slower than its siblings → the same, on that instance;
6. memory or CPU → ``ResourceExhaustion``;
7. one instance's calls to a dependency much slower than its siblings' calls to it, or
   latency on one call edge while the callee's own latency is fine, or a cause whose
   calls to a callee are slow while that callee neither is slow nor calls slowly
   → ``NetworkFailure``;
8. pool saturation or pool timeouts → ``ResourceExhaustion`` (after 7: a slow callee
   fills its callers' pools);

then, from the ranker's evidence about the cause (``from_evidence``):

9. a log template reporting bad data (checksum, corrupt, malformed…) →
   ``DataCorruption``;
10. a resource indicator (CPU, memory, disk, threads…) named by the ranker, or one that
    rose → ``ResourceExhaustion`` (one that fell — requests returning early — is a
    consequence);
11. a new or surging log template about configuration → ``ConfigurationError``;
12. an error indicator, error log templates, failing traced calls, or a code path the
    service stopped taking → ``CodeBug``;
13. latency or network indicators or words → ``NetworkFailure``;
14. a past incident rooted here that looks the same → its failure type.

A cause nothing here decides keeps the type it came with (``Unknown`` from the
ranker). Pure logic, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from selfheal.core import indicators as ind
from selfheal.core.platform import ROLE_CACHE, ChangeEvent, ChangeKind
from selfheal.core.types import Anomaly, Cause, Evidence, EvidenceKind, FailureType


@dataclass(frozen=True, slots=True)
class Classification:
    failure_type: FailureType
    indicator: str | None
    instance: str | None
    reason: str
    service: str | None = None  # set when the evidence points at another service
    whole_service: bool = False  # the evidence is about the service, not one instance


# Pseudo-indicators naming the fact a classification rests on.
VERSION = "version"  # a deploy just before the incident
CONFIG = "config"  # a config push just before the incident
CACHE = "cache"  # a cache serving bad entries
ALERT_FAILURE_TYPE = "failure_type"  # the label of an alert series that names its type
_TYPES = frozenset(f.value for f in FailureType)
NO_RULE = "no rule matched"  # the reason when no rule here decided

PROCESS_INDICATORS = (ind.MEMORY, ind.CPU)
POOL_INDICATORS = (ind.SATURATION, ind.POOL_TIMEOUTS)
RESOURCE_INDICATORS = PROCESS_INDICATORS + POOL_INDICATORS


_CHANGE_TYPE = {
    ChangeKind.DEPLOY: FailureType.CODE_BUG,
    ChangeKind.CONFIG: FailureType.CONFIGURATION_ERROR,
}
_CHANGE_WORD = {ChangeKind.DEPLOY: "deployed", ChangeKind.CONFIG: "reconfigured"}


def classify(
    cause: Cause,
    anomalies: Sequence[Anomaly],
    changes: Iterable[ChangeEvent] = (),
    external: frozenset[str] = frozenset(),
    since: float = float("-inf"),
    callees: Iterable[str] = (),
    roles: Mapping[str, str] | None = None,
    instances: int = 0,
) -> Classification:
    """Decide the failure type of ``cause`` from the evidence; see the module rules.

    ``callees`` are the services ``cause.service`` calls (from the service graph);
    ``roles`` the role the platform gives each service (``core.platform.ROLE_*``);
    ``instances`` how many instances ``cause.service`` runs (0: unknown).
    """
    roles = roles or {}
    changes = tuple(changes)
    service = cause.service
    mine = [a for a in anomalies if a.service == service]
    recent = [c for c in changes if c.service == service and c.at >= since]
    deploys = [c for c in recent if c.kind is ChangeKind.DEPLOY]
    configs = [c for c in recent if c.kind is ChangeKind.CONFIG]
    if deploys:
        return Classification(
            FailureType.CODE_BUG, VERSION, None, f"{service} was deployed before the incident"
        )
    if configs:
        return Classification(
            FailureType.CONFIGURATION_ERROR,
            CONFIG,
            None,
            f"{service} got a config push before the incident",
        )
    alerted = [
        a.series
        for a in mine
        if a.indicator == ind.ALERT_FIRING
        and a.series is not None
        and a.series.label(ALERT_FAILURE_TYPE) in _TYPES
    ]
    if alerted:
        # An alerting rule that says what it reports: the operator's word, from its labels.
        kind = FailureType(alerted[0].label(ALERT_FAILURE_TYPE) or "")
        return Classification(
            kind,
            ind.ALERT_FIRING,
            alerted[0].label("instance"),
            f"alert {alerted[0].label('alertname')} on {service} reports {kind.value}",
        )
    external_edges = [
        a
        for a in anomalies
        if a.indicator == ind.UPSTREAM_ERROR_RATIO
        and a.series is not None
        and a.series.label("target") in external
    ]
    own_failure = any(
        a.indicator in (ind.UP, ind.ERROR_RATIO) and a.detector.startswith("rule:") for a in mine
    )
    toward_me = [
        a for a in external_edges if a.series is not None and a.series.label("target") == service
    ]
    calls_out = [a for a in external_edges if a.service == service]
    if service in external and (own_failure or toward_me):
        return Classification(
            FailureType.EXTERNAL_DEPENDENCY,
            "dependency",
            None,
            f"{service} is an external dependency and fails",
        )
    if calls_out:
        # The caller only suffers: the cause is the dependency its failing calls go to.
        target = calls_out[0].series.label("target") if calls_out[0].series else None
        return Classification(
            FailureType.EXTERNAL_DEPENDENCY,
            "dependency",
            None,
            f"{service}'s calls toward the external dependency {target} fail",
            service=target,
        )
    erroring = {a.instance for a in mine if a.indicator == ind.ERROR_RATIO and a.instance}
    own_edges_fail = any(a.indicator == ind.UPSTREAM_ERROR_RATIO for a in mine)
    down = [a for a in mine if a.indicator == ind.UP]
    slow = any(a.indicator in (ind.LATENCY_P99, ind.UPSTREAM_LATENCY) for a in mine)
    sick = any(a.indicator in PROCESS_INDICATORS for a in mine)
    own_errors = any(a.indicator == ind.ERROR_RATIO for a in mine)
    if roles.get(service) == ROLE_CACHE and not (down or sick or own_errors or slow):
        # A cache that answers — without errors of its own, at its usual speed and with
        # no process trouble — yet is the cause: what it serves is bad. (A cache answering
        # with errors, or slowly, is a failing service like any other.)
        return Classification(
            FailureType.DATA_CORRUPTION,
            CACHE,
            None,
            f"the cache {service} answers but serves data that makes calls fail",
        )
    caches = [c for c in callees if roles.get(c) == ROLE_CACHE]
    # another callee failing on its own (errors, or down) explains the errors better
    callee_fails = any(
        a.service in callees
        and a.service not in caches
        and a.indicator in (ind.ERROR_RATIO, ind.UP)
        for a in anomalies
    )
    # ... or its own error logs say which: a call to another callee failed
    callee_fails = callee_fails or bool(
        logged_failing_callees(cause, [c for c in callees if c not in caches])
    )
    # every instance fails: two or more, or the only one a one-instance service has
    everywhere = len(erroring) >= 2 or (instances == 1 and len(erroring) == 1)
    # its own pool running dry (requests timing out for a connection) is its own fault
    pooled = any(a.indicator in POOL_INDICATORS for a in mine)
    if (
        caches
        and not down
        and everywhere
        and not slow
        and not own_edges_fail
        and not callee_fails
        and not pooled
    ):
        # Every instance fails, fast, while its calls to the cache succeed and nothing else
        # it calls fails: what the cache answers is bad — and if the cache itself was just
        # changed, that change is why.
        changed = [
            c for c in changes if c.service in caches and c.at >= since and c.kind in _CHANGE_TYPE
        ]
        if changed:
            change = changed[-1]
            return Classification(
                _CHANGE_TYPE[change.kind],
                VERSION if change.kind is ChangeKind.DEPLOY else CONFIG,
                None,
                f"all instances of {service} fail while {change.service} answers, and "
                f"{change.service} was {_CHANGE_WORD[change.kind]} before the incident",
                service=change.service,
            )
        return Classification(
            FailureType.DATA_CORRUPTION,
            CACHE,
            None,
            f"all instances of {service} fail while {caches[0]} answers: corrupt cached data",
            service=caches[0],
        )
    if down:
        dead = sorted({a.instance for a in down if a.instance})
        if len(dead) > 1:
            # Several instances down at once: the service, not one process — restart it
            # (a rolling restart brings them back one by one).
            return Classification(
                FailureType.RESOURCE_EXHAUSTION,
                ind.UP,
                None,
                f"instances {', '.join(dead)} of {service} are down or not answering",
                whole_service=True,
            )
        instance = cause.instance or down[0].instance
        return Classification(
            FailureType.RESOURCE_EXHAUSTION,
            ind.UP,
            instance,
            f"instance {instance or '?'} of {service} is down or not answering",
        )
    slower = [a for a in mine if a.indicator == ind.LATENCY_VS_PEERS and a.instance]
    if len({a.instance for a in slower}) == 1:
        # One instance much slower than its siblings: that process is sick, restart it.
        return Classification(
            FailureType.RESOURCE_EXHAUSTION,
            ind.LATENCY_VS_PEERS,
            slower[0].instance,
            f"instance {slower[0].instance} of {service} is much slower than its peers",
        )
    process = [a for a in mine if a.indicator in PROCESS_INDICATORS]
    if process:
        return _exhausted(cause, process)
    peer_edges = [
        a
        for a in mine
        if a.indicator == ind.UPSTREAM_LATENCY_VS_PEERS and a.instance and a.series is not None
    ]
    if len({a.instance for a in peer_edges}) == 1:
        # One instance's calls to a dependency are much slower than its siblings' calls
        # to the same dependency: the path out of that instance, not the callee.
        instance = peer_edges[0].instance
        target = peer_edges[0].series.label("target") if peer_edges[0].series else None
        return Classification(
            FailureType.NETWORK_FAILURE,
            "network",
            instance,
            f"calls from {instance} to {target} are much slower than its siblings' calls",
        )
    edge_latency = [
        a
        for a in anomalies
        if a.indicator in (ind.UPSTREAM_LATENCY, ind.UPSTREAM_LATENCY_VS_PEERS)
        and a.series is not None
    ]
    own_latency = {a.service for a in anomalies if a.indicator == ind.LATENCY_P99}
    edges = {(a.service, a.series.label("target")) for a in edge_latency if a.series is not None}
    if len(edges) == 1:
        caller, callee = next(iter(edges))
        if callee not in own_latency and service in (caller, callee):
            return Classification(
                FailureType.NETWORK_FAILURE,
                "network",
                _single_instance([a for a in edge_latency if a.service == service]),
                f"latency only on the edge {caller} → {callee}",
            )
    callers_of_slow = {caller for caller, _ in edges}
    slow_out = sorted(
        callee
        for caller, callee in edges
        if caller == service
        and callee is not None
        and callee not in own_latency
        and callee not in callers_of_slow
    )
    if slow_out and not own_edges_fail:
        # Its calls to a callee are slow while that callee's own latency is not: the
        # delay is on the way there (this service's side or its network).
        return Classification(
            FailureType.NETWORK_FAILURE,
            "network",
            _single_instance([a for a in edge_latency if a.service == service]),
            f"calls from {service} to {slow_out[0]} are slow while {slow_out[0]} is not",
        )
    failing = {a.instance for a in mine if a.indicator == ind.ERROR_RATIO and a.instance}
    if len(failing) == 1 and erroring == failing and not own_edges_fail:
        # Errors confined to one instance, not passed on from its own calls, while its
        # siblings serve: that process is bad (a full pool beside it is the consequence).
        instance = next(iter(failing))
        return Classification(
            FailureType.CODE_BUG,
            ind.ERROR_RATIO,
            instance,
            f"only instance {instance} of {service} fails",
        )
    pool = [a for a in mine if a.indicator in POOL_INDICATORS]
    if pool:
        return _exhausted(cause, pool)
    instance = cause.instance or _single_instance(
        [a for a in mine if a.instance and a.indicator != ind.UP]
    )
    found = from_evidence(cause)
    if found is not None:
        kind, reason = found
        return Classification(kind, cause.indicator, instance, reason)
    return Classification(cause.failure_type, cause.indicator, instance, NO_RULE)


# Words in indicator names and observed texts (log templates, span names): the names
# and the texts are data the platform and the services wrote, not prose of ours.
_INTEGRITY = re.compile(r"(checksum|corrupt|constraint|integrity|malformed|deserial)", re.I)
_RESOURCE = re.compile(r"\b(cpu|memory|mem|disk|thread|heap|oom|fd|saturation)", re.I)
_CONFIG = re.compile(r"(config|property|properties|setting|parameter|invalid value)", re.I)
_ERRORS = re.compile(r"(error|exception|fail|success_ratio|status|5\d\d|traceback)", re.I)
_NETWORK = re.compile(r"(network|latency|delay|timeout|timed out|connection|rtt|p9\d)", re.I)
_LOGS = (EvidenceKind.LOG_ERRORS, EvidenceKind.LOG_VANISHED)
_CODE_PATHS = (EvidenceKind.TRACE_ERRORS, EvidenceKind.TRACE_PATTERN)


def logs_own_errors(cause: Cause) -> bool:
    """Whether the ranker saw error log templates of ``cause``'s service surge and none of
    them reports bad data (checksum, corrupt, malformed…): the service says it fails, not
    that what it read was bad."""
    logged = [e.text for e in cause.evidence if e.kind is EvidenceKind.LOG_ERRORS and e.text]
    return bool(logged) and not any(_INTEGRITY.search(t) for t in logged)


def logged_failing_callees(cause: Cause, callees: Iterable[str]) -> list[str]:
    """The ``callees`` that error log templates of ``cause``'s service name, as a whole
    name (``"<callee> failed with HTTP 503"``): the service reports which
    call failed, so its errors are passed on from there."""
    logged = [e.text for e in cause.evidence if e.kind is EvidenceKind.LOG_ERRORS and e.text]
    return [
        c
        for c in callees
        if any(re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", t) for t in logged)
    ]


def from_evidence(cause: Cause) -> tuple[FailureType, str] | None:
    """Rules 9-14: the failure type the ranker's structured evidence about ``cause``
    points at, with the reason; ``None`` when it points nowhere."""
    evidence: tuple[Evidence, ...] = cause.evidence
    main = cause.indicator or ""
    texts = [e.text for e in evidence if e.text]
    logs = [e for e in evidence if e.kind in _LOGS]
    if any(_INTEGRITY.search(t) for t in texts):
        return FailureType.DATA_CORRUPTION, "observed text reports bad data"
    rose = [
        e.indicator
        for e in evidence
        if e.kind is EvidenceKind.METRIC and e.rising and _RESOURCE.search(e.indicator)
    ]
    if _RESOURCE.search(main) or rose:
        return (
            FailureType.RESOURCE_EXHAUSTION,
            f"{main if _RESOURCE.search(main) else rose[0]} rose",
        )
    if any(_CONFIG.search(e.text) for e in logs):
        return FailureType.CONFIGURATION_ERROR, "a log template speaks of configuration"
    if _ERRORS.search(main) or logs or any(e.kind in _CODE_PATHS for e in evidence):
        return FailureType.CODE_BUG, "its own errors, error logs or a code path it stopped taking"
    if (
        _NETWORK.search(main)
        or any(_NETWORK.search(e.indicator) or _NETWORK.search(e.text) for e in evidence)
        or any(e.kind is EvidenceKind.TRACE_NETWORK for e in evidence)
    ):
        return FailureType.NETWORK_FAILURE, "latency without errors of its own"
    for e in evidence:
        if e.kind is EvidenceKind.HISTORY and e.failure_type is not None:
            return e.failure_type, "a past incident rooted here looked the same"
    return None


def _single_instance(anomalies: Sequence[Anomaly]) -> str | None:
    instances = {a.instance for a in anomalies if a.instance}
    return next(iter(instances)) if len(instances) == 1 else None


def _exhausted(cause: Cause, evidence: Sequence[Anomaly]) -> Classification:
    """``ResourceExhaustion`` on the strongest of ``evidence`` (its instance, when one)."""
    strongest = max(evidence, key=lambda a: a.score)
    return Classification(
        FailureType.RESOURCE_EXHAUSTION,
        strongest.indicator,
        cause.instance or _single_instance(evidence),
        f"{strongest.indicator} of {cause.service} is exhausted",
    )


def apply(cause: Cause, found: Classification) -> Cause:
    """The cause with the classification's failure type, indicator, instance and reason."""
    return replace(
        cause,
        service=found.service or cause.service,
        failure_type=found.failure_type,
        indicator=found.indicator or cause.indicator,
        instance=None if found.whole_service else found.instance or cause.instance,
        evidence=(*cause.evidence, Evidence(EvidenceKind.FACT, f"classified: {found.reason}")),
    )
