"""NAB cross-validated: every parameter and threshold chosen on one fold, scored on the other.

For each detector configuration family (one fixed configuration, or a grid of
the values the NAB rounds explored), the per-file scores of every candidate
are computed once with the real registry detectors (a fresh detector per file,
score then learn, no labels seen) and kept in ``--cache``. Then, for each split
of the 31 files into two folds within every category (the alternate split, and
``--seeds`` random ones), ``selfheal.bench.nab.cv.cross_validate`` picks the
candidate with the best standard score on one fold, takes its optimal
threshold per profile on that fold, detects with both on the other fold, and
pools the two test folds into one NAB score per profile (same 57 windows, same
normalisation as the in-sample figure, which is printed beside it).

Usage: ``python bench/nab_cv.py --data ../shared/benchmarks/nab [--family NAME ...]
[--seeds 20] [--folds 2]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nab_art_perturb import PERTURBATIONS as ART_PERTURBATIONS
from nab_perturb import configurations as range_configurations
from nab_round4_perturb import detector_spec as range_spec
from selfheal.analysis.detection.art import SEASONALART_GAIN
from selfheal.analysis.detection.registry import registry
from selfheal.bench.nab.corpus import NabFile, load_corpus, load_profiles
from selfheal.bench.nab.cv import Prepared, category_folds, cross_validate
from selfheal.bench.nab.runner import run_file

#: A member: registry name and parameters. A candidate: members combined by ``max``
#: (each with a factor on its scores, clipped at 1; 1 everywhere in the families below).
Member = tuple[str, dict[str, Any]]
Candidate = list[tuple[Member, float]]
PROFILE_LABELS = {
    "standard": "standard",
    "reward_low_FP_rate": "low FP",
    "reward_low_FN_rate": "low FN",
}


class ScoreCache:
    """Per-file scores of a member, computed once and kept on disk (an .npz per member)."""

    def __init__(self, files: list[NabFile], root: Path) -> None:
        self.files = files
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._memory: dict[str, list[np.ndarray]] = {}

    def scores(self, member: Member) -> list[np.ndarray]:
        name, params = member
        key = hashlib.sha256(json.dumps([name, params], sort_keys=True).encode()).hexdigest()[:20]
        if key in self._memory:
            return self._memory[key]
        path = self.root / f"{name}-{key}.npz"
        if path.exists():
            with np.load(path) as npz:
                out = [npz[f"f{i}"] for i in range(len(self.files))]
        else:
            start = time.perf_counter()
            out = [run_file(registry.create(name, **params), f) for f in self.files]
            np.savez(path, **{f"f{i}": s for i, s in enumerate(out)})
            print(f"  computed {name} {params} in {time.perf_counter() - start:.0f} s", flush=True)
        self._memory[key] = out
        return out

    def combined(self, candidate: Candidate) -> list[np.ndarray]:
        parts = [
            [np.minimum(s * gain, 1.0) if gain != 1.0 else s for s in self.scores(m)]
            for m, gain in candidate
        ]
        if len(parts) == 1:
            return parts[0]
        return [np.max(np.stack(per_file), axis=0) for per_file in zip(*parts, strict=True)]


def _seasonalrange(changed: dict[str, dict[str, Any]]) -> Member:
    return ("ensemble", range_spec(changed))


def _art(changed: dict[str, Any], gain: float = SEASONALART_GAIN) -> Member:
    return ("art", {**changed, "gain": gain})


def range_grid() -> dict[str, Candidate]:
    """``seasonalrange``: its default and the 28 one-at-a-time perturbations of the NAB rounds."""
    return {label: [(_seasonalrange(c), 1.0)] for label, c in range_configurations()}


def art_grid() -> dict[str, Candidate]:
    """``seasonalart``: its default, ``seasonalrange`` without the ART member, the ART gains
    1 and 2, the ``seasonalrange`` perturbations under the default ART member, and every
    ART perturbation (and learning period 150–750) at the default gain, as the NAB rounds
    explored them."""
    base = _seasonalrange({})
    art_default = (_art({}), 1.0)
    out: dict[str, Candidate] = {"default": [(base, 1.0), art_default]}
    out["no ART member"] = [(base, 1.0)]
    for gain in (1.0, 2.0):
        out[f"art gain {gain:g}"] = [(base, 1.0), (_art({}, gain), 1.0)]
    for label, changed in range_configurations()[1:]:
        out[label] = [(_seasonalrange(changed), 1.0), art_default]
    art_values = dict(ART_PERTURBATIONS)
    art_values.pop("gain")
    art_values["learning"] = (150, 200, 250, 350, 400, 500, 600, 750)
    for key, values in art_values.items():
        for value in values:
            out[f"art.{key}={value:g}"] = [(base, 1.0), (_art({key: value}), 1.0)]
    return out


def fixed(member: Member, gain: float = 1.0) -> dict[str, Candidate]:
    return {"default": [(member, gain)]}


FAMILIES: dict[str, Callable[[], dict[str, Candidate]]] = {
    "default": lambda: fixed(("default", {})),
    "onset(ewma)": lambda: fixed(("onset", {"detector": {"name": "ewma", "params": {}}})),
    "novelrange": lambda: fixed(("novelrange", {"min_samples": 50})),
    "art": lambda: fixed(_art({})),
    "seasonalonset": lambda: fixed(("seasonalonset", {})),
    "seasonalrange (fixed)": lambda: fixed(_seasonalrange({})),
    "seasonalart (fixed)": lambda: {"default": [(_seasonalrange({}), 1.0), (_art({}), 1.0)]},
    "seasonalrange or seasonalart": lambda: {
        "seasonalrange": [(_seasonalrange({}), 1.0)],
        "seasonalart": [(_seasonalrange({}), 1.0), (_art({}), 1.0)],
    },
    "seasonalrange (grid)": range_grid,
    "seasonalart (grid)": art_grid,
}


def _summary(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return (
        f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} "
        f"({min(values):.1f}–{max(values):.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nab_cv_cache"))
    parser.add_argument("--family", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--seeds", type=int, default=20, help="random splits besides the alternate")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="print each split's choices")
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles = list(load_profiles(args.data).values())
    cache = ScoreCache(files, args.cache)
    check = cache.combined(art_grid()["default"])[5]
    if not np.array_equal(check, run_file(registry.create("seasonalart"), files[5])):
        raise SystemExit("the registry's seasonalart no longer matches this script's grid")
    prepared = Prepared([f.windows for f in files], [len(f.values) for f in files], profiles)
    everything = range(len(files))
    categories = [f.category for f in files]
    splits = [("alternate", category_folds(categories, args.folds))]
    splits += [
        (f"seed {s}", category_folds(categories, args.folds, seed=s))
        for s in range(1, args.seeds + 1)
    ]
    names = [p.name for p in profiles]
    head = " | ".join(PROFILE_LABELS.get(n, n) for n in names)
    print(
        f"| configuration | candidates | in-sample {head} | CV alternate split {head} "
        f"| CV standard over {len(splits)} splits, mean ± sd (min–max) | "
        f"CV low FP | CV low FN | most chosen |"
    )
    print("|---|---|" + "---|" * (2 * len(names) + 4))
    for family in args.family:
        grid = FAMILIES[family]()
        candidates = {label: cache.combined(c) for label, c in grid.items()}
        default = candidates[next(iter(candidates))]
        inside = [prepared.optimise(default, everything, n).normalized for n in names]
        per_profile: dict[str, list[float]] = {n: [] for n in names}
        chosen: dict[str, int] = {}
        alternate: list[float] = []
        for label, folds in splits:
            result = cross_validate(candidates, prepared, folds)
            for n in names:
                per_profile[n].append(result.pooled[n].normalized)
            if label == "alternate":
                alternate = [result.pooled[n].normalized for n in names]
            for fold in result.folds:
                chosen[fold.candidate] = chosen.get(fold.candidate, 0) + 1
                if args.verbose:
                    print(
                        f"  {family} {label} test fold {fold.test_fold}: {fold.candidate}; "
                        + ", ".join(
                            f"{n} train {fold.train_scores[n]:.1f} test {fold.test_scores[n]:.1f}"
                            f" (thr {fold.thresholds[n]:.3g})"
                            for n in names
                        )
                    )
        top = sorted(chosen.items(), key=lambda kv: -kv[1])[:3]
        picked = ", ".join(f"{label} ×{count}" for label, count in top)
        cells = " | ".join(f"{v:.1f}" for v in inside)
        alt = " | ".join(f"{v:.1f}" for v in alternate)
        spread = " | ".join(_summary(per_profile[n]) for n in names)
        print(
            f"| {family} | {len(candidates)} | {cells} | {alt} | {spread} | {picked} |", flush=True
        )


if __name__ == "__main__":
    main()
