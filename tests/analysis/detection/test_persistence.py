"""Saved models load back exactly, and bad files fail with ModelFormatError."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from selfheal.analysis.detection.persistence import FORMAT_VERSION, load_detector, save_detector
from selfheal.analysis.detection.registry import registry
from selfheal.core.errors import ModelFormatError


def _trained(tmp_path: Path) -> Path:
    d = registry.create("seasonal")
    for i in range(200):
        d.learn_one(float(i % 7), 60.0 * i)
    path = tmp_path / "m.npz"
    save_detector(d, path)
    return path


def _rewrite_meta(path: Path, change: dict[str, object]) -> None:
    with np.load(path, allow_pickle=False) as npz:
        files = {k: npz[k] for k in npz.files}
    meta = json.loads(files["__meta__"].tobytes())
    meta.update(change)
    files["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **files)


def test_a_model_from_another_version_is_refused_clearly(tmp_path: Path) -> None:
    path = _trained(tmp_path)
    _rewrite_meta(path, {"version": FORMAT_VERSION + 1})
    with pytest.raises(ModelFormatError, match="version"):
        load_detector(path)


def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = _trained(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="not a readable detector model"):
        load_detector(path)


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ModelFormatError, match="header"):
        load_detector(path)
    text = tmp_path / "t.npz"
    text.write_text("hello")
    with pytest.raises(ModelFormatError):
        load_detector(text)


def test_state_that_does_not_fit_the_detector_is_refused(tmp_path: Path) -> None:
    path = _trained(tmp_path)
    _rewrite_meta(path, {"spec": {"name": "seasonal", "params": {"periods_seconds": [10.0]}}})
    with pytest.raises(ModelFormatError, match="does not fit"):
        load_detector(path)


def test_an_unknown_detector_name_is_refused(tmp_path: Path) -> None:
    path = _trained(tmp_path)
    _rewrite_meta(path, {"spec": {"name": "gone", "params": {}}})
    with pytest.raises(ModelFormatError, match="gone"):
        load_detector(path)


def test_pickled_arrays_are_never_loaded(tmp_path: Path) -> None:
    path = _trained(tmp_path)
    with zipfile.ZipFile(path, "a") as zf, zf.open("state/evil.npy", "w") as fh:
        np.lib.format.write_array(fh, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFormatError):
        load_detector(path)


def test_unsaveable_state_is_refused_at_save_time(tmp_path: Path) -> None:
    d = registry.create("ewma", calibrated=False)
    d.get_state = lambda: {"bad": object()}  # type: ignore[method-assign]
    with pytest.raises(TypeError, match="cannot be saved"):
        save_detector(d, tmp_path / "m.npz")
