"""The loop's ranker hands the log lines around an incident to the RCA engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import selfheal.analysis.rca as rca
from selfheal.core.types import Anomaly, Incident, IncidentStatus
from selfheal.loop.stages import RankerAdapter
from selfheal.monitoring.log_tailer import LogTailer
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.window_store import WindowStore

REAL_RANK = rca.rank


def test_incident_and_baseline_lines_reach_the_rca_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cart-0.log"
    path.write_text("")
    tailer = LogTailer([str(tmp_path / "*.log")])
    window = LogWindow()
    window.add(tailer.poll(), now=0.0)  # start following (from the end)
    for read_at, level, msg in [
        (50.0, "INFO", "too old for the baseline"),
        (90.0, "INFO", "GET /cart 200"),
        (101.0, "ERROR", "corrupt cart data for u1"),
    ]:
        line = {"level": level, "service": "cart", "msg": msg, "span_id": f"span{int(read_at)}"}
        with path.open("a") as f:
            f.write(json.dumps(line) + "\n")
        window.add(tailer.poll(), now=read_at)
    tailer.close()
    seen: dict[str, Any] = {}

    def fake_rank(data: rca.RCAInput, config: Any = None) -> Any:
        seen["data"] = data
        return REAL_RANK(rca.RCAInput(data.start, data.end, nx.DiGraph()))

    monkeypatch.setattr(rca, "rank", fake_rank)
    anomaly = Anomaly("cart", 100.0, 0.9, "rule:error_ratio>0.05", indicator="error_ratio")
    inc = Incident("inc-1", 100.0, (anomaly,), frozenset({"cart"}), (), status=IncidentStatus.OPEN)
    RankerAdapter(WindowStore(), logs=window, log_baseline_seconds=30.0).rank(
        inc, nx.DiGraph(), 102.0
    )
    data = seen["data"]
    assert [r.message for r in data.logs] == ["corrupt cart data for u1"]
    assert [r.message for r in data.baseline_logs] == ["GET /cart 200"]
    assert data.logs[0].service == "cart"
    assert data.logs[0].span_id == "span101"  # counted per operation when spans are known


def test_without_a_log_source_the_rca_gets_no_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_rank(data: rca.RCAInput, config: Any = None) -> Any:
        seen["data"] = data
        return REAL_RANK(rca.RCAInput(data.start, data.end, nx.DiGraph()))

    monkeypatch.setattr(rca, "rank", fake_rank)
    anomaly = Anomaly("cart", 100.0, 0.9, "rule:error_ratio>0.05", indicator="error_ratio")
    inc = Incident("inc-1", 100.0, (anomaly,), frozenset({"cart"}))
    RankerAdapter(WindowStore()).rank(inc, nx.DiGraph(), 102.0)
    assert seen["data"].logs == () and seen["data"].baseline_logs == ()
