"""Reader for the loop's own fault campaigns, recorded as an RCA dataset.

``selfheal demo --record-rca DIR`` (and ``bench/campaign.py --record-rca DIR``, one
subfolder per run) writes one case per injected fault; the layout is described in
``docs/campaign-dataset.md``. A recording is a folder holding ``cases.csv``; ``DIR``
may be one recording or hold many below it (found at any depth, sorted), and a
case's id is then its recording's folder (relative to ``DIR``) and its own id,
``run-a/c001``. Per case, ``cases/<id>/`` holds the telemetry:

- ``metrics.csv.gz``: ``timestamp, service, indicator, instance, value``, the loop's
  indicator series under the ranker's names (``upstream_error_ratio:<callee>`` for a
  call edge), ``instance`` empty for a service-level series;
- ``logs.csv.gz``: ``timestamp, service, instance, span_id, message``;
- ``spans.csv.gz``: every field of a ``SpanRecord``;
- ``edges.csv``: ``caller, callee``, the call graph the loop saw.

The case is rebuilt as the live ranker would build it (``selfheal.analysis.rca.live``):
the incident starts at the injection (``inject_ts``) and ends with the recorded
window (``end_ts``); the stretches before it and the caps on lines and spans are the
live ones. Reads ``cases.csv`` (its input columns only) and the case folders; the
ground truth is in ``labels.csv``, which only the scorer reads (``labels.py``).
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import networkx as nx
import numpy as np

from selfheal.analysis.rca import live
from selfheal.analysis.rca.inputs import MetricSeries, RCAInput
from selfheal.core.telemetry import LogRecord, SpanRecord
from selfheal.monitoring.span_window import calls_of

CASES_FILE = "cases.csv"
LABELS_FILE = "labels.csv"
CASES_DIR = "cases"
METRICS_FILE = "metrics.csv.gz"
LOGS_FILE = "logs.csv.gz"
SPANS_FILE = "spans.csv.gz"
EDGES_FILE = "edges.csv"

# The columns a ranker may read; ``labels.csv`` holds the ground truth.
INPUT_COLUMNS = ("case_id", "topology", "inject_ts", "end_ts")
METRIC_COLUMNS = ("timestamp", "service", "indicator", "instance", "value")
LOG_COLUMNS = ("timestamp", "service", "instance", "span_id", "message")
SPAN_COLUMNS = (
    "span_id",
    "parent_id",
    "service",
    "operation",
    "timestamp",
    "kind",
    "duration_seconds",
    "is_error",
    "instance",
    "peer",
)
EDGE_COLUMNS = ("caller", "callee")
_Record = TypeVar("_Record", LogRecord, SpanRecord)
LABEL_COLUMNS = (
    "case_id",
    "service",
    "fault",
    "instance",
    "params",
    "concurrent",
    "loop_root_cause",
)


@dataclass(frozen=True, slots=True)
class CampaignCase:
    case_id: str  # unique over the dataset: the recording's folder, then the case's own id
    topology: str
    inject_ts: float
    end_ts: float
    folder: Path  # the case's telemetry


def recordings(data_dir: Path) -> list[Path]:
    """Every recording at or below ``data_dir`` (a folder holding ``cases.csv``), sorted;
    ``FileNotFoundError`` when there is none."""
    found = sorted(p.parent for p in data_dir.rglob(CASES_FILE) if p.is_file())
    if not found:
        raise FileNotFoundError(f"{data_dir} has no cases.csv (no recording at or below it)")
    return found


def case_prefix(data_dir: Path, recording: Path) -> str:
    """What a recording's case ids are prefixed with: its folder relative to ``data_dir``."""
    rel = recording.relative_to(data_dir).as_posix()
    return "" if rel == "." else rel + "/"


def read_rows(path: Path, columns: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """The rows of a (possibly gzipped) CSV file, checked to have ``columns``;
    ``ValueError`` naming the file when it lacks one."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{path} lacks the columns {missing}")
            yield from reader
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise FileNotFoundError(f"{path} is missing") from None
        raise ValueError(f"{path} is not readable CSV: {exc}") from None


def _number(value: str, path: Path, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{path}: {column} {value!r} is not a number") from None


def read_cases(data_dir: Path) -> list[CampaignCase]:
    """Every case of every recording at or below ``data_dir``, from the input columns."""
    cases = []
    for recording in recordings(data_dir):
        path = recording / CASES_FILE
        prefix = case_prefix(data_dir, recording)
        for row in read_rows(path, INPUT_COLUMNS):
            start = _number(row["inject_ts"], path, "inject_ts")
            end = _number(row["end_ts"], path, "end_ts")
            if not (math.isfinite(start) and math.isfinite(end) and end >= start):
                raise ValueError(f"{path}: case {row['case_id']} ends before it starts")
            folder = recording / CASES_DIR / row["case_id"]
            cases.append(CampaignCase(prefix + row["case_id"], row["topology"], start, end, folder))
    return cases


def _metrics(path: Path, since: float, end: float) -> tuple[MetricSeries, ...]:
    points: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for row in read_rows(path, METRIC_COLUMNS):
        name, _, target = row["indicator"].partition(":")
        if live.live_indicator(name, row["instance"] or None, target or None) is None:
            continue
        ts = _number(row["timestamp"], path, "timestamp")
        if since <= ts <= end:
            value = _number(row["value"], path, "value")
            points.setdefault((row["service"], row["indicator"]), []).append((ts, value))
    series = []
    for (service, indicator), pts in sorted(points.items()):
        pts.sort()
        values = np.array([v for _, v in pts])
        if np.isnan(values).all():
            continue  # only staleness markers: the live ranker skips it too
        series.append(MetricSeries(service, indicator, np.array([t for t, _ in pts]), values))
    return tuple(series)


def _latest(records: list[_Record], start: float, end: float, limit: int) -> list[_Record]:
    """The latest ``limit`` of ``records`` (sorted by time) stamped within ``[start, end]``."""
    inside = [r for r in records if start <= r.timestamp <= end]
    return inside[len(inside) - limit :] if len(inside) > limit else inside


def read_logs(path: Path) -> list[LogRecord]:
    records = [
        LogRecord(
            _number(r["timestamp"], path, "timestamp"),
            r["service"],
            r["message"],
            r["instance"] or None,
            r["span_id"] or None,
        )
        for r in read_rows(path, LOG_COLUMNS)
    ]
    records.sort(key=lambda r: r.timestamp)
    return records


def read_spans(path: Path) -> list[SpanRecord]:
    records = [
        SpanRecord(
            r["span_id"],
            r["parent_id"] or None,
            r["service"],
            r["operation"],
            _number(r["timestamp"], path, "timestamp"),
            int(_number(r["kind"], path, "kind")),
            _number(r["duration_seconds"], path, "duration_seconds"),
            r["is_error"] == "1",
            r["instance"] or None,
            r["peer"] or None,
        )
        for r in read_rows(path, SPAN_COLUMNS)
    ]
    records.sort(key=lambda r: r.timestamp)
    return records


def load_case(case: CampaignCase) -> RCAInput:
    """The engine's input for one case, built as the live ranker builds it."""
    if not case.folder.is_dir():
        raise FileNotFoundError(f"no telemetry folder {case.folder} for case {case.case_id}")
    start, end = case.inject_ts, case.end_ts
    metrics = _metrics(case.folder / METRICS_FILE, start - live.METRIC_BASELINE_SECONDS, end)
    logs = read_logs(case.folder / LOGS_FILE)
    half_lines = live.MAX_LOG_LINES // 2
    spans = read_spans(case.folder / SPANS_FILE)
    half_spans = live.MAX_SPANS // 2
    before = _latest(spans, start - live.SPAN_BASELINE_SECONDS, start - 1e-6, half_spans)
    kept = before + _latest(spans, start, end, half_spans)
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted({m.service for m in metrics}))
    edges_path = case.folder / EDGES_FILE
    graph.add_edges_from(
        (r["caller"], r["callee"])
        for r in read_rows(edges_path, EDGE_COLUMNS)
        if r["caller"] != r["callee"]
    )
    return RCAInput(
        start=start,
        end=end,
        graph=graph,
        metrics=metrics,
        logs=tuple(_latest(logs, start, end, half_lines)),
        baseline_logs=tuple(
            _latest(logs, start - live.LOG_BASELINE_SECONDS, start - 1e-6, half_lines)
        ),
        calls=calls_of(kept),
        spans=tuple(kept),
    )
