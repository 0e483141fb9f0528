"""The NAB scorer: windows, scaled sigmoid, threshold optimisation, normalisation.

Written from the definition in Lavin & Ahmad (ICMLA 2015) and NAB's
documentation:

- The first 15% of each file (at most 750 rows) is probationary: nothing
  there counts.
- A row inside a labelled window of ``w`` rows ending at row ``e`` has
  relative position ``y = -(e - i + 1) / w``; a detection there is worth
  ``A_tp * σ(y) / σ(-1)`` with ``σ(y) = 2 / (1 + e^{5y}) - 1`` (so the first
  row of a window earns exactly ``A_tp``). Only the earliest detection of a
  window counts; a window without detection costs ``-A_fn``.
- A detection outside every window is a false positive worth
  ``A_fp * σ((i - e) / (w - 1))`` relative to the preceding window (σ is −1
  from 3 window-widths on), and ``-A_fp`` when no window precedes it.
- The threshold on the anomaly score is chosen per profile to maximise the
  total over the whole corpus (NAB's optimiser); a row is a detection when
  its score is ``>=`` the threshold.
- Normalised score ``100 * (S - S_null) / (S_perfect - S_null)`` with
  ``S_null = -A_fn * windows`` (detect nothing) and
  ``S_perfect = A_tp * windows`` (detect every window at its first row).

>>> round(scaled_sigmoid(-1.0), 5), scaled_sigmoid(0.0), scaled_sigmoid(3.0)
(0.98661, 0.0, -1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Profile:
    """A NAB cost matrix."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """The best result of one profile over a corpus."""

    profile: str
    normalized: float  # the NAB score, 0 = null detector, 100 = perfect
    raw: float
    threshold: float
    true_positives: int  # windows detected
    false_negatives: int  # windows missed
    false_positives: int  # detections outside windows
    windows: int


def scaled_sigmoid(y: float) -> float:
    """NAB's ``2 / (1 + e^{5y}) - 1``, pinned at -1 from ``y >= 3``."""
    if y >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_rows(n_rows: int, fraction: float = 0.15) -> int:
    """Rows at the start of a file that do not count: 15%, at most 750."""
    return int(min(math.floor(fraction * n_rows), fraction * 5000))


def _row_weights(
    n_rows: int, windows: Sequence[tuple[int, int]], profile: Profile, probation: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the value of a detection there, and its window id (-1 outside)."""
    value = np.empty(n_rows)
    window_id = np.full(n_rows, -1, dtype=np.int64)
    max_tp = scaled_sigmoid(-1.0)
    prev_end: int | None = None
    prev_width = 0
    ordered = sorted(windows)
    k = 0
    i = 0
    while i < n_rows:
        if k < len(ordered) and i == ordered[k][0]:
            a, b = ordered[k]
            width = b - a + 1
            for j in range(a, b + 1):
                value[j] = profile.tp_weight * scaled_sigmoid(-(b - j + 1) / width) / max_tp
                window_id[j] = k
            prev_end, prev_width = b, width
            k += 1
            i = b + 1
            continue
        if prev_end is None:
            value[i] = -profile.fp_weight
        else:
            denom = float(prev_width - 1) if prev_width > 1 else 1.0
            value[i] = profile.fp_weight * scaled_sigmoid(abs(i - prev_end) / denom)
        i += 1
    value[:probation] = 0.0
    window_id[:probation] = -2  # probationary: ignored entirely
    return value, window_id


def score_corpus(
    files: Sequence[tuple[np.ndarray, Sequence[tuple[int, int]]]],
    profile: Profile,
    probation_fraction: float = 0.15,
) -> CorpusScore:
    """Optimise the threshold for ``profile`` over ``(scores, windows)`` per file.

    ``scores`` are the detector's anomaly scores, one per row; ``windows`` are
    inclusive row-index ranges of the labelled anomaly windows.
    """
    all_scores: list[np.ndarray] = []
    all_values: list[np.ndarray] = []
    all_windows: list[np.ndarray] = []
    n_windows = 0
    for scores, windows in files:
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 1 or not np.all(np.isfinite(s)):
            raise ValueError("anomaly scores must be a 1-D array of finite numbers")
        value, wid = _row_weights(
            len(s), windows, profile, probation_rows(len(s), probation_fraction)
        )
        keep = wid != -2
        wid = wid[keep]
        # Windows wholly inside probation cannot be scored (NAB drops them too);
        # the others get corpus-wide ids.
        local = np.unique(wid[wid >= 0])
        remap = np.full(len(windows) + 1, -1, dtype=np.int64)
        remap[local] = n_windows + np.arange(len(local))
        all_windows.append(np.where(wid >= 0, remap[np.maximum(wid, 0)], -1))
        all_scores.append(s[keep])
        all_values.append(value[keep])
        n_windows += len(local)
    scores_c = np.concatenate(all_scores) if all_scores else np.zeros(0)
    values_c = np.concatenate(all_values) if all_values else np.zeros(0)
    windows_c = np.concatenate(all_windows) if all_windows else np.zeros(0, dtype=np.int64)
    return _optimise(scores_c, values_c, windows_c, n_windows, profile)


def _optimise(
    scores: np.ndarray, values: np.ndarray, window_ids: np.ndarray, n_windows: int, profile: Profile
) -> CorpusScore:
    order = np.argsort(-scores, kind="stable")
    s_sorted = scores[order]
    v_sorted = values[order]
    w_sorted = window_ids[order]
    best_in_window = np.full(n_windows, -np.inf)
    total = -profile.fn_weight * n_windows
    null = total
    best = (total, math.inf, 0, n_windows, 0)  # score, threshold, tp, fn, fp
    tp = fp = 0
    n = len(s_sorted)
    i = 0
    while i < n:
        thr = s_sorted[i]
        j = i
        while j < n and s_sorted[j] == thr:
            w = int(w_sorted[j])
            v = float(v_sorted[j])
            if w < 0:
                total += v
                fp += 1
            elif v > best_in_window[w]:
                if best_in_window[w] == -np.inf:
                    total += profile.fn_weight + v
                    tp += 1
                else:
                    total += v - best_in_window[w]
                best_in_window[w] = v
            j += 1
        if total > best[0]:
            best = (total, float(thr), tp, n_windows - tp, fp)
        i = j
    perfect = profile.tp_weight * n_windows
    normalized = 100.0 * (best[0] - null) / (perfect - null) if perfect != null else 0.0
    return CorpusScore(
        profile=profile.name,
        normalized=float(normalized),
        raw=best[0],
        threshold=best[1],
        true_positives=best[2],
        false_negatives=best[3],
        false_positives=best[4],
        windows=n_windows,
    )
