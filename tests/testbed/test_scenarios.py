"""The campaign generator: same seed, same file; targets only where the role
allows; parameters in their documented ranges; the asked share of overlaps on
other services; faults spaced so each can heal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.cli.main import cli
from selfheal.cli.scenario import generated_scenario, load_scenario
from selfheal.testbed.faults import CATALOGUE, FAULTS
from selfheal.testbed.scenarios import (
    DURATION_MARGIN_SECONDS,
    FAULT_FREE_SECONDS,
    GAP_SECONDS,
    OVERLAP_OFFSET_SECONDS,
    RANGES,
    generate_scenario,
    scenario_yaml,
)
from selfheal.testbed.topology import Topology
from selfheal.testbed.topology_file import find_topology

TOPOLOGIES = {name: find_topology(name) for name in ("shop", "chain", "fanout")}


def _groups(steps: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Steps that overlap the one before them join its group."""
    groups: list[list[dict[str, Any]]] = []
    for step in steps:
        if groups and step["at_seconds"] - groups[-1][-1]["at_seconds"] < GAP_SECONDS:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def test_the_same_seed_gives_the_same_file_and_another_seed_another() -> None:
    shop = TOPOLOGIES["shop"]
    first = scenario_yaml(generate_scenario(shop, 7, 10, 0.3))
    assert scenario_yaml(generate_scenario(shop, 7, 10, 0.3)) == first
    assert scenario_yaml(generate_scenario(shop, 8, 10, 0.3)) != first
    chain = scenario_yaml(generate_scenario(TOPOLOGIES["chain"], 7, 10, 0.3))
    assert chain != first


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(TOPOLOGIES)),
    seed=st.integers(0, 10_000),
    faults=st.integers(1, 30),
    overlap=st.floats(0.0, 0.5),
)
def test_every_step_targets_an_allowed_service_with_parameters_in_range(
    name: str, seed: int, faults: int, overlap: float
) -> None:
    topology = TOPOLOGIES[name]
    steps = generate_scenario(topology, seed, faults, overlap)
    assert len(steps) == faults
    for step in steps:
        spec = topology.service(step["service"])
        assert CATALOGUE[step["fault"]].allows(spec), step
        if "instance" in step:
            assert CATALOGUE[step["fault"]].scope == "instance"
            assert step["instance"] in {f"{spec.name}-{i}" for i in range(spec.replicas)}
        params = step.get("params", {})
        for key, r in RANGES.get(step["fault"], {}).items():
            assert r.low <= params[key] <= r.high, (key, params)
        if step["fault"] == "network_delay":
            assert params["to"] in spec.dependencies
        if step["fault"] == "bad_config" and params["mode"] == "dependency_url":
            assert params["dependency"] in spec.dependencies
        if step["fault"] == "dependency_outage":
            assert topology.callers(spec.name)
    _assert_spacing(steps)
    overlapping = sum(len(g) - 1 for g in _groups(steps))
    assert overlapping == min(faults // 2, round(overlap * faults))
    for group in _groups(steps):
        assert len(group) <= 2
        services = [s["service"] for s in group]
        assert len(services) == len(set(services)), group


def _assert_spacing(steps: list[dict[str, Any]]) -> None:
    assert steps[0]["at_seconds"] == FAULT_FREE_SECONDS
    groups = _groups(steps)
    low, high = OVERLAP_OFFSET_SECONDS
    for group in groups:
        for before, after in zip(group, group[1:], strict=False):
            assert low <= after["at_seconds"] - before["at_seconds"] <= high
    for group, following in zip(groups, groups[1:], strict=False):
        next_at = following[0]["at_seconds"]
        assert next_at - group[-1]["at_seconds"] == GAP_SECONDS
        for step in group:
            # every fault stops by itself before the next group, so one left unhealed
            # does not spill into the next
            assert step["at_seconds"] + step["duration"] == next_at - DURATION_MARGIN_SECONDS


def test_ten_faults_are_ten_different_types_when_the_topology_allows_that_many() -> None:
    for topology in TOPOLOGIES.values():
        kinds = [s["fault"] for s in generate_scenario(topology, 3, 10)]
        assert len(set(kinds)) == 10
        everything = [s["fault"] for s in generate_scenario(topology, 3, 2 * len(FAULTS))]
        assert sorted(everything) == sorted(2 * list(FAULTS))


def test_a_second_outage_hits_the_standby_the_callers_were_failed_over_to() -> None:
    shop = TOPOLOGIES["shop"]
    outages = [
        s["service"]
        for s in generate_scenario(shop, 1, 4 * len(FAULTS))
        if s["fault"] == "dependency_outage"
    ]
    assert outages[:4] == ["bank", "bank-b", "bank", "bank-b"]


def test_a_topology_that_allows_few_faults_only_gets_those(tmp_path: Path) -> None:
    from selfheal.testbed.topology_file import parse_topology

    tiny: Topology = parse_topology(
        {"name": "tiny", "services": [{"name": "door", "role": "entry"}]}, "tiny"
    )
    kinds = {s["fault"] for s in generate_scenario(tiny, 0, 20)}
    assert kinds == {"crash", "hang", "latency", "errors", "memory_leak", "cpu_hog", "bad_release"}
    with pytest.raises(ValueError, match="no free target"):
        generate_scenario(tiny, 0, 3, overlap=0.5)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one fault"):
        generate_scenario(TOPOLOGIES["shop"], 0, 0)
    with pytest.raises(ValueError, match="share between 0 and 0.5"):
        generate_scenario(TOPOLOGIES["shop"], 0, 3, overlap=0.7)


def test_the_scenario_command_prints_a_file_the_demo_reads(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["scenario", "--topology", "fanout", "--seed", "5", "--faults", "10", "--overlap", "0.3"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert runner.invoke(cli, args).output == first.output
    path = tmp_path / "s.yaml"
    path.write_text(first.output)
    steps = load_scenario(path)
    assert len(steps) == 10
    assert [s.model_dump(exclude_none=True) for s in steps] == [
        {**s, "params": s.get("params", {})} for s in yaml.safe_load(first.output)
    ]
    bad = runner.invoke(cli, ["scenario", "--topology", "atlantis"])
    assert bad.exit_code == 2 and "unknown topology 'atlantis'" in bad.output


def test_the_demo_of_another_topology_plays_every_fault_type_it_allows_once() -> None:
    chain = TOPOLOGIES["chain"]
    steps = generated_scenario(chain)
    assert sorted(s.fault for s in steps) == sorted(FAULTS)
    assert {s.service for s in steps} <= set(chain.names)
