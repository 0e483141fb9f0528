"""``detection.detector`` / ``detection.model`` pick the loop's per-series detector; a bad
value is a ``ConfigError`` naming its key, raised before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.analysis.detection.persistence import save_detector
from selfheal.analysis.detection.registry import registry
from selfheal.core.config import parse_config
from selfheal.core.errors import ConfigError
from selfheal.loop.wiring import detector_for


def test_any_registered_detector_can_be_named() -> None:
    factory, name = detector_for(parse_config({"detection": {"detector": "seasonalart"}}))
    assert factory is not None and name == "seasonalart"
    assert factory().name == "ensemble"


def test_none_runs_no_detector() -> None:
    assert detector_for(parse_config({"detection": {"detector": "none"}})) == (None, "none")


def test_an_unknown_detector_names_the_key_and_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"^detection\.detector: unknown detector 'nope'; known: .*default"
    ):
        detector_for(parse_config({"detection": {"detector": "nope"}}))


def test_a_missing_model_names_the_key(tmp_path: Path) -> None:
    config = parse_config({"detection": {"model": str(tmp_path / "absent.npz")}})
    with pytest.raises(ConfigError, match=r"^detection\.model: .*absent\.npz: no such file"):
        detector_for(config)


def test_a_corrupt_model_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"\x80\x04not a model at all")
    with pytest.raises(ConfigError, match=r"^detection\.model: .*not a readable detector model"):
        detector_for(parse_config({"detection": {"model": str(path)}}))


def test_a_model_names_its_own_detector(tmp_path: Path) -> None:
    trained = registry.create("mad")
    for i in range(100):
        trained.learn_one(float(i % 7), float(i))
    path = tmp_path / "mad.npz"
    save_detector(trained, path)
    factory, name = detector_for(parse_config({"detection": {"model": str(path)}}))
    assert factory is not None and name == "mad"
