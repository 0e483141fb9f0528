"""The fuzzy-ART novelty detector: resonance, new categories, causal range, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selfheal.analysis.detection.art import SEASONALART_GAIN, Art, haar
from selfheal.analysis.detection.persistence import load_detector, save_detector
from selfheal.analysis.detection.registry import registry
from selfheal.core.errors import ModelFormatError


def _periodic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10.0 + 2.0 * np.sin(2 * np.pi * np.arange(n) / 48) + rng.normal(0, 0.05, n)


def _feed(d: Art, values: np.ndarray, start: int = 0) -> np.ndarray:
    return np.array([d.process_one(float(v), float(start + i)) for i, v in enumerate(values)])


def test_haar_is_orthonormal() -> None:
    x = np.array([1.0, 3.0, -2.0, 5.0, 0.5, 0.0, 4.0, 2.0])
    y = haar(x)
    assert np.isclose(np.linalg.norm(y), np.linalg.norm(x))
    assert np.isclose(y[0], x.sum() / np.sqrt(8))


def test_nothing_scores_during_the_learning_period() -> None:
    d = Art(step=2, learning=300)
    x = _periodic(300)
    x[150] = 100.0
    assert not _feed(d, x).any()


def test_a_repeating_pattern_resonates_and_a_new_one_is_an_anomaly() -> None:
    d = Art(step=2, learning=300)
    normal = _feed(d, _periodic(1200))
    assert normal[600:].max() == 0.0  # every window of the cycle has its category
    spike = np.full(2, 30.0)
    scores = _feed(d, spike, start=1200)
    assert scores.max() > 0.1


def test_only_the_last_sample_of_a_block_scores() -> None:
    d = Art(step=4, learning=100)
    _feed(d, _periodic(400))
    assert d.score_one(50.0, 400.0) == 0.0  # first sample of a block
    d.learn_one(50.0, 400.0)
    d.learn_one(50.0, 401.0)
    d.learn_one(50.0, 402.0)
    assert d.score_one(50.0, 403.0) > 0.0


def test_repeated_anomalies_lose_confidence() -> None:
    d = Art(step=1, learning=100, repeat_samples=1000)
    _feed(d, _periodic(600))
    first = _feed(d, np.array([40.0]), start=600).max()
    _feed(d, _periodic(60, seed=1), start=601)
    second = _feed(d, np.array([-25.0]), start=661).max()
    assert first > 0 and second > 0
    fresh = Art(step=1, learning=100, repeat_samples=1000)
    _feed(fresh, _periodic(600))
    _feed(fresh, _periodic(61, seed=1), start=600)
    assert second < _feed(fresh, np.array([-25.0]), start=661).max()


def test_the_range_is_causal_and_grows() -> None:
    d = Art(step=1, learning=10)
    _feed(d, np.array([1.0, 2.0, 3.0]))
    assert (d.low, d.high) == (1.0, 3.0)
    d.score_one(9.0, 3.0)
    assert (d.low, d.high) == (1.0, 3.0)  # scoring does not learn
    d.learn_one(9.0, 3.0)
    assert (d.low, d.high) == (1.0, 9.0)


def test_memory_is_bounded_by_max_categories() -> None:
    d = Art(step=1, learning=0, max_categories=5)
    rng = np.random.default_rng(3)
    _feed(d, rng.uniform(0, 100, 500))
    assert (d.used >= 0).sum() == 5
    assert d.lower.shape == (5, 16)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Art(window=6)
    with pytest.raises(ValueError, match="rho_low <= rho_high"):
        Art(rho_low=0.99, rho_high=0.9)
    with pytest.raises(ValueError, match="step"):
        Art(step=0)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    d = registry.create("art", step=3, learning=150)
    x = _periodic(900)
    x[700] = 40.0
    _feed(d, x[:500])
    path = tmp_path / "art.npz"
    save_detector(d, path)
    restored = load_detector(path)
    assert isinstance(restored, Art) and restored.params() == d.params()
    np.testing.assert_array_equal(_feed(restored, x[500:], 500), _feed(d, x[500:], 500))


def _saved_arrays(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A trained detector saved to disk, and the arrays of its file (to tamper with)."""
    d = Art(step=2, learning=50)
    _feed(d, _periodic(200))
    path = tmp_path / "art.npz"
    save_detector(d, path)
    with np.load(path, allow_pickle=False) as npz:
        return path, {k: npz[k] for k in npz.files}


def test_a_state_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    path, files = _saved_arrays(tmp_path)
    files["state/lower"] = files["state/lower"][:3]
    np.savez(path, **files)
    with pytest.raises(ModelFormatError, match="lower"):
        load_detector(path)


def test_a_corrupt_model_is_refused(tmp_path: Path) -> None:
    path, files = _saved_arrays(tmp_path)
    meta = json.loads(files["__meta__"].tobytes())
    meta["scalars"]["in_block"] = 7
    files["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **files)
    with pytest.raises(ModelFormatError, match="in_block"):
        load_detector(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFormatError, match="not a readable"):
        load_detector(path)


def test_seasonalart_is_the_max_of_seasonalrange_and_the_scaled_art_member() -> None:
    combined = registry.create("seasonalart", learning=100)
    members = [registry.create("seasonalrange"), Art(learning=100, gain=SEASONALART_GAIN)]
    x = _periodic(600)
    x[400] = 25.0
    x[500:510] -= 6.0
    got = _feed(combined, x)
    want = np.maximum(*(_feed(m, x) for m in members))
    np.testing.assert_array_equal(got, want)
    assert got[500:510].max() > 0.0
