"""Robustness of the NAB configuration: scores under one-at-a-time parameter perturbations.

The ``seasonalrange`` configuration (max of seasonal baseline -> onset
scoring, and the novel-range rule) was tuned on the NAB dev split; a held-out split judges it. This script moves each
parameter of the onset stage and of the seasonal baseline, one at a time, to
a value about half / twice its default (or a nearby step), streams the whole
corpus with the real registry detectors (fresh detector per file, score then
learn, no labels seen), and prints the three NAB profiles per perturbation
plus the spread (min / median / max) of the standard score. A narrow spread
means the dev score is a fair guess of the held-out one; a wide one means the
dev optimum is sharp.

Usage: ``python bench/nab_perturb.py --data ../shared/benchmarks/nab``
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from selfheal.analysis.detection.onset import NAB_IGNORE_FIRST
from selfheal.analysis.detection.registry import registry
from selfheal.bench.nab.corpus import load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file
from selfheal.bench.nab.scorer import score_corpus

#: (stage, parameter, perturbed values); stage is "onset", "seasonal" or "novelrange".
PERTURBATIONS: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("onset", "window", (400, 650)),
    ("onset", "decay_samples", (150.0, 600.0)),
    ("onset", "beta", (0.05, 0.2)),
    ("onset", "peak_exponent", (1.0, 1.5)),
    ("onset", "initial_peak", (3.0, 8.0)),
    ("onset", "min_raw", (2.0,)),
    ("onset", "ignore_first", (25, 100)),
    ("novelrange", "tolerance", (0.025, 0.1)),
    ("novelrange", "lag", (50, 200)),
    ("novelrange", "refractory", (50, 200)),
    ("seasonal", "alpha", (0.0015, 0.006)),
    ("seasonal", "bin_alpha", (0.025, 0.1)),
    ("seasonal", "select_alpha", (0.0025, 0.01)),
    ("seasonal", "clip", (3.0, 6.0)),
)


def configurations() -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(label, params per stage); the first is the default configuration."""
    out: list[tuple[str, dict[str, dict[str, Any]]]] = [("default", {})]
    for stage, param, values in PERTURBATIONS:
        for value in values:
            out.append((f"{stage}.{param}={value:g}", {stage: {param: value}}))
    return out


def detector_spec(changed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``seasonalrange`` as an ensemble spec, with ``changed`` parameters per stage."""
    seasonal = {"name": "seasonal", "params": changed.get("seasonal", {})}
    onset = {"detector": seasonal, "ignore_first": NAB_IGNORE_FIRST, **changed.get("onset", {})}
    novel = {"tolerance": 0.05, "min_samples": NAB_IGNORE_FIRST, **changed.get("novelrange", {})}
    return {
        "members": [{"name": "onset", "params": onset}, {"name": "novelrange", "params": novel}],
        "combine": "max",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles = load_profiles(args.data)
    print("| perturbation | standard | low FP | low FN | TP/FN/FP (standard) | seconds |")
    print("|---|---|---|---|---|---|")
    standard: list[float] = []
    for label, changed in configurations():
        start = time.perf_counter()
        spec = detector_spec(changed)
        scores = [run_file(registry.create("ensemble", **spec), f) for f in files]
        elapsed = time.perf_counter() - start
        pairs = [(s, f.windows) for s, f in zip(scores, files, strict=True)]
        results = [score_corpus(pairs, p) for p in profiles.values()]
        std = results[0]
        standard.append(std.normalized)
        cells = " | ".join(f"{r.normalized:.1f}" for r in results)
        counts = f"{std.true_positives}/{std.false_negatives}/{std.false_positives}"
        print(f"| {label} | {cells} | {counts} | {elapsed:.0f} |", flush=True)
    print(
        f"\nstandard score over {len(standard)} configurations: min {min(standard):.1f}, "
        f"median {statistics.median(standard):.1f}, max {max(standard):.1f} "
        f"(default {standard[0]:.1f})"
    )


if __name__ == "__main__":
    main()
