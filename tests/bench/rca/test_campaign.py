"""The campaign RCA dataset: what the recorder writes, the reader reads back and ranks
as the live loop would, never reading the labels for it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import networkx as nx
import pytest
from tests.bench.rca.campaign_data import AFTER, EDGES, T0, fill, record

from selfheal.analysis.rca import RCAConfig, rank
from selfheal.bench.rca import campaign
from selfheal.bench.rca.campaign_record import RecordedFault, write_case
from selfheal.bench.rca.cases import iter_cases
from selfheal.bench.rca.labels import read_campaign_labels, read_labels
from selfheal.core.types import Incident
from selfheal.loop.stages import RankerAdapter


def test_a_recorded_case_reads_back_as_the_live_ranker_would_see_it(tmp_path: Path) -> None:
    record(tmp_path, [("ledger", "errors")])
    folder = tmp_path / "cases" / "c001"
    assert sorted(p.name for p in folder.iterdir()) == [
        "edges.csv",
        "logs.csv.gz",
        "metrics.csv.gz",
        "spans.csv.gz",
    ]
    # the file holds every series, per instance and business ones too
    with gzip.open(folder / "metrics.csv.gz", "rt") as fh:
        text = fh.read()
    assert ",gateway,cpu_cores,gateway-0," in text
    assert ",gateway,order_success_ratio,," in text
    (case,) = campaign.read_cases(tmp_path)
    assert (case.case_id, case.topology, case.inject_ts) == ("c001", "trio", T0 + 1000.0)
    data = campaign.load_case(case)
    names = {(m.service, m.indicator) for m in data.metrics}
    assert ("gateway", "upstream_error_ratio:ledger") in names
    assert ("ledger", "error_ratio") in names
    assert not any(i in ("cpu_cores", "order_success_ratio") for _, i in names)
    first = min(float(m.timestamps[0]) for m in data.metrics)
    assert first == case.inject_ts - 120.0  # the live ranker's metric baseline
    assert set(data.graph.edges) == set(EDGES)
    assert {r.service for r in data.logs if r.message.startswith("ERROR")} == {"ledger"}
    assert all(case.inject_ts - 30.0 <= r.timestamp < case.inject_ts for r in data.baseline_logs)
    assert {(c.caller, c.callee) for c in data.calls} == set(EDGES)
    ledger = next(c for c in data.calls if c.callee == "ledger")
    assert ledger.error.max() == 1.0 and ledger.error.min() == 0.0


def test_the_reader_ranks_a_case_as_the_live_ranker_ranks_the_same_windows(
    tmp_path: Path,
) -> None:
    inject = T0
    windows = fill("ledger", inject)
    end = inject + AFTER + 0.5
    fault = RecordedFault("c001", "trio", inject, end, "ledger", "errors")
    write_case(tmp_path, fault, windows.history, windows.logs, windows.spans, EDGES)
    offline = rank(campaign.load_case(campaign.read_cases(tmp_path)[0]), RCAConfig())
    adapter = RankerAdapter(windows.history, logs=windows.logs, spans=windows.spans)
    incident = Incident("i1", inject, (), frozenset({"gateway", "ledger"}))
    live = adapter.rank(incident, nx.DiGraph(list(EDGES)), end)
    assert [c.service for c in offline.causes] == [c.service for c in live]
    assert [c.confidence for c in offline.causes] == pytest.approx([c.confidence for c in live])
    assert live[0].service == "ledger"


def test_cases_of_many_recordings_get_ids_of_their_folder(tmp_path: Path) -> None:
    record(tmp_path / "trio-s1", [("ledger", "errors"), ("vault", "crash")])
    record(tmp_path / "pair" / "s2", [("gateway", "errors")], topology="pair")
    ids = [c.case_id for c in iter_cases("campaign", tmp_path)]
    assert ids == ["pair/s2/c001", "trio-s1/c001", "trio-s1/c002"]
    labels = read_labels("campaign", tmp_path)
    assert labels == {"pair/s2/c001": "gateway", "trio-s1/c001": "ledger", "trio-s1/c002": "vault"}
    rows = read_campaign_labels(tmp_path)
    assert rows is not None and rows["trio-s1/c002"]["fault"] == "crash"
    groups = {c.case_id: c.group for c in iter_cases("campaign", tmp_path)}
    assert groups["pair/s2/c001"] == "pair"


def _rankings(root: Path) -> dict[str, tuple[str, ...]]:
    return {c.case_id: rank(c.load(), RCAConfig()).ranking for c in iter_cases("campaign", root)}


def test_the_reader_never_reads_the_labels(tmp_path: Path) -> None:
    record(tmp_path, [("ledger", "errors"), ("vault", "errors"), ("gateway", "errors")])
    before = _rankings(tmp_path)
    assert [r[0] for r in before.values()] == ["ledger", "vault", "gateway"]
    labels = tmp_path / "labels.csv"
    text = labels.read_text()
    # the labels garbled: every case blamed on one service, the columns scrambled
    labels.write_text(text.replace("ledger", "gateway").replace("vault", "gateway"))
    assert _rankings(tmp_path) == before
    labels.write_text("not,a,label,file\n\x00\x01\n")
    assert _rankings(tmp_path) == before
    labels.unlink()
    assert _rankings(tmp_path) == before
    assert read_labels("campaign", tmp_path) is None


def test_a_case_with_no_logs_and_no_spans_is_still_ranked(tmp_path: Path) -> None:
    windows = fill("vault", T0)
    fault = RecordedFault("c001", "trio", T0, T0 + AFTER, "vault", "errors")
    write_case(tmp_path, fault, windows.history, None, None, EDGES)
    data = campaign.load_case(campaign.read_cases(tmp_path)[0])
    assert data.logs == () and data.spans == () and data.calls == ()
    assert rank(data).ranking[0] == "vault"


def test_a_bad_recording_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no cases.csv"):
        campaign.read_cases(tmp_path)
    record(tmp_path, [("ledger", "errors")])
    (tmp_path / "cases.csv").write_text("case_id,topology,inject_ts,end_ts\nc001,trio,soon,1\n")
    with pytest.raises(ValueError, match="inject_ts 'soon' is not a number"):
        campaign.read_cases(tmp_path)
    (tmp_path / "cases.csv").write_text("case_id,inject_ts\nc001,1\n")
    with pytest.raises(ValueError, match=r"lacks the columns \['topology', 'end_ts'\]"):
        campaign.read_cases(tmp_path)
    (tmp_path / "cases.csv").write_text(
        f"case_id,topology,inject_ts,end_ts\nc001,trio,{T0 + 1000},{T0 + 1040}\n"
    )
    (tmp_path / "cases" / "c001" / "metrics.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="metrics.csv.gz is not readable CSV"):
        campaign.load_case(campaign.read_cases(tmp_path)[0])
    (tmp_path / "cases" / "c001" / "metrics.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match="metrics.csv.gz is missing"):
        campaign.load_case(campaign.read_cases(tmp_path)[0])


def test_labels_keep_the_fault_its_parameters_and_the_live_cause(tmp_path: Path) -> None:
    record(tmp_path, [("ledger", "errors"), ("vault", "crash")])
    rows = read_campaign_labels(tmp_path)
    assert rows is not None
    assert rows["c001"]["loop_root_cause"] == "ledger"
    assert rows["c002"]["loop_root_cause"] == "gateway" and rows["c002"]["fault"] == "crash"
    assert json.loads(rows["c001"]["params"]) == {"rate": 0.5}
    header = (tmp_path / "cases.csv").read_text().splitlines()[0]
    assert header == "case_id,topology,inject_ts,end_ts"  # nothing of the label
