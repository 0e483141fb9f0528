"""Scenario files: what ``selfheal demo`` plays, and ``selfheal scenario``, which
writes a random one for a topology.

A scenario file is a YAML list of ``{at_seconds, fault, service, instance?,
params?, duration?}`` (``ScenarioStep``). The demo's default scenario is the
shop's: every testbed fault once, 18 s apart. ``selfheal scenario --topology T
--seed N --faults K [--overlap P]`` prints one drawn by the testbed's campaign
generator (``selfheal.testbed.scenarios``, ranges in ``docs/scenarios.md``):
the same seed gives the same file. Only the command line may import the testbed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfheal.core.errors import ConfigError
from selfheal.core.yaml_input import load_yaml, validation_problems


class ScenarioStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_seconds: float = Field(ge=0, description="Seconds after the demo started.")
    fault: str
    service: str
    instance: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    duration: float | None = Field(default=None, gt=0)


DEFAULT_SCENARIO: tuple[ScenarioStep, ...] = tuple(
    ScenarioStep(at_seconds=60 + 18 * i, **spec)  # type: ignore[arg-type]
    for i, spec in enumerate(
        [
            {"fault": "crash", "service": "cart", "instance": "cart-0"},
            {"fault": "bad_release", "service": "shipping"},
            {"fault": "dependency_outage", "service": "bank"},
            {"fault": "errors", "service": "catalog", "instance": "catalog-1"},
            {
                "fault": "bad_config",
                "service": "checkout",
                "params": {"mode": "timeout", "dependency": "inventory"},
            },
            {"fault": "hang", "service": "frontend", "instance": "frontend-1"},
            {"fault": "memory_leak", "service": "inventory", "params": {"rate_mb": 40}},
            {"fault": "cache_corruption", "service": "cache"},
            {
                "fault": "latency",
                "service": "catalog",
                "instance": "catalog-0",
                "params": {"delay_ms": 800},
            },
            {"fault": "pool_exhaustion", "service": "cart"},
            {"fault": "cpu_hog", "service": "shipping"},
            {
                "fault": "network_delay",
                "service": "checkout",
                "instance": "checkout-0",
                "params": {"to": "payment"},
            },
        ]
    )
)
"""The shop's demo: 60 s fault-free, then every testbed fault once, 18 s apart."""


def load_scenario(path: str | Path) -> tuple[ScenarioStep, ...]:
    p = Path(path)
    try:
        data = load_yaml(p.read_text(encoding="utf-8"), str(p))
    except FileNotFoundError:
        raise ConfigError(f"{p}: scenario file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the scenario: {exc}") from None
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{p}: a scenario is a non-empty YAML list of faults")
    return steps_of(data, str(p))


def steps_of(data: list[Any], source: str) -> tuple[ScenarioStep, ...]:
    """Validated steps, in time order, from a parsed scenario list."""
    steps = []
    for i, item in enumerate(data):
        try:
            steps.append(ScenarioStep.model_validate(item))
        except ValidationError as exc:
            raise ConfigError(f"{source}: [{i}].{validation_problems(exc)[0]}") from None
    return tuple(sorted(steps, key=lambda s: s.at_seconds))


def generated_scenario(topology: Any, seed: int = 0) -> tuple[ScenarioStep, ...]:
    """A scenario for a topology without a scenario file: every fault type it allows, once."""
    from selfheal.testbed.faults import CATALOGUE, FAULTS
    from selfheal.testbed.scenarios import generate_scenario

    kinds = sum(1 for f in FAULTS if any(CATALOGUE[f].allows(s) for s in topology))
    return steps_of(generate_scenario(topology, seed, kinds), f"topology {topology.name}")


@click.command("scenario")
@click.option(
    "--topology",
    default=None,
    help="Topology file or shipped name (default: the shop).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--faults", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option(
    "--overlap",
    type=click.FloatRange(0.0, 0.5),
    default=0.0,
    show_default=True,
    help="Share of the faults that overlap the fault before them, on another service "
    "(pairs; at most 0.5).",
)
def scenario(topology: str | None, seed: int, faults: int, overlap: float) -> None:
    """Print a random fault scenario for a topology (a `demo --scenario-file` file)."""
    from selfheal.testbed.errors import TestbedError
    from selfheal.testbed.scenarios import generate_scenario, scenario_yaml
    from selfheal.testbed.topology_file import find_topology

    try:
        topo = find_topology(topology)
        steps = generate_scenario(topo, seed, faults, overlap)
    except (TestbedError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    header = (
        f"selfheal scenario --topology {topology or topo.name} --seed {seed} "
        f"--faults {faults} --overlap {overlap:g}\n"
        "ranges and spacing: docs/scenarios.md"
    )
    click.echo(scenario_yaml(steps, header), nl=False)


COMMANDS: list[click.Command] = [scenario]
