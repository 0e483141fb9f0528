"""Reader for the PetShop dataset (Hardt et al., CLeaR 2024): metrics + call graph.

Layout: ``dataset/<scenario>/graph.csv.gz`` (adjacency matrix, row calls column),
``dataset/<scenario>/noissue/metrics.csv.gz`` (normal operation, the baseline) and
``dataset/<scenario>/<authors_split>/issue_<n>/metrics.csv.gz`` (one case). Metric
files carry three header rows (node, metric, statistic) and then one row per
5-minute timestamp. The SLI that went bad (``target_node``, ``target_metric``,
``target_timestamp``) is an input: it becomes the incident's one known anomaly.

Used by the benchmark command; reads no label column and no ``target.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from selfheal.analysis.rca.inputs import MetricSeries, RCAInput
from selfheal.core.types import Anomaly

INPUT_COLUMNS = (
    "case_id",
    "scenario",
    "authors_split",
    "target_node",
    "target_metric",
    "target_timestamp",
)
_INDICATORS = {
    ("latency", "Average"): "latency_avg_seconds",
    ("latency", "p50"): "latency_p50_seconds",
    ("latency", "p90"): "latency_p90_seconds",
    ("latency", "p95"): "latency_p95_seconds",
    ("latency", "p99"): "latency_p99_seconds",
    ("requests", "Sum"): "request_rate",
    ("availability", "Average"): "error_ratio",  # stored as 1 - availability/100
}


def _is_client_view(node: str) -> bool:
    """AWS X-Ray names a node ``*_remote`` when it only knows it from the calling
    side (an endpoint the caller reached) and ``*_client`` for the calling side of
    an instrumented client: their metrics are what a caller measured about a call,
    i.e. client-side indicators, like Nezha's ``PodClientLatency``."""
    return node.endswith("_remote") or node.endswith("_client")


@dataclass(frozen=True, slots=True)
class PetShopCase:
    case_id: str
    scenario: str
    split: str
    issue: int
    target_node: str
    target_metric: str
    target_timestamp: float


def read_cases(data_dir: Path) -> list[PetShopCase]:
    frame = pd.read_csv(data_dir / "cases.csv")
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{data_dir / 'cases.csv'} lacks input columns {missing}")
    cases = []
    for r in frame[list(INPUT_COLUMNS)].itertuples(index=False):
        issue = int(str(r.case_id).rsplit("issue_", 1)[-1])
        cases.append(
            PetShopCase(
                str(r.case_id),
                str(r.scenario),
                str(r.authors_split),
                issue,
                str(r.target_node),
                str(r.target_metric),
                float(r.target_timestamp),
            )
        )
    return cases


def read_metrics(path: Path) -> tuple[MetricSeries, ...]:
    """Parse one PetShop metrics file into series (one per node and indicator)."""
    raw = pd.read_csv(path, header=None, low_memory=False)
    if raw.shape[0] < 4 or str(raw.iat[0, 0]) != "microservice":
        raise ValueError(f"{path} is not a PetShop metrics file (no 'microservice' header row)")
    ts = raw.iloc[4:, 0].astype(float).to_numpy()
    order = np.argsort(ts)
    series = []
    for col in range(1, raw.shape[1]):
        node = str(raw.iat[0, col])
        key = (str(raw.iat[1, col]), str(raw.iat[2, col]))
        indicator = _INDICATORS.get(key)
        if indicator is None:
            continue
        if _is_client_view(node):
            indicator = f"upstream_{indicator}"
        values = pd.to_numeric(raw.iloc[4:, col], errors="coerce").to_numpy(dtype=np.float64)
        if indicator == "error_ratio":
            values = 1.0 - values / 100.0
        series.append(MetricSeries(node, indicator, ts[order], values[order]))
    return tuple(series)


@lru_cache(maxsize=8)
def _baseline(scenario_dir: str) -> tuple[MetricSeries, ...]:
    path = Path(scenario_dir) / "noissue" / "metrics.csv.gz"
    return read_metrics(path) if path.exists() else ()


@lru_cache(maxsize=8)
def read_graph(scenario_dir: str) -> nx.DiGraph:
    frame = pd.read_csv(Path(scenario_dir) / "graph.csv.gz", index_col=0)
    graph = nx.DiGraph()
    graph.add_nodes_from(str(n) for n in frame.index)
    for caller in frame.index:
        for callee in frame.columns:
            if caller != callee and float(frame.at[caller, callee]) != 0.0:
                graph.add_edge(str(caller), str(callee))
    return graph


def load_case(data_dir: Path, case: PetShopCase) -> RCAInput:
    scenario_dir = data_dir / "dataset" / case.scenario
    case_dir = scenario_dir / case.split / f"issue_{case.issue}"
    if not case_dir.is_dir():
        raise FileNotFoundError(f"no case folder {case_dir} for {case.case_id}")
    metrics = read_metrics(case_dir / "metrics.csv.gz")
    times = np.concatenate([m.timestamps for m in metrics]) if metrics else np.array([0.0])
    start, end = float(times.min()), float(times.max())
    baseline = _baseline(str(scenario_dir))
    if not baseline:
        # No normal-operation file for this scenario: the rows before the SLI
        # went bad are the only baseline there is.
        start = min(max(start, case.target_timestamp - 1.0), end)
    sli = Anomaly(
        service=case.target_node,
        timestamp=case.target_timestamp,
        score=1.0,
        detector="sli",
        indicator=case.target_metric,
    )
    return RCAInput(
        start=start,
        end=end,
        graph=read_graph(str(scenario_dir)).copy(),
        metrics=metrics,
        anomalies=(sli,),
        baseline_metrics=baseline,
    )
