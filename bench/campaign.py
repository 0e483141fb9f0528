"""Fault campaigns: the loop on many generated scenarios, topologies × seeds, judged strictly.

Each run writes a scenario (``selfheal scenario``) and plays it with ``selfheal demo
--topology T --scenario-file S --json-summary F`` in a subprocess; the summaries stay in the
output folder so the table can be made again without running (``--reuse``, ``--no-run``).
The table has issue 12's figures per topology, per fault type and in total: healed, right
root-cause service first, detected, false actions, wrong-target actions (and their share of
all actions), median time to detect and to recover. ``--soak-seconds`` runs the demo with no
fault per topology and counts its actions. ``--record-rca DIR`` also records every fault as a
case of an RCA dataset, one recording per run (``DIR/<topology>-s<seed>/``, made afresh when the
run is), which ``selfheal bench rca --dataset campaign --data DIR`` scores; ``--traces`` has the
shop send spans to the loop (the loop's RCA reads them, and the recording holds them). Run it
under the heavy-work lock:

    flock /tmp/selfheal-heavy.lock python bench/campaign.py [--topologies shop,chain,fanout]
        [--seeds 1,2,3] [--faults 10] [--overlap 0.3] [--out bench/out/campaign] [--reuse]
        [--record-rca bench/out/campaign-rca] [--traces]
    python bench/campaign.py --no-run          # tabulate what is there
    flock /tmp/selfheal-heavy.lock python bench/campaign.py --soak-seconds 600

Format of the scenarios and of the summaries: docs/scenarios.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

TARGETS = (
    "targets (issue 12): healed ≥ 95 %, right cause ≥ 95 %, false actions 0, wrong-target "
    "≤ 1 % of actions, undetected 0, median detect ≤ 2 s, median recover ≤ 15 s"
)
RUN_TIMEOUT_SECONDS = 1800


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "selfheal.cli.main", *args]


def run_one(
    topology: str,
    seed: int,
    faults: int,
    overlap: float,
    out: Path,
    record_rca: Path | None = None,
    traces: bool = False,
) -> Path:
    """Generate and play one scenario; returns the summary's path. With ``record_rca``, its
    faults are recorded into ``record_rca/<topology>-s<seed>`` (emptied first)."""
    stem = out / f"{topology}-s{seed}"
    scenario = stem.with_suffix(".yaml")
    made = subprocess.run(
        _cli(
            "scenario", "--topology", topology, "--seed", str(seed),
            "--faults", str(faults), "--overlap", str(overlap),
        ),
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    scenario.write_text(made.stdout)
    summary = stem.with_suffix(".json")
    summary.unlink(missing_ok=True)  # a run that writes none must not leave an old one
    extra = ["--traces"] if traces else []
    if record_rca is not None:
        recording = record_rca / stem.name
        shutil.rmtree(recording, ignore_errors=True)  # a run made again replaces its cases
        extra += ["--record-rca", str(recording)]
    started = time.monotonic()
    with stem.with_suffix(".log").open("w") as log:
        subprocess.run(
            _cli(
                "demo", "--topology", topology, "--scenario-file", str(scenario),
                "--json-summary", str(summary), *extra,
            ),
            stdout=log, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    print(f"{stem.name}: {time.monotonic() - started:.0f} s", flush=True)
    return summary


def soak(topology: str, seconds: float, out: Path) -> dict[str, Any]:
    stem = out / f"soak-{topology}-{seconds:g}s"
    summary = stem.with_suffix(".json")
    summary.unlink(missing_ok=True)  # a soak that writes none must not leave an old one
    with stem.with_suffix(".log").open("w") as log:
        subprocess.run(
            _cli(
                "demo", "--topology", topology, "--soak-seconds", str(seconds),
                "--json-summary", str(summary),
            ),
            stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 600, check=False,
        )  # fmt: skip
    if not summary.exists():
        raise SystemExit(f"soak {topology}: no summary (see {stem.with_suffix('.log')})")
    data: dict[str, Any] = json.loads(summary.read_text())
    return data


class Tally:
    """The figures of one row."""

    def __init__(self) -> None:
        self.faults = self.healed = self.right = self.detected = 0
        self.actions = self.wrong = self.false_actions = 0
        self.detect: list[float] = []
        self.recover: list[float] = []

    def add(self, fault: dict[str, Any]) -> None:
        inj = fault["injected_at"]
        self.faults += 1
        self.healed += bool(fault["healed"])
        self.right += fault["root_cause"] == fault["service"]
        self.detected += bool(fault.get("detected", fault["detected_at"] is not None))
        self.actions += len(fault["actions"])
        self.wrong += int(fault.get("wrong_target_actions", 0))
        if fault["detected_at"] is not None:
            self.detect.append(fault["detected_at"] - inj)
        if fault["recovered_at"] is not None and fault["healed"]:
            self.recover.append(fault["recovered_at"] - inj)

    def row(self, name: str) -> str:
        n = self.faults or 1
        share = f"{100 * self.wrong / self.actions:.0f} %" if self.actions else "—"
        return (
            f"| {name} | {self.faults} | {self.healed} ({100 * self.healed / n:.0f} %) | "
            f"{self.right} ({100 * self.right / n:.0f} %) | {self.faults - self.detected} | "
            f"{self.false_actions if self.false_actions >= 0 else '—'} | "
            f"{self.wrong} / {self.actions} ({share}) | {_median(self.detect)} | "
            f"{_median(self.recover)} |"
        )


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s" if values else "—"


def tabulate(summaries: dict[tuple[str, int], dict[str, Any]]) -> str:
    by_topology: dict[str, Tally] = defaultdict(Tally)
    by_fault: dict[str, Tally] = defaultdict(Tally)
    total = Tally()
    for (topology, _seed), data in sorted(summaries.items()):
        false_actions = int(data.get("false_actions", 0))
        by_topology[topology].false_actions += false_actions
        total.false_actions += false_actions
        total.actions += false_actions
        by_topology[topology].actions += false_actions
        for fault in data["scenarios"]:
            for tally in (by_topology[topology], by_fault[fault["fault"]], total):
                tally.add(fault)
    for tally in by_fault.values():
        tally.false_actions = -1  # not attributable to a fault type
    head = (
        "| {} | faults | healed | right cause first | undetected | false actions | "
        "wrong-target actions / all | median detect | median recover (healed) |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head.format("topology")]
    lines += [by_topology[t].row(t) for t in sorted(by_topology)]
    lines += ["", head.format("fault type")]
    lines += [by_fault[f].row(f) for f in sorted(by_fault)]
    lines += ["", head.format("all"), total.row("total")]
    seeds = sorted({seed for _, seed in summaries})
    lines += ["", f"{len(summaries)} runs; seeds {seeds}; {TARGETS}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topologies", default="shop,chain,fanout", help="comma-separated")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated integers")
    parser.add_argument("--faults", type=int, default=10)
    parser.add_argument("--overlap", type=float, default=0.3)
    parser.add_argument("--out", default="bench/out/campaign")
    parser.add_argument("--reuse", action="store_true", help="run only what has no summary")
    parser.add_argument("--no-run", action="store_true", help="only tabulate the summaries")
    parser.add_argument("--soak-seconds", type=float, default=None, help="a fault-free soak")
    parser.add_argument(
        "--record-rca",
        type=Path,
        default=None,
        help="record every fault as an RCA case here, one subfolder per run",
    )
    parser.add_argument("--traces", action="store_true", help="the demo's --traces")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    topologies = [t for t in args.topologies.split(",") if t]
    if args.soak_seconds is not None:
        for topology in topologies:
            data = soak(topology, args.soak_seconds, out)
            print(
                f"soak {topology}: {args.soak_seconds:g} s without faults, "
                f"{data['false_actions']} actions (target 0)"
            )
        return
    seeds = [int(s) for s in args.seeds.split(",") if s]
    summaries: dict[tuple[str, int], dict[str, Any]] = {}
    # seed by seed, every topology each round: a campaign cut short still covers them all
    for seed in seeds:
        for topology in topologies:
            path = out / f"{topology}-s{seed}.json"
            if not args.no_run and not (args.reuse and path.exists()):
                path = run_one(
                    topology, seed, args.faults, args.overlap, out, args.record_rca, args.traces
                )
            if path.exists():
                summaries[(topology, seed)] = json.loads(path.read_text())
            else:
                print(f"{path.name}: no summary (see {path.with_suffix('.log')})")
    print(tabulate(summaries))


if __name__ == "__main__":
    main()
