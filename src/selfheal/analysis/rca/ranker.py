"""The root-cause ranker: combines every signal into ranked, explained causes.

Entry point of the analysis layer's root-cause stage: the loop calls
``rank(RCAInput)`` when an incident opens or grows; the benchmark command calls
it once per labelled case. It does no I/O and keeps no state between calls.

How the signals combine (one configuration for every input):

1. Each *local* signal (metric change, detector anomalies, log templates, trace
   edges, trace patterns, Granger causality, past incidents, and optionally the GNN) scores every
   service on its own; scores are normalised to a maximum of 1 and squared. A
   signal that saw nothing (missing modality) drops out instead of diluting the
   others, and each evidence signal's weight is scaled by how sure it is
   (calibrated peak) relative to the surest signal, squared (``_sureness``).
   Symptom-only signals (detector anomalies) are first netted of what the
   service's callees show.
2. The weighted mean of the local scores is each service's *local evidence*;
   services that are neither a known symptom nor below one in the graph are
   discounted when the incident names its symptoms.
3. The propagation signal runs a personalised PageRank over the service graph
   plus temporal edges, seeded by the local evidence (``pagerank.py``); it moves
   weight from symptoms (callers) to the deepest anomalous callee.
4. The final score blends local evidence and propagation. Confidence is the
   final score discounted by how close the runner-up is and by how sure the
   signals are that anything is wrong at all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np

from selfheal.analysis.rca import gnn
from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.pagerank import pagerank_scores
from selfheal.analysis.rca.result import RCAResult
from selfheal.analysis.rca.signal import SignalOutput, SignalRegistry
from selfheal.core.types import Cause

PROPAGATION = "propagation"
GNN = "gnn"

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "anomalies": 1.0,
    "metric_change": 1.0,
    "trace_edges": 1.0,
    # Span patterns (a step a service stopped taking) name the service whose
    # code path changed; silent unless a step clearly stopped.
    "trace_patterns": 1.0,
    # Log evidence names the service whose code path changed; it is the most
    # specific signal when logs exist, so it outweighs the others.
    "log_templates": 3.0,
    # Past incidents only exist in the live loop; the benchmarks have none.
    "history": 1.0,
}


@dataclass(frozen=True, slots=True)
class RCAConfig:
    """The ranker's settings; the defaults are the one benchmarked configuration.

    ``weights``: weight of each local signal in the local evidence (a signal not
    named here does not run). ``propagation_weight``: share of the final score
    that comes from the propagation walk (0 = local evidence only, 1 = walk only).
    ``confidence_threshold``: causes under it are reported and marked as unsure.
    ``max_causes``: how many causes to return. ``gnn_weight``: share of the
    learned ranker (``gnn.py``, needs torch); 0 by default because on the dev
    benchmarks it did not add accuracy (see bench/RESULTS.md).
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    propagation_weight: float = 0.5
    confidence_threshold: float = 0.7
    max_causes: int = 10
    gnn_weight: float = 0.0

    def only(self, signal: str) -> RCAConfig:
        """This configuration with one signal alone (for ablation).

        The graph stages read local evidence: alone, ``propagation`` walks over
        the metric and anomaly evidence (MicroRCA's setting) and ``gnn`` ranks
        from the default local evidence with no walk."""
        if signal == PROPAGATION:
            return RCAConfig(
                {"metric_change": 1.0, "anomalies": 1.0},
                1.0,
                self.confidence_threshold,
                self.max_causes,
            )
        if signal == GNN:
            return RCAConfig(self.weights, 0.0, self.confidence_threshold, self.max_causes, 1.0)
        return RCAConfig({signal: 1.0}, 0.0, self.confidence_threshold, self.max_causes)


def _sureness(outputs: Sequence[SignalOutput], weights: Mapping[str, float]) -> dict[str, float]:
    """Each evidence signal's weight factor: how sure it is, relative to the surest.

    ``normalised`` stretches every signal's loudest service to 1, so a signal
    that saw only noise (log lines of a CPU fault, say) would vote as loudly as
    one that saw a clear change. Its calibrated peak (``SignalOutput.calibrated``)
    says how sure it is in absolute terms; relative to the surest signal of the
    same incident and squared (like the scores), it scales the signal's weight.
    Symptom signals (detector anomalies) define the incident rather than
    explain it and keep their weight."""
    peaks = {
        o.name: max(o.calibrated().values(), default=0.0)
        for o in outputs
        if o.name not in SYMPTOM_SIGNALS and weights.get(o.name, 0.0) > 0.0
    }
    top = max(peaks.values(), default=0.0)
    return {
        o.name: (peaks.get(o.name, 0.0) / top) ** 2 if o.name in peaks and top > 0.0 else 1.0
        for o in outputs
    }


def _combine(outputs: Sequence[SignalOutput], weights: Mapping[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    weight_sum = 0.0
    sure = _sureness(outputs, weights)
    for out in outputs:
        # Squared: a signal's clear peak keeps its weight, its noise floor
        # (services at a third of the peak) drops to a ninth.
        norm = {k: v * v for k, v in out.normalised().items()}
        w = weights.get(out.name, 0.0) * sure[out.name]
        if w <= 0.0 or not any(v > 0.0 for v in norm.values()):
            continue
        weight_sum += w
        for service, v in norm.items():
            total[service] = total.get(service, 0.0) + w * v
    if weight_sum <= 0.0:
        return {}
    return {s: v / weight_sum for s, v in total.items()}


OFF_PATH_WEIGHT = 0.3
# Signals that report symptoms as observed (not already net of the callees).
SYMPTOM_SIGNALS = frozenset({"anomalies"})


def _explain_away(data: RCAInput, outputs: list[SignalOutput]) -> list[SignalOutput]:
    """Net a symptom signal of what the service's callees show.

    A detector anomaly on a caller whose callee is at least as clearly unwell
    is inherited, not its own: keep only the excess over the worst callee
    (the same rule the walk's self-loops use)."""
    hurt: dict[str, float] = {}
    for o in outputs:
        for s, v in o.strength.items():
            hurt[s] = max(hurt.get(s, 0.0), v)
    out = []
    for o in outputs:
        if o.name not in SYMPTOM_SIGNALS:
            out.append(o)
            continue
        net = {}
        for s, v in o.scores.items():
            callees = data.graph.successors(s) if s in data.graph else ()
            worst = max((hurt.get(c, 0.0) for c in callees), default=0.0)
            net[s] = max(0.0, v - worst)
        out.append(replace(o, scores=net))
    return out


def _focus(data: RCAInput, local: dict[str, float]) -> dict[str, float]:
    """Discount services that cannot explain the incident's known symptoms.

    A cause sits at or below a symptom (callers inherit their callees' trouble),
    so when the incident names anomalous services, only they and their
    transitive callees keep full weight (the PetShop authors' "anomaly
    traversal" reads the graph the same way)."""
    symptomatic = {a.service for a in data.anomalies if a.service in data.graph}
    if not symptomatic:
        return local
    reachable = set(symptomatic)
    for s in symptomatic:
        reachable |= nx.descendants(data.graph, s)
    return {s: v if s in reachable else OFF_PATH_WEIGHT * v for s, v in local.items()}


def _observed(data: RCAInput) -> set[str]:
    names = {m.service for m in data.metrics}
    names.update(a.service for a in data.anomalies)
    names.update(r.service for r in data.logs)
    for c in data.calls:
        names.add(c.caller)
        names.add(c.callee)
    return names


def _path_and_impact(
    graph: nx.DiGraph, cause: str, hurt: Mapping[str, float], level: float = 0.2
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Anomalous callers that (transitively) depend on ``cause``, and the longest
    chain of anomalous callers from the cause up to a symptom."""
    if cause not in graph:
        return (cause,), ()
    affected = [s for s in nx.ancestors(graph, cause) if hurt.get(s, 0.0) >= level]
    impact = tuple(sorted(affected))
    sub = graph.subgraph([cause, *affected]).reverse(copy=True)
    best: tuple[str, ...] = (cause,)
    lengths = nx.single_source_shortest_path(sub, cause)
    for _target, p in sorted(lengths.items()):
        if len(p) > len(best):
            best = tuple(p)
    return best, impact


def _confidence(score: float, runner_up: float, strength: float) -> float:
    if score <= 0.0:
        return 0.0
    separation = score / (score + runner_up) if runner_up > 0 else 1.0
    # separation is 0.5 for a tie and 1 for a clear lead; map it onto [0, 1].
    return max(0.0, min(1.0, score * (2.0 * separation - 1.0 + 0.5) * strength))


def _main_indicator(
    service: str,
    outputs: Sequence[SignalOutput],
    weights: Mapping[str, float],
    sure: Mapping[str, float],
    normalised: Mapping[str, Mapping[str, float]],
) -> str | None:
    """The indicator named by the signal that contributed most to ``service``'s
    local evidence (weight x sureness x squared normalised score, as ``_combine``
    adds them); a signal that scored the service 0 names nothing. Symptom signals
    (detector anomalies) name what was observed and come first when they scored.
    ``sure`` and ``normalised`` are ``_sureness`` and each output's normalised
    scores, computed once per ranking."""
    best: str | None = None
    best_value = 0.0
    for o in outputs:
        name = o.indicator.get(service)
        if name is None:
            continue
        value = normalised[o.name].get(service, 0.0)
        if value <= 0.0:
            continue
        if o.name in SYMPTOM_SIGNALS:
            return name
        contribution = weights.get(o.name, 0.0) * sure.get(o.name, 1.0) * value * value
        if contribution > best_value:
            best, best_value = name, contribution
    return best


def _sampling_step(data: RCAInput) -> float:
    """The typical step between samples of the input's series (0 when unknown).

    Onsets are read from these samples, so two onsets closer than one step
    cannot be ordered (``pagerank.propagation_graph``)."""
    stamps = [m.timestamps for m in data.metrics] + [c.timestamps for c in data.calls]
    steps = [float(np.median(np.diff(t))) for t in stamps if t.size >= 2]
    return float(np.median(steps)) if steps else 0.0


def rank(
    data: RCAInput,
    config: RCAConfig | None = None,
    registry: SignalRegistry | None = None,
) -> RCAResult:
    """Rank root-cause candidates of one incident. See the module docstring."""
    from selfheal.analysis.rca.signals import default_registry

    cfg = config or RCAConfig()
    reg = registry or default_registry()
    began = time.perf_counter()
    outputs = [reg.get(name)(data) for name in cfg.weights if name not in (PROPAGATION, GNN)]
    outputs = _explain_away(data, outputs)
    local = _combine(outputs, cfg.weights)
    onset: dict[str, float] = {}
    for out in outputs:
        for s, t in out.onset.items():
            onset[s] = min(onset.get(s, math.inf), t)
    signal_scores: dict[str, dict[str, float]] = {o.name: o.normalised() for o in outputs}
    sure = _sureness(outputs, cfg.weights)
    local = _focus(data, local)
    final = dict(local)
    stages: list[tuple[float, dict[str, float]]] = []
    if cfg.propagation_weight > 0.0 and local:
        prop = pagerank_scores(data.graph, local, onset, min_lag_seconds=_sampling_step(data))
        signal_scores[PROPAGATION] = prop
        stages.append((cfg.propagation_weight, prop))
    if cfg.gnn_weight > 0.0 and local and gnn.available():
        learned = gnn.gnn_scores(data.graph, local)
        signal_scores[GNN] = learned
        stages.append((cfg.gnn_weight, learned))
    if stages:
        share = min(1.0, sum(w for w, _ in stages))
        names = set(local).union(*(set(sc) for _, sc in stages))
        final = {
            s: (1.0 - share) * local.get(s, 0.0)
            + sum(w * sc.get(s, 0.0) for w, sc in stages) / max(1.0, sum(w for w, _ in stages))
            for s in names
        }
    # Rank only services some telemetry speaks about; graph-only nodes (hosts,
    # unmonitored externals) help the walk but are not candidates.
    observed = _observed(data)
    candidates = {s: v for s, v in final.items() if s in observed}
    ordered = sorted(candidates.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.max_causes]
    # How clearly each service shows *any* symptom (its own or inherited): the
    # impact scope and the propagation path are read from this.
    hurt: dict[str, float] = {}
    for o in outputs:
        for svc, v in o.strength.items():
            hurt[svc] = max(hurt.get(svc, 0.0), v)
    causes = []
    for i, (service, score) in enumerate(ordered):
        others = [v for j, (_, v) in enumerate(ordered) if j != i]
        runner_up = max(others, default=0.0)
        strength = max((o.strength.get(service, 0.0) for o in outputs), default=0.0)
        evidence = tuple(e for o in outputs for e in o.evidence.get(service, ()))
        indicator = _main_indicator(service, outputs, cfg.weights, sure, signal_scores)
        path, impact = _path_and_impact(data.graph, service, hurt)
        causes.append(
            Cause(
                service=service,
                confidence=round(_confidence(score, runner_up, strength), 4),
                indicator=indicator,
                evidence=evidence,
                path=path,
                impact=impact,
            )
        )
    # Order by score (the ranking); confidence is reported on each cause.
    return RCAResult(
        causes=tuple(causes),
        threshold=cfg.confidence_threshold,
        signal_scores=signal_scores,
        seconds=time.perf_counter() - began,
    )
