from __future__ import annotations

import networkx as nx

from selfheal.analysis.rca.pagerank import pagerank_scores, propagation_graph


def test_the_walk_settles_on_the_deepest_anomalous_service() -> None:
    g = nx.DiGraph([("frontend", "checkout"), ("checkout", "payment"), ("payment", "bank")])
    scores = pagerank_scores(g, {"frontend": 0.9, "checkout": 0.9, "payment": 0.9, "bank": 0.0})
    assert max(scores, key=scores.get) == "payment"


def test_a_weakly_anomalous_callee_does_not_capture_the_walk() -> None:
    g = nx.DiGraph([("frontend", "recommendation"), ("recommendation", "catalog")])
    scores = pagerank_scores(g, {"frontend": 1.0, "recommendation": 0.2})
    assert max(scores, key=scores.get) == "frontend"


def test_temporal_edges_point_from_later_to_strictly_earlier_onsets() -> None:
    g = nx.DiGraph()
    g.add_nodes_from(["a", "b", "c"])
    walk = propagation_graph(g, {"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 0.0, "b": 10.0, "c": 10.0})
    assert walk.has_edge("b", "a") and walk.has_edge("c", "a")
    assert not walk.has_edge("a", "b")
    assert not walk.has_edge("b", "c") and not walk.has_edge("c", "b")


def test_onsets_further_apart_than_the_window_are_not_linked() -> None:
    g = nx.DiGraph()
    g.add_nodes_from(["a", "b"])
    walk = propagation_graph(g, {"a": 1.0, "b": 1.0}, {"a": 0.0, "b": 120.0})
    assert not walk.has_edge("b", "a")


def test_onsets_within_one_sampling_step_are_not_ordered() -> None:
    # Scraped once a minute: 5 s and 65 s after the start are neighbouring samples.
    g = nx.DiGraph()
    g.add_nodes_from(["a", "b", "c"])
    onset = {"a": 5.0, "b": 65.0, "c": 6.0}
    walk = propagation_graph(g, {"a": 1.0, "b": 1.0, "c": 1.0}, onset, min_lag_seconds=60.0)
    assert not any(walk.has_edge(u, v) for u in "abc" for v in "abc" if u != v)
    finer = propagation_graph(g, {"a": 1.0, "b": 1.0, "c": 1.0}, onset, min_lag_seconds=1.0)
    assert finer.has_edge("b", "a") and not finer.has_edge("c", "a")
