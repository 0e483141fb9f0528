from __future__ import annotations

import networkx as nx

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.signals_pattern import binomial_surprise, trace_patterns
from selfheal.core.telemetry import SpanRecord

START = 100.0


def _request(
    i: int, t: float, steps: tuple[str, ...], callee_ops: dict[str, tuple[str, ...]]
) -> list[SpanRecord]:
    """A frontend request calling ``steps``; each callee span has its own children."""
    root = SpanRecord(f"r{i}", None, "frontend", "GET /", t)
    out = [root]
    for step in steps:
        client = SpanRecord(f"{step}-c{i}", root.span_id, "frontend", f"call {step}", t)
        server = SpanRecord(f"{step}-s{i}", client.span_id, step, "serve", t)
        out += [client, server]
        for op in callee_ops.get(step, ()):
            out.append(SpanRecord(f"{step}-{op}-{i}", server.span_id, step, op, t))
    return out


def _input(spans: list[SpanRecord]) -> RCAInput:
    graph = nx.DiGraph([("frontend", "cart"), ("frontend", "ads"), ("cart", "db")])
    return RCAInput(START, 200.0, graph, spans=tuple(spans))


def test_a_service_that_stops_calling_a_step_is_blamed() -> None:
    spans: list[SpanRecord] = []
    for i in range(200):
        t = float(i)
        # From START on, the frontend skips the cart in most requests (a code fault).
        skip = t >= START and i % 5 != 0
        steps = ("ads",) if skip else ("cart", "ads")
        spans += _request(i, t, steps, {"cart": ("db query",), "ads": ("lookup",)})
    out = trace_patterns(_input(spans))
    assert max(out.scores, key=out.scores.__getitem__) == "frontend"
    assert out.scores["frontend"] > 30.0
    assert "call cart" in out.evidence["frontend"][0].text
    assert out.scores.get("cart", 0.0) < 1.0  # cart does the same with what it gets


def test_a_callee_whose_own_step_vanished_is_blamed_not_its_caller() -> None:
    spans: list[SpanRecord] = []
    for i in range(200):
        t = float(i)
        ops = ("lookup",) if t < START else ()  # ads now fails before its lookup
        spans += _request(i, t, ("cart", "ads"), {"cart": ("db query",), "ads": ops})
    out = trace_patterns(_input(spans))
    assert max(out.scores, key=out.scores.__getitem__) == "ads"
    assert out.scores.get("frontend", 0.0) < 1.0


def test_a_switch_between_branches_and_vanished_errors_are_not_evidence() -> None:
    spans: list[SpanRecord] = []
    for i in range(200):
        t = float(i)
        # Before: ads always logs an error step and uses branch A; during: branch B
        # (another request mix) and no errors any more.
        ops = ("handle error", "branch A") if t < START else ("branch B",)
        spans += _request(i, t, ("ads",), {"ads": ops})
    out = trace_patterns(_input(spans))
    assert all(v < 1.0 for v in out.scores.values())


def test_no_spans_means_no_evidence_and_steady_traffic_means_little() -> None:
    assert trace_patterns(_input([])).scores == {}
    spans: list[SpanRecord] = []
    for i in range(200):
        spans += _request(i, float(i), ("cart", "ads"), {"cart": ("db query",)})
    out = trace_patterns(_input(spans))
    assert all(v < 1.0 for v in out.scores.values())


def test_binomial_surprise_grows_with_the_number_of_requests() -> None:
    assert binomial_surprise(10, 0.0, 0.9) < binomial_surprise(100, 0.0, 0.9)
    assert binomial_surprise(50, 0.9, 0.9) == 0.0


def test_bulk_allocation_restores_the_collector_state() -> None:
    import gc

    from selfheal.analysis.rca.signals_pattern import bulk_allocation

    assert gc.isenabled()
    with bulk_allocation():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with bulk_allocation():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
