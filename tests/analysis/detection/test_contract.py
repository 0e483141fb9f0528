"""Every registered detector through the same checks (river's check_estimator style)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selfheal.analysis.detection.base import Detector
from selfheal.analysis.detection.persistence import load_detector, save_detector
from selfheal.analysis.detection.registry import registry

from .conftest import labelled_stream

# Parameters for detectors that need some (rules) or that are costly at defaults.
PARAMS: dict[str, dict[str, Any]] = {
    "threshold": {"upper": 15.0},
    "rate": {"max_increase_per_second": 0.1},
    "staleness": {"max_gap_seconds": 90.0},
    "iforest": {"buffer_size": 256, "min_fit": 128, "refit_every": 256},
    "lstmae": {"buffer_size": 128, "min_fit": 128, "refit_every": 100_000, "epochs": 2},
    # Onset scoring suppresses repeats for ``window`` samples; the stream's events are 80+ apart.
    "onset": {"detector": {"name": "ewma", "params": {}}, "window": 50},
    "seasonalonset": {"window": 50},
    "seasonalrange": {"window": 50},
    "ensemble": {"members": [{"name": "ewma", "params": {}}, {"name": "mad", "params": {}}]},
    "calibrated": {"detector": {"name": "mad", "params": {}}},
}
# Rules judge declared limits, not learned normality; the novel-range rule flags only a
# value beyond everything seen, by design one of the stream's three events (its own test
# is in test_detectors).
NOT_LEARNED = {"threshold", "rate", "staleness", "novelrange"}
EVENTS = (500, 620, 700)  # onsets of the anomalies in ``labelled_stream``
SLOW = {"lstmae", "iforest"}  # model fits take seconds


def _names() -> list[Any]:
    out = []
    for name in registry.names():
        marks = [pytest.mark.slow] if name in SLOW else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def _make(name: str) -> Detector:
    if name == "lstmae":
        pytest.importorskip("torch")
    return registry.create(name, **PARAMS.get(name, {}))


def _run(d: Detector, t: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.array([d.process_one(float(v), float(s)) for v, s in zip(x, t, strict=True)])


@pytest.mark.parametrize("name", _names())
def test_scores_are_finite_and_calibrated(name: str) -> None:
    t, x, _ = labelled_stream()
    scores = _run(_make(name), t, x)
    assert np.all(np.isfinite(scores))
    assert scores.min() >= 0.0 and scores.max() <= 1.0


@pytest.mark.parametrize("name", _names())
def test_same_input_gives_same_scores(name: str) -> None:
    t, x, _ = labelled_stream(seed=3)
    assert np.array_equal(_run(_make(name), t, x), _run(_make(name), t, x))


@pytest.mark.parametrize("name", _names())
def test_score_one_does_not_change_the_detector(name: str) -> None:
    t, x, _ = labelled_stream()
    d = _make(name)
    _run(d, t[:400], x[:400])
    first = d.score_one(30.0, t[400])
    d.score_one(-5.0, t[400])
    assert d.score_one(30.0, t[400]) == first


@pytest.mark.parametrize("name", _names())
def test_save_and_load_continue_identically(name: str, tmp_path: Path) -> None:
    t, x, _ = labelled_stream(seed=5)
    d = _make(name)
    _run(d, t[:450], x[:450])
    path = tmp_path / f"{name}.npz"
    save_detector(d, path)
    restored = load_detector(path)
    assert type(restored) is type(d)
    np.testing.assert_allclose(_run(restored, t[450:], x[450:]), _run(d, t[450:], x[450:]))


@pytest.mark.parametrize("name", _names())
def test_memory_is_constant_per_series(name: str) -> None:
    t, x, _ = labelled_stream(n=1800)
    d = _make(name)
    _run(d, t[:600], x[:600])
    size_early = _state_size(d)
    _run(d, t[600:], x[600:])
    # Three times the samples; linear growth would triple the state. (A refitted
    # forest's node count varies a little from fit to fit.)
    assert _state_size(d) <= 1.3 * size_early


@pytest.mark.parametrize("name", [n for n in _names() if n.values[0] not in NOT_LEARNED])
def test_beats_chance_on_a_labelled_stream(name: str) -> None:
    for seed in range(2):
        t, x, _ = labelled_stream(seed=seed)
        s = _run(_make(name), t, x)
        normal = np.ones(len(s), dtype=bool)
        normal[:400] = False  # learning
        for at in EVENTS:
            normal[at - 2 : at + 25] = False
        # Each event's best score within its first 5 samples beats 95% of normal samples.
        threshold = np.quantile(s[normal], 0.95)
        caught = [s[at : at + 5].max() > threshold for at in EVENTS]
        assert sum(caught) >= 2, (seed, caught, threshold)


def _state_size(d: Detector) -> int:
    total = 0
    for v in d.get_state().values():
        total += v.size if isinstance(v, np.ndarray) else 1
    return total
