"""``selfheal bench nab`` on a small corpus written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from selfheal.cli.main import cli


def _corpus(root: Path, with_labels: bool) -> None:
    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=600, freq="5min")
    for cat, name in (("catA", "one.csv"), ("catB", "two.csv")):
        values = rng.normal(10, 1, len(ts))
        values[400] += 20
        (root / "data" / cat).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(
            root / "data" / cat / name, index=False
        )
    if with_labels:
        (root / "labels").mkdir()
        window = [str(ts[380]) + ".000000", str(ts[430]) + ".000000"]
        labels = {"catA/one.csv": [window], "catB/two.csv": [window]}
        (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))


def test_writes_nab_result_files_and_prints_the_three_profiles(tmp_path: Path) -> None:
    _corpus(tmp_path / "nab", with_labels=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["bench", "nab", "--data", str(tmp_path / "nab"), "--out", str(out), "--detector", "ewma"],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "ewma" / "catA" / "ewma_one.csv")
    assert list(frame.columns) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(frame) == 600
    assert frame["label"].sum() == 51 and frame["label"].iloc[380:431].eq(1).all()
    assert frame["anomaly_score"].between(0, 1).all()
    assert (out / "ewma" / "catB" / "ewma_two.csv").is_file()
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert f"{profile}: " in result.output
    # The spike at row 400 sits early in each window: well above the null score.
    standard = float(result.output.split("standard: ")[1].split()[0])
    assert standard > 50.0


def test_without_labels_it_writes_zero_labels_and_scores_nothing(tmp_path: Path) -> None:
    _corpus(tmp_path / "nab", with_labels=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["bench", "nab", "--data", str(tmp_path / "nab"), "--out", str(out), "--detector", "mad"],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "mad" / "catA" / "mad_one.csv")
    assert frame["label"].eq(0).all()
    assert "nothing to score" in result.output


def test_unknown_detector_is_a_usage_error(tmp_path: Path) -> None:
    _corpus(tmp_path / "nab", with_labels=False)
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "nab",
            "--data",
            str(tmp_path / "nab"),
            "--out",
            str(tmp_path),
            "--detector",
            "nope",
        ],
    )
    assert result.exit_code == 2
    assert "unknown detector 'nope'" in result.output


def test_a_folder_without_data_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["bench", "nab", "--data", str(tmp_path), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "no 'data' folder" in result.output
