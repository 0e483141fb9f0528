"""NAB scores of every detector alone, raw-calibrated and behind onset scoring.

Runs each registered learning detector over the NAB corpus (fresh detector
per file, score then learn each row, no labels seen) and scores the three
profiles with the project's scorer. Prints a markdown table.

Usage: ``python bench/nab_members.py --data ../shared/benchmarks/nab [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from selfheal.analysis.detection.registry import registry
from selfheal.bench.nab.corpus import load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file
from selfheal.bench.nab.scorer import score_corpus

MEMBERS = ("default", "ewma", "mad", "seasonal", "cusum", "bocpd", "iforest", "lstmae")
#: The NAB configuration ``seasonalrange`` and its two members, each alone.
NAB_CONFIG: tuple[tuple[str, dict[str, Any]], ...] = (
    ("seasonalonset", {}),
    ("novelrange", {"min_samples": 50}),
    ("seasonalrange", {}),
)


def configurations(only: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    out: list[tuple[str, str, dict[str, Any]]] = []
    for name in MEMBERS:
        if only and name not in only:
            continue
        out.append((name, name, {}))
        if name != "default":
            out.append((f"onset({name})", "onset", {"detector": {"name": name, "params": {}}}))
    for name, params in NAB_CONFIG:
        if not only or name in only:
            out.append((name, name, params))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=[])
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles = load_profiles(args.data)
    print("| detector | standard | low FP | low FN | TP/FN/FP (standard) | seconds |")
    print("|---|---|---|---|---|---|")
    for label, name, params in configurations(args.only):
        start = time.perf_counter()
        scores = [run_file(registry.create(name, **params), f) for f in files]
        elapsed = time.perf_counter() - start
        pairs = [(s, f.windows) for s, f in zip(scores, files, strict=True)]
        results = [score_corpus(pairs, p) for p in profiles.values()]
        std = results[0]
        cells = " | ".join(f"{r.normalized:.1f}" for r in results)
        counts = f"{std.true_positives}/{std.false_negatives}/{std.false_positives}"
        print(f"| {label} | {cells} | {counts} | {elapsed:.0f} |", flush=True)


if __name__ == "__main__":
    main()
