"""Saving and loading trained detectors without pickle.

A trained detector is written as one ``.npz`` file: its learned arrays, plus
a JSON header (stored as bytes) with the format name and version, the
detector's spec (registry name and parameters) and its scalar state. Loading
rebuilds the detector through the registry and restores its state; numpy is
told never to unpickle (``allow_pickle=False``), so a model file from an
untrusted place cannot run code. A corrupt file, a file from another format
version or a state that does not fit the detector raises
:class:`~selfheal.core.errors.ModelFormatError` naming the file and the reason.

>>> import tempfile, pathlib
>>> from selfheal.analysis.detection.registry import registry
>>> d = registry.create("ewma")
>>> for i in range(30):
...     d.learn_one(float(i % 3), float(i))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
>>> save_detector(d, path)
>>> load_detector(path).score_one(7.0, 30.0) == d.score_one(7.0, 30.0)
True
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, build
from selfheal.core.errors import ModelFormatError

FORMAT = "selfheal-detector"
FORMAT_VERSION = 1
_META = "__meta__"
_ARRAY = "state/"


def save_detector(detector: Detector, path: Path | str) -> None:
    """Write ``detector`` (spec + learned state) to ``path`` (.npz)."""
    scalars: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for key, value in detector.get_state().items():
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise TypeError(f"state {key!r} has dtype {value.dtype}; only numbers are saved")
            arrays[_ARRAY + key] = value
        elif isinstance(value, bool | int | float | str) or value is None:
            scalars[key] = value
        elif isinstance(value, np.generic):
            scalars[key] = value.item()
        else:
            raise TypeError(f"state {key!r} of type {type(value).__name__} cannot be saved")
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "spec": detector.spec(),
        "scalars": scalars,
    }
    header = np.frombuffer(json.dumps(meta, allow_nan=True).encode(), dtype=np.uint8)
    target = Path(path)
    with target.open("wb") as fh:
        np.savez_compressed(fh, allow_pickle=False, **{_META: header}, **arrays)


def load_detector(path: Path | str) -> Detector:
    """Rebuild the detector saved at ``path``; :class:`ModelFormatError` if unusable."""
    source = Path(path)
    if source.is_file() and not zipfile.is_zipfile(source):
        # np.load would try to read it as a pickle and suggest allowing that: never.
        raise ModelFormatError(f"{source}: not a readable detector model (not an npz archive)")
    try:
        with np.load(source, allow_pickle=False) as npz:
            files = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFormatError(f"{source}: not a readable detector model ({exc})") from exc
    if _META not in files:
        raise ModelFormatError(f"{source}: no {_META} header; not a {FORMAT} file")
    try:
        meta = json.loads(files[_META].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{source}: corrupt header ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(f"{source}: not a {FORMAT} file")
    if meta.get("version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{source}: saved with model format version {meta.get('version')!r}; "
            f"this selfheal reads version {FORMAT_VERSION} — retrain or convert the model"
        )
    try:
        detector = build(meta["spec"])
        state: dict[str, Any] = dict(meta["scalars"])
        state.update({k[len(_ARRAY) :]: v for k, v in files.items() if k.startswith(_ARRAY)})
        detector.set_state(state)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ModelFormatError(f"{source}: model does not fit its detector ({exc!r})") from exc
    return detector
