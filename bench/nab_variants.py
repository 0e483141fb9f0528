"""NAB variants of the onset stage that were tried and did not beat ``seasonalonset``.

Each variant streams the corpus causally (score before learn, no labels, no
look-ahead): the seasonal baseline's signed z-score is computed once per file
with the real :class:`SeasonalBaseline`, then replayed through ``onset_replay``,
a line-for-line array version of :class:`Onset` (checked at start-up to give
the same scores as the registry's ``seasonalonset`` on one file). Variants:

- ``max`` with a second, complementary signal behind its own onset stage
  (scaled by ``w``): a windowed mean-shift z-score (short EWMA of the value
  against the winsorised long EWMA level, in standard errors of the short
  mean), and a windowed-distribution change score in the style of the
  relative-entropy detector (Wang et al., "Statistical techniques for online
  anomaly detection in data centers", IM 2011): KL divergence of the last 24
  samples' histogram (bins in level sigmas) from a slow EWMA histogram,
  turned into a z-like score through the chi-square approximation of 2·n·KL;
- the mean-shift signal folded into the seasonal raw score before one shared
  onset stage;
- separate onset stages for upward and downward deviations;
- the mean of onset scores over several suppression horizons;
- the mean of the seasonal z-scores of three level weights (0.0015, 0.003,
  0.006), one onset stage (a bagged baseline, for robustness).

Usage: ``python bench/nab_variants.py --data ../shared/benchmarks/nab``
"""

from __future__ import annotations

import argparse
import math
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from selfheal.analysis.detection.registry import registry
from selfheal.analysis.detection.seasonal import SeasonalBaseline
from selfheal.bench.nab.corpus import NabFile, load_corpus, load_profiles
from selfheal.bench.nab.runner import run_file
from selfheal.bench.nab.scorer import Profile, score_corpus

_EDGES = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0])


def onset_replay(
    raw: np.ndarray,
    window: int = 500,
    decay: float = 300.0,
    beta: float = 0.1,
    initial_peak: float = 5.0,
    min_raw: float = 1.0,
    scale: float = 3.0,
    peak_exponent: float = 1.25,
    ignore_first: int = 0,
) -> np.ndarray:
    """The :class:`Onset` stage over a precomputed raw score array.

    ``ignore_first`` defaults to 0 here (the onset stage as it was when these
    variants were measured); ``seasonalonset`` now uses 50 (``bench/nab_round3.py``).
    """
    out = np.zeros(len(raw))
    fade = math.exp(-1.0 / decay)
    fading_max = 0.0
    log_peak = math.log(initial_peak)
    recent: deque[tuple[int, float]] = deque()  # decreasing running max of the last window
    for i, r in enumerate(raw.tolist()):
        if i < ignore_first:
            continue
        while recent and recent[0][0] < i - window:
            recent.popleft()
        top = recent[0][1] if recent else 0.0
        if r > top and r > fading_max and r > min_raw:
            ratio = r / math.exp(peak_exponent * log_peak)
            out[i] = 1.0 - math.exp(-ratio / scale)
            log_peak += beta * (math.log(r) - log_peak)
        fading_max = max(fading_max * fade, r)
        while recent and recent[-1][1] <= r:
            recent.pop()
        recent.append((i, r))
    return out


def seasonal_signed(f: NabFile, **params: float) -> np.ndarray:
    """Signed seasonal z-score per row (score before learn)."""
    d = SeasonalBaseline(**params)  # type: ignore[arg-type]
    out = np.zeros(len(f.values))
    for i, (x, t) in enumerate(zip(f.values.tolist(), f.seconds.tolist(), strict=True)):
        if d.n >= d.warm_up:
            errs = d._errors(x, d._bins(t))
            err = errs[d._best(errs)]
            assert err is not None
            out[i] = err[0] / err[1]
        d.learn_one(x, t)
    return out


def mean_shift(values: np.ndarray, short: float = 0.1, long: float = 0.003) -> np.ndarray:
    """|short EWMA - long winsorised EWMA level| in standard errors of the short mean."""
    out = np.zeros(len(values))
    ms = ml = float(values[0])
    var = 0.0
    k = math.sqrt(short / (2.0 - short))
    for i, x in enumerate(values.tolist()):
        if i >= 50:
            sd = math.sqrt(var) + 1e-9 + 1e-3 * abs(ml)
            out[i] = abs(ms + short * (x - ms) - ml) / (sd * k)
        ms += short * (x - ms)
        a = max(long, 1.0 / (i + 1))
        d = x - ml
        dv = min(abs(d), 4.0 * math.sqrt(var)) if i > 50 else d
        ml += a * d
        var = (1.0 - a) * (var + a * dv * dv)
    return out


def relative_entropy(values: np.ndarray, width: int = 24, warm: int = 200) -> np.ndarray:
    """Chi-square z of 2·n·KL(last ``width`` samples' histogram || slow EWMA histogram)."""
    bins = len(_EDGES) + 1
    dof = bins - 1
    out = np.zeros(len(values))
    m = float(values[0])
    var = 0.0
    hist = np.full(bins, 1.0 / bins)
    ring: deque[int] = deque()
    counts = np.zeros(bins)
    for i, x in enumerate(values.tolist()):
        sd = math.sqrt(var) + 1e-9 + 1e-3 * abs(m)
        b = int(np.searchsorted(_EDGES, (x - m) / sd))
        if i >= warm and len(ring) == width:
            c = counts.copy()
            c[ring[0]] -= 1
            c[b] += 1
            p = c / width
            mask = p > 0
            kl = float(np.sum(p[mask] * np.log(p[mask] / hist[mask])))
            out[i] = max(0.0, (2 * width * kl - dof) / math.sqrt(2 * dof))
        ring.append(b)
        counts[b] += 1
        if len(ring) > width:
            counts[ring.popleft()] -= 1
        a = max(0.003, 1.0 / (i + 1))
        d = x - m
        dv = min(abs(d), 4.0 * math.sqrt(var)) if i > warm else d
        m += a * d
        var = (1.0 - a) * (var + a * dv * dv)
        if i >= warm:
            hist *= 1.0 - 0.002
            hist[b] += 0.002
        else:
            hist = hist * (i + 1) / (i + 2)
            hist[b] += 1.0 / (i + 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles: list[Profile] = list(load_profiles(args.data).values())
    signed = [seasonal_signed(f) for f in files]
    raw = [np.abs(s) for s in signed]
    check = run_file(registry.create("seasonalonset", ignore_first=0), files[5])
    if not np.allclose(check, onset_replay(raw[5])):
        raise SystemExit("onset_replay no longer matches the Onset class")
    base = [onset_replay(r) for r in raw]
    shift = [mean_shift(f.values) for f in files]
    shift_on = [onset_replay(s) for s in shift]
    rel_on = [onset_replay(relative_entropy(f.values)) for f in files]
    lo = [np.abs(seasonal_signed(f, alpha=0.0015)) for f in files]
    hi = [np.abs(seasonal_signed(f, alpha=0.006)) for f in files]
    variants: list[tuple[str, Callable[[int], np.ndarray]]] = [
        ("seasonalonset (replay)", lambda i: base[i]),
        ("mean-shift onset alone", lambda i: shift_on[i]),
        ("max(seasonalonset, mean-shift onset)", lambda i: np.maximum(base[i], shift_on[i])),
        (
            "max(seasonalonset, 0.8 x mean-shift onset)",
            lambda i: np.maximum(base[i], 0.8 * shift_on[i]),
        ),
        ("relative-entropy onset alone", lambda i: rel_on[i]),
        ("max(seasonalonset, relative-entropy onset)", lambda i: np.maximum(base[i], rel_on[i])),
        (
            "max(seasonalonset, 0.7 x relative-entropy onset)",
            lambda i: np.maximum(base[i], 0.7 * rel_on[i]),
        ),
        (
            "onset(max(seasonal z, 0.5 x mean-shift z))",
            lambda i: onset_replay(np.maximum(raw[i], 0.5 * shift[i])),
        ),
        (
            "separate up / down onset stages",
            lambda i: np.maximum(
                onset_replay(np.maximum(signed[i], 0)), onset_replay(np.maximum(-signed[i], 0))
            ),
        ),
        (
            "mean of onset over windows 250/500/1000",
            lambda i: np.mean([onset_replay(raw[i], window=w) for w in (250, 500, 1000)], axis=0),
        ),
        (
            "onset(mean of seasonal z at alpha 0.0015/0.003/0.006)",
            lambda i: onset_replay((lo[i] + raw[i] + hi[i]) / 3.0),
        ),
    ]
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
