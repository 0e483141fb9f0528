"""Writer of the campaign RCA dataset: one injected fault's telemetry, from the loop's windows.

``selfheal demo --record-rca DIR`` calls ``write_case`` once per fault, after the
fault's window is over, from a thread of its own (never the loop's cycle). It
copies out of the windows the live ranker reads — the indicator history (a
``WindowStore``), the log window and the span window — what they hold from
``pre_seconds`` before the injection up to the window's end, with the call graph's
edges, into ``DIR/cases/<id>/``; then it appends the case's inputs to
``DIR/cases.csv`` and its ground truth to ``DIR/labels.csv`` (the case's folder is
complete before its row is written, so a reader never finds a half-written case).
The layout is ``campaign.py``'s (the reader); ``docs/campaign-dataset.md`` has it.
"""

from __future__ import annotations

import csv
import gzip
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from selfheal.bench.rca.campaign import (
    CASES_DIR,
    CASES_FILE,
    EDGE_COLUMNS,
    EDGES_FILE,
    INPUT_COLUMNS,
    LABEL_COLUMNS,
    LABELS_FILE,
    LOG_COLUMNS,
    LOGS_FILE,
    METRIC_COLUMNS,
    METRICS_FILE,
    SPAN_COLUMNS,
    SPANS_FILE,
)
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.span_window import SpanWindow
from selfheal.monitoring.window_store import WindowStore

PRE_SECONDS = 300.0
"""How far before the injection a case reaches (bounded by what the windows still hold:
the loop keeps 600 indicator points, 10 min at a 1 s scrape, and 5 min of lines and spans)."""


@dataclass(frozen=True, slots=True)
class RecordedFault:
    """One injected fault: the case's inputs (``case_id``, ``topology``, the window) and,
    kept apart, its label (the faulty ``service``, the ``fault`` type, the ``instance``),
    the fault's parameters as JSON, the other faults live in its window (``concurrent``,
    ``fault@service`` joined by ``;``) and the cause the live loop named first, if any."""

    case_id: str
    topology: str
    inject_ts: float
    end_ts: float
    service: str
    fault: str
    instance: str = ""
    params: str = "{}"
    concurrent: str = ""
    loop_root_cause: str = ""


_append_lock = threading.Lock()


GZIP_LEVEL = 4
"""Faster than gzip's default 9 (the writer shares the demo's process with the loop) and
within a few per cent of its size on these files."""


def _write_csv(path: Path, columns: tuple[str, ...], rows: Iterable[Iterable[object]]) -> int:
    count = 0
    with (
        gzip.open(path, "wt", compresslevel=GZIP_LEVEL, newline="", encoding="utf-8")
        if path.suffix == ".gz"
        else path.open("w", newline="", encoding="utf-8")
    ) as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _append_row(path: Path, columns: tuple[str, ...], row: Iterable[object]) -> None:
    with _append_lock:
        new = not path.exists()
        with path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(columns)
            writer.writerow(row)


def _num(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same float


def _metric_rows(history: WindowStore, since: float, until: float) -> Iterable[list[str]]:
    for key in history.keys():  # noqa: SIM118 - a store, not a dict
        service = key.label("service")
        if service is None:
            continue
        target = key.label("target")
        indicator = f"{key.name}:{target}" if target else key.name
        instance = key.label("instance") or ""
        ts, values = history.window(key, since=since, until=until)
        for t, v in zip(ts.tolist(), values.tolist(), strict=True):
            yield [_num(t), service, indicator, instance, _num(v)]


def write_case(
    root: Path,
    fault: RecordedFault,
    history: WindowStore,
    logs: LogWindow | None,
    spans: SpanWindow | None,
    edges: Iterable[tuple[str, str]],
    pre_seconds: float = PRE_SECONDS,
) -> Path:
    """Write one case under ``root`` (see the module's docstring); returns its folder.

    Edges of the call graph are ``edges`` and every ``(service, target)`` of an indicator
    series with points in the window."""
    since, until = fault.inject_ts - pre_seconds, fault.end_ts
    folder = root / CASES_DIR / fault.case_id
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / METRICS_FILE, METRIC_COLUMNS, _metric_rows(history, since, until))
    lines = logs.between(since, until) if logs is not None else []
    _write_csv(
        folder / LOGS_FILE,
        LOG_COLUMNS,
        (
            [_num(r.timestamp), r.service, r.instance or "", r.span_id or "", r.message]
            for r in sorted(lines, key=lambda r: r.timestamp)
            if since <= r.timestamp <= until
        ),
    )
    kept = spans.between(since, until) if spans is not None else []
    _write_csv(
        folder / SPANS_FILE,
        SPAN_COLUMNS,
        (
            [
                s.span_id,
                s.parent_id or "",
                s.service,
                s.operation,
                _num(s.timestamp),
                s.kind,
                _num(s.duration_seconds),
                int(s.is_error),
                s.instance or "",
                s.peer or "",
            ]
            for s in kept
        ),
    )
    graph = set(edges)
    for key in history.keys():  # noqa: SIM118 - a store, not a dict
        service, target = key.label("service"), key.label("target")
        if service and target and history.window(key, since=since, until=until)[0].size:
            graph.add((service, target))
    _write_csv(folder / EDGES_FILE, EDGE_COLUMNS, sorted(e for e in graph if e[0] != e[1]))
    _append_row(
        root / CASES_FILE,
        INPUT_COLUMNS,
        [fault.case_id, fault.topology, _num(fault.inject_ts), _num(fault.end_ts)],
    )
    _append_row(
        root / LABELS_FILE,
        LABEL_COLUMNS,
        [
            fault.case_id,
            fault.service,
            fault.fault,
            fault.instance,
            fault.params,
            fault.concurrent,
            fault.loop_root_cause,
        ],
    )
    return folder
