"""Cross-validation on NAB: folds within categories, fixed-threshold scoring, choices on train."""

from __future__ import annotations

import numpy as np
import pytest

from selfheal.bench.nab.cv import Prepared, category_folds, cross_validate, score_at_threshold
from selfheal.bench.nab.scorer import Profile, probation_rows, score_corpus

STANDARD = Profile("standard", 1.0, 0.11, 1.0)
LOW_FN = Profile("reward_low_FN_rate", 1.0, 0.11, 2.0)


def _corpus(seed: int, n_files: int = 6) -> list[tuple[int, list[tuple[int, int]]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_files):
        n = int(rng.integers(800, 2000))
        a = probation_rows(n) + int(rng.integers(20, 200))
        out.append((n, [(a, a + 40), (a + 300, a + 350)]))
    return out


def _noisy(corpus: list[tuple[int, list[tuple[int, int]]]], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for n, windows in corpus:
        s = 0.8 * rng.random(n) ** 6
        for a, _ in windows:
            s[a + 5] = 0.9 + 0.1 * rng.random()
        out.append(s)
    return out


def test_folds_split_every_category_evenly_and_alternate_across_categories() -> None:
    cats = ["a"] * 3 + ["b"] * 3 + ["c"] * 4
    folds = category_folds(cats, 2)
    for c in "abc":
        members = [f for f, cat in zip(folds, cats, strict=True) if cat == c]
        assert abs(members.count(0) - members.count(1)) <= 1
    assert folds.count(0) == folds.count(1) == 5  # odd categories do not all favour fold 0


def test_seeded_folds_repeat_for_a_seed_and_differ_between_seeds() -> None:
    cats = ["a"] * 6 + ["b"] * 6
    assert category_folds(cats, 2, seed=3) == category_folds(cats, 2, seed=3)
    assert len({tuple(category_folds(cats, 2, seed=s)) for s in range(10)}) > 1


def test_fewer_than_two_folds_is_refused() -> None:
    with pytest.raises(ValueError, match="2 folds"):
        category_folds(["a", "b"], 1)


@pytest.mark.parametrize("profile", [STANDARD, LOW_FN])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fixed_threshold_score_equals_the_optimisers_at_its_threshold(
    profile: Profile, seed: int
) -> None:
    corpus = _corpus(seed)
    files = [(s, w) for s, (_, w) in zip(_noisy(corpus, seed), corpus, strict=True)]
    best = score_corpus(files, profile)
    at = score_at_threshold(files, profile, best.threshold)
    assert at.normalized == pytest.approx(best.normalized)
    assert (at.true_positives, at.false_positives) == (best.true_positives, best.false_positives)


def test_a_detection_inside_probation_does_not_count() -> None:
    n = 1000
    s = np.zeros(n)
    s[10] = 1.0
    result = score_at_threshold([(s, [(500, 540)])], STANDARD, 0.5)
    assert result.false_positives == 0 and result.normalized == 0.0


def test_cross_validation_chooses_on_train_and_applies_the_train_threshold() -> None:
    corpus = _corpus(7, 8)
    prepared = Prepared([w for _, w in corpus], [n for n, _ in corpus], [STANDARD, LOW_FN])
    good = _noisy(corpus, 1)
    # "scaled" is as good in-sample on each fold alone, but its scale differs between
    # the folds, so a threshold learnt on one fold misses everything on the other.
    folds = [i % 2 for i in range(len(corpus))]
    scaled = [s * (1.0 if folds[i] == 0 else 0.5) for i, s in enumerate(good)]
    result = cross_validate({"scaled": scaled}, prepared, folds)
    assert [f.candidate for f in result.folds] == ["scaled", "scaled"]
    assert result.pooled["standard"].normalized < 50.0
    for k in (0, 1):
        alone = [i for i in range(len(corpus)) if folds[i] == k]
        assert prepared.optimise(scaled, alone, "standard").normalized > 90.0
    rng = np.random.default_rng(2)
    noise = [rng.random(n) for n, _ in corpus]
    both = cross_validate({"noise": noise, "good": good}, prepared, folds)
    assert {f.candidate for f in both.folds} == {"good"}
    assert both.pooled["standard"].normalized > 90.0


def test_cross_validation_rejects_a_candidate_with_the_wrong_number_of_files() -> None:
    corpus = _corpus(0, 4)
    prepared = Prepared([w for _, w in corpus], [n for n, _ in corpus], [STANDARD])
    with pytest.raises(ValueError, match="expected 4"):
        cross_validate({"short": _noisy(corpus, 0)[:3]}, prepared, [0, 1, 0, 1])
