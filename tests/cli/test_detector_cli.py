"""``selfheal detector train / score / list``: a model trained from the command line scores
exactly as the detector that learned it, and a bad model file fails with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from selfheal.analysis.detection.persistence import load_detector
from selfheal.analysis.detection.registry import registry
from selfheal.cli.main import cli


def _series(path: Path, n: int, seed: int, spike_at: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=n, freq="1min")
    values = 10.0 + np.sin(np.arange(n) / 15.0) + rng.normal(0.0, 0.1, n)
    if spike_at is not None:
        values[spike_at] += 8.0
    frame = pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": values})
    frame.to_csv(path, index=False)
    return frame


def _seconds(frame: pd.DataFrame) -> list[float]:
    stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
    return list(stamps.astype(np.int64) / 1e9)


@pytest.mark.parametrize(
    ("name", "params"),
    [("iforest", ["window=3", "min_fit=64", "buffer_size=128", "refit_every=200"])],
)
def test_train_save_load_gives_the_same_scores(
    tmp_path: Path, name: str, params: list[str]
) -> None:
    train = _series(tmp_path / "train.csv", 600, 0)
    test = _series(tmp_path / "test.csv", 300, 1, spike_at=250)
    model = tmp_path / "model.npz"
    args = ["detector", "train", "--detector", name, "--data", str(tmp_path / "train.csv")]
    args += ["--out", str(model)] + [x for p in params for x in ("--param", p)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "learned 600 samples" in result.output

    # The same detector trained in memory on the same rows ...
    kwargs = {k: int(v) for k, v in (p.split("=") for p in params)}
    reference = registry.create(name, **kwargs)
    for t, x in zip(_seconds(train), train["value"], strict=True):
        reference.process_one(float(x), t)
    loaded = load_detector(model)
    # ... and the loaded model score the new series identically, sample by sample.
    expected = [
        reference.process_one(float(x), t)
        for t, x in zip(_seconds(test), test["value"], strict=True)
    ]
    got = [
        loaded.process_one(float(x), t) for t, x in zip(_seconds(test), test["value"], strict=True)
    ]
    assert got == expected
    top = int(np.argmax(got))
    assert 250 <= top <= 252  # the spike, while it is inside the 3-sample window

    out = tmp_path / "scores.csv"
    scored = CliRunner().invoke(
        cli,
        [
            "detector",
            "score",
            "--model",
            str(model),
            "--data",
            str(tmp_path / "test.csv"),
            "--out",
            str(out),
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert f"at row {top} " in scored.output
    assert pd.read_csv(out)["score"].tolist() == pytest.approx(expected, abs=0.0)


def test_the_lstm_autoencoder_trains_saves_and_loads(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    _series(tmp_path / "train.csv", 400, 0)
    test = _series(tmp_path / "test.csv", 120, 1, spike_at=100)
    model = tmp_path / "lstm.npz"
    params = [
        "window=8",
        "hidden=4",
        "min_fit=128",
        "buffer_size=128",
        "epochs=2",
        "refit_every=100000",
    ]
    args = ["detector", "train", "--detector", "lstmae", "--data", str(tmp_path / "train.csv")]
    args += ["--out", str(model)] + [x for p in params for x in ("--param", p)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    first, second = load_detector(model), load_detector(model)
    rows = list(zip(_seconds(test), test["value"], strict=True))
    a = [first.process_one(float(x), t) for t, x in rows]
    b = [second.process_one(float(x), t) for t, x in rows]
    assert a == b and max(a) > 0.0


def test_a_corrupt_model_is_refused_with_one_line(tmp_path: Path) -> None:
    _series(tmp_path / "s.csv", 50, 0)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    result = CliRunner().invoke(
        cli, ["detector", "score", "--model", str(bad), "--data", str(tmp_path / "s.csv")]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: not a")


def test_a_foreign_npz_is_refused_with_one_line(tmp_path: Path) -> None:
    _series(tmp_path / "s.csv", 50, 0)
    foreign = tmp_path / "weights.npz"
    np.savez(foreign, w=np.zeros(3))
    result = CliRunner().invoke(
        cli, ["detector", "score", "--model", str(foreign), "--data", str(tmp_path / "s.csv")]
    )
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == f"error: {foreign}: no __meta__ header; not a selfheal-detector file"
    )


def test_training_an_unknown_detector_lists_the_known_ones(tmp_path: Path) -> None:
    _series(tmp_path / "s.csv", 50, 0)
    result = CliRunner().invoke(
        cli,
        [
            "detector",
            "train",
            "--detector",
            "isolation_forest",
            "--data",
            str(tmp_path / "s.csv"),
            "--out",
            str(tmp_path / "m.npz"),
        ],
    )
    assert result.exit_code == 2
    assert (
        "unknown detector 'isolation_forest'; known: " in result.output
        and "iforest" in result.output
    )
    assert not (tmp_path / "m.npz").exists()


def test_list_names_every_detector_the_loop_accepts() -> None:
    result = CliRunner().invoke(cli, ["detector", "list"])
    assert result.exit_code == 0
    assert result.output.split() == [*registry.names(), "none"]
