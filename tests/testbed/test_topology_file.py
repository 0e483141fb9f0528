"""Topology files: the shipped ones parse into the shapes they promise, and every
kind of bad key is refused with one line that names the file and the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfheal.testbed.topology import Role, Topology
from selfheal.testbed.topology_file import (
    TopologyError,
    find_topology,
    load_topology,
    parse_topology,
    resolve_topology,
    shipped_topologies,
)

SHOP_NAMES = set(find_topology("shop").names)

GOOD: dict[str, Any] = {
    "name": "tiny",
    "services": [
        {"name": "door", "role": "entry", "replicas": 2, "calls": ["desk"]},
        {"name": "desk", "counters": ["payments"], "calls": ["ledger", "box", "psp"]},
        {"name": "ledger", "role": "database"},
        {"name": "box", "role": "cache"},
        {"name": "psp", "role": "external", "standby": "psp-2"},
        {"name": "psp-2", "role": "external", "standby": "psp"},
    ],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the value at a dotted path (``services.1.role``) replaced; ``...`` deletes."""
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return data


def test_the_shipped_topologies_are_found_by_name_and_are_valid() -> None:
    shipped = shipped_topologies()
    assert {"shop", "chain", "fanout"} <= set(shipped)
    for name, path in shipped.items():
        topology = load_topology(path)
        assert topology.name == name and path.parent.name == "topologies"
        assert resolve_topology(name) == path


def test_the_other_shipped_topologies_share_no_service_name_with_the_shop() -> None:
    """Except the shop under another metric convention (``shop-otel``): the same services."""
    shop = find_topology("shop")
    for name in shipped_topologies():
        topology = find_topology(name)
        if name != "shop" and topology.metrics == shop.metrics:
            assert not SHOP_NAMES & set(topology.names), name
        elif name != "shop":
            assert (topology.services, topology.journeys) == (shop.services, shop.journeys), name


def test_the_chain_is_six_hops_deep_and_the_fanout_is_wide_with_a_database_and_two_caches() -> None:
    chain = find_topology("chain")

    def depth(service: str) -> int:
        deps = chain.service(service).dependencies
        return 1 + max((depth(d) for d in deps), default=0) if deps else 0

    assert depth(chain.entry.name) >= 6
    fanout = find_topology("fanout")
    widest = max(len(r.calls) for r in fanout.entry.routes)
    roles = [s.role for s in fanout]
    assert widest >= 5 and roles.count(Role.DATABASE) == 1 and roles.count(Role.CACHE) == 2


def test_the_shop_keeps_its_services_replicas_and_counters() -> None:
    shop = find_topology("shop")
    assert shop.entry.name == "frontend"
    assert {s.name: s.replicas for s in shop if s.replicas == 2} == {
        "frontend": 2, "catalog": 2, "cart": 2, "checkout": 2,
    }  # fmt: skip
    assert shop.service("checkout").counters == ("orders",)
    assert shop.service("payment").counters == ("payments",)
    assert shop.service("bank").standby == "bank-b"
    assert [j.name for j in shop.journeys] == ["browse", "add_to_cart", "checkout"]
    assert shop.callers("bank") == shop.callers("bank-b") == {"payment"}
    assert shop.payment_stages == {"payment", "bank", "bank-b"}


def test_a_good_file_gets_defaults_for_what_it_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    tiny = load_topology(path)
    desk = tiny.service("desk")
    assert desk.role == Role.SERVICE and desk.replicas == 1 and desk.criticality is None
    assert [(r.name, r.method, r.path) for r in desk.routes] == [("main", "POST", "/desk")]
    assert desk.dependencies == ("ledger", "box", "psp")
    assert tiny.service("psp").routes[0].path == "/requests"
    assert [(j.name, j.steps) for j in tiny.journeys] == [("main", ("main",))]
    assert Topology.from_json(tiny.to_json()) == tiny


BAD = [
    (_with("services.0.role", "gateway"), "services[0].role", "entry"),
    (_with("services.1.replicas", -1), "services[1].replicas", "greater than or equal"),
    (_with("services.1.replicas", "two"), "services[1].replicas", "integer"),
    (_with("services.1.criticality", 1.5), "services[1].criticality", "less than"),
    (_with("services.1.counters", ["refunds"]), "services[1].counters[0]", "orders"),
    (_with("services.1.colour", "red"), "services[1].colour", "unknown key"),
    (_with("services.1.name", "Desk!"), "services[1].name", "pattern"),
    (_with("services.1.name", ...), "services[1].name", "required"),
    (_with("name", ...), "name", "required"),
    (_with("services", []), "services", "at least 1"),
    (_with("services.1.calls", ["ledger", "nowhere"]), "services[1].calls[1]", "unknown service"),
    (_with("services.1.calls", ["desk"]), "services[1].calls[0]", "cannot call itself"),
    (_with("services.1.calls", ["ledger.read"]), "services[1].calls[0]", "without a route"),
    (_with("services.0.calls", ["desk.nope"]), "services[0].calls[0]", "no route 'nope'"),
    (_with("services.0.role", "service"), "services", "exactly one"),
    (_with("services.2.calls", ["box"]), "services[2].calls", "role database"),
    (_with("services.3.counters", ["orders"]), "services[3].counters", "role cache"),
    (
        _with("services.2.routes", [{"name": "q", "path": "/q"}]),
        "services[2].routes",
        "fixed by the role",
    ),
    (_with("services.1.standby", "psp"), "services[1].standby", "only an external"),
    (_with("services.4.standby", "ghost"), "services[4].standby", "unknown standby"),
    (_with("services.4.standby", "box"), "services[4].standby", "not an external"),
    (
        _with("services.1.routes", [{"name": "main", "path": "/d", "calls": ["ledger"]}]),
        "services[1].calls",
        "no route calls box, psp",
    ),
    (
        _with("services.1.routes", [{"name": "a", "path": "/a"}, {"name": "a", "path": "/b"}]),
        "services[1].routes[1].name",
        "duplicate route",
    ),
    (_with("services.1.routes", []), "services[1].routes", "at least one route"),
    (
        _with("services.1.routes", [{"name": "a", "path": "no-slash"}]),
        "services[1].routes[0].path",
        "pattern",
    ),
    (
        _with("services.1.routes", [{"name": "a", "method": "PATCH", "path": "/a"}]),
        "services[1].routes[0].method",
        "GET",
    ),
    (_with("journeys", [{"name": "j", "steps": ["nope"]}]), "journeys[0].steps[0]", "no route"),
    (_with("journeys", [{"name": "j", "steps": []}]), "journeys[0].steps", "at least 1"),
    (
        _with("journeys", [{"name": "j", "weight": 0, "steps": ["main"]}]),
        "journeys[0].weight",
        "greater than 0",
    ),
    (_with("journeys", []), "journeys", "at least one journey"),
    (_with("services.0.replicas", 0), "services[0].replicas", "at least one"),
]


@pytest.mark.parametrize(("data", "key", "words"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_a_bad_key_is_one_line_naming_it(data: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(TopologyError) as err:
        parse_topology(data, "t.yaml")
    message = str(err.value)
    assert message.startswith(f"t.yaml: {key}: "), message
    assert words in message and "\n" not in message


def test_a_duplicate_service_and_a_cycle_and_an_unreached_service_are_refused() -> None:
    dup = copy.deepcopy(GOOD)
    dup["services"].append({"name": "box", "role": "cache"})
    cycle = _with("services.1.calls", ["ledger", "box", "psp", "loop"])
    cycle["services"].append({"name": "loop", "calls": ["desk"]})
    lonely = copy.deepcopy(GOOD)
    lonely["services"].append({"name": "island"})
    for data, expected in (
        (dup, "t.yaml: services[6].name: duplicate service 'box'"),
        (cycle, "t.yaml: services[6].calls: call cycle desk → loop → desk"),
        (lonely, "t.yaml: services[6]: island is reached by no journey"),
    ):
        with pytest.raises(TopologyError) as err:
            parse_topology(data, "t.yaml")
        assert str(err.value) == expected


def test_a_standby_must_serve_every_route_of_its_provider() -> None:
    data = _with("services.4.routes", [{"name": "charge", "method": "POST", "path": "/charge"}])
    with pytest.raises(TopologyError, match=r"services\[4\].standby: psp-2 does not serve"):
        parse_topology(data, "t.yaml")


def test_a_missing_file_bad_yaml_and_an_unknown_name_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="topology file not found"):
        load_topology(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [\n")
    with pytest.raises(TopologyError, match="not valid YAML") as err:
        load_topology(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(TopologyError, match="unknown topology 'atlantis'; shipped: .*shop"):
        resolve_topology("atlantis")


def test_the_commands_refuse_a_bad_topology_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from selfheal.cli.main import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with("services.1.role", "db")))
    runner = CliRunner()
    up = runner.invoke(cli, ["testbed", "up", "--topology", str(bad), "--run-dir", str(tmp_path)])
    assert up.exit_code == 1 and "services[1].role" in up.output
    assert "Traceback" not in up.output and len(up.output.strip().splitlines()) == 1
    replicas = runner.invoke(
        cli, ["testbed", "up", "--topology", "chain", "--replicas", "cart=2", "--run-dir", "x"]
    )
    assert replicas.exit_code == 1 and "unknown service 'cart'; known: dock" in replicas.output
    demo = runner.invoke(cli, ["demo", "--topology", "atlantis"])
    assert demo.exit_code == 2 and "unknown topology 'atlantis'" in demo.output
