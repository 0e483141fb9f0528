"""Every registered signal through the same checks (river's check_estimator style)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from tests.analysis.rca.shop import START, shop_input

from selfheal.analysis.rca import CallSample, LogRecord, PastIncident, RCAInput
from selfheal.analysis.rca.signals import default_registry
from selfheal.core.types import Anomaly


def _rich_input() -> RCAInput:
    base = shop_input(
        {
            "payment": {"error_ratio": 0.5, "latency_p99_seconds": 0.4},
            "checkout": {"error_ratio": 0.4, "latency_p99_seconds": 0.5},
        }
    )
    t = np.arange(START - 120, START + 60, dtype=np.float64)
    slow = np.where(t >= START, 0.3, 0.01)
    calls = (
        CallSample("checkout", "payment", t, slow + 0.01, (t >= START).astype(float), slow),
        CallSample("payment", "bank", t, np.full_like(t, 0.01), np.zeros_like(t)),
    )
    logs = tuple(LogRecord(START + i, "payment", f"ERROR charge {i} failed") for i in range(20))
    before = tuple(LogRecord(START - 100 + i, "payment", f"INFO charge {i} ok") for i in range(20))
    anomalies = (Anomaly("checkout", START + 1, 0.9, "zscore", indicator="error_ratio"),)
    past = (PastIncident({"payment:error_ratio": 1.0}, "payment"),)
    return RCAInput(
        base.start, base.end, base.graph, base.metrics, anomalies, logs, before, calls, past
    )


@pytest.mark.parametrize("name", default_registry().names())
def test_signal_scores_are_finite_non_negative_and_deterministic(name: str) -> None:
    fn = default_registry().get(name)
    data = _rich_input()
    first, second = fn(data), fn(data)
    assert first.scores == second.scores
    assert all(math.isfinite(v) and v >= 0.0 for v in first.scores.values())
    assert all(0.0 <= v <= 1.0 for v in first.calibrated().values())


@pytest.mark.parametrize("name", default_registry().names())
def test_signal_copes_with_an_empty_incident(name: str) -> None:
    empty = RCAInput(0.0, 1.0, nx.DiGraph())
    out = default_registry().get(name)(empty)
    assert all(v == 0.0 for v in out.normalised().values())


def test_unknown_signal_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="metric_change"):
        default_registry().get("nope")
