"""NAB, third round: ``ignore_first`` and the novel-range rule (adopted), and what did not help.

Everything streams each file causally (score before learn, no labels, no
look-ahead) with one configuration for every file. The seasonal baseline's
z-scores are computed once per file with the real :class:`SeasonalBaseline`
and replayed through :func:`onset_stage`, an array version of the
:class:`~selfheal.analysis.detection.onset.Onset` stage with optional changes
(checked at start-up to give the registry's ``seasonalonset`` scores on one
file). Variants:

- ``ignore_first``: the first N samples score 0 and are not remembered by the
  suppression memory or the typical peak (adopted, N = 50);
- neighbours of the adopted configuration (window, peak exponent), to show
  the noise of the dev split;
- extreme-value calibration of an onset: the tail probability of its height
  among past block maxima of the raw score, empirical or with a Hill
  (Pareto) tail beyond the top ``k`` maxima (in the spirit of SPOT, Siffer et
  al., "Anomaly detection in streams with extreme value theory", KDD 2017);
- the typical peak learned from every excursion (raw above a level, ended by
  5 quiet samples), not only from onsets;
- an onset z-score in log space: ``(ln raw - mean) / sd`` of past onset heights;
- the raw score divided also by a streaming 99th percentile of itself
  (Frugal streaming quantile, Ma et al., "Frugal streaming for estimating
  quantiles", 2013);
- a persistence requirement: the minimum of two consecutive |z|, or the |z| of
  the mean of the last 2 or 3 signed z-scores (scaled by sqrt(n));
- an onset margin: the raw score must beat the recent maximum by 5-20 %;
- the suppression window measured in days instead of samples;
- a shape-novelty gate: the onset score raised to the power of (running mean
  / current) left matrix-profile distance of the last 16 samples to their
  nearest earlier neighbour within 2000 samples (the discord distance of
  Yeh et al., "Matrix Profile I", ICDM 2016);
- a consensus z: the smallest |z| over the baseline's models (level, daily,
  weekly), or the geometric mean of the chosen model's and the level's;
- ``max`` with HTM's spatial-anomaly rule (a value beyond the running range
  by more than ``tolerance`` x range), and with the novel-range rule that
  measures against the range of ``lag`` samples ago and flags once per
  ``refractory`` samples (adopted: tolerance 0.05 as HTM's, lag 100,
  refractory 100, as ``seasonalrange``); each rule alone.

Usage: ``python bench/nab_round3.py --data ../shared/benchmarks/nab`` (about 3 min)
"""

from __future__ import annotations

import argparse
import bisect
import math
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nab_variants import seasonal_signed
from selfheal.analysis.detection.novel_range import NovelRange
from selfheal.analysis.detection.registry import registry
from selfheal.analysis.detection.seasonal import SeasonalBaseline
from selfheal.bench.nab.corpus import NabFile, load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file
from selfheal.bench.nab.scorer import Profile, score_corpus


def onset_stage(
    raw: np.ndarray,
    *,
    window: int = 500,
    decay: float = 300.0,
    beta: float = 0.1,
    initial_peak: float = 5.0,
    min_raw: float = 1.0,
    scale: float = 3.0,
    peak_exponent: float = 1.25,
    ignore_first: int = 50,
    margin: float = 0.0,
    excursion_level: float | None = None,
    excursion_beta: float = 0.05,
    quantile_exponent: float = 0.0,
    log_z_floor: float | None = None,
) -> np.ndarray:
    """The onset stage over a precomputed raw score, with optional changes."""
    out = np.zeros(len(raw))
    fade = math.exp(-1.0 / decay)
    fading_max = 0.0
    log_peak = math.log(initial_peak)
    log_var = 0.25
    log_q = 0.0
    exc_max = 0.0
    quiet = 0
    recent: deque[tuple[int, float]] = deque()
    for i, r in enumerate(raw.tolist()):
        if i < ignore_first:
            continue
        while recent and recent[0][0] < i - window:
            recent.popleft()
        top = recent[0][1] if recent else 0.0
        if r > top * (1.0 + margin) and r > fading_max * (1.0 + margin) and r > min_raw:
            if log_z_floor is not None:
                s = (math.log(r) - log_peak) / max(math.sqrt(log_var), log_z_floor)
                out[i] = 1.0 / (1.0 + math.exp(-s))
            else:
                ratio = r / math.exp(peak_exponent * log_peak + quantile_exponent * log_q)
                out[i] = 1.0 - math.exp(-ratio / scale)
            d = math.log(r) - log_peak
            log_peak += beta * d
            log_var = (1.0 - beta) * (log_var + beta * d * d)
        if excursion_level is not None:
            if r > excursion_level:
                exc_max, quiet = max(exc_max, r), 0
            elif exc_max > 0.0:
                quiet += 1
                if quiet >= 5:
                    log_peak += excursion_beta * (math.log(exc_max) - log_peak)
                    exc_max, quiet = 0.0, 0
        lr = math.log(max(r, 1e-6))
        log_q += 0.02 * 0.99 if lr > log_q else -0.02 * 0.01
        fading_max = max(fading_max * fade, r)
        while recent and recent[-1][1] <= r:
            recent.pop()
        recent.append((i, r))
    return out


def evt_onset(raw: np.ndarray, *, hill: bool, block: int = 25, k_tail: int = 20) -> np.ndarray:
    """Onsets scored by -ln P(block maximum >= raw) over past block maxima."""
    out = np.zeros(len(raw))
    fade = math.exp(-1.0 / 300.0)
    fading_max = 0.0
    recent: deque[tuple[int, float]] = deque()
    maxima: list[float] = []
    bmax, bcount = 0.0, 0
    for i, r in enumerate(raw.tolist()):
        if i < 50:
            continue
        while recent and recent[0][0] < i - 500:
            recent.popleft()
        top = recent[0][1] if recent else 0.0
        if r > top and r > fading_max and r > 1.0 and len(maxima) >= 10:
            nb = len(maxima)
            n_ge = nb - bisect.bisect_left(maxima, r)
            k = min(k_tail, nb - 1)
            if n_ge >= k or not hill:
                p = (n_ge + 0.5) / (nb + 1)
            else:
                u = max(maxima[nb - k - 1], 1e-9)
                h = sum(math.log(max(x, 1e-9) / u) for x in maxima[nb - k :]) / k
                p = (k / nb) * (r / u) ** (-1.0 / max(h, 1e-6))
            out[i] = 1.0 - math.exp(math.log(max(p, 1e-300)) / 10.0)
        fading_max = max(fading_max * fade, r)
        while recent and recent[-1][1] <= r:
            recent.pop()
        recent.append((i, r))
        bmax, bcount = max(bmax, r), bcount + 1
        if bcount == block:
            bisect.insort(maxima, bmax)
            bmax, bcount = 0.0, 0
    return out


def left_discord(x: np.ndarray, m: int = 16, history: int = 2000) -> np.ndarray:
    """Distance of the last ``m`` samples (z-normalised) to their nearest earlier match."""
    out = np.zeros(len(x))
    if len(x) < 4 * m:
        return out
    sub = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), m)
    sd = sub.std(axis=1)
    running = np.cumsum(sd) / np.arange(1, len(sd) + 1)  # causal floor for flat stretches
    z = (sub - sub.mean(axis=1, keepdims=True)) / np.maximum(sd, 0.2 * running + 1e-12)[:, None]
    sq = (z * z).sum(axis=1)
    for s0 in range(0, len(z), 1000):
        s1 = min(len(z), s0 + 1000)
        lo = max(0, s0 - history)
        dist = sq[s0:s1, None] + sq[None, lo:s1] - 2.0 * (z[s0:s1] @ z[lo:s1].T)
        rows = np.arange(s0, s1)[:, None]
        cols = np.arange(lo, s1)[None, :]
        dist = np.where((cols <= rows - m) & (cols >= rows - history), dist, np.inf)
        best = np.sqrt(np.maximum(dist.min(axis=1), 0.0))
        out[s0 + m - 1 : s1 + m - 1] = np.where(np.isfinite(best), best, 0.0)
    return out


def relative_to_running_mean(d: np.ndarray, weight: float = 0.01) -> np.ndarray:
    """Each value over the EWMA of the values before it (1 before there is one)."""
    out = np.ones(len(d))
    mean = 0.0
    for i, v in enumerate(d.tolist()):
        if mean > 0.0:
            out[i] = v / mean
        mean = v if mean == 0.0 else mean + weight * (v - mean)
    return out


def model_z(f: NabFile) -> tuple[np.ndarray, np.ndarray]:
    """Per row: |z| under each model of the seasonal baseline (nan if unavailable), and
    the index of the model it would choose."""
    d = SeasonalBaseline()
    z = np.full((len(f.values), 1 + len(d.periods_seconds)), np.nan)
    chosen = np.zeros(len(f.values), dtype=np.int64)
    for i, (x, t) in enumerate(zip(f.values.tolist(), f.seconds.tolist(), strict=True)):
        if d.n >= d.warm_up:
            errs = d._errors(x, d._bins(t))
            for k, e in enumerate(errs):
                if e is not None:
                    z[i, k] = abs(e[0]) / e[1]
            chosen[i] = d._best(errs)
        d.learn_one(x, t)
    return z, chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles: list[Profile] = list(load_profiles(args.data).values())
    signed = [seasonal_signed(f) for f in files]
    raw = [np.abs(s) for s in signed]
    check = run_file(registry.create("seasonalonset"), files[5])
    if not np.allclose(check, onset_stage(raw[5])):
        raise SystemExit("onset_stage no longer matches the Onset class")
    steps = [float(np.median(np.diff(f.seconds))) for f in files]

    def mean_z(s: np.ndarray, k: int) -> np.ndarray:
        c = np.cumsum(np.r_[0.0, s])
        out = np.abs(s).copy()
        out[k - 1 :] = np.abs(c[k:] - c[:-k]) / k * math.sqrt(k)
        return out

    variants: list[tuple[str, Callable[[int], np.ndarray]]] = [
        (
            "seasonalonset, ignore_first 0 (previous default)",
            lambda i: onset_stage(raw[i], ignore_first=0),
        ),
        ("**seasonalonset, ignore_first 50 (new default)**", lambda i: onset_stage(raw[i])),
    ]
    for n in (30, 40, 60, 75, 100, 150, 200):
        variants.append((f"ignore_first {n}", lambda i, n=n: onset_stage(raw[i], ignore_first=n)))
    for label, kw in (
        ("window 400", {"window": 400}),
        ("window 600", {"window": 600}),
        ("peak_exponent 1.15", {"peak_exponent": 1.15}),
        ("peak_exponent 1.35", {"peak_exponent": 1.35}),
        ("onset margin 5 %", {"margin": 0.05}),
        ("onset margin 10 %", {"margin": 0.1}),
        ("onset margin 20 %", {"margin": 0.2}),
        ("typical peak also from excursions > 4 (weight 0.05)", {"excursion_level": 4.0}),
        ("typical peak also from excursions > 6 (weight 0.05)", {"excursion_level": 6.0}),
        ("raw / (peak^1.25 x q99^0.25)", {"quantile_exponent": 0.25}),
        ("log-space onset z, sd floor 0.4", {"log_z_floor": 0.4}),
    ):
        variants.append((label, lambda i, kw=kw: onset_stage(raw[i], **kw)))  # type: ignore[misc]
    variants += [
        ("EVT: empirical tail of block maxima", lambda i: evt_onset(raw[i], hill=False)),
        ("EVT: Hill tail beyond the top 20 block maxima", lambda i: evt_onset(raw[i], hill=True)),
        (
            "persistence: min of 2 consecutive abs(z)",
            lambda i: onset_stage(np.minimum(raw[i], np.r_[0.0, raw[i][:-1]])),
        ),
        ("persistence: mean of last 2 z", lambda i: onset_stage(mean_z(signed[i], 2))),
        ("persistence: mean of last 3 z", lambda i: onset_stage(mean_z(signed[i], 3))),
    ]
    for days in (1.0, 2.0, 3.0):
        variants.append(
            (
                f"suppression window {days:g} day(s) instead of 500 samples",
                lambda i, days=days: onset_stage(
                    raw[i],
                    window=max(50, int(days * 86400 / steps[i])),
                    decay=max(30.0, 0.6 * days * 86400 / steps[i]),
                ),
            )
        )
    discord = [relative_to_running_mean(left_discord(f.values)) for f in files]
    base = [onset_stage(r) for r in raw]
    for g in (0.25, 0.5):
        variants.append(
            (
                f"shape-novelty gate, power {g:g}",
                lambda i, g=g: 1.0 - (1.0 - base[i]) ** (np.maximum(discord[i], 1e-3) ** g),
            )
        )
    models = [model_z(f) for f in files]
    variants += [
        (
            "consensus: smallest abs(z) over the models",
            lambda i: onset_stage(
                np.nan_to_num(
                    np.min(np.where(np.isnan(models[i][0]), np.inf, models[i][0]), axis=1),
                    posinf=0.0,
                )
            ),
        ),
        (
            "consensus: sqrt(chosen abs(z) x level abs(z))",
            lambda i: onset_stage(
                np.sqrt(
                    np.nan_to_num(models[i][0][np.arange(len(files[i].values)), models[i][1]])
                    * np.nan_to_num(models[i][0][:, 0])
                )
            ),
        ),
    ]

    def novel(i: int, tolerance: float, lag: int, refractory: int) -> np.ndarray:
        rule = NovelRange(tolerance=tolerance, min_samples=50, lag=lag, refractory=refractory)
        xs, ts = files[i].values.tolist(), files[i].seconds.tolist()
        return np.array([rule.process_one(x, t) for x, t in zip(xs, ts, strict=True)])

    variants.append(("HTM's range rule alone (tolerance 0.05)", lambda i: novel(i, 0.05, 0, 0)))
    variants.append(
        ("novelrange alone (lag 100, refractory 100)", lambda i: novel(i, 0.05, 100, 100))
    )
    for tol in (0.02, 0.03, 0.05, 0.07, 0.1, 0.2):
        variants.append(
            (
                f"max(seasonalonset, HTM's range rule, tolerance {tol:g})",
                lambda i, tol=tol: np.maximum(base[i], novel(i, tol, 0, 0)),
            )
        )
    for tol, lag, refractory in (
        (0.05, 100, 100),
        (0.05, 20, 0),
        (0.05, 100, 0),
        (0.05, 50, 100),
        (0.05, 200, 200),
        (0.05, 300, 300),
        (0.05, 100, 500),
        (0.03, 100, 100),
        (0.1, 100, 100),
    ):
        label = (
            f"max(seasonalonset, novelrange tolerance {tol:g}, lag {lag}, refractory {refractory})"
        )
        if (tol, lag, refractory) == (0.05, 100, 100):
            label = f"**{label} = seasonalrange (new NAB default)**"
        variants.append(
            (label, lambda i, c=(tol, lag, refractory): np.maximum(base[i], novel(i, *c)))
        )
    print("| variant | standard | low FP | low FN | TP/FN/FP (standard) |")
    print("|---|---|---|---|---|")
    for label, make in variants:
        pairs = [(np.clip(make(i), 0.0, 1.0), f.windows) for i, f in enumerate(files)]
        results = [score_corpus(pairs, p) for p in profiles]
        std = results[0]
        cells = " | ".join(f"{r.normalized:.1f}" for r in results)
        counts = f"{std.true_positives}/{std.false_negatives}/{std.false_positives}"
        print(f"| {label} | {cells} | {counts} |", flush=True)


if __name__ == "__main__":
    main()
