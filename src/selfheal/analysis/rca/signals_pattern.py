"""Trace-pattern signal: services whose spans changed what they call.

Signal of the root-cause ranker. A code fault (a wrong return value, a thrown
exception) rarely makes a service slow, but it changes the *shape* of its work:
a request that used to call the orders service now returns before it, or an ad request
that used to query by category now falls back to random ads. Nezha (Yu et al.,
"Nezha: Interpretable Fine-Grained Root Causes Analysis for Microservices on
Multi-Modal Observability Data", ESEC/FSE 2023) ranks such changes by comparing
the support of event patterns before and after the fault; this signal does the
same with the simplest pattern a span tree offers: *parent operation -> child
step*.

For every span with children in its own service (a server or internal span of
service ``S``, operation ``o``), each child is labelled by its operation, or,
for an outgoing call, by the callee and the operation it served. Per
``(S, o, label)`` the share of ``o``-spans that have such a child is compared
between the baseline (spans before the incident) and the incident. The share
is conditional on ``o``, so a change in traffic or request mix upstream does not
move it; only what ``S`` does with a request of kind ``o`` does. The surprise is
the binomial deviance ``n_incident * KL(p_incident || p_baseline)`` (the
log-likelihood ratio of a changed share), and a service scores its largest.

>>> from selfheal.core.telemetry import SpanRecord
>>> import networkx as nx
>>> spans = []
>>> for i in range(40):
...     t = float(i)
...     spans.append(SpanRecord(f"r{i}", None, "front", "GET /", t))
...     if i < 20 or i % 4 == 0:  # after t=20 most requests skip the orders service
...         spans.append(SpanRecord(f"c{i}", f"r{i}", "front", "Orders/Get", t))
...         spans.append(SpanRecord(f"s{i}", f"c{i}", "orders", "Get", t))
>>> out = trace_patterns(RCAInput(20.0, 40.0, nx.DiGraph(), spans=tuple(spans)))
>>> max(out.scores, key=out.scores.get)
'front'
"""

from __future__ import annotations

import gc
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.logs import is_errorish
from selfheal.analysis.rca.signal import SignalOutput
from selfheal.core.telemetry import SpanRecord
from selfheal.core.types import Evidence, EvidenceKind

MIN_PARENTS = 5  # spans of an operation needed on each side to compare shares
EDGE_SECONDS = 2.0  # parents this close to the last span may have lost children
SHARE_FLOOR = 1e-3  # a share never seen counts as this rare, not impossible
PATTERN_SCALE = 30.0  # deviance: a step skipped by ~30 requests is fairly sure


def binomial_surprise(n: int, share: float, baseline: float) -> float:
    """``n * KL(share || baseline)``: how unlikely ``share`` of ``n`` is under ``baseline``.

    >>> round(binomial_surprise(100, 0.5, 0.5), 6)
    0.0
    >>> round(binomial_surprise(10, 0.0, 0.9), 1)
    23.0
    """
    q = min(max(baseline, SHARE_FLOOR), 1.0 - SHARE_FLOOR)
    p = min(max(share, 0.0), 1.0)
    kl = 0.0
    if p > 0.0:
        kl += p * math.log(p / q)
    if p < 1.0:
        kl += (1.0 - p) * math.log((1.0 - p) / (1.0 - q))
    return n * kl


def _labels(spans: tuple[SpanRecord, ...]) -> dict[str, tuple[SpanRecord, set[str]]]:
    """Per span (client spans aside): the span and its children's labels.

    A child is labelled by its operation. A client operation whose calls reach
    several services (a generic ``HTTP POST``) does not say which call it is, so
    it is labelled with the callee it reached as well."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    for s in spans:
        if s.parent_id is not None and s.parent_id in by_id:
            children[s.parent_id].append(s)
    reaches: dict[tuple[str, str], set[str]] = defaultdict(set)
    for pid, kids in children.items():
        parent = by_id[pid]
        for k in kids:
            if k.service != parent.service:
                reaches[(parent.service, parent.operation)].add(k.service)

    def label(child: SpanRecord, parent: SpanRecord) -> str:
        if child.service != parent.service:
            return f"{child.service}:{child.operation}"
        if len(reaches.get((child.service, child.operation), ())) > 1:
            remote = sorted({g.service for g in children.get(child.span_id, ())})
            return f"{child.operation} -> {','.join(remote)}"
        return child.operation

    out: dict[str, tuple[SpanRecord, set[str]]] = {}
    for span in spans:
        kids = children.get(span.span_id, [])
        if kids and not any(k.service == span.service for k in kids):
            continue  # a client span; its caller's pattern already names the call
        # A span with no children counts too: a request that now returns at
        # once has skipped every step.
        out[span.span_id] = (span, {label(k, span) for k in kids})
    return out


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small containers.

    Indexing a hundred thousand spans allocates as many lists and sets; each
    allocation burst triggers collections that walk every live object, which
    doubled the signal's time. Nothing built here forms a reference cycle, so
    reference counting frees it all; the collector's previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def trace_patterns(data: RCAInput) -> SignalOutput:
    if not data.spans:
        return SignalOutput("trace_patterns", {})
    with bulk_allocation():
        return _trace_patterns(data)


def _trace_patterns(data: RCAInput) -> SignalOutput:
    last = max(s.timestamp for s in data.spans)
    parents: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    having: dict[tuple[str, str], Counter[tuple[int, str]]] = defaultdict(Counter)
    for parent, labels in _labels(data.spans).values():
        if parent.timestamp > min(data.end, last - EDGE_SECONDS):
            continue
        side = 0 if parent.timestamp < data.start else 1
        key = (parent.service, parent.operation)
        parents[key][side] += 1
        for lab in labels:
            having[key][(side, lab)] += 1
    scores: dict[str, float] = {}
    evidence: dict[str, tuple[Evidence, ...]] = {}
    for key, (n0, n1) in sorted(parents.items()):
        if n0 < MIN_PARENTS or n1 < MIN_PARENTS:
            continue
        service, operation = key
        steps = sorted({lab for _, lab in having[key]})
        shares = {lab: (having[key][(0, lab)] / n0, having[key][(1, lab)] / n1) for lab in steps}
        for lab, (p0, p1) in shares.items():
            if is_errorish(lab):
                continue  # an error step that stops is a recovery, not a fault
            # A step taken less often while another is taken more often is a
            # switch between branches (request mix, a fallback), not a cut:
            # the largest rise of another step is allowed for.
            switch = max((b - a for other, (a, b) in shares.items() if other != lab), default=0.0)
            p1 = min(p0, p1 + max(0.0, switch))
            if p1 >= p0:
                # Only a step that stopped counts: a fault cuts a code path
                # short, while a step seen more often is as likely a shift in
                # the request mix that a short baseline did not cover.
                continue
            s = binomial_surprise(n1, p1, p0)
            if s > scores.get(service, 0.0):
                scores[service] = s
                evidence[service] = (
                    Evidence(
                        EvidenceKind.TRACE_PATTERN,
                        f"trace pattern {operation} -> {lab}: in {p0:.0%} of spans before, "
                        f"{having[key][(1, lab)] / n1:.0%} during",
                        "trace:skipped_step",
                        rising=False,
                        text=f"{operation} -> {lab}",
                    ),
                )
    strength = {s: 1.0 - math.exp(-v / PATTERN_SCALE) for s, v in scores.items()}
    indicator = {s: "trace:skipped_step" for s in scores}
    return SignalOutput(
        "trace_patterns", scores, evidence, indicator, {}, strength, scale=PATTERN_SCALE
    )
