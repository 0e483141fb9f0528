"""Cross-validation on NAB: choose on some files, score on the others.

``selfheal bench nab`` reports the in-sample score: the detector's parameters
were chosen on the very files it is scored on, and the threshold is the one
that maximises the score of those files (NAB's optimiser). Both are choices
fitted to the data, so the in-sample figure is the optimistic one. Here every
choice is made on a *training* fold and judged on a *test* fold:

- :func:`category_folds` splits the files into ``k`` folds within each NAB
  category (so every fold holds Twitter volumes, AWS metrics, ...); with no
  seed the files of each category are dealt out alternately in corpus order,
  with a seed they are shuffled first;
- :func:`cross_validate` takes the per-file scores of every candidate
  configuration of one detector (a parameter grid; one candidate means only
  the threshold is chosen), picks on the training folds the candidate with the
  best optimised standard score, takes that candidate's optimal threshold per
  profile on the training folds (as NAB does per detector and profile; Lavin &
  Ahmad, ICMLA 2015), and applies both to the test fold (k-fold cross-validation,
  stratified by category; Kohavi, IJCAI 1995);
- the test folds' detections are pooled and scored together over the whole
  corpus (:func:`score_at_threshold` on 0/1 detections), so the figure is on
  the same 57 windows and the same normalisation as the in-sample one.

This module reads no files and runs no detector: it works on score arrays.

>>> import numpy as np
>>> from selfheal.bench.nab.scorer import Profile
>>> p = Profile("standard", 1.0, 0.11, 1.0)
>>> s = np.zeros(1000); s[500] = 0.9
>>> score_at_threshold([(s, [(480, 520)])], p, 0.5).true_positives
1
>>> score_at_threshold([(s, [(480, 520)])], p, 0.95).normalized
0.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from selfheal.bench.nab.scorer import (
    CorpusScore,
    Profile,
    _optimise,
    _row_weights,
    probation_rows,
)

#: Per-file anomaly scores of one candidate, in corpus order.
Scores = Sequence[np.ndarray]
Windows = Sequence[tuple[int, int]]


def category_folds(categories: Sequence[str], k: int = 2, seed: int | None = None) -> list[int]:
    """Fold index (0..k-1) of each file, balanced within every category.

    The files of one category are dealt out to the folds in turn; the dealing
    starts where the previous category's ended, so categories with an odd
    number of files do not all put their extra file in fold 0. With ``seed``
    the files of each category are shuffled first (numpy's PCG64).

    >>> category_folds(["a", "a", "a", "b", "b", "b"])
    [0, 1, 0, 1, 0, 1]
    """
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    rng = np.random.default_rng(seed) if seed is not None else None
    fold = [0] * len(categories)
    turn = 0
    for category in sorted(set(categories)):
        members = [i for i, c in enumerate(categories) if c == category]
        if rng is not None:
            members = [members[j] for j in rng.permutation(len(members))]
        for i in members:
            fold[i] = turn % k
            turn += 1
    return fold


class Prepared:
    """Each file's row values and window ids per profile, computed once (the scorer's slow part).

    ``windows`` and ``lengths`` describe the corpus (one entry per file).
    """

    def __init__(
        self,
        windows: Sequence[Windows],
        lengths: Sequence[int],
        profiles: Sequence[Profile],
        probation_fraction: float = 0.15,
    ) -> None:
        if len(windows) != len(lengths):
            raise ValueError(f"{len(windows)} window lists for {len(lengths)} files")
        self.profiles = {p.name: p for p in profiles}
        self.lengths = [int(n) for n in lengths]
        self.keep: list[np.ndarray] = []
        self._rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {p.name: [] for p in profiles}
        for n, wins in zip(self.lengths, windows, strict=True):
            probation = probation_rows(n, probation_fraction)
            keep = np.arange(n) >= probation
            self.keep.append(keep)
            for p in profiles:
                value, wid = _row_weights(n, wins, p, probation)
                self._rows[p.name].append((value[keep], wid[keep]))

    def _gather(
        self, scores: Scores, files: Sequence[int], profile: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        rows = self._rows[profile]
        s_parts, v_parts, w_parts = [], [], []
        n_windows = 0
        for i in files:
            s = np.asarray(scores[i], dtype=np.float64)
            if s.shape != (self.lengths[i],):
                raise ValueError(f"file {i}: {s.shape[0]} scores for {self.lengths[i]} rows")
            value, wid = rows[i]
            local = np.unique(wid[wid >= 0])
            remap = np.full(int(wid.max(initial=0)) + 2, -1, dtype=np.int64)
            remap[local] = n_windows + np.arange(len(local))
            w_parts.append(np.where(wid >= 0, remap[np.maximum(wid, 0)], -1))
            s_parts.append(s[self.keep[i]])
            v_parts.append(value)
            n_windows += len(local)
        cat = np.concatenate
        if not s_parts:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), 0
        return cat(s_parts), cat(v_parts), cat(w_parts), n_windows

    def optimise(self, scores: Scores, files: Sequence[int], profile: str) -> CorpusScore:
        """NAB's score of ``files`` at the threshold that is best for them (``score_corpus``)."""
        s, v, w, n_windows = self._gather(scores, files, profile)
        return _optimise(s, v, w, n_windows, self.profiles[profile])

    def at_threshold(
        self, scores: Scores, files: Sequence[int], profile: str, threshold: float
    ) -> CorpusScore:
        """NAB's score of ``files`` when every row scoring ``>= threshold`` is a detection."""
        s, v, w, n_windows = self._gather(scores, files, profile)
        p = self.profiles[profile]
        hit = s >= threshold
        outside = hit & (w < 0)
        raw = float(v[outside].sum())
        tp = 0
        inside = np.flatnonzero(hit & (w >= 0))
        if len(inside):
            # Within a window the earliest row is worth the most; rows are in time order.
            ids, first = np.unique(w[inside], return_index=True)
            raw += float(v[inside[first]].sum())
            tp = len(ids)
        raw -= p.fn_weight * (n_windows - tp)
        null = -p.fn_weight * n_windows
        perfect = p.tp_weight * n_windows
        normalized = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
        return CorpusScore(
            profile=p.name,
            normalized=float(normalized),
            raw=raw,
            threshold=float(threshold),
            true_positives=tp,
            false_negatives=n_windows - tp,
            false_positives=int(outside.sum()),
            windows=n_windows,
        )


def score_at_threshold(
    files: Sequence[tuple[np.ndarray, Windows]],
    profile: Profile,
    threshold: float,
    probation_fraction: float = 0.15,
) -> CorpusScore:
    """The NAB score of ``files`` when every row scoring ``>= threshold`` is a detection."""
    prepared = Prepared(
        [w for _, w in files], [len(s) for s, _ in files], [profile], probation_fraction
    )
    return prepared.at_threshold([s for s, _ in files], range(len(files)), profile.name, threshold)


@dataclass(frozen=True, slots=True)
class FoldChoice:
    """What was chosen on the training part of one fold."""

    test_fold: int
    candidate: str  # the configuration chosen (by optimised standard score on training)
    thresholds: Mapping[str, float]  # per profile, optimal on training
    train_scores: Mapping[str, float]  # per profile, in-sample on training
    test_scores: Mapping[str, float]  # per profile, the test fold alone at those choices


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """One split: the pooled out-of-fold score per profile and each fold's choices."""

    pooled: Mapping[str, CorpusScore]
    folds: tuple[FoldChoice, ...]


def cross_validate(
    candidates: Mapping[str, Scores],
    prepared: Prepared,
    folds: Sequence[int],
    select_profile: str = "standard",
) -> CrossValidation:
    """Choose a candidate and thresholds on the other folds, detect on each fold, pool.

    ``candidates`` maps a configuration's label to its per-file scores (corpus
    order); ``prepared`` holds the files' windows and the profiles; ``folds``
    gives each file's fold. The candidate is chosen by ``select_profile`` (NAB
    fixes a detector's parameters once for every profile); thresholds are
    chosen per profile. Ties between candidates go to the first in
    ``candidates`` order (put the simplest first).
    """
    if not candidates:
        raise ValueError("no candidate configurations")
    n_files = len(prepared.lengths)
    for label, scores in candidates.items():
        if len(scores) != n_files:
            raise ValueError(f"candidate {label!r} has {len(scores)} files, expected {n_files}")
    if len(folds) != n_files:
        raise ValueError(f"{len(folds)} fold indices for {n_files} files")
    if select_profile not in prepared.profiles:
        raise ValueError(f"unknown selection profile {select_profile!r}")
    names = list(prepared.profiles)
    detections: dict[str, list[np.ndarray]] = {name: [np.zeros(0)] * n_files for name in names}
    choices: list[FoldChoice] = []
    for fold in sorted(set(folds)):
        train = [i for i in range(n_files) if folds[i] != fold]
        test = [i for i in range(n_files) if folds[i] == fold]
        best_label, best_value = "", -math.inf
        for label, scores in candidates.items():
            value = prepared.optimise(scores, train, select_profile).normalized
            if value > best_value:
                best_label, best_value = label, value
        chosen = candidates[best_label]
        thresholds: dict[str, float] = {}
        train_scores: dict[str, float] = {}
        test_scores: dict[str, float] = {}
        for name in names:
            fit = prepared.optimise(chosen, train, name)
            thresholds[name] = fit.threshold
            train_scores[name] = fit.normalized
            test_scores[name] = prepared.at_threshold(chosen, test, name, fit.threshold).normalized
            for i in test:
                detections[name][i] = (chosen[i] >= fit.threshold).astype(np.float64)
        choices.append(FoldChoice(fold, best_label, thresholds, train_scores, test_scores))
    everything = range(n_files)
    pooled = {
        name: prepared.at_threshold(detections[name], everything, name, 0.5) for name in names
    }
    return CrossValidation(pooled, tuple(choices))
