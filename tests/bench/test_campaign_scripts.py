"""The campaign scripts under ``bench/`` and the campaign RCA dataset: ``campaign.py``
asks each demo run to record into a subfolder of its own; ``rca_cv.py`` reads the
recordings as a fourth system."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.bench.rca.campaign_data import record

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_each_run_records_into_a_fresh_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = _script("campaign")
    calls: list[list[str]] = []

    def fake_run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 0, stdout="[]\n", stderr="")

    monkeypatch.setattr(campaign.subprocess, "run", fake_run)
    stale = tmp_path / "rca" / "trio-s4"
    stale.mkdir(parents=True)
    (stale / "cases.csv").write_text("left from an earlier run\n")
    campaign.run_one("trio", 4, 3, 0.0, tmp_path, tmp_path / "rca", traces=True)
    demo = calls[-1]
    assert demo[demo.index("--record-rca") + 1] == str(stale)
    assert "--traces" in demo and demo[demo.index("--topology") + 1] == "trio"
    assert not stale.exists()  # the demo makes it afresh
    campaign.run_one("trio", 5, 3, 0.0, tmp_path)
    assert "--record-rca" not in calls[-1] and "--traces" not in calls[-1]


def test_rca_cv_reads_the_campaign_as_one_system(tmp_path: Path) -> None:
    rca_cv = _script("rca_cv")
    record(tmp_path / "trio-s1", [("ledger", "errors"), ("vault", "crash")])
    record(tmp_path / "duo-s1", [("gateway", "errors")], topology="duo")
    cases = rca_cv.load("campaign", tmp_path, system_of="campaign")
    assert [(c.system, c.truth) for c in cases] == [
        ("campaign", "gateway"),
        ("campaign", "ledger"),
        ("campaign", "vault"),
    ]
    assert rca_cv.accuracy(cases, rca_cv.Setting()) == (1.0, 1.0)
