"""One iterator over the cases of any dataset, for the benchmark command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.bench.rca import campaign, nezha, petshop

DATASETS = ("nezha", "petshop", "campaign")


@dataclass(frozen=True, slots=True)
class BenchCase:
    case_id: str
    # the system (Nezha), scenario/SLI (PetShop) or topology (campaign) it is reported under
    group: str
    load: Callable[[], RCAInput]


def iter_cases(dataset: str, data_dir: Path) -> Iterator[BenchCase]:
    if dataset == "campaign":  # recordings may sit in subfolders
        for r in campaign.read_cases(data_dir):
            yield BenchCase(r.case_id, r.topology, partial(campaign.load_case, r))
        return
    if not (data_dir / "cases.csv").exists():
        raise FileNotFoundError(f"{data_dir} has no cases.csv")
    if dataset == "nezha":
        for c in nezha.read_cases(data_dir):
            yield BenchCase(c.case_id, c.system, partial(nezha.load_case, data_dir, c))
    elif dataset == "petshop":
        for p in petshop.read_cases(data_dir):
            group = f"{p.scenario}/{p.target_metric}"
            yield BenchCase(p.case_id, group, partial(petshop.load_case, data_dir, p))
    else:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
