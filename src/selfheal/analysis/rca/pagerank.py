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
so the walk also flows toward what went wrong first. An order is only read
from onsets further apart than the telemetry's sampling step
(``min_lag_seconds``): two series scraped once a minute that both left their
band "5 s" and "65 s" after the incident began say nothing about which moved
first, only about when each was scraped.

Following CloudRanger (Wang et al., "CloudRanger: Root Cause Identification for
Cloud Native Systems", CCGrid 2018), whose second-order walk MicroCause reuses,
the walker may also step back from a callee to a caller (weight ``rho`` times the
caller's anomaly), and a service keeps a self-loop only for the anomaly it has
beyond its most anomalous callee (CloudRanger compares with every neighbour; we
compare downstream only, since symptoms travel upstream). So the walk does not
sink into whichever anomalous service has the fewest exits; it settles on the
deepest anomalous service whose own callees are healthy.

>>> import networkx as nx
>>> g = nx.DiGraph([("web", "orders"), ("orders", "cache")])
>>> s = pagerank_scores(g, {"web": 0.8, "orders": 0.9, "cache": 0.05})
>>> max(s, key=s.get)
'orders'
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

TEMPORAL_WINDOW_SECONDS = 60.0
BACKWARD_WEIGHT = 0.3  # CloudRanger's rho: how easily the walker climbs back to a caller
TEMPORAL_WEIGHT = 0.5
FLOOR = 0.01


def propagation_graph(
    graph: nx.DiGraph,
    anomaly: Mapping[str, float],
    onset: Mapping[str, float] | None = None,
    temporal_window_seconds: float = TEMPORAL_WINDOW_SECONDS,
    backward: float = BACKWARD_WEIGHT,
    min_lag_seconds: float = 0.0,
) -> nx.DiGraph:
    """Walk graph: forward caller -> callee edges weighted by the callee's anomaly,
    weaker backward edges, temporal edges later -> earlier anomaly, and a
    self-loop holding what a service has beyond its most anomalous callee."""
    walk = nx.DiGraph()
    nodes = set(graph.nodes) | set(anomaly)
    walk.add_nodes_from(sorted(nodes))

    def a(node: str) -> float:
        return max(0.0, anomaly.get(node, 0.0))

    def add(u: str, v: str, w: float) -> None:
        if u != v and w > 0.0:
            old = walk.get_edge_data(u, v, {}).get("weight", 0.0)
            walk.add_edge(u, v, weight=max(old, w))

    for caller, callee in graph.edges:
        add(caller, callee, FLOOR + a(callee))
        add(callee, caller, backward * (FLOOR + a(caller)))
    if onset:
        timed = sorted((t, s) for s, t in onset.items() if a(s) > 0.0)
        for i, (t_early, early) in enumerate(timed):
            for t_late, late in timed[i + 1 :]:
                if t_late - t_early > temporal_window_seconds:
                    break
                # Only an onset earlier by more than the sampling step says
                # who came first.
                if t_late - t_early > min_lag_seconds:
                    add(late, early, TEMPORAL_WEIGHT * (FLOOR + a(early)))
    for node in list(walk.nodes):
        callees = graph.successors(node) if node in graph else ()
        top = max((a(n) for n in callees), default=0.0)
        walk.add_edge(node, node, weight=FLOOR + max(0.0, a(node) - top))
    return walk


def pagerank_scores(
    graph: nx.DiGraph,
    anomaly: Mapping[str, float],
    onset: Mapping[str, float] | None = None,
    alpha: float = 0.85,
    min_lag_seconds: float = 0.0,
) -> dict[str, float]:
    """Personalised PageRank over the propagation graph, normalised to max 1."""
    walk = propagation_graph(graph, anomaly, onset, min_lag_seconds=min_lag_seconds)
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
