"""NAB, fifth round: the ART member with an adaptive vigilance (tried, not adopted).

:class:`AdaptiveArt` is :class:`~selfheal.analysis.detection.art.Art` whose
anomaly vigilance ``rho_low`` follows the series: an exponentially weighted
mean and variance (time constant ``tau`` windows) of each window's best match
set it to ``mean - k x sd``, clipped to [``floor``, ``cap``], so a series whose
windows rarely match well (noisy) needs a worse match to alarm (ARTime also
moves its vigilance with the running mean of the similarities). Each setting
is scored alone and under ``max`` with the cached ``seasonalrange`` scores
(see :mod:`nab_art`), at gains 1 and 1.5.

Usage: ``python bench/nab_art_adaptive.py --data ../shared/benchmarks/nab k=3 k=4 k=2,floor=0.85``
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from nab_art import score_row, seasonalrange_scores
from selfheal.analysis.detection.art import Art
from selfheal.bench.nab.corpus import load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file


class AdaptiveArt(Art):
    """``Art`` with ``rho_low`` = EWMA mean - k x EWMA sd of the best match (clipped)."""

    def __init__(
        self, k: float = 3.0, tau: float = 200.0, floor: float = 0.8, cap: float = 0.97, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.k, self.weight, self.floor, self.cap = k, 1.0 / tau, floor, cap
        self.mean, self.var = 1.0, 0.0
        self._top: float | None = None

    def _match(
        self, features: np.ndarray, live: np.ndarray, low: float, high: float
    ) -> tuple[np.ndarray, np.ndarray]:
        match, choice = super()._match(features, live, low, high)
        self._top = float(match.max())
        return match, choice

    def _evaluate(self, x: float) -> tuple[float, np.ndarray | None, int, float]:
        fixed = self.rho_low
        self.rho_low = min(self.cap, max(self.floor, self.mean - self.k * math.sqrt(self.var)))
        self._top = None
        try:
            return super()._evaluate(x)
        finally:
            self.rho_low = fixed

    def learn_one(self, x: float, t: float) -> None:
        self._top = None
        self._result(x, t)
        if self._cache is not None and self._top is None:
            self._cache = None  # a cached result: evaluate again to know its best match
            self._result(x, t)
        if self._top is not None:
            d = self._top - self.mean
            self.mean += self.weight * d
            self.var = (1.0 - self.weight) * (self.var + self.weight * d * d)
        super().learn_one(x, t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nab_art_seasonalrange.npz"))
    parser.add_argument("settings", nargs="+", help="k=v,k=v of AdaptiveArt")
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles = list(load_profiles(args.data).values())
    base = seasonalrange_scores(files, args.cache)
    for text in args.settings:
        params = {k: float(v) for k, v in (kv.split("=") for kv in text.split(","))}
        start = time.perf_counter()
        art = [run_file(AdaptiveArt(**params), f) for f in files]
        print(score_row(f"adaptive {text} alone", art, files, profiles)[0])
        for gain in (1.0, 1.5):
            combined = [
                np.maximum(b, np.minimum(1.0, gain * a)) for b, a in zip(base, art, strict=True)
            ]
            label = f"max(seasonalrange, {gain:g} x adaptive {text})"
            print(score_row(label, combined, files, profiles)[0])
        print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
