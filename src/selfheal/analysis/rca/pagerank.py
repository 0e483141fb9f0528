"""Propagation graph and personalised PageRank: where did the symptoms come from?

Signal of the root-cause ranker (``ranker.py``). Symptoms travel from a callee
to its callers, so a walker that starts at anomalous services and steps from
caller to callee, preferring anomalous callees, drifts toward the deepest
anomalous service whose own callees are healthy. This is MicroRCA's attributed
graph with personalised PageRank (Wu et al., "MicroRCA: Root Cause Localization
of Performance Issues in Microservices", NOMS 2020), with MicroCause-style
temporal edges (Meng et al., "Localizing Failure Root Causes in a Microservice
through Causality Inference", IWQoS 2020): an anomaly that started earlier than
another within ``temporal_window_seconds`` gets an edge from the later one to it,
so the walk also flows toward what went wrong first.

Each node keeps a self-loop weighted by its own anomaly, so a walker at an
anomalous service with healthy callees stays there (MicroRCA's self-edge).

>>> import networkx as nx
>>> g = nx.DiGraph([("frontend", "cart"), ("cart", "cache")])
>>> s = pagerank_scores(g, {"frontend": 0.8, "cart": 0.9, "cache": 0.05})
>>> max(s, key=s.get)
'cart'
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

TEMPORAL_WINDOW_SECONDS = 60.0


def propagation_graph(
    graph: nx.DiGraph,
    anomaly: Mapping[str, float],
    onset: Mapping[str, float] | None = None,
    temporal_window_seconds: float = TEMPORAL_WINDOW_SECONDS,
    floor: float = 0.01,
) -> nx.DiGraph:
    """Walk graph: caller -> callee edges weighted by the callee's anomaly,
    temporal edges later -> earlier anomaly, and anomaly-weighted self-loops."""
    walk = nx.DiGraph()
    nodes = set(graph.nodes) | set(anomaly)
    walk.add_nodes_from(sorted(nodes))
    for caller, callee in graph.edges:
        if caller != callee:
            walk.add_edge(caller, callee, weight=floor + anomaly.get(callee, 0.0))
    if onset:
        timed = sorted((t, s) for s, t in onset.items() if anomaly.get(s, 0.0) > 0.0)
        for i, (t_early, early) in enumerate(timed):
            for t_late, late in timed[i + 1 :]:
                if t_late - t_early > temporal_window_seconds:
                    break
                # Only a strictly earlier onset says who came first.
                if t_late > t_early and late != early and not walk.has_edge(late, early):
                    walk.add_edge(late, early, weight=0.5 * (floor + anomaly.get(early, 0.0)))
    for node in walk.nodes:
        walk.add_edge(node, node, weight=floor + anomaly.get(node, 0.0))
    return walk


def pagerank_scores(
    graph: nx.DiGraph,
    anomaly: Mapping[str, float],
    onset: Mapping[str, float] | None = None,
    alpha: float = 0.85,
) -> dict[str, float]:
    """Personalised PageRank over the propagation graph, normalised to max 1."""
    walk = propagation_graph(graph, anomaly, onset)
    if walk.number_of_nodes() == 0:
        return {}
    total = sum(max(0.0, v) for v in anomaly.values())
    if total <= 0.0:
        personal = {n: 1.0 for n in walk.nodes}
    else:
        personal = {n: max(0.0, anomaly.get(n, 0.0)) + 1e-6 for n in walk.nodes}
    ranks = nx.pagerank(walk, alpha=alpha, personalization=personal, weight="weight", max_iter=1000)
    top = max(ranks.values()) or 1.0
    return {n: v / top for n, v in ranks.items()}
