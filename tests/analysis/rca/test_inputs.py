from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from selfheal.analysis.rca import MetricSeries, RCAInput


def test_series_with_mismatched_lengths_is_refused() -> None:
    with pytest.raises(ValueError, match="2 timestamps but 3 values"):
        MetricSeries("a", "cpu_cores", np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]))


def test_incident_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before its start"):
        RCAInput(start=10.0, end=5.0, graph=nx.DiGraph())


def test_graph_must_be_directed() -> None:
    with pytest.raises(TypeError, match="DiGraph"):
        RCAInput(start=0.0, end=1.0, graph=nx.Graph())  # type: ignore[arg-type]


def test_services_gathers_every_name() -> None:
    data = RCAInput(
        start=0.0,
        end=1.0,
        graph=nx.DiGraph([("a", "b")]),
        metrics=(MetricSeries("c", "cpu_cores", np.array([0.0]), np.array([1.0])),),
    )
    assert data.services == ("a", "b", "c")
