"""Robustness of ``seasonalart``: each parameter of its ART member moved one at a time.

``seasonalart`` is ``max(seasonalrange, gain x art)`` (see
:mod:`selfheal.analysis.detection.art`). This script moves each of the ART
member's parameters (and the gain) to a nearby value, one at a time (about
x0.5 / x2, or a nearby step for the vigilances), runs the real ``art``
detector over the whole corpus (a fresh detector per file, score then learn,
no labels), and takes ``max`` with the ``seasonalrange`` scores, which are
computed once with the real registry detector (cached, see ``nab_art``). At
start-up the replay is checked against the registry's ``seasonalart`` on the
whole corpus, and its scores are printed as the first row.

With ``--members`` it instead moves the parameters of ``seasonalrange`` (the
28 one-at-a-time perturbations of :mod:`nab_round4_perturb`, real registry
detectors) and takes ``max`` with the default ART member's scores, so the
spread compares directly with that script's.

Usage: ``python bench/nab_art_perturb.py --data ../shared/benchmarks/nab [--members]``
(about 6 / 10 min)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from nab_art import score_row, seasonalrange_scores
from nab_perturb import configurations
from nab_round4_perturb import detector_spec
from selfheal.analysis.detection.art import SEASONALART_GAIN, Art
from selfheal.analysis.detection.registry import registry
from selfheal.bench.nab.corpus import load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file

PERTURBATIONS: dict[str, tuple[Any, ...]] = {
    "step": (2, 8),
    "window": (4, 16),
    "learning": (150, 600),
    "rho_low": (0.95, 0.97),
    "rho_high": (0.97, 0.99),
    "margin": (0.05, 0.2),
    "spike": (0.05, 0.2),
    "levels": (40, 160),
    "chomp": (0.0375, 0.15),
    "last_weight": (2.0, 8.0),
    "max_categories": (128, 512),
    "repeat_samples": (250.0, 1000.0),
    "gain": (1.0, 2.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nab_art_seasonalrange.npz"))
    parser.add_argument(
        "--members", action="store_true", help="move seasonalrange's parameters instead"
    )
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles = list(load_profiles(args.data).values())
    base = seasonalrange_scores(files, args.cache)
    defaults = Art().params()
    defaults["gain"] = SEASONALART_GAIN

    def combined(changed: dict[str, Any]) -> tuple[list[np.ndarray], float]:
        params = {**defaults, **changed}
        start = time.perf_counter()
        art = [run_file(Art(**params), f) for f in files]
        return [np.maximum(b, a) for b, a in zip(base, art, strict=True)], (
            time.perf_counter() - start
        )

    print("| perturbation | standard | low FP | low FN | TP/FN/FP (standard) | seconds |")
    print("|---|---|---|---|---|---|")
    start = time.perf_counter()
    real = [run_file(registry.create("seasonalart"), f) for f in files]
    elapsed = time.perf_counter() - start
    replay, _ = combined({})
    if not all(np.allclose(r, p) for r, p in zip(real, replay, strict=True)):
        raise SystemExit("the replay no longer matches the registry's seasonalart")
    row, std = score_row("default (registry `seasonalart`)", real, files, profiles)
    print(f"{row} {elapsed:.0f} |", flush=True)
    standard = [std]
    if args.members:
        art = [run_file(Art(**defaults), f) for f in files]
        for label, changed in configurations()[1:]:
            start = time.perf_counter()
            spec = detector_spec(changed)
            member = [run_file(registry.create("ensemble", **spec), f) for f in files]
            scores = [np.maximum(m, a) for m, a in zip(member, art, strict=True)]
            row, std = score_row(label, scores, files, profiles)
            standard.append(std)
            print(f"{row} {time.perf_counter() - start:.0f} |", flush=True)
    for key, values in PERTURBATIONS.items() if not args.members else ():
        for value in values:
            scores, elapsed = combined({key: value})
            row, std = score_row(f"art.{key}={value}", scores, files, profiles)
            standard.append(std)
            print(f"{row} {elapsed:.0f} |", flush=True)
    print(
        f"\nstandard score over {len(standard)} configurations: min {min(standard):.1f}, "
        f"median {statistics.median(standard):.1f}, max {max(standard):.1f} "
        f"(default {standard[0]:.1f})"
    )


if __name__ == "__main__":
    main()
