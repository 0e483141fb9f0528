"""Invariants of the NAB scorer (Lavin & Ahmad 2015)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.bench.nab.scorer import (
    Profile,
    probation_rows,
    scaled_sigmoid,
    score_corpus,
)

STANDARD = Profile("standard", 1.0, 0.11, 1.0)
LOW_FP = Profile("reward_low_FP_rate", 1.0, 0.22, 1.0)
LOW_FN = Profile("reward_low_FN_rate", 1.0, 0.11, 2.0)
PROFILES = [STANDARD, LOW_FP, LOW_FN]


def _corpus(rng: np.random.Generator, n_files: int) -> list[tuple[int, list[tuple[int, int]]]]:
    out = []
    for _ in range(n_files):
        n = int(rng.integers(400, 2000))
        start = probation_rows(n) + 5
        windows = []
        pos = start
        for _ in range(int(rng.integers(1, 4))):
            a = pos + int(rng.integers(0, 100))
            b = a + int(rng.integers(5, 60))
            if b >= n:
                break
            windows.append((a, b))
            pos = b + 20
        out.append((n, windows))
    return out


def _perfect(n: int, windows: list[tuple[int, int]]) -> np.ndarray:
    s = np.zeros(n)
    for a, _ in windows:
        s[a] = 1.0
    return s


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), profile=st.sampled_from(PROFILES))
def test_perfect_detector_scores_100_and_null_scores_0(seed: int, profile: Profile) -> None:
    corpus = _corpus(np.random.default_rng(seed), 4)
    perfect = score_corpus([(_perfect(n, w), w) for n, w in corpus], profile)
    null = score_corpus([(np.zeros(n), w) for n, w in corpus], profile)
    assert perfect.normalized == pytest.approx(100.0)
    assert null.normalized == pytest.approx(0.0)
    assert null.true_positives == 0


def test_earlier_detection_in_a_window_scores_more() -> None:
    n, window = 1000, (400, 499)
    results = []
    for at in (400, 430, 460, 499):
        s = np.zeros(n)
        s[at] = 1.0
        results.append(score_corpus([(s, [window])], STANDARD).raw)
    assert results == sorted(results, reverse=True)
    assert results[0] == pytest.approx(1.0)
    assert results[-1] == pytest.approx(scaled_sigmoid(-1 / 100) / scaled_sigmoid(-1.0))


def test_only_the_earliest_detection_of_a_window_counts() -> None:
    s = np.zeros(1000)
    s[[410, 420, 450]] = 1.0
    many = score_corpus([(s, [(400, 499)])], STANDARD).raw
    s1 = np.zeros(1000)
    s1[410] = 1.0
    assert many == pytest.approx(score_corpus([(s1, [(400, 499)])], STANDARD).raw)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_false_positive_far_from_windows_costs_the_profile_weight(profile: Profile) -> None:
    window = (600, 699)
    base = _perfect(1000, [window])
    with_fp = base.copy()
    with_fp[300] = 1.0  # before any window: full cost
    a = score_corpus([(base, [window])], profile).raw
    b = score_corpus([(with_fp, [window])], profile).raw
    assert a - b == pytest.approx(profile.fp_weight)


def test_false_positive_just_after_a_window_costs_less_than_far_after() -> None:
    window = (400, 499)
    near, far = _perfect(1000, [window]), _perfect(1000, [window])
    near[505] = 1.0
    far[900] = 1.0
    raw_near = score_corpus([(near, [window])], STANDARD).raw
    raw_far = score_corpus([(far, [window])], STANDARD).raw
    assert 1.0 > raw_near > raw_far == pytest.approx(1.0 - STANDARD.fp_weight)


def test_detections_in_the_probationary_period_do_not_count() -> None:
    n = 1000
    assert probation_rows(n) == 150
    assert probation_rows(10_000) == 750
    s = _perfect(n, [(600, 699)])
    s[10] = 1.0
    assert score_corpus([(s, [(600, 699)])], STANDARD).normalized == pytest.approx(100.0)


def test_threshold_is_optimised_over_the_whole_corpus() -> None:
    # File A: a true detection scored 0.9 and a false one scored 0.5.
    a = np.zeros(1000)
    a[400] = 0.9
    a[800] = 0.5
    # File B: its window is only found at 0.5.
    b = np.zeros(1000)
    b[300] = 0.5
    result = score_corpus([(a, [(400, 499)]), (b, [(300, 399)])], STANDARD)
    # Taking 0.5 gains B's window (+2) for one false positive (-0.11 at most).
    assert result.threshold == 0.5
    assert result.true_positives == 2
    assert result.false_positives == 1


def test_random_scores_land_between_null_and_perfect() -> None:
    rng = np.random.default_rng(7)
    corpus = _corpus(rng, 8)
    result = score_corpus([(rng.random(n), w) for n, w in corpus], STANDARD)
    assert 0.0 <= result.normalized < 60.0


def test_rejects_non_finite_scores() -> None:
    with pytest.raises(ValueError, match="finite"):
        score_corpus([(np.array([0.1, np.nan]), [])], STANDARD)
