"""Failure type and confidence of the ranker's top cause on the Nezha dev split.

For every case, the ranker's top cause is typed by the loop's one failure-type
decision (``selfheal.analysis.failure_type.classify``, from the cause's structured
evidence and the case's anomalies), and that type is compared with the injected
fault's class (``cpu_contention``/``cpu_consumed`` -> ResourceExhaustion,
``network_delay`` -> NetworkFailure, ``return``/``exception`` -> CodeBug), and its
confidence with the 0.7 threshold: how often a cause reported as sure is right,
and how often a right top cause is reported as sure. Labels (``fault_type``,
``root_cause_service``) are read here only, to score.

    python bench/rca_failure_type.py --nezha ../shared/benchmarks/rca/nezha
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from selfheal.analysis.failure_type import apply, classify
from selfheal.analysis.rca import rank
from selfheal.bench.rca import nezha
from selfheal.core.types import FailureType

CLASS_OF = {
    "cpu_contention": FailureType.RESOURCE_EXHAUSTION,
    "cpu_consumed": FailureType.RESOURCE_EXHAUSTION,
    "network_delay": FailureType.NETWORK_FAILURE,
    "return": FailureType.CODE_BUG,
    "exception": FailureType.CODE_BUG,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nezha", type=Path, required=True)
    args = parser.parse_args()
    labels = pd.read_csv(args.nezha / "cases.csv").set_index("case_id")
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: Counter[tuple[str, str]] = Counter()
    for case in nezha.read_cases(args.nezha):
        data = nezha.load_case(args.nezha, case)
        ranked = rank(data).causes[0]
        top = apply(ranked, classify(ranked, data.anomalies))
        truth = labels.loc[case.case_id]
        r = rows[case.system]
        r["cases"] += 1
        right = top.service == truth["root_cause_service"]
        sure = top.confidence >= 0.7
        r["right service"] += right
        r["sure"] += sure
        r["sure and right"] += sure and right
        if right:
            expected = CLASS_OF[str(truth["fault_type"])]
            r["type right"] += top.failure_type == expected
            confusion[(str(truth["fault_type"]), top.failure_type.value)] += 1
        print(
            f"{case.case_id}: {top.service} {top.failure_type.value} {top.confidence:.2f}"
            f" (truth {truth['root_cause_service']} {truth['fault_type']})",
            flush=True,
        )
    print(
        "\n| system | cases | top service right | failure type right (of those) "
        "| top cause at confidence >= 0.7 | of those right |"
    )
    print("|---|---|---|---|---|---|")
    for system, r in sorted(rows.items()):
        print(
            f"| {system} | {r['cases']} | {r['right service']} | {r['type right']} "
            f"| {r['sure']} | {r['sure and right']} |"
        )
    print("\nfault type -> failure type given (right top service only):")
    for (fault, given), n in sorted(confusion.items()):
        print(f"  {fault:15} -> {given}: {n}")


if __name__ == "__main__":
    main()
