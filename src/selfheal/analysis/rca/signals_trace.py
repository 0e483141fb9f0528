"""Trace signal: latency and error deviation per call edge, pinned on the callee.

Signal of the root-cause ranker. For every call edge ``caller -> callee`` the
calls before the incident are the baseline and those inside it the incident. A
slow or failing service makes every edge *into* it worse, while what it adds on
its own is its server-side growth minus the growth of its own outgoing calls
(exclusive time, as in TraceRCA: Li et al., "Practical Root Cause Localization
for Microservice Systems via Trace Analysis", IWQoS 2021, and MicroRank: Yu et
al., WWW 2021). A client-side rise with no server-side rise is the network in
front of the callee (Nezha's and MicroRank's reading of span gaps). Errors are
treated the same way: the error share on edges into a service, minus what its
own callees returned.

Scores are relative to the edges' normal latency, so a 5 ms service that went to
200 ms outranks a 300 ms service that went to 400 ms.

>>> import numpy as np, networkx as nx
>>> from selfheal.analysis.rca.inputs import RCAInput
>>> from selfheal.core.telemetry import CallSample
>>> t = np.arange(0.0, 120.0)
>>> slow = np.where(t >= 60, 0.2, 0.005)
>>> calls = (CallSample("a", "b", t, slow + 0.01, np.zeros_like(t), slow),
...          CallSample("b", "c", t, np.full_like(t, 0.003), np.zeros_like(t)))
>>> out = trace_edges(RCAInput(60.0, 119.0, nx.DiGraph([("a", "b"), ("b", "c")]), calls=calls))
>>> max(out.scores, key=out.scores.get)
'b'
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.signal import SignalOutput
from selfheal.core.telemetry import CallSample, FloatArray
from selfheal.core.types import Evidence, EvidenceKind

SIGNIFICANCE = 3.0  # robust deviations a rise must reach to count
ERROR_WEIGHT = 10.0  # one point of error share counts like a 10x latency rise
TRACE_SCALE = 1.5  # log1p(relative rise): about a 3x slowdown is fairly sure


@dataclass(frozen=True, slots=True)
class EdgeChange:
    caller: str
    callee: str
    base_latency: float
    client_rise: float  # seconds, 0 when not significant
    server_rise: float | None
    error_rise: float
    onset: float | None


def _level(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, 75.0)) if finite.size else math.nan


def _rise(before: FloatArray, during: FloatArray) -> float:
    base = before[np.isfinite(before)]
    now = during[np.isfinite(during)]
    if base.size == 0 or now.size == 0:
        return 0.0
    median = float(np.median(base))
    if base.size >= 3:
        mad = 1.4826 * float(np.median(np.abs(base - median)))
        scale = max(mad, 0.05 * abs(median), 1e-4)
    else:
        scale = max(0.2 * abs(median), 1e-4)
    rise = _level(now) - median
    return rise if rise / scale >= SIGNIFICANCE else 0.0


def edge_change(call: CallSample, start: float, end: float) -> EdgeChange:
    ts = call.timestamps
    before = ts < start
    during = (ts >= start) & (ts <= end)
    base_latency = float(np.nanmedian(call.latency_seconds[before])) if before.any() else math.nan
    client = _rise(call.latency_seconds[before], call.latency_seconds[during])
    server = None
    if call.server_latency_seconds is not None:
        server = _rise(call.server_latency_seconds[before], call.server_latency_seconds[during])
    err_before = call.error[before]
    err_during = call.error[during]
    error = 0.0
    if err_during.size and np.isfinite(err_during).any():
        base_err = float(np.nanmean(err_before)) if np.isfinite(err_before).any() else 0.0
        error = max(0.0, float(np.nanmean(err_during)) - base_err)
        if err_during.size < 3 and error < 0.5:
            error = 0.0  # one or two failed calls are not a trend
    onset = None
    if client > 0.0 and during.any():
        threshold = base_latency + 0.5 * client if math.isfinite(base_latency) else math.inf
        hit = ts[during][call.latency_seconds[during] >= threshold]
        onset = float(hit.min()) if hit.size else None
    return EdgeChange(call.caller, call.callee, base_latency, client, server, error, onset)


def _gap(e: EdgeChange) -> float:
    return max(0.0, e.client_rise - (e.server_rise or 0.0))


def trace_edges(data: RCAInput) -> SignalOutput:
    changes = [edge_change(c, data.start, data.end) for c in data.calls]
    into: dict[str, list[EdgeChange]] = defaultdict(list)
    out_of: dict[str, list[EdgeChange]] = defaultdict(list)
    for e in changes:
        into[e.callee].append(e)
        out_of[e.caller].append(e)
    # A caller whose calls to *most* of its callees grew a network gap is itself
    # slow to send and receive (CPU-starved, its own network): the gap is its own.
    caller_gap: dict[str, float] = {}
    for caller, edges in out_of.items():
        gaps = [_gap(e) for e in edges if e.server_rise is not None]
        if len(gaps) >= 2:
            caller_gap[caller] = float(np.median(gaps))
    scores: dict[str, float] = {}
    evidence: dict[str, tuple[Evidence, ...]] = {}
    indicator: dict[str, str] = {}
    onset: dict[str, float] = {}
    for service in sorted(set(into) | set(caller_gap)):
        edges = into.get(service, [])
        bases = [e.base_latency for e in edges if math.isfinite(e.base_latency)]
        if not bases:
            bases = [
                e.base_latency for e in out_of.get(service, []) if math.isfinite(e.base_latency)
            ]
        base = float(np.median(bases)) if bases else 0.01
        client = float(np.median([e.client_rise for e in edges])) if edges else 0.0
        server_known = [e.server_rise for e in edges if e.server_rise is not None]
        server = float(np.median(server_known)) if server_known else client
        network = (
            float(np.median([max(0.0, _gap(e) - caller_gap.get(e.caller, 0.0)) for e in edges]))
            if server_known
            else 0.0
        )
        network = max(network, caller_gap.get(service, 0.0))
        downstream = max((e.client_rise for e in out_of.get(service, [])), default=0.0)
        own = max(0.0, server - downstream)
        errors = float(np.median([e.error_rise for e in edges])) if edges else 0.0
        down_err = max((e.error_rise for e in out_of.get(service, [])), default=0.0)
        own_err = max(0.0, errors - down_err)
        latency_score = max(network, own) / (base + 1e-3)
        score = math.log1p(latency_score) + ERROR_WEIGHT * own_err
        if score <= 0.0:
            continue
        scores[service] = score
        lines = []
        if network > 0.0 and network >= own:
            indicator[service] = "network_latency"
            lines.append(
                Evidence(
                    EvidenceKind.TRACE_NETWORK,
                    f"trace calls through it {network * 1e3:.0f} ms slower on the network",
                    "network_latency",
                    rising=True,
                )
            )
        elif own > 0.0:
            indicator[service] = "latency"
            lines.append(
                Evidence(
                    EvidenceKind.TRACE_LATENCY,
                    f"trace server time up {own * 1e3:.0f} ms beyond its callees",
                    "latency",
                    rising=True,
                )
            )
        if own_err > 0.0:
            indicator.setdefault(service, "error_ratio")
            lines.append(
                Evidence(
                    EvidenceKind.TRACE_ERRORS,
                    f"trace errors on calls into it up {own_err:.0%}",
                    "error_ratio",
                    rising=True,
                )
            )
        evidence[service] = tuple(lines)
        times = [e.onset for e in edges if e.onset is not None]
        if times:
            onset[service] = min(times)
    strength = {s: 1.0 - math.exp(-v) for s, v in scores.items()}
    return SignalOutput("trace_edges", scores, evidence, indicator, onset, strength, TRACE_SCALE)
