"""Running a detector over a NAB corpus and writing NAB-format result files.

Each file is streamed once, in order, through a fresh detector: score the
row, then learn it (NAB's protocol; no look-ahead). The result file of
``<category>/<file>.csv`` is ``OUT/<detector>/<category>/<detector>_<file>.csv``
with columns ``timestamp,value,anomaly_score,label``; ``label`` comes from
the corpus windows (the detector never sees it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from selfheal.analysis.detection.base import Detector
from selfheal.bench.nab.corpus import NabFile


def run_file(detector: Detector, nab_file: NabFile) -> np.ndarray:
    """Anomaly scores in [0, 1] for every row of ``nab_file``."""
    t = nab_file.seconds
    values = nab_file.values
    out = np.empty(len(values))
    process = detector.process_one
    for i in range(len(values)):
        out[i] = process(float(values[i]), float(t[i]))
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def result_path(out_dir: Path, detector_name: str, nab_file: NabFile) -> Path:
    return out_dir / detector_name / nab_file.category / f"{detector_name}_{nab_file.filename}"


def write_results(path: Path, nab_file: NabFile, scores: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(nab_file.timestamps).strftime("%Y-%m-%d %H:%M:%S"),
            "value": nab_file.values,
            "anomaly_score": scores,
            "label": nab_file.label_column(),
        }
    )
    frame.to_csv(path, index=False)


def run_corpus(
    files: list[NabFile],
    make_detector: Callable[[], Detector],
    out_dir: Path,
    detector_name: str,
    on_file_done: Callable[[NabFile], None] | None = None,
) -> list[np.ndarray]:
    """Run a fresh detector on every file, write result files, return the scores."""
    all_scores: list[np.ndarray] = []
    for f in files:
        scores = run_file(make_detector(), f)
        write_results(result_path(out_dir, detector_name, f), f, scores)
        all_scores.append(scores)
        if on_file_done is not None:
            on_file_done(f)
    return all_scores
