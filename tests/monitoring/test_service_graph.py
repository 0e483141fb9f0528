from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.core.clock import FakeClock
from selfheal.core.telemetry import KIND_CLIENT, KIND_INTERNAL, KIND_SERVER, SpanRecord
from selfheal.monitoring.service_graph import ServiceGraph


def span(
    span_id: str,
    service: str,
    kind: int,
    parent: str | None = None,
    ms: float = 10,
    error: bool = False,
    peer: str | None = None,
) -> SpanRecord:
    return SpanRecord(
        span_id, parent, service, "op", 0.0, kind, ms / 1000, error, f"{service}-0", peer
    )


def test_client_server_pair_in_either_order_counts_once() -> None:
    graph = ServiceGraph(FakeClock(0.0), window_seconds=10)
    graph.add_spans([span("c1", "checkout", KIND_CLIENT, "s0", ms=30)])
    graph.add_spans([span("s1", "payment", KIND_SERVER, "c1", ms=25, error=True)])
    graph.add_spans([span("s2", "payment", KIND_SERVER, "c2", ms=5)])  # child first
    graph.add_spans([span("c2", "checkout", KIND_CLIENT, "s0", ms=8)])
    (edge,) = graph.edges()
    assert (edge.caller, edge.callee, edge.calls, edge.errors) == ("checkout", "payment", 2, 1)
    assert edge.error_ratio == 0.5
    assert edge.latency_p50_seconds == pytest.approx(0.019)  # client-side durations 30 and 8 ms


def test_same_service_client_server_is_not_an_edge() -> None:
    graph = ServiceGraph(FakeClock(0.0))
    graph.add_spans([span("c1", "cart", KIND_CLIENT), span("s1", "cart", KIND_SERVER, "c1")])
    assert graph.edges() == []


def test_unmatched_client_falls_back_to_peer_service_after_the_wait() -> None:
    clock = FakeClock(0.0)
    graph = ServiceGraph(clock, match_wait_seconds=2)
    graph.add_spans([span("c1", "payment", KIND_CLIENT, error=True, peer="bank")])
    graph.add_spans([span("c2", "payment", KIND_CLIENT)])  # names no peer: dropped
    assert graph.edges() == []
    clock.advance(2.5)
    (edge,) = graph.edges()
    assert (edge.caller, edge.callee, edge.errors) == ("payment", "bank", 1)
    assert graph.unmatched_total == 1
    # a child arriving after the fallback does not count the call again
    graph.add_spans([span("s1", "bank", KIND_SERVER, "c1")])
    assert graph.edges()[0].calls == 1


def test_server_parent_without_client_span() -> None:
    graph = ServiceGraph(FakeClock(0.0))
    graph.add_spans(
        [span("p", "frontend", KIND_INTERNAL), span("s", "catalog", KIND_SERVER, "p", ms=7)]
    )
    (edge,) = graph.edges()
    assert (edge.caller, edge.callee) == ("frontend", "catalog")
    assert edge.latency_p99_seconds == pytest.approx(0.007)


def test_window_slides_and_static_edges_stay() -> None:
    clock = FakeClock(0.0)
    graph = ServiceGraph(clock, window_seconds=5)
    graph.add_static_edge("payment", "bank")
    graph.add_spans([span("c", "a", KIND_CLIENT), span("s", "b", KIND_SERVER, "c")])
    assert {(e.caller, e.callee) for e in graph.edges()} == {("a", "b"), ("payment", "bank")}
    clock.advance(6)
    (static,) = graph.edges()
    assert static.static and static.calls == 0 and math.isnan(static.error_ratio)
    nxg = graph.to_networkx()
    assert set(nxg.nodes) == {"a", "b", "payment", "bank"}
    assert nxg.edges["payment", "bank"]["static"] is True


def test_pending_state_is_bounded() -> None:
    graph = ServiceGraph(FakeClock(0.0), max_pending_spans=100)
    graph.add_spans(span(f"c{i}", "a", KIND_CLIENT) for i in range(1000))
    graph.add_spans(span(f"s{i}", "b", KIND_SERVER, f"x{i}") for i in range(1000))
    assert len(graph._pending_clients) <= 100 and len(graph._orphans) <= 100


def test_edge_indicators() -> None:
    graph = ServiceGraph(FakeClock(0.0), window_seconds=10)
    graph.add_static_edge("x", "y")
    spans = []
    for i in range(6):
        spans += [
            span(f"c{i}", "cart", KIND_CLIENT, ms=10 * (i + 1)),
            span(f"s{i}", "cache", KIND_SERVER, f"c{i}", error=i == 0),
        ]
    graph.add_spans(spans)
    values = {(s.series.name, s.series.labels): s.value for s in graph.indicators()}
    labels = (("service", "cart"), ("target", "cache"))
    assert values[("indicator:trace_call_rate", labels)] == pytest.approx(0.6)
    assert values[("indicator:trace_error_ratio", labels)] == pytest.approx(1 / 6)
    assert values[("indicator:trace_latency_p99_seconds", labels)] == pytest.approx(0.0595)
    assert len(values) == 3  # the static edge has no calls: no samples


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), st.booleans()),
        min_size=1,
        max_size=30,
    ),
    st.randoms(use_true_random=False),
    st.integers(1, 5),
)
def test_each_call_counts_once_whatever_the_arrival_order(
    calls: list[tuple[str, str, bool]], rnd: random.Random, batches: int
) -> None:
    spans = []
    for i, (caller, callee, error) in enumerate(calls):
        spans.append(span(f"c{i}", caller, KIND_CLIENT, error=error))
        spans.append(span(f"s{i}", callee, KIND_SERVER, f"c{i}"))
    rnd.shuffle(spans)
    graph = ServiceGraph(FakeClock(0.0), window_seconds=60)
    for b in range(batches):
        graph.add_spans(spans[b::batches])
    got = {(e.caller, e.callee): (e.calls, e.errors) for e in graph.edges()}
    want: dict[tuple[str, str], tuple[int, int]] = {}
    for caller, callee, error in calls:
        n, errs = want.get((caller, callee), (0, 0))
        want[(caller, callee)] = (n + 1, errs + int(error))
    assert got == want


def test_pairs_name_the_same_edges_as_edges_without_statistics() -> None:
    from selfheal.core.clock import FakeClock
    from selfheal.monitoring.service_graph import ServiceGraph

    graph = ServiceGraph(FakeClock(0.0))
    graph.add_static_edge("frontend", "cart")
    assert graph.pairs() == [("frontend", "cart")] == [(e.caller, e.callee) for e in graph.edges()]
