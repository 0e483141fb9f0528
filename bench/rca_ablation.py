"""Ablation of the root-cause ranker: each signal alone beside the combination.

Runs every case of the Nezha and PetShop dev splits (telemetry and input columns
only) through ``rank`` under several configurations and prints AC@1/AC@3/AC@5/
Avg@5 per system as a markdown table. Labels are read only to score.

    python bench/rca_ablation.py --nezha ../shared/benchmarks/rca/nezha \
        --petshop ../shared/benchmarks/rca/petshop
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from selfheal.analysis.rca import RCAConfig, rank
from selfheal.analysis.rca.ranker import PROPAGATION
from selfheal.bench.rca.cases import iter_cases
from selfheal.bench.rca.labels import accuracy_at_k, read_labels

ALONE = (
    "metric_change",
    "trace_edges",
    "trace_patterns",
    "log_templates",
    "anomalies",
    "granger",
    PROPAGATION,
)


def configs() -> dict[str, RCAConfig]:
    full = RCAConfig()
    out = {"combination (default)": full}
    for name in ALONE:
        out[f"{name} alone"] = full.only(name)
    out["combination without propagation"] = RCAConfig(full.weights, 0.0)
    out["combination + granger"] = RCAConfig({**full.weights, "granger": 1.0})
    try:
        import torch  # noqa: F401

        out["gnn alone"] = full.only("gnn")
        out["combination + gnn"] = RCAConfig(full.weights, full.propagation_weight, gnn_weight=0.25)
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nezha", type=Path)
    parser.add_argument("--petshop", type=Path)
    args = parser.parse_args()
    rows: dict[str, dict[str, str]] = defaultdict(dict)
    systems: list[str] = []
    for dataset, folder in (("nezha", args.nezha), ("petshop", args.petshop)):
        if folder is None:
            continue
        labels = read_labels(dataset, folder) or {}
        cases = [
            (c.case_id, c.group.split("/")[0] if dataset == "nezha" else dataset, c.load())
            for c in iter_cases(dataset, folder)
        ]
        for name, config in configs().items():
            began = time.perf_counter()
            by_system: dict[str, dict[str, list[str]]] = defaultdict(dict)
            for case_id, system, data in cases:
                by_system[system][case_id] = list(rank(data, config).ranking)
            for system, rankings in sorted(by_system.items()):
                if system not in systems:
                    systems.append(system)
                s = accuracy_at_k(rankings, labels)
                rows[name][system] = (
                    f"{s['AC@1']:.2f} / {s['AC@3']:.2f} / {s['AC@5']:.2f} / {s['Avg@5']:.2f}"
                )
            print(f"# {dataset} {name}: {time.perf_counter() - began:.1f}s", flush=True)
    print("\n| configuration | " + " | ".join(systems) + " |")
    print("|---|" + "---|" * len(systems))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells.get(s, "-") for s in systems) + " |")
    print("\ncells: AC@1 / AC@3 / AC@5 / Avg@5")


if __name__ == "__main__":
    main()
