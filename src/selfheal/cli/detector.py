"""``selfheal detector ...``: train a detector on recorded data, save it, score with it.

``train`` streams a recorded series (CSV ``timestamp,value``) through a fresh
detector of the analysis stage's registry, as the loop would (score, then
learn), and saves what it learned with ``save_detector`` (npz, no pickle);
``detection.model`` in the loop's configuration loads it. ``score`` loads a
saved model and prints the scores it gives a series, so a model can be checked
before the loop uses it; ``list`` names every registered detector. A model file
that is corrupt or not a selfheal model is refused with one line (exit 2).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NoReturn

import click
import numpy as np


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def read_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (epoch seconds) and values of a ``timestamp,value`` CSV file.

    Timestamps are numbers (epoch seconds) or anything pandas reads as a date
    (NAB's ``2014-04-01 00:00:00``); rows must be in time order.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        _fail(f"{path}: cannot read CSV ({exc})")
    if list(frame.columns[:2]) != ["timestamp", "value"]:
        _fail(f"{path}: expected columns timestamp,value, got {','.join(map(str, frame.columns))}")
    stamps = frame["timestamp"]
    try:
        if pd.api.types.is_numeric_dtype(stamps):
            t = stamps.to_numpy(dtype=np.float64)
        else:
            t = pd.to_datetime(stamps).to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
        values = frame["value"].to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        _fail(f"{path}: unreadable timestamp or value ({exc})")
    if len(values) == 0:
        _fail(f"{path}: no rows")
    if not np.all(np.isfinite(values)) or not np.all(np.isfinite(t)):
        _fail(f"{path}: values and timestamps must be finite numbers")
    if np.any(np.diff(t) < 0):
        _fail(f"{path}: rows are not in time order")
    return t, values


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        _fail(f"--param {text!r}: expected KEY=VALUE")
    value: Any = raw
    for kind in (int, float):
        try:
            value = kind(raw)
            break
        except ValueError:
            continue
    if raw in ("true", "false"):
        value = raw == "true"
    return key, value


@click.group()
def detector() -> None:
    """Train, save and check the analysis stage's detectors."""


@detector.command("list")
def list_detectors() -> None:
    """Print every name ``detection.detector`` accepts."""
    from selfheal.analysis.detection.live import known_names

    for name in known_names():
        click.echo(name)


@detector.command("train")
@click.option("--detector", "name", required=True, help="Registered detector name (`list`).")
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Recorded series: CSV with columns timestamp,value.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Model file."
)
@click.option("--param", "params", multiple=True, help="Detector parameter KEY=VALUE (repeat).")
def train(name: str, data: Path, out: Path, params: tuple[str, ...]) -> None:
    """Stream DATA through a fresh detector (score, then learn every row) and save it to OUT."""
    from selfheal.analysis.detection.live import UnknownDetector, known_names
    from selfheal.analysis.detection.persistence import save_detector
    from selfheal.analysis.detection.registry import registry

    if name not in registry:
        _fail(str(UnknownDetector(f"unknown detector {name!r}; known: {', '.join(known_names())}")))
    t, values = read_series(data)
    try:
        model = registry.create(name, **dict(_parse_param(p) for p in params))
    except (TypeError, ValueError) as exc:
        _fail(f"--param: {exc}")
    start = time.perf_counter()
    for ti, xi in zip(t.tolist(), values.tolist(), strict=True):
        model.process_one(xi, ti)
    elapsed = time.perf_counter() - start
    try:
        save_detector(model, out)
    except OSError as exc:
        _fail(f"{out}: cannot write the model ({exc.strerror})")
    click.echo(f"{name}: learned {len(values)} samples in {elapsed:.1f} s; model saved to {out}")


@detector.command("score")
@click.option(
    "--model",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model file from `train`.",
)
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Series to score: CSV with columns timestamp,value.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write timestamp,value,score here (default: print a summary only).",
)
def score(model: Path, data: Path, out: Path | None) -> None:
    """Score every row of DATA with a saved model (score, then learn, as the loop does)."""
    from selfheal.analysis.detection.live import detector_name
    from selfheal.analysis.detection.persistence import load_detector
    from selfheal.core.errors import ModelFormatError

    try:
        loaded = load_detector(model)
    except FileNotFoundError:
        _fail(f"{model}: no such file")
    except ModelFormatError as exc:
        _fail(str(exc))
    t, values = read_series(data)
    scores = np.array(
        [loaded.process_one(xi, ti) for ti, xi in zip(t.tolist(), values.tolist(), strict=True)]
    )
    if out is not None:
        import pandas as pd

        pd.DataFrame({"timestamp": t, "value": values, "score": scores}).to_csv(out, index=False)
    top = int(np.argmax(scores))
    click.echo(
        f"{detector_name(loaded)}: {len(scores)} samples, mean score {scores.mean():.4f}, "
        f"highest {scores[top]:.4f} at row {top} (timestamp {t[top]:.0f})"
    )


COMMANDS: list[click.Command] = [detector]
