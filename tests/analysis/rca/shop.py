"""A synthetic copy of the live demo shop's call graph and 1 s indicators, for tests."""

from __future__ import annotations

import networkx as nx
import numpy as np

from selfheal.analysis.rca import MetricSeries, RCAInput

SHOP_EDGES = [
    ("frontend", "catalog"),
    ("frontend", "cart"),
    ("frontend", "checkout"),
    ("checkout", "cart"),
    ("checkout", "payment"),
    ("checkout", "inventory"),
    ("checkout", "shipping"),
    ("cart", "cache"),
    ("catalog", "inventory"),
    ("payment", "bank"),
]
START = 1_700_000_000.0


def shop_graph() -> nx.DiGraph:
    return nx.DiGraph(SHOP_EDGES)


def shop_input(
    faulty: dict[str, dict[str, float]], seed: int = 0, baseline_seconds: int = 120
) -> RCAInput:
    """Every service reports error_ratio, latency_p99, cpu, memory, request_rate at 1 s.

    ``faulty`` maps a service to indicator -> value during the incident (60 s);
    every other series stays at its normal noisy level.
    """
    rng = np.random.default_rng(seed)
    normal = {
        "error_ratio": 0.01,
        "latency_p99_seconds": 0.05,
        "cpu_cores": 0.2,
        "memory_bytes": 0.3,
        "request_rate": 20.0,
    }
    ts = START - baseline_seconds + np.arange(baseline_seconds + 60, dtype=np.float64)
    series = []
    for service in sorted(shop_graph().nodes):
        for indicator, level in normal.items():
            values = level * (1.0 + 0.05 * rng.standard_normal(ts.size))
            during = faulty.get(service, {}).get(indicator)
            if during is not None:
                values[ts >= START] = during * (
                    1.0 + 0.05 * rng.standard_normal(int((ts >= START).sum()))
                )
            series.append(MetricSeries(service, indicator, ts, values))
    return RCAInput(start=START, end=START + 59, graph=shop_graph(), metrics=tuple(series))
