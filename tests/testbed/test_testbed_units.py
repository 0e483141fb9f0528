"""Fast checks of the testbed's pure parts: topology, config history, the
fault catalogue, the load generator's statistics, the public API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import selfheal.testbed as testbed
from selfheal.testbed.configstore import ConfigStore
from selfheal.testbed.daemon import parse_replicas
from selfheal.testbed.faults import CATALOGUE, FAULTS
from selfheal.testbed.load import JourneyStats, _quantile
from selfheal.testbed.topology_file import find_topology

SHOP = find_topology("shop")


def test_call_graph_is_the_shop_of_the_issue() -> None:
    edges = {(s.name, d) for s in SHOP for d in s.dependencies}
    assert edges == {
        ("frontend", "catalog"), ("frontend", "cart"), ("frontend", "checkout"),
        ("checkout", "cart"), ("checkout", "payment"), ("checkout", "inventory"),
        ("checkout", "shipping"), ("cart", "cache"), ("catalog", "inventory"),
        ("payment", "bank"),
    }  # fmt: skip
    assert SHOP.service("bank").standby == "bank-b" and SHOP.service("bank-b").standby == "bank"
    assert {s.name: s.replicas for s in SHOP if s.replicas == 2} == {
        "frontend": 2, "catalog": 2, "cart": 2, "checkout": 2,
    }  # fmt: skip


def test_config_store_keeps_every_revision_and_writes_the_current_file(tmp_path: Path) -> None:
    store = ConfigStore(str(tmp_path / "cart"), {"pool_size": 16})
    assert store.write({"pool_size": 1}).revision == 2
    assert store.write({"pool_size": 16}).revision == 3
    assert [r.revision for r in store.history()] == [1, 2, 3]
    assert json.loads(Path(store.path).read_text()) == {"pool_size": 16}
    assert json.loads((tmp_path / "cart" / "rev-2.json").read_text()) == {"pool_size": 1}
    got = store.get(2)
    assert got is not None and got.config == {"pool_size": 1}
    assert store.get(9) is None


def test_config_store_copies_what_it_is_given(tmp_path: Path) -> None:
    config = {"dependencies": {"cache": "http://x"}}
    store = ConfigStore(str(tmp_path), config)
    config["dependencies"]["cache"] = "changed"
    assert store.current().config == {"dependencies": {"cache": "http://x"}}


def test_every_fault_has_a_symptom_and_a_remediation_in_the_docs() -> None:
    assert set(FAULTS) == set(CATALOGUE) and len(FAULTS) == 12
    doc = testbed.__doc__ or ""
    for name, info in CATALOGUE.items():
        assert info.symptom and info.remediation
        assert f"\n{name} " in doc, name


def test_replica_overrides_parse_and_reject_garbage() -> None:
    assert parse_replicas(["cart=3", "bank = 0"]) == {"cart": 3, "bank": 0}
    with pytest.raises(ValueError, match="SERVICE=N"):
        parse_replicas(["cart"])
    with pytest.raises(ValueError, match="SERVICE=N"):
        parse_replicas(["cart=many"])


def test_load_statistics() -> None:
    assert JourneyStats(0, 0).success_ratio == 1.0
    assert JourneyStats(4, 3).success_ratio == 0.75
    values = [float(i) for i in range(1, 101)]
    assert _quantile(values, 0.5) in (50.0, 51.0)
    assert _quantile(values, 0.99) == 99.0
    assert _quantile([], 0.5) == 0.0


def test_the_public_api_is_pinned() -> None:
    assert testbed.__all__ == sorted(
        [
            "CATALOGUE", "ControlClient", "ControlError", "FAULTS", "JourneyStats",
            "LoadGenerator", "LoadPlan", "LoadStats", "Role", "Shop", "ShopState",
            "TestbedError", "Topology", "TopologyError", "default_run_dir", "find_topology",
            "generate_scenario", "load_topology", "start_detached", "stop_detached",
        ]
    )  # fmt: skip
    for name in testbed.__all__:
        assert getattr(testbed, name) is not None
    with pytest.raises(AttributeError):
        _ = testbed.Nope  # type: ignore[attr-defined]


def test_with_tracing_on_a_log_line_names_its_trace_and_span() -> None:
    import io

    from opentelemetry.sdk.trace import TracerProvider

    from selfheal.testbed.telemetry import JsonLog

    stream = io.StringIO()
    log = JsonLog(stream, "cart", "cart-0", trace_ids=True)
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("GET /cart") as span:
        log.error("corrupt cart data")
        context = span.get_span_context()
    log.info("outside any span")
    provider.shutdown()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert "span_id" not in outside
