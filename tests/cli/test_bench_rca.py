"""``selfheal bench rca`` end to end on a tiny PetShop-shaped dataset written here."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from selfheal.cli.bench_rca import rca

NODES = ["Site", "Search", "Db", "Search_remote"]
EDGES = [("Site", "Search"), ("Site", "Search_remote"), ("Search", "Db")]


def _metrics(path: Path, times: np.ndarray, latency: dict[str, np.ndarray]) -> None:
    header = [["microservice"], ["metric"], ["statistic"], ["unix_timestamp"]]
    for node in NODES:
        header[0].append(node)
        header[1].append("latency")
        header[2].append("Average")
        header[3].append("")
    rows = [",".join(h) for h in header]
    for i, t in enumerate(times):
        rows.append(",".join([f"{t:.1f}", *(f"{latency[n][i]:.5f}" for n in NODES)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(rows) + "\n")


def _dataset(root: Path, labelled: bool) -> Path:
    scen = root / "dataset" / "s1"
    scen.mkdir(parents=True)
    with gzip.open(scen / "graph.csv.gz", "wt") as fh:
        fh.write("," + ",".join(NODES) + "\n")
        for u in NODES:
            fh.write(u + "," + ",".join("1" if (u, v) in EDGES else "0" for v in NODES) + "\n")
    rng = np.random.default_rng(0)
    base_t = np.arange(0.0, 300.0 * 100, 300.0)
    normal = {n: 0.01 * (1 + 0.05 * rng.standard_normal(base_t.size)) for n in NODES}
    _metrics(scen / "noissue" / "metrics.csv.gz", base_t, normal)
    t = 40_000.0 + np.arange(5) * 300.0
    bad = {n: np.full(5, 0.01) for n in NODES}
    for n in ("Site", "Search", "Search_remote"):
        bad[n] = np.array([0.01, 0.01, 0.2, 0.25, 0.2])
    _metrics(scen / "train" / "issue_0" / "metrics.csv.gz", t, bad)
    cols = "case_id,scenario,authors_split,target_node,target_metric,target_timestamp"
    row = f"petshop-s1-train-issue_0,s1,train,Site,latency,{t[2]:.0f}"
    if labelled:
        cols += ",root_cause_node"
        row += ",Search"
    (root / "cases.csv").write_text(cols + "\n" + row + "\n")
    return root


def test_bench_writes_rankings_and_scores_them(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d", labelled=True)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        rca, ["--dataset", "petshop", "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    cases = json.loads(out.read_text())["cases"]
    assert cases[0]["case_id"] == "petshop-s1-train-issue_0"
    assert cases[0]["ranking"][0] == "Search"
    assert cases[0]["seconds"] >= 0.0
    assert "AC@1=1.000" in result.output


def test_bench_without_labels_says_no_scores(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d", labelled=False)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        rca, ["--dataset", "petshop", "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "no scores can be computed" in result.output
    assert json.loads(out.read_text())["cases"][0]["ranking"]


def test_bench_refuses_a_folder_without_cases(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        rca, ["--dataset", "nezha", "--data", str(tmp_path), "--out", str(tmp_path / "o.json")]
    )
    assert result.exit_code != 0
    assert "cases.csv" in str(result.exception) + result.output


def test_the_command_offers_every_dataset_the_readers_know() -> None:
    from selfheal.bench.rca.cases import DATASETS as READERS
    from selfheal.cli.bench_rca import DATASETS

    assert DATASETS == READERS


def test_bench_scores_a_campaign_per_topology_and_fault_type(tmp_path: Path) -> None:
    from tests.bench.rca.campaign_data import record

    record(tmp_path / "d" / "trio-s1", [("ledger", "errors"), ("vault", "crash")])
    record(tmp_path / "d" / "duo-s1", [("gateway", "errors")], topology="duo")
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        rca, ["--dataset", "campaign", "--data", str(tmp_path / "d"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    cases = {c["case_id"]: c["ranking"] for c in json.loads(out.read_text())["cases"]}
    assert {c: r[0] for c, r in cases.items()} == {
        "duo-s1/c001": "gateway",
        "trio-s1/c001": "ledger",
        "trio-s1/c002": "vault",
    }
    lines = result.output.splitlines()
    assert any(line.startswith("campaign (all)") and "n=3" in line for line in lines)
    assert any(
        line.startswith("trio ") and "n=2" in line and "AC@1=1.000" in line for line in lines
    )
    assert any(line.startswith("  fault crash") and "n=1" in line for line in lines)
    assert any(line.startswith("  fault errors") and "n=2" in line for line in lines)
    # the recorded live causes: right on the odd cases (c001 of each run), wrong on c002
    assert "live loop's first cause right 2/3" in result.output
    assert "this ranking's first right 3/3" in result.output


def test_bench_campaign_without_labels_ranks_but_does_not_score(tmp_path: Path) -> None:
    from tests.bench.rca.campaign_data import record

    record(tmp_path, [("ledger", "errors")])
    (tmp_path / "labels.csv").unlink()
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        rca, ["--dataset", "campaign", "--data", str(tmp_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "no labels.csv: no scores can be computed" in result.output
    assert json.loads(out.read_text())["cases"][0]["ranking"][0] == "ledger"


def test_bad_campaign_data_is_one_error_line(tmp_path: Path) -> None:
    from tests.bench.rca.campaign_data import record

    out = str(tmp_path / "o.json")
    empty = CliRunner().invoke(
        rca, ["--dataset", "campaign", "--data", str(tmp_path), "--out", out]
    )
    assert empty.exit_code == 2
    assert empty.output.strip().splitlines() == [
        f"error: {tmp_path} has no cases.csv (no recording at or below it)"
    ]
    record(tmp_path, [("ledger", "errors")])
    (tmp_path / "cases" / "c001" / "spans.csv.gz").write_bytes(b"\x1f\x8b broken")
    broken = CliRunner().invoke(
        rca, ["--dataset", "campaign", "--data", str(tmp_path), "--out", out]
    )
    assert broken.exit_code == 2
    errors = [line for line in broken.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "spans.csv.gz is not readable CSV" in errors[0]
    assert "Traceback" not in broken.output
