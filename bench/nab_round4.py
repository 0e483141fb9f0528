"""NAB, fourth round: merged rises in the onset stage (adopted), and what did not help.

Everything streams each file causally (score before learn, no labels, no
look-ahead) with one configuration for every file. The seasonal baseline's
z-scores and the novel-range rule's flags are computed once per file with the
real detectors; :func:`onset_stage` replays the
:class:`~selfheal.analysis.detection.onset.Onset` stage over them with optional
changes, and every variant is ``max(onset stage, novel-range rule)`` as in
``seasonalrange``. At start-up the replay with merged rises is checked against
the registry's ``seasonalrange`` on one file. Variants:

- merged rises: an onset on the sample right after another onset scores 0, so
  a value climbing over consecutive samples is rated once (adopted); merging
  over a gap of 2-10 samples instead, or letting a merged onset through when it
  is 1.5-3 x the first one's score;
- an onset during an excursion (raw still above a level, or above a fraction
  of the excursion's first onset) scores 0;
- the typical peak learned only from the first onset of a run, or from the
  run's maximum once it ends; learned faster upwards (``beta_up``);
- per-series alarm-rate penalty (the brief's idea b): an EWMA of how often an
  onset's ratio reached 0.8 (weight ``alpha`` per sample), and the ratio of a
  new onset multiplied by ``min(1, (target / rate)^gamma)``, so a series that
  alarms more often than ``target`` per sample needs a larger excursion;
- "seen before": the ratio divided by ``(1 + k)^q``, ``k`` = how many of the
  last 32 onsets went to a value within ``tol`` x the running range of this
  one, same direction;
- the onset's position in the running range of the values (how far towards or
  beyond the past extreme on its side), as a factor ``clip(u)^q``;
- an onset margin over the recent maximum (2-10 %), now that rises are merged;
- the geometric mean of the seasonal |z| of the values and of their square
  root (a heavy-tailed count series spikes less in the square root), and the
  square root alone;
- a third member of another kind (the brief's idea a): the onset stage over a
  distribution-change statistic between the last 20 values and the 500 before
  them, two-sample Kolmogorov-Smirnov or 1-Wasserstein over the reference's
  spread, scaled by 0.5-1 and combined by ``max``;
- an onset emitted ``d`` samples late, times its persistence (the mean z
  of the next ``d`` samples over its own) to a power; or kept and also
  re-emitted, boosted, when the excursion is sustained;
- past onsets at least as high within a horizon, as a damping factor;
- the seasonal baseline with a fast level model (EWMA weight 0.02 / 0.1) as
  one more candidate, or with its level restarted at the median / MAD of the
  warm-up (a few huge first values inflate the spread for hundreds of samples);
- earlier evidence for slow changes (the brief's idea c): the onset stage fed
  ``max(|z|, c x CUSUM)``, a two-sided CUSUM of the z-score clipped at 4 with
  drift ``d`` (Page, "Continuous inspection schemes", Biometrika 1954).

Usage: ``python bench/nab_round4.py --data ../shared/benchmarks/nab`` (about 2 min)
"""

from __future__ import annotations

import argparse
import math
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    values: np.ndarray | None = None,
    signs: np.ndarray | None = None,
    window: int = 500,
    decay: float = 300.0,
    beta: float = 0.1,
    beta_up: float | None = None,
    initial_peak: float = 5.0,
    min_raw: float = 1.0,
    scale: float = 3.0,
    peak_exponent: float = 1.25,
    ignore_first: int = 50,
    merge_gap: int = 1,
    merge_factor: float | None = None,
    margin: float = 0.0,
    excursion_level: float | None = None,
    excursion_fraction: float | None = None,
    peak_from: str = "every",
    rate_gamma: float = 0.0,
    rate_alpha: float = 1 / 2000,
    rate_target: float = 1 / 500,
    seen_q: float = 0.0,
    seen_tol: float = 0.02,
    position_q: float = 0.0,
    position_clip: tuple[float, float] = (0.1, 2.0),
    size_q: float = 0.0,
    size_horizon: int = 1000,
    size_fraction: float = 1.0,
) -> np.ndarray:
    """The onset stage over a precomputed raw score, with optional changes.

    ``merge_gap`` 1 is the adopted merged rises, 0 the previous stage.
    ``peak_from``: "every" onset, the "first" of a run, or the run's "max".
    """
    xs = values.tolist() if values is not None else None
    sg = signs.tolist() if signs is not None else None
    out = np.zeros(len(raw))
    fade = math.exp(-1.0 / decay)
    fading_max = 0.0
    log_peak = math.log(initial_peak)
    recent: deque[tuple[int, float]] = deque()
    last_onset = prev_onset = -(10**9)
    last_score = 0.0
    rate = rate_target
    seen: deque[tuple[float, float]] = deque(maxlen=32)
    low, high = math.inf, -math.inf
    in_excursion, excursion_raw, pending = False, 0.0, 0.0
    past_onsets: deque[tuple[int, float]] = deque()
    for i, r in enumerate(raw.tolist()):
        plow, phigh = low, high
        if xs is not None:
            low, high = min(low, xs[i]), max(high, xs[i])
        if i < ignore_first:
            continue
        while recent and recent[0][0] < i - window:
            recent.popleft()
        top = recent[0][1] if recent else 0.0
        alarm = 0.0
        if r > top * (1.0 + margin) and r > fading_max * (1.0 + margin) and r > min_raw:
            ratio = r / math.exp(peak_exponent * log_peak)
            if rate_gamma:
                ratio *= min(1.0, (rate_target / max(rate, 1e-9)) ** rate_gamma)
            if (seen_q or position_q) and xs is not None and sg is not None and phigh > plow:
                x, span = xs[i], phigh - plow
                if seen_q:
                    k = sum(1 for v, s in seen if s == sg[i] and abs(v - x) <= seen_tol * span)
                    ratio *= (1.0 + k) ** -seen_q
                if position_q:
                    u = (x - plow) / span if sg[i] > 0 else (phigh - x) / span
                    ratio *= min(max(u, position_clip[0]), position_clip[1]) ** position_q
            if size_q:
                while past_onsets and past_onsets[0][0] < i - size_horizon:
                    past_onsets.popleft()
                k = sum(1 for _, h in past_onsets if h >= size_fraction * r)
                ratio *= (1.0 + k) ** -size_q
                past_onsets.append((i, r))
            score = 1.0 - math.exp(-ratio / scale)
            alarm = 1.0 if ratio >= 0.8 else 0.0
            if xs is not None and sg is not None and score > 0.1:
                seen.append((xs[i], sg[i]))
            emit = 0.0 if (excursion_level is not None and in_excursion) else score
            merged = merge_gap and i - last_onset <= merge_gap
            if merged and (merge_factor is None or score < last_score * merge_factor):
                emit = 0.0
            if merge_gap and (emit > 0.0 or i - last_onset > merge_gap):
                last_score = emit
            out[i] = emit
            prev_onset, last_onset = last_onset, i
            if peak_from == "max":
                pending = max(pending, r) if i - prev_onset <= 1 else r
            elif peak_from == "every" or emit > 0.0:
                b = beta if (beta_up is None or r <= math.exp(log_peak)) else beta_up
                log_peak += b * (math.log(r) - log_peak)
        elif pending > 0.0:
            log_peak += beta * (math.log(pending) - log_peak)
            pending = 0.0
        if excursion_level is not None:
            if out[i] > 0.0:
                in_excursion, excursion_raw = True, r
            elif in_excursion:
                frac = excursion_fraction
                in_excursion = r > excursion_level or (
                    frac is not None and r > frac * excursion_raw
                )
        if rate_gamma:
            rate += rate_alpha * (alarm - rate)
        fading_max = max(fading_max * fade, r)
        while recent and recent[-1][1] <= r:
            recent.pop()
        recent.append((i, r))
    return out


def novel_flags(f: NabFile) -> np.ndarray:
    """The real novel-range rule of ``seasonalrange`` over one file."""
    rule = NovelRange(tolerance=0.05, min_samples=50, lag=100, refractory=100)
    xs, ts = f.values.tolist(), f.seconds.tolist()
    return np.array([rule.process_one(x, t) for x, t in zip(xs, ts, strict=True)])


def cusum_raw(signed: np.ndarray, drift: float, weight: float, cap: float = 4.0) -> np.ndarray:
    """``max(|z|, weight x two-sided CUSUM of z clipped at cap)``."""
    out = np.abs(signed)
    up = down = 0.0
    for i, z in enumerate(signed.tolist()):
        zc = max(min(z, cap), -cap)
        up, down = max(0.0, up + zc - drift), max(0.0, down - zc - drift)
        out[i] = max(out[i], weight * max(up, down))
    return out


def delayed(
    onsets: np.ndarray, signed: np.ndarray, delay: int, q: float, floor: float
) -> np.ndarray:
    """Each onset re-emitted ``delay`` samples later, times its persistence^q.

    Persistence: the mean of the next ``delay`` z-scores in the onset's
    direction (negative ones as 0) over the onset's |z|, clipped to [floor, 1].
    """
    out = np.zeros(len(onsets))
    for i in np.nonzero(onsets)[0]:
        j = i + delay
        if j >= len(onsets):
            continue
        after = np.maximum(signed[i + 1 : j + 1] * np.sign(signed[i]), 0.0)
        persistence = min(1.0, max(floor, float(after.mean()) / abs(signed[i])))
        out[j] = max(out[j], onsets[i] * persistence**q)
    return out


class RobustStart(SeasonalBaseline):
    """The seasonal baseline with its level restarted at the median / MAD of its warm-up."""

    def __init__(self) -> None:
        super().__init__()
        self.first: list[float] = []

    def learn_one(self, x: float, t: float) -> None:
        super().learn_one(x, t)
        if self.n <= self.warm_up:
            self.first.append(x)
            if self.n == self.warm_up:
                f = np.array(self.first)
                med = float(np.median(f))
                mad = 1.4826 * float(np.median(np.abs(f - med)))
                if mad > 0.0:
                    self.level_mean = med
                    self.level_var = min(self.level_var, mad * mad)


class FastLevel(SeasonalBaseline):
    """The seasonal baseline plus a fast winsorised EWMA level (weight ``fast``) as a model.

    The fast level is chosen when its running squared error is below that of
    the model the baseline would choose.
    """

    def __init__(self, fast: float) -> None:
        super().__init__()
        self.fast = fast
        self.f_mean = self.f_var = 0.0
        self.f_n = 0
        self.f_mse = math.nan

    def _fast_error(self, x: float) -> tuple[float, float] | None:
        if self.f_n < 30:
            return None
        return x - self.f_mean, math.sqrt(self.f_var) + 1e-9 + self.rel_floor * abs(self.f_mean)

    def signed_z(self, x: float, t: float) -> float:
        errs = self._errors(x, self._bins(t))
        best = self._best(errs)
        err = errs[best]
        assert err is not None
        fast = self._fast_error(x)
        if fast is not None and not math.isnan(self.f_mse) and self.f_mse < self.mse[best]:
            err = fast
        return err[0] / err[1]

    def learn_one(self, x: float, t: float) -> None:
        fast = self._fast_error(x)
        if fast is not None:
            sq = fast[0] ** 2
            m = self.f_mse
            self.f_mse = sq if math.isnan(m) else m + self.select_alpha * (sq - m)
        self.f_n += 1
        a = max(self.fast, 1.0 / self.f_n)
        d = x - self.f_mean
        if self.f_n > self.warm_up:
            d = math.copysign(min(abs(d), self.clip * math.sqrt(self.f_var)), d)
        self.f_mean += a * d
        self.f_var = (1.0 - a) * (self.f_var + a * d * d)
        super().learn_one(x, t)


def fast_signed(f: NabFile, fast: float) -> np.ndarray:
    """Signed z-score per row from :class:`FastLevel` (score before learn)."""
    d = FastLevel(fast)
    out = np.zeros(len(f.values))
    for i, (x, t) in enumerate(zip(f.values.tolist(), f.seconds.tolist(), strict=True)):
        if d.n >= d.warm_up:
            out[i] = d.signed_z(x, t)
        d.learn_one(x, t)
    return out


def reemitted(
    onsets: np.ndarray, signed: np.ndarray, delay: int, fraction: float, boost: float
) -> np.ndarray:
    """Onsets kept, plus each re-emitted ``delay`` samples later with its ratio x ``boost``
    when every z-score in between stayed at least ``fraction`` of the onset's."""
    out = onsets.copy()
    for i in np.nonzero(onsets)[0]:
        j = i + delay
        if j >= len(onsets):
            continue
        if (signed[i + 1 : j + 1] * np.sign(signed[i])).min() >= fraction * abs(signed[i]):
            ratio = -3.0 * math.log(max(1e-12, 1.0 - onsets[i]))
            out[j] = max(out[j], 1.0 - math.exp(-ratio * boost / 3.0))
    return out


def distribution_change(
    x: np.ndarray, recent: int = 20, reference: int = 500, chunk: int = 4000
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the two-sample Kolmogorov-Smirnov statistic (as ``D sqrt(mn / (m + n))``)
    and the 1-Wasserstein distance over the reference's standard deviation, between
    the last ``recent`` values and the ``reference`` values before them (0 until there
    are enough)."""
    n_rows = len(x)
    ks, w1 = np.zeros(n_rows), np.zeros(n_rows)
    m, n = recent, reference
    if n_rows < m + n:
        return ks, w1
    ends = np.arange(m + n, n_rows + 1)
    levels = np.clip(((np.arange(m) + 0.5) / m * n).astype(int), 0, n - 1)
    steps = np.arange(1, m + 1) / m
    for s0 in range(0, len(ends), chunk):
        e = ends[s0 : s0 + chunk]
        ref = np.sort(np.stack([x[k - m - n : k - m] for k in e]), axis=1)
        rec = np.sort(np.stack([x[k - m : k] for k in e]), axis=1)
        cdf = np.stack([np.searchsorted(r, v, side="right") for r, v in zip(ref, rec, strict=True)])
        cdf = cdf / n
        d = np.maximum(np.abs(steps - cdf), np.abs(steps - 1.0 / m - cdf)).max(axis=1)
        ks[e - 1] = d * math.sqrt(m * n / (m + n))
        sd = ref.std(axis=1) + 1e-9 + 1e-3 * np.abs(ref.mean(axis=1))
        w1[e - 1] = np.abs(rec - ref[:, levels]).mean(axis=1) / sd
    return ks, w1


def robust_signed(f: NabFile) -> np.ndarray:
    """Signed z-score per row from :class:`RobustStart` (score before learn)."""
    d = RobustStart()
    out = np.zeros(len(f.values))
    for i, (x, t) in enumerate(zip(f.values.tolist(), f.seconds.tolist(), strict=True)):
        if d.n >= d.warm_up:
            errs = d._errors(x, d._bins(t))
            err = errs[d._best(errs)]
            assert err is not None
            out[i] = err[0] / err[1]
        d.learn_one(x, t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    files = load_corpus(args.data)
    profiles: list[Profile] = list(load_profiles(args.data).values())
    signed = [seasonal_signed(f) for f in files]
    raw = [np.abs(s) for s in signed]
    signs = [np.sign(s) for s in signed]
    novel = [novel_flags(f) for f in files]
    check = run_file(registry.create("seasonalrange"), files[5])
    if not np.allclose(check, np.maximum(onset_stage(raw[5]), novel[5])):
        raise SystemExit("onset_stage no longer matches the registry's seasonalrange")

    def plain(**kw: Any) -> Callable[[int], np.ndarray]:
        return lambda i: onset_stage(raw[i], **kw)

    def with_values(**kw: Any) -> Callable[[int], np.ndarray]:
        return lambda i: onset_stage(raw[i], values=files[i].values, signs=signs[i], **kw)

    variants: list[tuple[str, Callable[[int], np.ndarray]]] = [
        ("seasonalrange before this round (no merging)", plain(merge_gap=0)),
        ("**seasonalrange, merged rises (new default)**", plain()),
    ]
    for gap in (2, 3, 5, 10):
        variants.append((f"merge gap {gap}", plain(merge_gap=gap)))
    for factor in (1.5, 2.0, 3.0):
        variants.append((f"merged unless {factor:g} x the first score", plain(merge_factor=factor)))
    for level in (2.0, 5.0):
        variants.append((f"no onset while raw > {level:g} after one", plain(excursion_level=level)))
    for frac in (0.3, 0.7):
        variants.append(
            (
                f"no onset while raw > {frac:g} x the excursion's first",
                plain(excursion_level=math.inf, excursion_fraction=frac),
            )
        )
    variants += [
        ("typical peak from the first onset of a run only", plain(peak_from="first")),
        ("typical peak from the run's maximum, at its end", plain(peak_from="max")),
    ]
    for b, bu in ((0.05, 0.15), (0.1, 0.15), (0.1, 0.3)):
        variants.append((f"beta {b:g}, beta_up {bu:g}", plain(beta=b, beta_up=bu)))
    for target, gamma, alpha in (
        (1 / 300, 0.25, 1 / 2000),
        (1 / 500, 0.15, 1 / 2000),
        (1 / 500, 0.25, 1 / 2000),
        (1 / 500, 0.35, 1 / 1000),
        (1 / 700, 0.25, 1 / 1000),
        (1 / 700, 0.35, 1 / 2000),
        (1 / 1000, 0.25, 1 / 2000),
        (1 / 1000, 0.5, 1 / 2000),
        (1 / 2000, 0.5, 1 / 2000),
    ):
        variants.append(
            (
                f"alarm-rate penalty, target 1/{1 / target:.0f}, gamma {gamma:g}, "
                f"alpha 1/{1 / alpha:.0f}",
                plain(rate_gamma=gamma, rate_target=target, rate_alpha=alpha),
            )
        )
    for gap, factor in ((10, 1.2), (30, 1.2), (30, 1.5)):
        variants.append(
            (
                f"merge gap {gap} unless {factor:g} x the first score",
                plain(merge_gap=gap, merge_factor=factor),
            )
        )
    for horizon, frac, q in (
        (1000, 1.0, 0.1),
        (1000, 0.8, 0.1),
        (3000, 0.8, 0.1),
        (10000, 0.8, 0.1),
    ):
        variants.append(
            (
                f"past onsets >= {frac:g} x this one in {horizon} samples, q {q:g}",
                plain(size_q=q, size_horizon=horizon, size_fraction=frac),
            )
        )
    for tol, q in (
        (0.001, 0.1),
        (0.001, 0.5),
        (0.005, 0.1),
        (0.01, 0.1),
        (0.02, 0.1),
        (0.02, 0.25),
        (0.05, 0.1),
        (0.05, 0.25),
    ):
        variants.append((f"seen before, tol {tol:g}, q {q:g}", with_values(seen_q=q, seen_tol=tol)))
    for q, clip in (((0.1, (0.1, 2.0))), (0.1, (0.5, 1.0)), (0.2, (0.5, 1.0)), (0.3, (0.1, 2.0))):
        variants.append(
            (
                f"range position, q {q:g}, clip [{clip[0]:g}, {clip[1]:g}]",
                with_values(position_q=q, position_clip=clip),
            )
        )
    for m in (0.02, 0.05, 0.1):
        variants.append((f"onset margin {m:g}", plain(margin=m)))
    root = [np.abs(seasonal_signed(_sqrt_file(f))) for f in files]
    variants.append(("seasonal |z| of sqrt(value) alone", lambda i: onset_stage(root[i])))
    for w in (0.25, 0.5):
        variants.append(
            (
                f"|z|^{1 - w:g} x |z of sqrt|^{w:g}",
                lambda i, w=w: onset_stage(raw[i] ** (1 - w) * root[i] ** w),
            )
        )
    for drift, weight in ((1.0, 0.5), (2.0, 0.5), (2.0, 1.0)):
        variants.append(
            (
                f"max(|z|, {weight:g} x CUSUM), drift {drift:g}",
                lambda i, d=drift, c=weight: onset_stage(cusum_raw(signed[i], d, c)),
            )
        )
    merged = [onset_stage(r) for r in raw]
    for delay, q, floor in (
        (1, 0.1, 0.1),
        (1, 0.2, 0.1),
        (2, 0.2, 0.1),
        (3, 0.4, 0.3),
        (5, 0.2, 0.1),
    ):
        variants.append(
            (
                f"emitted {delay} sample(s) late x persistence^{q:g} (floor {floor:g})",
                lambda i, d=delay, q=q, fl=floor: delayed(merged[i], signed[i], d, q, fl),
            )
        )
    for delay, frac, boost in ((2, 0.5, 1.3), (3, 0.5, 1.6), (3, 0.7, 1.3), (5, 0.5, 1.3)):
        variants.append(
            (
                f"kept, and re-emitted {delay} samples late x {boost:g} when sustained "
                f"(z >= {frac:g} x the onset's)",
                lambda i, d=delay, fr=frac, b=boost: reemitted(merged[i], signed[i], d, fr, b),
            )
        )
    for fast in (0.02, 0.1):
        fz = [np.abs(fast_signed(f, fast)) for f in files]
        variants.append(
            (
                f"seasonal baseline + a fast level model (weight {fast:g})",
                lambda i, fz=fz: onset_stage(fz[i]),
            )
        )
    dist = [distribution_change(f.values) for f in files]
    for k, name in ((0, "KS"), (1, "Wasserstein")):
        third = [onset_stage(d[k], ignore_first=520) for d in dist]
        for w in (0.5, 0.7, 1.0):
            variants.append(
                (
                    f"max(merged, {w:g} x onset of {name} last 20 vs previous 500)",
                    lambda i, t=third, w=w: np.maximum(merged[i], w * t[i]),
                )
            )
    robust = [np.abs(robust_signed(f)) for f in files]
    variants.append(
        (
            "seasonal level restarted at median / MAD of the first 20",
            lambda i: onset_stage(robust[i]),
        )
    )
    print(
        "| variant (all: max with the novel-range rule) | standard | low FP | low FN | TP/FN/FP |"
    )
    print("|---|---|---|---|---|")
    for label, make in variants:
        pairs = [
            (np.clip(np.maximum(make(i), novel[i]), 0.0, 1.0), f.windows)
            for i, f in enumerate(files)
        ]
        results = [score_corpus(pairs, p) for p in profiles]
        std = results[0]
        cells = " | ".join(f"{r.normalized:.1f}" for r in results)
        counts = f"{std.true_positives}/{std.false_negatives}/{std.false_positives}"
        print(f"| {label} | {cells} | {counts} |", flush=True)


def _sqrt_file(f: NabFile) -> NabFile:
    """The same file with each value replaced by sqrt(max(value, 0))."""
    return NabFile(
        relpath=f.relpath,
        timestamps=f.timestamps,
        values=np.sqrt(np.maximum(f.values, 0.0)),
        windows=f.windows,
    )


if __name__ == "__main__":
    main()
