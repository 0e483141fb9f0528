"""Fault campaigns: a random scenario for any topology, the same one for the same
seed.

Each fault of the scenario draws a fault type, a target whose role allows it
(``FaultInfo.allows``) and parameters from the documented ranges below
(``docs/scenarios.md``). Fault types are dealt from a shuffled deck of every
type the topology allows, reshuffled when it runs out, so ten faults are ten
different types where there are that many. After a fault-free start the faults
come ``GAP_SECONDS`` apart, so each can heal; a share of them (at most half)
instead overlaps the one before (``OVERLAP_OFFSET_SECONDS`` after it) on a
different service, two faults at a time.
Every fault lasts until shortly before the next group starts, so one that is
not healed does not spill into the next.

Nothing here knows a service or a seed: targets come from roles, and the only
state carried from fault to fault is which provider of a standby pair the
callers use (an outage is healed by failing over, so the next outage of that
pair hits the standby). Used by ``selfheal scenario``, ``selfheal demo`` (a
topology without a scenario file) and ``bench/campaign.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import yaml

from selfheal.testbed.faults import CATALOGUE, FAULTS
from selfheal.testbed.topology import Role, ServiceSpec, Topology

FAULT_FREE_SECONDS = 60.0
"""Seconds before the first fault: the loop learns the healthy shop."""
GAP_SECONDS = 45.0
"""Seconds from the last fault of a group to the next group."""
OVERLAP_OFFSET_SECONDS = (3.0, 10.0)
"""An overlapping fault comes this many seconds (uniform) after the one before it."""
DURATION_MARGIN_SECONDS = 5.0
"""A fault stops by itself this long before the next group starts."""
INSTANCE_SHARE = 0.5
"""Chance that a fault of instance scope on a service with several replicas hits one
instance rather than all of them."""


@dataclass(frozen=True, slots=True)
class Range:
    """A parameter drawn uniformly from ``low``..``high`` in steps of ``step``."""

    low: float
    high: float
    step: float

    def draw(self, rng: random.Random) -> float | int:
        steps = round((self.high - self.low) / self.step)
        value = self.low + self.step * rng.randint(0, steps)
        return int(value) if float(self.step).is_integer() else round(value, 2)


RANGES: dict[str, dict[str, Range]] = {
    "latency": {"delay_ms": Range(200, 2000, 10)},
    "errors": {"rate": Range(0.2, 1.0, 0.05)},
    "memory_leak": {"rate_mb": Range(20, 60, 5), "max_mb": Range(250, 400, 50)},
    "cpu_hog": {"threads": Range(1, 2, 1)},
    "network_delay": {"delay_ms": Range(200, 2000, 10)},
    "pool_exhaustion": {"size": Range(0, 0, 1), "timeout_ms": Range(5, 50, 5)},
}
"""Fault → parameter → range. Choices (``to``, ``mode``, ``dependency``) are drawn
among what the target has; faults not named take no parameters."""


def generate_scenario(
    topology: Topology, seed: int, faults: int, overlap: float = 0.0
) -> list[dict[str, Any]]:
    """``faults`` scenario steps for ``topology`` (``selfheal demo --scenario-file`` form)."""
    if faults < 1:
        raise ValueError("a scenario needs at least one fault")
    if not 0.0 <= overlap <= 0.5:
        raise ValueError("overlap is a share between 0 and 0.5 (each overlap pairs two faults)")
    # The topology's name joins the seed, so topologies of one campaign get different draws.
    rng = random.Random(f"{topology.name}:{seed}")
    kinds = [f for f in FAULTS if any(CATALOGUE[f].allows(s) for s in topology)]
    overlapping = _overlapping(rng, faults, min(faults // 2, round(overlap * faults)))
    deck: list[str] = []
    # Providers the callers use now: those named as dependencies, until an outage moves
    # their callers to the standby.
    in_use = {
        s.name
        for s in topology
        if s.role == Role.EXTERNAL and any(s.name in other.dependencies for other in topology)
    }
    steps: list[dict[str, Any]] = []
    group: list[dict[str, Any]] = []
    at = FAULT_FREE_SECONDS
    for i in range(faults):
        if i in overlapping:
            low, high = OVERLAP_OFFSET_SECONDS
            at += round(rng.uniform(low, high) * 2) / 2
        else:
            if i:
                at += GAP_SECONDS
                _set_durations(group, at)
            group = []
        busy = {s["service"] for s in group}
        kind, spec = _deal(rng, deck, kinds, topology, busy, in_use)
        step: dict[str, Any] = {"at_seconds": at, "fault": kind, "service": spec.name}
        one = CATALOGUE[kind].scope == "instance" and spec.replicas > 1
        if one and rng.random() < INSTANCE_SHARE:
            step["instance"] = f"{spec.name}-{rng.randrange(spec.replicas)}"
        params = _params(rng, kind, spec)
        if params:
            step["params"] = params
        if kind == "dependency_outage" and spec.standby:
            in_use.discard(spec.name)
            in_use.add(spec.standby)
        group.append(step)
        steps.append(step)
    _set_durations(group, at + GAP_SECONDS)
    return steps


def _overlapping(rng: random.Random, faults: int, wanted: int) -> set[int]:
    """Which faults overlap the one before them: ``wanted`` of them, at random, never two
    in a row (a pair overlaps; nothing joins it)."""
    # Sorted draws from the positions left once each pick reserves its predecessor
    # give every non-adjacent choice the same chance.
    picks = sorted(rng.sample(range(faults - wanted), wanted))
    return {p + j + 1 for j, p in enumerate(picks)}


def _deal(
    rng: random.Random,
    deck: list[str],
    kinds: list[str],
    topology: Topology,
    busy: set[str],
    in_use: set[str],
) -> tuple[str, ServiceSpec]:
    """The next fault type of the deck that has a free target, and that target."""
    for _ in range(2 * len(kinds)):
        if not deck:
            deck.extend(rng.sample(kinds, len(kinds)))
        kind = deck.pop(0)
        targets = [
            s
            for s in topology
            if CATALOGUE[kind].allows(s)
            and s.name not in busy
            and (s.role != Role.EXTERNAL or s.name in in_use)
        ]
        if targets:
            return kind, rng.choice(targets)
    raise ValueError(f"topology {topology.name} has no free target for another fault")


def _params(rng: random.Random, kind: str, spec: ServiceSpec) -> dict[str, Any]:
    params: dict[str, Any] = {name: r.draw(rng) for name, r in RANGES.get(kind, {}).items()}
    if kind == "network_delay":
        params["to"] = rng.choice(spec.dependencies)
    elif kind == "bad_config":
        params["mode"] = rng.choice(["dependency_url", "timeout"])
        if params["mode"] == "dependency_url":
            params["dependency"] = rng.choice(spec.dependencies)
    return params


def _set_durations(group: list[dict[str, Any]], next_at: float) -> None:
    for step in group:
        step["duration"] = round(next_at - DURATION_MARGIN_SECONDS - step["at_seconds"], 1)


def scenario_yaml(steps: list[dict[str, Any]], header: str = "") -> str:
    """The steps as a scenario file (one flow-style mapping per line)."""
    lines = [f"# {line}" for line in header.splitlines()]
    for step in steps:
        lines.append(
            "- "
            + yaml.safe_dump(step, default_flow_style=True, sort_keys=False, width=10_000).strip()
        )
    return "\n".join(lines) + "\n"
