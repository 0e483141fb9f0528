"""The loop's per-series detectors from configuration: names, models, clones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfheal.analysis.detection.live import (
    UnknownDetector,
    clone,
    detector_name,
    known_names,
    live_factory,
)
from selfheal.analysis.detection.persistence import save_detector
from selfheal.analysis.detection.registry import registry


def test_every_registered_detector_and_none_are_known() -> None:
    assert known_names() == [*registry.names(), "none"]


def test_an_unknown_name_is_refused_with_the_known_names() -> None:
    with pytest.raises(UnknownDetector, match="known: .*seasonalart.*none"):
        live_factory("isolation_forest")


def test_a_wrapper_that_needs_members_is_refused_at_start_up() -> None:
    with pytest.raises(UnknownDetector, match="'onset' cannot run without parameters"):
        live_factory("onset")


def test_each_series_gets_its_own_detector() -> None:
    factory = live_factory("seasonalart")
    assert factory is not None
    a, b = factory(), factory()
    for i in range(400):
        a.learn_one(float(i % 5), 60.0 * i)
    assert b.get_state()["m1.seen"] == 0 and a.get_state()["m1.seen"] == 400


def test_a_model_starts_every_series_from_its_learned_state(tmp_path: Path) -> None:
    trained = registry.create("ewma")
    for i in range(200):
        trained.learn_one(10.0 + (i % 3), float(i))
    path = tmp_path / "m.npz"
    save_detector(trained, path)
    factory = live_factory("none", path)
    assert factory is not None
    first, second = factory(), factory()
    assert first.score_one(30.0, 200.0) == trained.score_one(30.0, 200.0) > 0.9
    for i in range(50):
        first.learn_one(30.0, 200.0 + i)  # one series learning leaves the others alone
    assert second.score_one(30.0, 250.0) == trained.score_one(30.0, 250.0)
    assert detector_name(first) == "ewma"


def test_a_clone_does_not_share_arrays_with_its_template() -> None:
    template = registry.create("seasonal")
    for i in range(100):
        template.learn_one(float(i % 4), 60.0 * i)
    twin = clone(template)
    twin.learn_one(100.0, 6000.0)
    assert not np.array_equal(
        twin.get_state()["detector.mse"], template.get_state()["detector.mse"]
    )
