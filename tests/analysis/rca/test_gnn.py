from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from selfheal.analysis.rca import gnn  # noqa: E402
from selfheal.core.errors import ModelFormatError  # noqa: E402


def test_the_shipped_model_beats_the_loudest_service_on_simulated_faults() -> None:
    rng = np.random.default_rng(2024)
    hits = loud = 0
    for _ in range(150):
        graph, local, root = gnn.simulate(rng)
        scores = gnn.gnn_scores(graph, local)
        hits += max(scores, key=scores.get) == root
        loud += max(local, key=local.get) == root
    assert hits / 150 > loud / 150 + 0.1


def test_scores_are_deterministic_and_bounded() -> None:
    graph, local, _ = gnn.simulate(np.random.default_rng(5))
    a = gnn.gnn_scores(graph, local)
    b = gnn.gnn_scores(graph, local)
    assert a == b
    assert max(a.values()) == pytest.approx(1.0)
    assert all(0.0 <= v <= 1.0 for v in a.values())


def test_weights_round_trip_through_json(tmp_path) -> None:
    path = tmp_path / "w.json"
    gnn.save(gnn.trained_model(), path)
    graph, local, _ = gnn.simulate(np.random.default_rng(9))
    reloaded = gnn.load(path)
    import torch

    nodes = sorted(graph.nodes)
    down, up = gnn._adjacency(graph, nodes)
    x = torch.from_numpy(gnn.node_features(graph, local, nodes))
    with torch.no_grad():
        assert torch.allclose(reloaded(x, down, up), gnn.trained_model()(x, down, up))


def test_a_foreign_weights_file_is_refused(tmp_path) -> None:
    path = tmp_path / "w.json"
    path.write_text('{"format": "something-else", "state": {}}')
    with pytest.raises(ModelFormatError, match="something-else"):
        gnn.load(path)
