"""``selfheal bench rca``: run the root-cause engine on a labelled dataset.

Runs every case of ``DIR/cases.csv`` (for ``campaign``, of every recording at or
below ``DIR``) through ``selfheal.analysis.rca.rank`` using only the telemetry and
the input columns, writes ``{"cases": [{"case_id", "ranking", "seconds"}]}`` and
prints AC@1/3/5 and Avg@5 per system (per topology and per fault type for a
campaign, beside how often the live loop's first cause was right) when the labels
are present. Missing or malformed data is one line, ``error: ...``, exit 2.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import click

DATASETS = ("nezha", "petshop", "campaign")  # kept in step with selfheal.bench.rca.cases


def _print_scores(title: str, scores: dict[str, float], n: int) -> None:
    figures = "  ".join(f"{k}={v:.3f}" for k, v in scores.items())
    click.echo(f"{title:<32} n={n:<3} {figures}")


@click.command("rca")
@click.option("--dataset", type=click.Choice(DATASETS), required=True)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Dataset folder holding cases.csv (campaign: recordings at or below it).",
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--signal",
    default=None,
    help="Rank with this one signal alone (ablation); default: the full combination.",
)
def rca(dataset: str, data_dir: Path, out_file: Path, signal: str | None) -> None:
    """Rank root causes for every case of a dataset and score them if labels exist."""
    try:
        _rca(dataset, data_dir, out_file, signal)
    except (OSError, ValueError) as exc:  # a reader names the file and what is wrong with it
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def _rca(dataset: str, data_dir: Path, out_file: Path, signal: str | None) -> None:
    # Imported here so that `selfheal --help` does not pay for pandas and networkx.
    from selfheal.analysis.rca import RCAConfig, rank
    from selfheal.bench.rca.cases import iter_cases
    from selfheal.bench.rca.labels import accuracy_at_k, read_labels

    config = RCAConfig()
    if signal:
        config = config.only(signal)
    cases = list(iter_cases(dataset, data_dir))
    rows: list[dict[str, object]] = []
    rankings: dict[str, list[str]] = {}
    durations: list[float] = []
    groups: dict[str, list[str]] = defaultdict(list)
    for i, case in enumerate(cases, start=1):
        began = time.perf_counter()
        result = rank(case.load(), config)
        seconds = time.perf_counter() - began
        ranking = list(result.ranking)
        rows.append({"case_id": case.case_id, "ranking": ranking, "seconds": round(seconds, 4)})
        rankings[case.case_id] = ranking
        durations.append(round(seconds, 4))
        groups[case.group].append(case.case_id)
        top = ranking[0] if ranking else "-"
        click.echo(f"[{i}/{len(cases)}] {case.case_id}: {top} ({seconds:.2f}s)", err=True)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps({"cases": rows}, indent=1))
    click.echo(f"wrote {len(rows)} rankings to {out_file}")
    labels = read_labels(dataset, data_dir)
    if labels is None:
        where = "no labels.csv" if dataset == "campaign" else "no label column in cases.csv"
        click.echo(f"{where}: no scores can be computed")
        return
    systems: dict[str, list[str]] = defaultdict(list)
    for group, ids in groups.items():
        systems[dataset if dataset == "petshop" else group.split("/")[0]].extend(ids)
    if dataset == "campaign":
        _print_scores("campaign (all)", accuracy_at_k(rankings, labels), len(rankings))
    for system, ids in sorted(systems.items()):
        _print_scores(system, accuracy_at_k({c: rankings[c] for c in ids}, labels), len(ids))
    if dataset == "petshop":
        for group, ids in sorted(groups.items()):
            sub = {c: rankings[c] for c in ids}
            _print_scores(f"  {group}", accuracy_at_k(sub, labels), len(ids))
    if dataset == "campaign":
        _campaign_report(data_dir, rankings)
    slowest = max(durations, default=0.0)
    mean = sum(durations) / max(1, len(durations))
    click.echo(f"seconds per case: mean {mean:.2f}, max {slowest:.2f}")


def _campaign_report(data_dir: Path, rankings: dict[str, list[str]]) -> None:
    """Scores per fault type, and the live loop's first cause beside the offline top one."""
    from selfheal.bench.rca.labels import accuracy_at_k, read_campaign_labels

    rows = read_campaign_labels(data_dir) or {}
    labels = {c: r["service"] for c, r in rows.items()}
    by_fault: dict[str, list[str]] = defaultdict(list)
    for case_id in rankings:
        if case_id in rows:
            by_fault[rows[case_id]["fault"]].append(case_id)
    for fault, ids in sorted(by_fault.items()):
        sub = {c: rankings[c] for c in ids}
        _print_scores(f"  fault {fault}", accuracy_at_k(sub, labels), len(ids))
    named = [c for c in rankings if c in rows and rows[c]["loop_root_cause"]]
    live_right = sum(rows[c]["loop_root_cause"] == rows[c]["service"] for c in named)
    offline_right = sum(rankings[c][:1] == [rows[c]["service"]] for c in named)
    click.echo(
        f"live loop's first cause right {live_right}/{len(named)} of the cases it named one for;"
        f" this ranking's first right {offline_right}/{len(named)} of the same"
    )
