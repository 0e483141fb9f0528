from __future__ import annotations

import networkx as nx
import numpy as np

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.signals_trace import trace_edges
from selfheal.core.telemetry import CallSample
from selfheal.core.types import EvidenceKind

T = np.arange(0.0, 240.0)
START = 120.0


def _call(
    caller: str,
    callee: str,
    client: np.ndarray,
    server: np.ndarray | None = None,
    error: np.ndarray | None = None,
) -> CallSample:
    return CallSample(
        caller, callee, T, client, np.zeros_like(T) if error is None else error, server
    )


def _flat(level: float) -> np.ndarray:
    return level * (1.0 + 0.02 * np.sin(T))


def _input(*calls: CallSample) -> RCAInput:
    g = nx.DiGraph([(c.caller, c.callee) for c in calls])
    return RCAInput(START, T[-1], g, calls=calls)


def test_a_slow_callee_is_blamed_not_its_callers() -> None:
    slow = np.where(T >= START, 0.2, 0.005)
    data = _input(
        _call("frontend", "checkout", _flat(0.05) + slow, _flat(0.04) + slow),
        _call("checkout", "payment", _flat(0.005) + slow, _flat(0.004) + slow),
        _call("payment", "bank", _flat(0.003), _flat(0.003)),
    )
    out = trace_edges(data)
    assert max(out.scores, key=out.scores.get) == "payment"


def test_a_network_gap_in_front_of_a_callee_is_pinned_on_it() -> None:
    gap = np.where(T >= START, 0.1, 0.0)
    data = _input(
        _call("frontend", "cart", _flat(0.005) + gap, _flat(0.004)),
        _call("checkout", "cart", _flat(0.005) + gap, _flat(0.004)),
        _call("frontend", "catalog", _flat(0.005), _flat(0.004)),
    )
    out = trace_edges(data)
    assert max(out.scores, key=out.scores.get) == "cart"
    assert out.indicator["cart"] == "network_latency"


def test_errors_a_callee_returns_are_its_own() -> None:
    errors = np.where(T >= START, 1.0, 0.0)
    data = _input(
        _call("checkout", "payment", _flat(0.01), error=errors),
        _call("payment", "bank", _flat(0.01)),
    )
    out = trace_edges(data)
    assert max(out.scores, key=out.scores.get) == "payment"
    assert any(e.kind is EvidenceKind.TRACE_ERRORS for e in out.evidence["payment"])


def test_quiet_traces_score_nothing() -> None:
    out = trace_edges(_input(_call("a", "b", _flat(0.01), _flat(0.009))))
    assert all(v == 0.0 for v in out.scores.values())
