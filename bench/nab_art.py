"""NAB, fifth round: the causal fuzzy-ART detector (``art``), alone and under ``max`` with ``seasonalrange``.

Every configuration streams each file causally through the real registry
detector (a fresh one per file, score then learn, no labels, nothing known
about the file upfront). The ``seasonalrange`` scores are computed once per
file with the real registry detector; a combination is ``max(seasonalrange,
art)``, the arithmetic of ``ensemble`` with ``combine="max"`` (the registry's
``seasonalart`` is checked against that replay on one file at start-up).
Each ``art`` configuration is scored alone and combined at its own ``gain``
and at the extra gains of ``--gains`` (the ART score scales linearly with
``gain`` before its clip at 1, so a smaller gain is the same run's scores
multiplied, clipped).

Usage: ``python bench/nab_art.py --data ../shared/benchmarks/nab [--set k=v ...]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from selfheal.analysis.detection.registry import registry
from selfheal.bench.nab.corpus import NabFile, load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file
from selfheal.bench.nab.scorer import Profile, score_corpus


def score_row(
    label: str, scores: list[np.ndarray], files: list[NabFile], profiles: list[Profile]
) -> tuple[str, float]:
    pairs = [(s, f.windows) for s, f in zip(scores, files, strict=True)]
    results = [score_corpus(pairs, p) for p in profiles]
    std = results[0]
    cells = " | ".join(f"{r.normalized:.1f}" for r in results)
    counts = f"{std.true_positives}/{std.false_negatives}/{std.false_positives}"
    return f"| {label} | {cells} | {counts} |", std.normalized


def seasonalrange_scores(files: list[NabFile], cache: Path) -> list[np.ndarray]:
    """The default's scores per file, computed once and kept in ``cache`` (an .npz)."""
    if cache.exists():
        with np.load(cache) as npz:
            return [npz[f"f{i}"] for i in range(len(files))]
    scores = [run_file(registry.create("seasonalrange"), f) for f in files]
    np.savez(cache, **{f"f{i}": s for i, s in enumerate(scores)})
    return scores


def parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nab_art_seasonalrange.npz"))
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="one art configuration as k=v,k=v (repeatable; none = the defaults)",
    )
    parser.add_argument("--gains", default="1,0.7,0.5,0.35", help="combination gains")
    parser.add_argument("--alone", action="store_true", help="also score art alone")
    parser.add_argument(
        "--halves",
        action="store_true",
        help="also score the even- and odd-numbered files apart (threshold per half)",
    )
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles = list(load_profiles(args.data).values())
    base = seasonalrange_scores(files, args.cache)
    print(score_row("seasonalrange", base, files, profiles)[0], flush=True)
    gains = [float(g) for g in args.gains.split(",")]
    configs = args.config or [""]
    for text in configs:
        params = {k: parse_value(v) for k, v in (kv.split("=") for kv in text.split(",") if kv)}
        start = time.perf_counter()
        art = [run_file(registry.create("art", **params), f) for f in files]
        elapsed = time.perf_counter() - start
        name = text or "defaults"
        if args.alone:
            print(score_row(f"art {name} alone ({elapsed:.0f} s)", art, files, profiles)[0])
        for g in gains:
            combined = [
                np.maximum(b, np.minimum(1.0, g * a)) for b, a in zip(base, art, strict=True)
            ]
            print(
                score_row(f"max(seasonalrange, {g:g} x art {name})", combined, files, profiles)[0]
            )
            if args.halves:
                for half, first in (("even", 0), ("odd", 1)):
                    part = files[first::2]
                    label = f"{half} files: seasonalrange"
                    print(score_row(label, base[first::2], part, profiles)[0])
                    label = f"{half} files: max(seasonalrange, {g:g} x art {name})"
                    print(score_row(label, combined[first::2], part, profiles)[0])
        flagged = sum(int((a > 0).sum()) for a in art)
        print(f"  (art {name}: {flagged} scored rows, {elapsed:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
