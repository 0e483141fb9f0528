"""The ranker on the live shop's call graph: the deepest anomalous service wins."""

from __future__ import annotations

import networkx as nx
import pytest
from tests.analysis.rca.shop import START, shop_graph, shop_input

from selfheal.analysis.failure_type import from_evidence
from selfheal.analysis.rca import RCAConfig, RCAInput, rank
from selfheal.core.types import Anomaly, Cause, Evidence, EvidenceKind, FailureType


@pytest.mark.parametrize(
    ("faulty", "expected"),
    [
        (
            {
                "payment": {"error_ratio": 0.2},
                "checkout": {"error_ratio": 0.4},
                "frontend": {"error_ratio": 0.5},
            },
            "payment",
        ),
        (
            {
                "cache": {"latency_p99_seconds": 0.3},
                "cart": {"latency_p99_seconds": 0.6},
                "checkout": {"latency_p99_seconds": 0.65},
                "frontend": {"latency_p99_seconds": 0.7},
            },
            "cache",
        ),
        (
            {
                "inventory": {"cpu_cores": 0.95, "latency_p99_seconds": 0.3},
                "catalog": {"latency_p99_seconds": 0.35},
                "checkout": {"latency_p99_seconds": 0.4},
                "frontend": {"latency_p99_seconds": 0.45},
            },
            "inventory",
        ),
        (
            {
                "bank": {"latency_p99_seconds": 2.0},
                "payment": {"latency_p99_seconds": 2.1},
                "checkout": {"latency_p99_seconds": 2.2},
                "frontend": {"latency_p99_seconds": 2.3},
            },
            "bank",
        ),
    ],
)
def test_deepest_anomalous_service_ranks_first(faulty: dict, expected: str) -> None:
    assert rank(shop_input(faulty)).ranking[0] == expected


def typed(cause: Cause) -> FailureType | None:
    """The failure type the cause's structured evidence points at (the ranker types
    nothing itself; ``analysis.failure_type`` decides, from these fields)."""
    found = from_evidence(cause)
    return None if found is None else found[0]


def test_a_lone_symptom_at_the_top_blames_the_top() -> None:
    result = rank(shop_input({"frontend": {"cpu_cores": 0.9, "latency_p99_seconds": 0.3}}))
    assert result.top is not None
    assert result.top.service == "frontend"
    assert typed(result.top) is FailureType.RESOURCE_EXHAUSTION
    assert result.top.indicator == "cpu_cores"


def test_causes_carry_path_impact_and_bounded_confidence() -> None:
    result = rank(
        shop_input(
            {
                "payment": {"error_ratio": 0.5},
                "checkout": {"error_ratio": 0.4},
                "frontend": {"error_ratio": 0.3},
            }
        )
    )
    top = result.causes[0]
    assert top.path[0] == "payment" and top.path[-1] == "frontend"
    assert set(top.impact) == {"checkout", "frontend"}
    assert typed(top) is FailureType.CODE_BUG
    assert all(0.0 <= c.confidence <= 1.0 for c in result.causes)


def test_causes_under_the_threshold_are_reported_and_marked() -> None:
    result = rank(
        shop_input({"payment": {"error_ratio": 0.5}}), RCAConfig(confidence_threshold=0.7)
    )
    assert len(result.causes) == len(result.confident) + len(result.below_threshold)
    assert result.below_threshold, "weak candidates must be reported, not hidden"
    lines = result.describe().splitlines()
    assert all(
        ("below threshold" in line) != c.is_confident(0.7)
        for line, c in zip(lines, result.causes, strict=True)
    )


def test_detector_anomalies_alone_are_enough() -> None:
    anomalies = tuple(
        Anomaly(
            service=s, timestamp=START + dt, score=sc, detector="zscore", indicator="error_ratio"
        )
        for s, dt, sc in [("payment", 0, 0.9), ("checkout", 2, 0.95), ("frontend", 3, 0.97)]
    )
    data = RCAInput(start=START, end=START + 60, graph=shop_graph(), anomalies=anomalies)
    assert rank(data).ranking[0] == "payment"


def test_ranking_ignores_node_relabelling() -> None:
    faulty = {
        "cache": {"latency_p99_seconds": 0.3},
        "cart": {"latency_p99_seconds": 0.6},
        "frontend": {"latency_p99_seconds": 0.7},
    }
    data = shop_input(faulty)
    names = {n: f"svc-{i}" for i, n in enumerate(sorted(data.graph.nodes, reverse=True))}
    renamed = RCAInput(
        start=data.start,
        end=data.end,
        graph=nx.relabel_nodes(data.graph, names),
        metrics=tuple(
            type(m)(names[m.service], m.indicator, m.timestamps, m.values) for m in data.metrics
        ),
    )
    assert names[rank(data).ranking[0]] == rank(renamed).ranking[0]


def test_an_empty_incident_gives_no_confident_cause() -> None:
    data = RCAInput(start=START, end=START + 60, graph=shop_graph())
    assert rank(data).confident == ()


def test_a_signal_that_saw_only_noise_is_outweighed_by_a_sure_one() -> None:
    from selfheal.analysis.rca.ranker import _combine
    from selfheal.analysis.rca.signal import SignalOutput

    # The log signal's loudest service is barely above nothing; the metric
    # signal is sure. Without the sureness factor the log weight (3) would win.
    logs = SignalOutput("log_templates", {"noise": 0.05, "b": 0.01}, scale=3.0)
    metric = SignalOutput("metric_change", {"b": 20.0, "noise": 1.0}, scale=2.0)
    weights = {"log_templates": 3.0, "metric_change": 1.0}
    local = _combine([logs, metric], weights)
    assert max(local, key=local.get) == "b"
    # Equally sure signals keep their configured weights.
    sure_logs = SignalOutput("log_templates", {"noise": 20.0, "b": 1.0}, scale=2.0)
    local = _combine([sure_logs, metric], weights)
    assert max(local, key=local.get) == "noise"


def test_the_cause_names_the_indicator_of_the_signal_that_singled_it_out() -> None:
    from selfheal.analysis.rca.signal import SignalOutput, SignalRegistry

    registry = SignalRegistry()

    @registry.register("metric_change")
    def quiet_metrics(data: RCAInput) -> SignalOutput:
        # names an indicator for "cart" but scores it 0: it saw nothing there
        return SignalOutput(
            "metric_change", {"cart": 0.0, "ads": 1.0}, indicator={"cart": "cpu_cores"}
        )

    @registry.register("log_templates")
    def logs(data: RCAInput) -> SignalOutput:
        return SignalOutput(
            "log_templates",
            {"cart": 5.0},
            {
                "cart": (
                    Evidence(
                        EvidenceKind.LOG_ERRORS,
                        "log error template surged (9x): ERROR null cart",
                        "log:error_template",
                        rising=True,
                        text="ERROR null cart",
                    ),
                )
            },
            {"cart": "log:error_template"},
        )

    from selfheal.analysis.rca import LogRecord

    graph = nx.DiGraph([("frontend", "cart"), ("frontend", "ads")])
    lines = (LogRecord(START + 1.0, "cart", "x"), LogRecord(START + 1.0, "ads", "y"))
    data = RCAInput(START, START + 60.0, graph, logs=lines)  # candidates: services seen
    config = RCAConfig({"metric_change": 1.0, "log_templates": 3.0}, propagation_weight=0.0)
    top = rank(data, config, registry).causes[0]
    assert top.service == "cart"
    assert top.indicator == "log:error_template"
    assert typed(top) is FailureType.CODE_BUG


@pytest.mark.parametrize(
    ("symptom", "expected"),
    [("error_ratio", "payment"), ("availability", "payment"), ("latency_p99_seconds", "catalog")],
)
def test_a_latency_change_explains_an_error_incident_less_than_an_error_change(
    symptom: str, expected: str
) -> None:
    import dataclasses

    # catalog got much slower, payment fails a little more: which explains the symptom?
    data = shop_input({"catalog": {"latency_p99_seconds": 5.0}, "payment": {"error_ratio": 0.04}})
    anomaly = Anomaly("frontend", START + 5.0, 1.0, "sli", indicator=symptom)
    data = dataclasses.replace(data, anomalies=(anomaly,))
    assert rank(data, RCAConfig(propagation_weight=0.0)).causes[0].service == expected
