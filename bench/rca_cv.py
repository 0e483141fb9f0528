"""Root-cause settings chosen with one system left out, and each seed RCA part measured.

Every labelled system the project has — Nezha's Online Boutique and Train Ticket, PetShop,
and the loop's own fault campaigns when ``--campaign DIR`` is given — is left out in turn:
the ranker's settings (the log signal's weight, the share of the propagation walk, the
Granger causality signal's weight, the GNN's share) are chosen on the other systems
(highest mean AC@1 over them, ties to the fewer non-default parameters, then AC@3) and
scored on the left-out one. The cross-validated figure is that left-out score; the
in-sample figure (settings chosen on every system) stands beside it. A second table
measures the causal-inference signal (Granger) and the GNN alone and added to the default,
under the same protocol. The signals' outputs do not depend on the settings: they are
computed once per case (``analysis.rca.ranker.signal_outputs``) and recombined.

    python bench/rca_cv.py --nezha ../shared/benchmarks/rca/nezha \\
        --petshop ../shared/benchmarks/rca/petshop [--campaign DIR]

``--campaign DIR``: recordings of ``selfheal demo --record-rca`` / ``bench/campaign.py
--record-rca`` (docs/campaign-dataset.md), every topology together as one system.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from selfheal.analysis.rca import RCAConfig, RCAInput, rank
from selfheal.analysis.rca.ranker import DEFAULT_WEIGHTS, GNN, PROPAGATION, signal_outputs
from selfheal.analysis.rca.signal import SignalOutput
from selfheal.bench.rca.cases import iter_cases
from selfheal.bench.rca.labels import read_labels

LOCAL = (*DEFAULT_WEIGHTS, "granger")


@dataclass(frozen=True, slots=True)
class Case:
    system: str
    truth: str
    data: RCAInput
    outputs: tuple[SignalOutput, ...]


@dataclass(frozen=True, slots=True)
class Setting:
    log_weight: float = DEFAULT_WEIGHTS["log_templates"]
    propagation: float = 0.5
    granger: float = 0.0
    gnn: float = 0.0

    def config(self) -> RCAConfig:
        weights = dict(DEFAULT_WEIGHTS)
        weights["log_templates"] = self.log_weight
        if self.granger > 0:
            weights["granger"] = self.granger
        return RCAConfig(weights, propagation_weight=self.propagation, gnn_weight=self.gnn)

    def changed(self) -> int:
        """How many parameters differ from the shipped default (fewer is preferred)."""
        return sum(getattr(self, f) != getattr(Setting(), f) for f in self.__dataclass_fields__)

    def __str__(self) -> str:
        return (
            f"log {self.log_weight:g}, walk {self.propagation:g}, "
            f"granger {self.granger:g}, gnn {self.gnn:g}"
        )


GRID = tuple(
    Setting(log, walk, granger, 0.0)
    for log, walk, granger in itertools.product((1.0, 2.0, 3.0, 4.0), (0.25, 0.5, 0.75), (0.0, 1.0))
)


def load(dataset: str, data_dir: Path, system_of: str | None = None) -> list[Case]:
    labels = read_labels(dataset, data_dir)
    if labels is None:
        sys.exit(f"{data_dir}: no labels, nothing to cross-validate")
    cases = []
    for bench_case in iter_cases(dataset, data_dir):
        data = bench_case.load()
        outputs = tuple(signal_outputs(data, LOCAL))
        system = system_of or bench_case.group
        cases.append(Case(system, labels[bench_case.case_id], data, outputs))
        print(f"  {system} {bench_case.case_id}", file=sys.stderr, flush=True)
    return cases


def accuracy(cases: Iterable[Case], setting: Setting) -> tuple[float, float]:
    """(AC@1, AC@3) of ``setting`` over ``cases``."""
    chosen = list(cases)
    config = setting.config()
    top1 = top3 = 0
    for c in chosen:
        ranking = rank(c.data, config, outputs=c.outputs).ranking
        top1 += c.truth in ranking[:1]
        top3 += c.truth in ranking[:3]
    return top1 / len(chosen), top3 / len(chosen)


def table(
    cases: Sequence[Case], settings: Sequence[Setting]
) -> dict[tuple[Setting, str], tuple[float, float]]:
    """(AC@1, AC@3) of every setting on every system."""
    systems = sorted({c.system for c in cases})
    out = {}
    for s in settings:
        for system in systems:
            out[(s, system)] = accuracy([c for c in cases if c.system == system], s)
    return out


def choose(
    scores: Mapping[tuple[Setting, str], tuple[float, float]],
    settings: Sequence[Setting],
    systems: Sequence[str],
) -> Setting:
    def key(s: Setting) -> tuple[float, int, float]:
        ac1 = statistics.fmean(scores[(s, sys_)][0] for sys_ in systems)
        ac3 = statistics.fmean(scores[(s, sys_)][1] for sys_ in systems)
        return (-round(ac1, 6), s.changed(), -ac3)

    return min(settings, key=key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nezha", type=Path, required=True)
    parser.add_argument("--petshop", type=Path, required=True)
    parser.add_argument(
        "--campaign", type=Path, help="the loop's recorded fault campaigns (campaign dataset)"
    )
    args = parser.parse_args()
    began = time.perf_counter()
    cases = load("nezha", args.nezha) + load("petshop", args.petshop, system_of="petshop")
    if args.campaign is not None:
        cases += load("campaign", args.campaign, system_of="campaign")
    systems = sorted({c.system for c in cases})
    scores = table(cases, GRID)
    default = Setting()
    print(f"\n{len(cases)} cases, {len(GRID)} settings, {time.perf_counter() - began:.0f} s")
    print(
        "\n| left out | chosen on the others | left-out AC@1 (CV) | in-sample AC@1 | default AC@1 |"
    )
    print("|---|---|---|---|---|")
    in_sample = choose(scores, GRID, systems)
    for held in systems:
        others = [s for s in systems if s != held]
        chosen = choose(scores, GRID, others)
        print(
            f"| {held} | {chosen} | {scores[(chosen, held)][0]:.3f} |"
            f" {scores[(in_sample, held)][0]:.3f} | {scores[(default, held)][0]:.3f} |"
        )
    print(f"\nin-sample choice (every system): {in_sample}")
    print("\nseed RCA parts, AC@1 per system (alone, and added to the default):")
    parts = {
        "default": default,
        "granger alone": None,
        "default + granger": Setting(granger=1.0),
        "gnn alone": None,
        "default + gnn 0.25": Setting(gnn=0.25),
    }
    header = "| part | " + " | ".join(systems) + " |"
    print(header)
    print("|---" * (len(systems) + 1) + "|")
    for name, setting in parts.items():
        row = []
        for system in systems:
            mine = [c for c in cases if c.system == system]
            if name == "granger alone":
                config = RCAConfig().only("granger")
            elif name == "gnn alone":
                config = RCAConfig().only(GNN)
            else:
                assert setting is not None
                config = setting.config()
            hits = sum(c.truth in rank(c.data, config, outputs=c.outputs).ranking[:1] for c in mine)
            row.append(f"{hits / len(mine):.3f}")
        print(f"| {name} | " + " | ".join(row) + " |")
    print(f"\n({PROPAGATION} and {GNN} read the local evidence; see analysis/rca/ranker.py)")


if __name__ == "__main__":
    main()
