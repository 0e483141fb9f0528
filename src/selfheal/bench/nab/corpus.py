"""Reading a NAB corpus: data files, anomaly windows and scoring profiles.

Layout (as NAB ships it): ``DIR/data/<category>/<file>.csv`` with columns
``timestamp,value``; optional ``DIR/labels/combined_windows.json`` mapping
``"<category>/<file>.csv"`` to ``[[start, end], ...]`` timestamps; optional
``DIR/config/profiles.json`` with the cost matrix of each profile. Windows
are turned into inclusive row-index ranges here; detectors only ever see
timestamps and values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from selfheal.bench.nab.scorer import Profile
from selfheal.core.errors import ConfigError

#: NAB's published cost matrices, used when the corpus has no config/profiles.json.
DEFAULT_PROFILES: Mapping[str, Profile] = {
    "standard": Profile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": Profile(
        "reward_low_FP_rate", tp_weight=1.0, fp_weight=0.22, fn_weight=1.0
    ),
    "reward_low_FN_rate": Profile(
        "reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0
    ),
}


@dataclass(frozen=True, slots=True)
class NabFile:
    """One data file: its rows and its labelled windows (inclusive row ranges)."""

    relpath: str  # "<category>/<file>.csv", the key of the label file
    timestamps: np.ndarray  # datetime64[ns]
    values: np.ndarray  # float64
    windows: tuple[tuple[int, int], ...]

    @property
    def category(self) -> str:
        return self.relpath.split("/")[0]

    @property
    def filename(self) -> str:
        return self.relpath.split("/")[-1]

    @property
    def seconds(self) -> np.ndarray:
        """Timestamps as float seconds since the epoch (what detectors get)."""
        return self.timestamps.astype("datetime64[ns]").astype(np.int64) / 1e9

    def label_column(self) -> np.ndarray:
        lab = np.zeros(len(self.values), dtype=np.int64)
        for a, b in self.windows:
            lab[a : b + 1] = 1
        return lab


def load_corpus(root: Path, *, with_labels: bool = True) -> list[NabFile]:
    """All files under ``root/data`` (sorted), with windows when labels exist."""
    data_dir = root / "data"
    if not data_dir.is_dir():
        raise ConfigError(f"NAB corpus: no 'data' folder under {root}")
    label_path = root / "labels" / "combined_windows.json"
    windows_by_file: dict[str, list[list[str]]] = {}
    if with_labels and label_path.is_file():
        try:
            windows_by_file = json.loads(label_path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"NAB labels {label_path} are not valid JSON: {exc}") from exc
    files: list[NabFile] = []
    for path in sorted(data_dir.glob("*/*.csv")):
        rel = f"{path.parent.name}/{path.name}"
        frame = pd.read_csv(path)
        if list(frame.columns[:2]) != ["timestamp", "value"]:
            raise ConfigError(
                f"{path}: expected columns timestamp,value, got {list(frame.columns)}"
            )
        ts = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
        values = frame["value"].to_numpy(dtype=np.float64)
        windows = _window_indices(ts, windows_by_file.get(rel, []), rel)
        files.append(NabFile(rel, ts, values, windows))
    if not files:
        raise ConfigError(f"NAB corpus: no CSV files under {data_dir}/<category>/")
    return files


def _window_indices(
    ts: np.ndarray, windows: list[list[str]], rel: str
) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for start_s, end_s in windows:
        start = np.datetime64(pd.Timestamp(start_s).to_datetime64(), "ns")
        end = np.datetime64(pd.Timestamp(end_s).to_datetime64(), "ns")
        a = int(np.searchsorted(ts, start, side="left"))
        b = int(np.searchsorted(ts, end, side="right")) - 1
        if a > b or a >= len(ts):
            raise ConfigError(f"{rel}: window {start_s}..{end_s} holds no row")
        out.append((a, b))
    return tuple(out)


def load_profiles(root: Path) -> dict[str, Profile]:
    """The profiles of ``root/config/profiles.json``, or NAB's published ones."""
    path = root / "config" / "profiles.json"
    if not path.is_file():
        return dict(DEFAULT_PROFILES)
    raw = json.loads(path.read_text())
    out: dict[str, Profile] = {}
    for name, body in raw.items():
        cm = body["CostMatrix"]
        out[name] = Profile(name, cm["tpWeight"], cm["fpWeight"], cm["fnWeight"])
    return out
