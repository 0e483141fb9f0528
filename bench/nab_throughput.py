"""Throughput of the default detector: vectorised fleet, single series, vs River.

Measures, in one run on one core (BLAS/OpenMP threads pinned to 1):
- points/s of ``default_fleet(10_000)`` (``score_many`` + ``learn_many`` per tick),
- points/s of one ``default_detector()`` (``score_one`` + ``learn_one``),
- points/s of River's ``HalfSpaceTrees`` (``score_one`` + ``learn_one``), the
  reference streaming detector, on the same kind of data,
and prints the ratios. Usage: ``python bench/nab_throughput.py [--series N] [--ticks T]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from selfheal.analysis.detection.default import default_detector, default_fleet  # noqa: E402


def fleet_rate(n_series: int, ticks: int, rng: np.random.Generator) -> float:
    fleet = default_fleet(n_series)
    data = rng.normal(100.0, 5.0, size=(ticks, n_series))
    start = time.perf_counter()
    for i in range(ticks):
        fleet.score_many(data[i])
        fleet.learn_many(data[i])
    return n_series * ticks / (time.perf_counter() - start)


def single_rate(points: int, rng: np.random.Generator) -> float:
    detector = default_detector()
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
    parser.add_argument("--single-points", type=int, default=200_000)
    parser.add_argument("--river-points", type=int, default=20_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rng = np.random.default_rng(0)
    fleet = fleet_rate(args.series, args.ticks, rng)
    single = single_rate(args.single_points, rng)
    river = river_rate(args.river_points, rng)
    print(f"default fleet ({args.series} series x {args.ticks} ticks): {fleet:,.0f} points/s")
    print(f"default single series ({args.single_points} points): {single:,.0f} points/s")
    print(f"river HalfSpaceTrees ({args.river_points} points): {river:,.0f} points/s")
    print(
        f"fleet / HalfSpaceTrees: {fleet / river:,.0f}x; single / HalfSpaceTrees: {single / river:,.1f}x"
    )


if __name__ == "__main__":
    main()
