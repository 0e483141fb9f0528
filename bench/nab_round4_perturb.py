"""Robustness of ``seasonalrange`` with merged rises: the same perturbations as ``nab_perturb``.

Round four of the NAB work made the onset stage of ``seasonalrange`` merge
rises (``merge_rises``: an onset on the sample right after another onset
scores 0). This script repeats :mod:`nab_perturb`'s one-at-a-time
perturbations of the onset stage, the seasonal baseline and the novel-range
rule with that change in place (real registry detectors, a fresh detector per
file, score then learn, no labels seen), so the two spreads compare directly.

Usage: ``python bench/nab_round4_perturb.py --data ../shared/benchmarks/nab`` (about 8 min)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from nab_perturb import configurations
from nab_perturb import detector_spec as previous_spec
from selfheal.analysis.detection.registry import registry
from selfheal.bench.nab.corpus import load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file
from selfheal.bench.nab.scorer import score_corpus


def detector_spec(changed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``seasonalrange`` (merged rises) as an ensemble spec, ``changed`` parameters per stage."""
    spec = previous_spec(changed)
    onset = spec["members"][0]["params"]
    onset.setdefault("merge_rises", True)
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles = load_profiles(args.data)
    ours = run_file(registry.create("ensemble", **detector_spec({})), files[5])
    if not np.array_equal(ours, run_file(registry.create("seasonalrange"), files[5])):
        raise SystemExit("the registry's seasonalrange no longer matches this script's spec")
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
