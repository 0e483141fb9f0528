"""Throughput of the loop's detectors: vectorised fleets, single series, vs River.

Measures, in one run on one core (BLAS/OpenMP threads pinned to 1), points per
second of ``score`` + ``learn`` on Gaussian samples one second apart:
- the loop's default, ``seasonalrange`` as ``SeasonalRangeFleet`` over ``--series``
  series (``score_many`` + ``learn_many`` per tick, past the seasonal warm-up);
- the registry's streaming ``seasonalrange``, ``seasonalart`` and ``default`` on one series;
- ``default_fleet`` (the robust EWMA z-score, vectorised) over ``--series`` series;
- River's ``HalfSpaceTrees`` (default parameters), the reference streaming detector,
and prints the ratios. Usage: ``python bench/nab_throughput.py [--series N] [--ticks T]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from selfheal.analysis.detection.default import default_fleet  # noqa: E402
from selfheal.analysis.detection.range_fleet import SeasonalRangeFleet  # noqa: E402
from selfheal.analysis.detection.registry import registry  # noqa: E402


def fleet_rate(make: str, n_series: int, ticks: int, rng: np.random.Generator) -> float:
    fleet = SeasonalRangeFleet(n_series) if make == "seasonalrange" else default_fleet(n_series)
    data = rng.normal(100.0, 5.0, size=(ticks + 60, n_series))
    for i in range(60):  # past the warm-ups (onset stage 50 samples, season layout 16)
        fleet.score_many(data[i], float(i))
        fleet.learn_many(data[i], float(i))
    start = time.perf_counter()
    for i in range(60, ticks + 60):
        fleet.score_many(data[i], float(i))
        fleet.learn_many(data[i], float(i))
    return n_series * ticks / (time.perf_counter() - start)


def single_rate(name: str, points: int, rng: np.random.Generator) -> float:
    detector = registry.create(name)
    data = rng.normal(100.0, 5.0, size=points).tolist()
    start = time.perf_counter()
    for i, x in enumerate(data):
        t = float(i)
        detector.score_one(x, t)
        detector.learn_one(x, t)
    return points / (time.perf_counter() - start)


def river_rate(points: int, rng: np.random.Generator) -> float:
    from river import anomaly

    model = anomaly.HalfSpaceTrees(seed=0)
    # HalfSpaceTrees expects features scaled to [0, 1].
    data = np.clip(rng.normal(0.5, 0.1, size=points), 0.0, 1.0).tolist()
    start = time.perf_counter()
    for x in data:
        sample = {"x": x}
        model.score_one(sample)
        model.learn_one(sample)
    return points / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--single-points", type=int, default=20_000)
    parser.add_argument("--river-points", type=int, default=20_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rng = np.random.default_rng(0)
    n, p = args.series, args.single_points
    rows = [
        (
            f"seasonalrange fleet ({n} series x {args.ticks} ticks), the loop's default",
            fleet_rate("seasonalrange", n, args.ticks, rng),
        ),
        (
            f"default fleet ({n} series x {args.ticks} ticks)",
            fleet_rate("default", n, args.ticks, rng),
        ),
        (f"seasonalrange, one series ({p} points)", single_rate("seasonalrange", p, rng)),
        (f"seasonalart, one series ({p} points)", single_rate("seasonalart", p, rng)),
        (f"default, one series ({p} points)", single_rate("default", p, rng)),
    ]
    river = river_rate(args.river_points, rng)
    rows.append((f"river HalfSpaceTrees, one series ({args.river_points} points)", river))
    print("| detector | points/s | / HalfSpaceTrees |")
    print("|---|---|---|")
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} | {rate / river:,.1f}x |")


if __name__ == "__main__":
    main()
