"""``selfheal demo --record-rca``: when each fault's case is written, and what it holds."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pytest
from click.testing import CliRunner
from tests.bench.rca.campaign_data import AFTER, EDGES, T0, fill

from selfheal.bench.rca import campaign
from selfheal.bench.rca.labels import read_campaign_labels
from selfheal.cli.judge import FaultRecord
from selfheal.cli.record_rca import (
    MAX_AFTER_SECONDS,
    MIN_AFTER_SECONDS,
    SETTLE_SECONDS,
    RcaRecorder,
    window_end,
)
from selfheal.cli.scenario import ScenarioStep


def _record(service: str, fault: str, at: float, **kw: float) -> FaultRecord:
    step = ScenarioStep(at_seconds=0, fault=fault, service=service, params={"rate": 0.5})
    record = FaultRecord(step, fault_id="f", injected_at=at)
    for key, value in kw.items():
        setattr(record, key, value)
    return record


def test_a_window_ends_with_the_fault_within_bounds() -> None:
    assert window_end(_record("ledger", "errors", 100.0)) == 100.0 + MAX_AFTER_SECONDS
    assert window_end(_record("ledger", "errors", 100.0, expires_at=140.0)) == 140.0
    healed_fast = _record("ledger", "errors", 100.0, recovered_at=103.0, expires_at=140.0)
    assert window_end(healed_fast) == 100.0 + MIN_AFTER_SECONDS
    long = _record("ledger", "errors", 100.0, expires_at=500.0)
    assert window_end(long) == 100.0 + MAX_AFTER_SECONDS


def _runtime(faulty: str, inject: float) -> SimpleNamespace:
    windows = fill(faulty, inject)
    graph = nx.DiGraph([("gateway", "ledger")])  # what the loop's last cycle saw
    return SimpleNamespace(
        engine=SimpleNamespace(view=SimpleNamespace(graph=graph)),
        history=windows.history,
        log_window=windows.logs,
        span_window=windows.spans,
    )


def test_each_fault_is_recorded_once_its_window_is_over(tmp_path: Path) -> None:
    inject = T0
    runtime = _runtime("ledger", inject)
    first = _record("ledger", "errors", inject, expires_at=inject + 30.0)
    second = _record("vault", "crash", inject + 5.0)  # overlaps the first
    records = [first, second]
    recorder = RcaRecorder(tmp_path, "trio", runtime)
    recorder.poll(records, inject + 30.0 + SETTLE_SECONDS - 0.5)
    assert recorder.queued == 0
    assert recorder.pending_until(records) == inject + 5.0 + MAX_AFTER_SECONDS + SETTLE_SECONDS
    recorder.poll(records, inject + 30.0 + SETTLE_SECONDS)  # the first is due, not the second
    assert recorder.queued == 1
    recorder.poll(records, inject + 30.0 + SETTLE_SECONDS + 1)  # and is not written twice
    assert recorder.queued == 1
    recorder.close(records, inject + AFTER)  # the demo ends: the second is cut there
    assert recorder.written == 2 and recorder.errors == []
    cases = {c.case_id: c for c in campaign.read_cases(tmp_path)}
    assert sorted(cases) == ["c001", "c002"]  # ids in injection order
    assert cases["c001"].end_ts == inject + 30.0
    assert cases["c002"].end_ts == inject + AFTER
    labels = read_campaign_labels(tmp_path)
    assert labels is not None
    assert labels["c001"]["service"] == "ledger" and labels["c001"]["fault"] == "errors"
    assert labels["c001"]["concurrent"] == "crash@vault"
    assert labels["c002"]["concurrent"] == "errors@ledger"
    data = campaign.load_case(cases["c001"])
    # the loop's graph and the edges of the indicator series
    assert set(data.graph.edges) == set(EDGES)
    assert recorder.pending_until(records) == 0.0


def test_a_folder_already_holding_a_recording_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cases.csv").write_text("case_id,topology,inject_ts,end_ts\n")
    with pytest.raises(FileExistsError, match="already holds a recording"):
        RcaRecorder(tmp_path, "trio", _runtime("ledger", T0))


def test_demo_refuses_a_used_recording_folder_before_starting(tmp_path: Path) -> None:
    from selfheal.cli.loop import demo

    (tmp_path / "cases.csv").write_text("case_id,topology,inject_ts,end_ts\n")
    result = CliRunner().invoke(demo, ["--record-rca", str(tmp_path)])
    assert result.exit_code == 2
    assert "already holds a recording" in result.output


def test_the_demo_command_hands_its_options_to_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every option of ``selfheal demo`` reaches ``run_demo`` (one was once dropped in a
    merge, and the campaign recorded nothing)."""
    import selfheal.cli.demo as demo_module
    from selfheal.cli.loop import demo

    seen: dict[str, object] = {}

    def fake_run_demo(*args: object, **kwargs: object) -> dict[str, object]:
        seen.update(kwargs)
        return {"scenarios": [{}]}

    monkeypatch.setattr(demo_module, "run_demo", fake_run_demo)
    folder = tmp_path / "rec"
    result = CliRunner().invoke(
        demo, ["--record-rca", str(folder), "--traces", "--soak-seconds", "5"]
    )
    assert result.exit_code == 0, result.output
    assert seen["record_rca"] == str(folder)
    assert seen["traces"] is True and seen["soak_seconds"] == 5.0
    assert seen["metrics_source"] == "embedded"


def test_the_recorder_reads_the_windows_of_a_built_runtime(tmp_path: Path) -> None:
    from selfheal.core import indicators as ind
    from selfheal.core.config import parse_config
    from selfheal.core.types import Sample, SeriesKey
    from selfheal.loop.stages import RankerAdapter
    from selfheal.loop.wiring import build
    from selfheal.monitoring.log_tailer import LogSource, RawLine

    config = {
        "scrape": {"targets": ["127.0.0.1:9"], "timeout_seconds": 0.2},  # nothing listens
        "executor": {"type": "local", "local": {"control_url": "http://127.0.0.1:9"}},
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "logs": {"globs": [str(tmp_path / "*.log")]},
        "otlp": {"enabled": True, "port": 0},
    }
    runtime = build(parse_config(config, "test"))
    try:
        ranker = runtime.engine.ranker
        assert isinstance(ranker, RankerAdapter)
        # the windows the runtime shows are the ones the live ranker reads
        assert runtime.history is ranker.history
        assert runtime.log_window is ranker.logs is runtime.engine.collector.log_window
        assert runtime.span_window is ranker.spans
        runtime.engine.step()  # one real cycle: the scrape fails, the view gets its graph
        now = runtime.engine.clock.now()
        key = SeriesKey.of(ind.ERROR_RATIO, {"service": "ledger"})
        runtime.history.append_many(Sample(key, now - 10 + k, 0.0) for k in range(10))
        source = LogSource(str(tmp_path / "ledger.log"), "ledger", "ledger-0")
        runtime.log_window.add([RawLine(source, "ERROR refused")], now - 1)
        recorder = RcaRecorder(tmp_path / "rec", "trio", runtime)
        fault = _record("ledger", "errors", now - 5)
        recorder.close([fault], now)
        assert recorder.errors == [] and recorder.written == 1
        (case,) = campaign.read_cases(tmp_path / "rec")
        data = campaign.load_case(case)
        assert [(m.service, m.indicator, m.values.size) for m in data.metrics] == [
            ("ledger", "error_ratio", 10)
        ]
        assert [r.message for r in data.logs] == ["ERROR refused"]
    finally:
        runtime.close()


def test_a_case_that_cannot_be_written_is_reported_and_the_next_still_is(
    tmp_path: Path,
) -> None:
    recorder = RcaRecorder(tmp_path, "trio", _runtime("ledger", T0))
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "c001").write_text("a file where the case's folder goes")
    records = [_record("ledger", "errors", T0), _record("vault", "errors", T0 + 1)]
    recorder.close(records, T0 + AFTER)
    assert recorder.written == 1
    assert len(recorder.errors) == 1 and recorder.errors[0].startswith("case c001: ")
    assert [c.case_id for c in campaign.read_cases(tmp_path)] == ["c002"]
