"""The Nezha reader: pods to services, minute files, spans, logs and metric cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selfheal.bench.rca import nezha
from selfheal.bench.rca.nezha import service_of_pod


def test_service_is_the_pod_name_without_its_hashes() -> None:
    assert service_of_pod("ts-basic-service-5dc8d4f9fd-46997") == "ts-basic-service"
    assert service_of_pod("checkoutservice-578fcf4766-9csqn") == "checkoutservice"


def test_trace_history_is_the_newest_baseline_minutes_before_the_incident(tmp_path: Path) -> None:
    start = pd.Timestamp("2022-08-22 04:18:35", tz="UTC").timestamp()
    names = ["04_01", "04_11", "04_12", "04_17", "04_18", "04_19", "04_20", "03_40"]
    for name in names:
        (tmp_path / f"{name}_trace.csv.gz").write_bytes(b"")
    own = set(nezha._minute_files(tmp_path, "trace", start, 3))
    assert sorted(p.name[:5] for p in own) == ["04_18", "04_19", "04_20"]
    history = nezha._history_files(tmp_path, "trace", start, own)
    # Newest first, at most three, only within the 30-minute baseline stretch.
    assert [p.name[:5] for p in history] == ["04_17", "04_12", "04_11"]


def test_span_records_count_a_span_in_two_minute_files_once() -> None:
    row = {
        "SpanID": "s1",
        "ParentID": "root",
        "PodName": "frontend-579b9bff58-t2dbm",
        "OperationName": "hipstershop.Frontend/Recv.",
        "StartTimeUnixNano": 1_661_140_374_351_773_094,
        "EndTimeUnixNano": 1_661_140_374_362_982_609,
    }
    child = {**row, "SpanID": "s2", "ParentID": "s1", "OperationName": "GetCart"}
    frame = pd.DataFrame([row, child, row])
    spans = nezha._span_records(frame)
    assert len(spans) == 2
    assert spans[0].parent_id is None and spans[0].service == "frontend"
    assert spans[1].parent_id == "s1"


def test_a_busy_case_keeps_a_sample_of_whole_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nezha, "MAX_PATTERN_SPANS", 300)
    rows = []
    for t in range(400):  # 400 traces of 3 spans: 1200 spans, four times the cap
        for k in range(3):
            rows.append(
                {
                    "TraceID": f"trace-{t}",
                    "SpanID": f"{t}-{k}",
                    "ParentID": "root" if k == 0 else f"{t}-0",
                    "PodName": "frontend-579b9bff58-t2dbm",
                    "OperationName": "Recv" if k == 0 else f"Call{k}",
                    "StartTimeUnixNano": 1_661_140_374_000_000_000 + t,
                    "EndTimeUnixNano": 1_661_140_374_000_000_100 + t,
                }
            )
    spans = nezha._span_records(pd.DataFrame(rows))
    assert 200 <= len(spans) <= 400  # about a quarter
    roots = {s.span_id.split("-")[0] for s in spans}
    assert len(spans) == 3 * len(roots)  # every kept trace is whole


def test_a_log_line_with_a_corrupt_epoch_takes_its_iso_timestamp(tmp_path: Path) -> None:
    # Train Ticket's log files hold a few rows whose TimeUnixNano overflowed.
    frame = pd.DataFrame(
        {
            "Timestamp": ["2023-01-29T09:20:53.155Z", "2023-01-29T09:20:29.295", "garbage"],
            "TimeUnixNano": [1_674_984_053_155_605_667, -6_795_364_578_871_345_152, -1],
            "PodName": ["ts-travel2-service-5c66d57d58-6mp2b"] * 3,
            "SpanID": ["a", "b", "c"],
            "Log": ['{"log":"17:20:53.155 INFO ok\\n"}', "ERROR failed", "INFO lost"],
        }
    )
    path = tmp_path / "09_21_log.csv.gz"
    frame.to_csv(path, index=False)
    records = nezha._read_logs([path])
    assert [round(r.timestamp, 3) for r in records] == [1_674_984_053.156, 1_674_984_029.295]
    assert [r.message for r in records] == ["INFO ok", "ERROR failed"]
    assert records[0].service == "ts-travel2-service"


def test_metric_cells_that_are_not_numbers_read_as_missing(tmp_path: Path) -> None:
    metric = tmp_path / "metric"
    metric.mkdir()
    pd.DataFrame(
        {
            "TimeStamp": [1_661_140_000, None, 1_661_140_060],
            "PodName": ["cartservice-74f56fd4b-xxxxx"] * 3,
            "CpuUsageRate(%)": [10.0, 11.0, "--"],
        }
    ).to_csv(metric / "cartservice-74f56fd4b-xxxxx_metric.csv.gz", index=False)
    series = nezha._metrics(tmp_path, 1_661_140_060.0, 1_661_140_100.0)
    cpu = [s for s in series if s.indicator == "cpu_cores"]
    assert len(cpu) == 1 and cpu[0].service == "cartservice"
    assert cpu[0].timestamps.tolist() == [1_661_140_000.0, 1_661_140_060.0]
    assert cpu[0].values[0] == 10.0 and np.isnan(cpu[0].values[1])
