"""Reader for the Nezha dataset (Yu et al., ESEC/FSE 2023): metrics, logs, traces.

Layout: ``rca_data/<day>/metric/<pod>_metric.csv.gz`` (60 s per pod),
``rca_data/<day>/{trace,log}/<HH_MM>_*.csv.gz`` for the injection minute and the
two after it (some are absent), ``construct_data/<day>/...`` for a fault-free
stretch. The incident time is ``inject_ts_from_string`` (the epoch
``inject_timestamp`` is 8 h off for most Train Ticket cases). Services are the
service part of the pod name (``checkoutservice-578fcf4766-9csqn`` ->
``checkoutservice``). A log line's time is its ``TimeUnixNano``; where that is
not a positive epoch or disagrees with the line's own ISO ``Timestamp`` column by
more than ``CLOCK_TOLERANCE_SECONDS`` (a few Train Ticket rows hold an overflowed
``-6795364578871345152``), the ``Timestamp`` column is used, and a line with
neither is skipped. A metric cell that is not a number reads as missing.

Used by the benchmark command; reads no label column or file.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from selfheal.analysis.rca.inputs import MetricSeries, RCAInput
from selfheal.analysis.rca.signals_pattern import bulk_allocation
from selfheal.core.telemetry import CallSample, LogRecord, SpanRecord

# The columns a ranker may read; everything else in cases.csv is ground truth.
INPUT_COLUMNS = ("case_id", "system", "date", "inject_ts_from_string")

# Pod-level metric columns -> indicator names the engine understands. Node-level
# columns are shared by every pod on a node and do not point at one service.
_METRIC_COLUMNS = {
    "CpuUsageRate(%)": "cpu_cores",  # percentages here: the ranking reads changes, not levels
    "MemoryUsageRate(%)": "memory_bytes",
    "SyscallRead": "syscall_read",
    "SyscallWrite": "syscall_write",
    "NetworkReceiveBytes": "network_receive_bytes",
    "NetworkTransmitBytes": "network_transmit_bytes",
    "PodClientLatencyP90(s)": "upstream_latency_p90_seconds",
    "PodServerLatencyP90(s)": "latency_p90_seconds",
    "PodClientLatencyP99(s)": "upstream_latency_p99_seconds",
    "PodServerLatencyP99(s)": "latency_p99_seconds",
    "PodWorkload(Ops)": "request_rate",
    "PodSuccessRate(%)": "error_ratio",  # stored as 1 - rate/100
}
_NON_POD_FILES = ("dependency", "source_50", "destination_50", "front_service")
BASELINE_SECONDS = 1800.0
INCIDENT_SECONDS = 180.0
# Trace minutes from the baseline stretch read for the trace-pattern signal,
# newest first: the incident's own files often start at (or after) the fault.
HISTORY_TRACE_MINUTES = 3
# Spans handed to the trace-pattern signal per case, at most (see ``_span_records``).
MAX_PATTERN_SPANS = 150_000
_LOG_PREFIX = re.compile(r"^\s*\d{2}:\d{2}:\d{2}\.\d+\s+")


def service_of_pod(pod: str) -> str:
    """``ts-basic-service-5dc8d4f9fd-46997`` -> ``ts-basic-service``."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod


@dataclass(frozen=True, slots=True)
class NezhaCase:
    case_id: str
    system: str
    day: str
    inject_ts: float


def read_cases(data_dir: Path) -> list[NezhaCase]:
    frame = pd.read_csv(data_dir / "cases.csv")
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{data_dir / 'cases.csv'} lacks input columns {missing}")
    frame = frame[list(INPUT_COLUMNS)]
    return [
        NezhaCase(str(r.case_id), str(r.system), str(r.date), float(r.inject_ts_from_string))
        for r in frame.itertuples(index=False)
    ]


@lru_cache(maxsize=4)
def _day_metrics(metric_dir: str) -> tuple[tuple[str, str, pd.DataFrame], ...]:
    out = []
    for path in sorted(Path(metric_dir).glob("*_metric.csv.gz")):
        pod = path.name[: -len("_metric.csv.gz")]
        if pod in _NON_POD_FILES:
            continue
        frame = pd.read_csv(path)
        if "TimeStamp" not in frame.columns:
            continue  # not a per-pod metric file
        keep = ["TimeStamp", *[c for c in _METRIC_COLUMNS if c in frame.columns]]
        # A cell that is not a number (a collector's placeholder) reads as missing,
        # and a row without a time is dropped, instead of failing the whole case.
        numeric = frame[keep].apply(pd.to_numeric, errors="coerce")
        numeric = numeric[numeric["TimeStamp"].notna()].sort_values("TimeStamp")
        out.append((service_of_pod(pod), pod, numeric))
    return tuple(out)


def _metrics(day_dir: Path, start: float, end: float) -> tuple[MetricSeries, ...]:
    series: list[MetricSeries] = []
    for service, pod, frame in _day_metrics(str(day_dir / "metric")):
        ts = frame["TimeStamp"].to_numpy(dtype=np.float64)
        mask = (ts >= start - BASELINE_SECONDS) & (ts <= end)
        for column, indicator in _METRIC_COLUMNS.items():
            if column in frame.columns:
                values = frame[column].to_numpy(dtype=np.float64)[mask]
                if indicator == "error_ratio":
                    values = 1.0 - values / 100.0
                series.append(MetricSeries(service, indicator, ts[mask], values, instance=pod))
    return tuple(series)


def _minute_files(folder: Path, kind: str, start: float, minutes: int) -> list[Path]:
    files = []
    for k in range(minutes):
        stamp = pd.Timestamp(start + 60 * k, unit="s", tz="UTC").strftime("%H_%M")
        path = folder / f"{stamp}_{kind}.csv.gz"
        if path.exists():
            files.append(path)
    return files


def _history_files(folder: Path, kind: str, start: float, skip: set[Path]) -> list[Path]:
    """Up to ``HISTORY_TRACE_MINUTES`` minute files of the baseline stretch before
    ``start``, newest first (what a running system would have kept)."""
    files: list[Path] = []
    for k in range(1, int(BASELINE_SECONDS // 60) + 1):
        stamp = pd.Timestamp(start - 60 * k, unit="s", tz="UTC").strftime("%H_%M")
        path = folder / f"{stamp}_{kind}.csv.gz"
        if path.exists() and path not in skip:
            files.append(path)
        if len(files) >= HISTORY_TRACE_MINUTES:
            break
    return files


CLOCK_TOLERANCE_SECONDS = 60.0


def _log_times(frame: pd.DataFrame) -> np.ndarray:
    """Each line's epoch seconds: ``TimeUnixNano``, or the ISO ``Timestamp`` column
    where the two disagree (a corrupt integer); NaN where neither is usable."""
    nanos: np.ndarray = pd.to_numeric(frame["TimeUnixNano"], errors="coerce").to_numpy(float) / 1e9
    nanos[~(nanos > 0)] = np.nan  # an epoch before 1970 is a corrupt integer
    if "Timestamp" not in frame.columns:
        return nanos
    stamp = pd.to_datetime(frame["Timestamp"], utc=True, errors="coerce", format="ISO8601")
    iso = np.where(stamp.notna(), stamp.to_numpy("datetime64[ns]").astype("int64") / 1e9, np.nan)
    agree = np.isfinite(nanos) & (
        ~np.isfinite(iso) | (np.abs(nanos - iso) <= CLOCK_TOLERANCE_SECONDS)
    )
    return np.where(agree, nanos, iso)


def _read_logs(paths: list[Path]) -> list[LogRecord]:
    records: list[LogRecord] = []
    for path in paths:
        frame = pd.read_csv(
            path,
            usecols=lambda c: c in ("Timestamp", "TimeUnixNano", "PodName", "Log", "SpanID"),
        )
        spans = frame["SpanID"] if "SpanID" in frame.columns else pd.Series([None] * len(frame))
        for ts, pod, raw, span in zip(
            _log_times(frame), frame["PodName"], frame["Log"], spans, strict=True
        ):
            if not np.isfinite(ts):
                continue
            text = str(raw)
            with contextlib.suppress(json.JSONDecodeError, AttributeError):
                text = str(json.loads(text).get("log", text))
            text = _LOG_PREFIX.sub("", text.strip())
            span_id = str(span) if isinstance(span, str) and span else None
            records.append(LogRecord(float(ts), service_of_pod(str(pod)), text, str(pod), span_id))
    return records


_SPAN_COLUMNS = [
    "TraceID",
    "SpanID",
    "ParentID",
    "PodName",
    "OperationName",
    "StartTimeUnixNano",
    "EndTimeUnixNano",
]


def _read_trace_files(paths: list[Path]) -> pd.DataFrame:
    if not paths:
        return pd.DataFrame(columns=_SPAN_COLUMNS)
    frame = pd.concat([pd.read_csv(p, usecols=_SPAN_COLUMNS) for p in paths], ignore_index=True)
    return frame


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    present = [f for f in frames if len(f)]
    return pd.concat(present, ignore_index=True) if present else frames[-1]


def _span_records(raw: pd.DataFrame) -> tuple[SpanRecord, ...]:
    """Every span once, for the trace-pattern signal (``ParentID`` "root" means none).

    Adjacent minute files overlap by a second or so; a span in both counts once.
    Above ``MAX_PATTERN_SPANS`` a fixed share of whole traces is kept (chosen by a
    hash of the trace id, so a trace keeps all its spans or none): the signal reads
    shares of spans, which a sample of traces preserves, and its time grows with
    the spans (about 10 us each), so a busier system stays within the per-case budget."""
    if not len(raw):
        return ()
    raw = raw.drop_duplicates("SpanID")
    if len(raw) > MAX_PATTERN_SPANS and "TraceID" in raw.columns:
        buckets = pd.util.hash_pandas_object(raw["TraceID"].astype(str), index=False) % 1000
        raw = raw[buckets.to_numpy() < int(1000 * MAX_PATTERN_SPANS / len(raw))]
    services = raw["PodName"].astype(str).map(service_of_pod)
    with bulk_allocation():
        return _build_span_records(raw, services)


def _build_span_records(raw: pd.DataFrame, services: pd.Series) -> tuple[SpanRecord, ...]:
    return tuple(
        SpanRecord(
            str(span),
            None if str(parent) in ("root", "nan", "") else str(parent),
            str(service),
            str(operation),
            float(start) / 1e9,
        )
        for span, parent, service, operation, start in zip(
            raw["SpanID"],
            raw["ParentID"],
            services,
            raw["OperationName"],
            raw["StartTimeUnixNano"],
            strict=True,
        )
    )


def _read_spans(paths: list[Path], raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """Calls between services: one row per server span whose parent is in another service."""
    if raw is None:
        raw = _read_trace_files(paths)
    if not len(raw):
        return pd.DataFrame(columns=["caller", "callee", "ts", "client", "server"])
    spans = raw.copy()
    spans["service"] = spans["PodName"].astype(str).map(service_of_pod)
    spans["duration"] = (spans["EndTimeUnixNano"] - spans["StartTimeUnixNano"]) / 1e9
    parent = spans[["SpanID", "service", "duration"]].drop_duplicates("SpanID")
    parent = parent.rename(
        columns={"SpanID": "ParentID", "service": "caller", "duration": "client"}
    )
    joined = spans.merge(parent, on="ParentID", how="inner")
    joined = joined[joined["caller"] != joined["service"]]
    return pd.DataFrame(
        {
            "caller": joined["caller"],
            "callee": joined["service"],
            "ts": joined["StartTimeUnixNano"] / 1e9,
            "client": joined["client"],
            "server": joined["duration"],
        }
    )


def _calls_from_spans(frame: pd.DataFrame) -> list[CallSample]:
    calls: list[CallSample] = []
    for (caller, callee), group in frame.groupby(["caller", "callee"], sort=True):
        group = group.sort_values("ts")
        ts = group["ts"].to_numpy(dtype=np.float64)
        calls.append(
            CallSample(
                str(caller),
                str(callee),
                ts,
                group["client"].to_numpy(dtype=np.float64),
                np.zeros_like(ts),  # the dataset's spans carry no status
                group["server"].to_numpy(dtype=np.float64),
            )
        )
    return calls


@lru_cache(maxsize=4)
def _edge_latency_frames(metric_dir: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Per-edge latency at 60 s over the whole day, as the caller (source) and
    the callee (destination) measured it; Online Boutique ships these."""
    src = Path(metric_dir) / "source_50.csv.gz"
    dst = Path(metric_dir) / "destination_50.csv.gz"
    if not (src.exists() and dst.exists()):
        return None
    frames = []
    for path in (src, dst):
        frame = pd.read_csv(path).drop(columns=["time"], errors="ignore")
        frame["timestamp"] = (frame["timestamp"] / 60.0).round() * 60.0
        frames.append(frame.groupby("timestamp").mean().sort_index())
    return frames[0], frames[1]


def _calls_from_edge_metrics(
    metric_dir: Path, services: set[str], start: float, end: float
) -> list[CallSample]:
    frames = _edge_latency_frames(str(metric_dir))
    if frames is None:
        return []
    src, dst = frames
    src = src[(src.index >= start - BASELINE_SECONDS) & (src.index <= end)]
    dst = dst.reindex(src.index)
    calls = []
    for column in src.columns:
        caller, callee = _split_edge(str(column), services)
        if caller is None or callee is None:
            continue
        ts = src.index.to_numpy(dtype=np.float64)
        server = dst[column].to_numpy(dtype=np.float64) if column in dst.columns else None
        calls.append(
            CallSample(
                caller,
                callee,
                ts,
                src[column].to_numpy(dtype=np.float64),
                np.zeros_like(ts),
                server,
            )
        )
    return calls


def _split_edge(column: str, services: set[str]) -> tuple[str | None, str | None]:
    for i in range(1, len(column)):
        if column[i - 1] == "_" or column[i] != "_":
            continue
        caller, callee = column[:i], column[i + 1 :]
        if caller in services and callee in services:
            return caller, callee
    return None, None


@lru_cache(maxsize=4)
def _static_graph_edges(day_dir: str, construct_dir: str) -> tuple[tuple[str, str], ...]:
    """Call edges known before any incident: the dependency file and fault-free traces."""
    edges: set[tuple[str, str]] = set()
    dep = Path(day_dir) / "metric" / "dependency.csv.gz"
    if dep.exists():
        frame = pd.read_csv(dep)
        edges.update(
            (str(s), str(t)) for s, t in zip(frame["Source"], frame["Target"], strict=True)
        )
    spans = _baseline_spans(construct_dir)
    edges.update(zip(spans["caller"].astype(str), spans["callee"].astype(str), strict=True))
    return tuple(sorted(edges))


@lru_cache(maxsize=4)
def _baseline_spans(construct_dir: str) -> pd.DataFrame:
    """Calls from the fault-free stretch, with times relative to its first call."""
    trace_dir = Path(construct_dir) / "trace"
    paths = sorted(trace_dir.glob("*_trace.csv.gz")) if trace_dir.is_dir() else []
    frame = _read_spans(paths)
    if len(frame):
        frame["ts"] = frame["ts"] - float(frame["ts"].max())
    return frame


@lru_cache(maxsize=4)
def _construct_spans(construct_dir: str) -> tuple[SpanRecord, ...]:
    """Spans of the fault-free stretch: with its logs, the baseline of the log signal's
    per-operation counts."""
    trace_dir = Path(construct_dir) / "trace"
    paths = sorted(trace_dir.glob("*_trace.csv.gz")) if trace_dir.is_dir() else []
    return _span_records(_read_trace_files(paths))


@lru_cache(maxsize=4)
def _baseline_logs(construct_dir: str) -> tuple[LogRecord, ...]:
    log_dir = Path(construct_dir) / "log"
    if not log_dir.is_dir():
        return ()
    return tuple(_read_logs(sorted(log_dir.glob("*_log.csv.gz"))))


def load_case(data_dir: Path, case: NezhaCase) -> RCAInput:
    """Build the engine's input for one case from telemetry only."""
    day_dir = data_dir / "rca_data" / case.day
    construct_dir = data_dir / "construct_data" / case.day
    if not day_dir.is_dir():
        raise FileNotFoundError(f"no telemetry folder {day_dir} for case {case.case_id}")
    start = case.inject_ts
    end = start + INCIDENT_SECONDS
    metrics = _metrics(day_dir, start, end)
    minutes = int(INCIDENT_SECONDS // 60)
    trace_files = _minute_files(day_dir / "trace", "trace", start, minutes)
    raw_spans = _read_trace_files(trace_files)
    spans = _read_spans([], raw_spans)
    history = _read_trace_files(_history_files(day_dir / "trace", "trace", start, set(trace_files)))
    call_edges = list(zip(spans["caller"].astype(str), spans["callee"].astype(str), strict=True))
    services = {m.service for m in metrics}
    calls = _calls_from_edge_metrics(day_dir / "metric", services, start, end)
    if not calls:
        # No per-edge metrics: use the spans, with the fault-free stretch placed
        # just before the incident as the baseline.
        reference = _baseline_spans(str(construct_dir)).copy()
        reference["ts"] = reference["ts"] + (start - 60.0)
        calls = _calls_from_spans(pd.concat([reference, spans], ignore_index=True))
    logs = _read_logs(_minute_files(day_dir / "log", "log", start, minutes))
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted({m.service for m in metrics}))
    graph.add_edges_from(_static_graph_edges(str(day_dir), str(construct_dir)))
    graph.add_edges_from(call_edges)
    graph.remove_edges_from(list(nx.selfloop_edges(graph)))
    pre_logs = tuple(r for r in logs if r.timestamp < start)
    return RCAInput(
        start=start,
        end=end,
        graph=graph,
        metrics=metrics,
        logs=tuple(r for r in logs if r.timestamp >= start),
        baseline_logs=_baseline_logs(str(construct_dir)) + pre_logs,
        calls=tuple(calls),
        spans=_span_records(_concat(history, raw_spans)),
        baseline_spans=_construct_spans(str(construct_dir)),
    )
