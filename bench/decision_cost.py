"""Cost of the decision layer per incident: planning a cause and checking the guards.

Bounded: a fixed number of repetitions over a fixed set of causes shaped like the
demo shop's faults; prints a JSON summary.

    python bench/decision_cost.py --repeats 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from selfheal.core.clock import FakeClock
from selfheal.core.config import GuardsConfig
from selfheal.core.platform import ChangeEvent, ChangeKind, PlanningContext, ServiceState
from selfheal.core.types import Cause, FailureType, Incident
from selfheal.decision import (
    Guards,
    Planner,
    Playbook,
)

NOW = 1_700_000_000.0
F = FailureType


def shop() -> PlanningContext:
    deps = {
        "frontend": {"checkout": "checkout", "cart": "cart"},
        "checkout": {"payment": "payment", "cart": "cart"},
        "cart": {"cache": "cache"},
        "payment": {"bank": "bank"},
    }
    sizes = {"frontend": 2, "checkout": 2, "cart": 2, "payment": 2, "cache": 1, "bank": 1}
    services = {
        n: ServiceState(
            n,
            tuple(f"{n}-{i}" for i in range(k)),
            dependencies=deps.get(n, {}),
            external=n.startswith("bank"),
        )
        for n, k in sizes.items()
    }
    changes = (
        ChangeEvent("checkout", ChangeKind.DEPLOY, NOW - 30, "v1", "v2"),
        ChangeEvent("payment", ChangeKind.CONFIG, NOW - 20, "1", "2"),
    )
    return PlanningContext(services=services, changes=changes)


CAUSES = (
    Cause("cart", 0.9, F.RESOURCE_EXHAUSTION, "cart-1", "up"),
    Cause("cart", 0.9, F.RESOURCE_EXHAUSTION, "cart-0", "memory"),
    Cause("checkout", 0.9, F.CODE_BUG, None, "version"),
    Cause("payment", 0.9, F.CONFIGURATION_ERROR, None, "config"),
    Cause("bank", 0.9, F.EXTERNAL_DEPENDENCY, None, "dependency"),
    Cause("cache", 0.9, F.DATA_CORRUPTION, None, "cache"),
    Cause("frontend", 0.9, F.NETWORK_FAILURE, "frontend-1", "network"),
    Cause("cart", 0.9, F.UNKNOWN, "cart-1", "latency_p99"),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    clock = FakeClock(NOW)
    planner = Planner(Playbook.default(), clock)
    guards = Guards(GuardsConfig(), clock)
    ctx = shop()
    incident = Incident("bench", NOW, (), frozenset())
    plan_us: list[float] = []
    check_us: list[float] = []
    for i in range(args.repeats):
        cause = CAUSES[i % len(CAUSES)]
        t0 = time.perf_counter()
        plan = planner.plan(incident, cause, ctx)
        t1 = time.perf_counter()
        guards.check(plan.actions[0], incident_id="bench", context=ctx, cause=cause)
        t2 = time.perf_counter()
        plan_us.append((t1 - t0) * 1e6)
        check_us.append((t2 - t1) * 1e6)

    def summary(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {
            "median_us": round(statistics.median(xs), 1),
            "p99_us": round(xs[int(0.99 * (len(xs) - 1))], 1),
        }

    print(
        json.dumps(
            {"repeats": args.repeats, "plan": summary(plan_us), "guards_check": summary(check_us)}
        )
    )


if __name__ == "__main__":
    main()
