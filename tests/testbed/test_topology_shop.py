"""A shop the product has never seen (the shipped ``fanout`` topology), real processes
under load: a fault from each role family shows its symptom in the metrics, and the
platform operation the catalogue names removes it — a restart for a process fault, a
config restore for a bad config and for a database's exhausted pool, a rollback for a
bad release, a clear for a corrupt cache, a failover for a provider's outage."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from testbed_helpers import alive, instance_url, metric_sum, scrape, wait_until

from selfheal.testbed import ControlClient, LoadGenerator, LoadPlan, Shop, find_topology

pytestmark = pytest.mark.slow

FANOUT = find_topology("fanout")


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Shop, ControlClient]]:
    shop = Shop.start(tmp_path_factory.mktemp("fanout"), topology=FANOUT)
    pids = shop.pids()
    client = ControlClient(shop.control_url)
    try:
        with LoadGenerator(shop.entry_url, rate=12, seed=5, plan=LoadPlan.of(FANOUT)):
            time.sleep(2.0)
            yield shop, client
    finally:
        client.close()
        shop.stop()
        assert wait_until(lambda: not any(alive(p) for p in pids), timeout=10)


def _service_total(client: ControlClient, service: str, metric: str, **labels: str) -> float:
    return sum(
        metric_sum(scrape(i["url"]), metric, **labels) for i in client.service(service)["instances"]
    )


def _rising(client: ControlClient, service: str, metric: str, **labels: str) -> bool:
    """Whether the counter grows by at least 3 within a few seconds."""
    start = _service_total(client, service, metric, **labels)
    return wait_until(lambda: _service_total(client, service, metric, **labels) >= start + 3, 8)


def _quiet(client: ControlClient, service: str, metric: str, **labels: str) -> bool:
    """Whether the counter stops growing (no increase over 1.5 s, within 8 s)."""

    def still() -> bool:
        before = _service_total(client, service, metric, **labels)
        time.sleep(1.5)
        return _service_total(client, service, metric, **labels) == before

    return wait_until(still, 8, interval=0.0)


def test_the_status_reports_roles_and_criticality(
    fanout: tuple[Shop, ControlClient],
) -> None:
    _, client = fanout
    services = {s["name"]: s for s in client.status()["services"]}
    assert set(services) == set(FANOUT.names)
    assert {n for n, s in services.items() if s["role"] == "cache"} == {"tray-kv", "specials-kv"}
    assert services["pantry-db"]["role"] == "database" and services["hostess"]["role"] == "entry"
    assert services["kitchen"]["criticality"] == 0.9 and "criticality" not in services["finder"]
    assert services["till"]["dependencies"] == {"card-net": "card-net"}


def test_a_process_fault_on_one_instance_is_ended_by_restarting_it(
    fanout: tuple[Shop, ControlClient],
) -> None:
    _, client = fanout
    fault = client.inject("errors", "menu-board", instance="menu-board-1", params={"rate": 1.0})
    url = instance_url(client, "menu-board", "menu-board-1")
    assert wait_until(
        lambda: metric_sum(scrape(url), "http_requests_total", status="500") >= 3, timeout=8
    )
    client.instance_op("menu-board", "menu-board-1", "restart")
    assert not client.fault(fault["id"])["active"]
    assert _quiet(client, "menu-board", "http_requests_total", status="500")


def test_a_bad_config_survives_a_restart_and_yields_to_a_restore(
    fanout: tuple[Shop, ControlClient],
) -> None:
    _, client = fanout
    fault = client.inject("bad_config", "sommelier", params={"dependency": "pantry-db"})
    assert _rising(
        client, "sommelier", "upstream_requests_total", target="pantry-db", status="error"
    )
    client.restart_service("sommelier")
    assert _rising(
        client, "sommelier", "upstream_requests_total", target="pantry-db", status="error"
    )
    client.restore_config("sommelier")
    assert not client.fault(fault["id"])["active"]
    assert _quiet(
        client, "sommelier", "upstream_requests_total", target="pantry-db", status="error"
    )


def test_a_bad_release_of_the_database_is_fixed_by_a_rollback(
    fanout: tuple[Shop, ControlClient],
) -> None:
    _, client = fanout
    client.inject("bad_release", "pantry-db")
    assert client.versions("pantry-db")["current"] == "v2"
    assert _rising(client, "pantry-db", "http_requests_total", status="500")
    client.restart_service("pantry-db")
    assert _rising(client, "pantry-db", "http_requests_total", status="500")
    client.rollback("pantry-db")
    assert _quiet(client, "pantry-db", "http_requests_total", status="500")


def test_the_database_pool_exhaustion_is_fixed_by_restoring_the_config(
    fanout: tuple[Shop, ControlClient],
) -> None:
    _, client = fanout
    fault = client.inject("pool_exhaustion", "pantry-db")
    url = instance_url(client, "pantry-db", "pantry-db-0")
    assert scrape(url)["pool_connections_max"] == 0.0
    assert _rising(client, "pantry-db", "pool_wait_timeouts_total")
    assert _rising(
        client, "menu-board", "upstream_requests_total", target="pantry-db", status="503"
    )
    client.scale("pantry-db", 2)  # a new instance gets the same empty pool
    assert _rising(client, "pantry-db", "pool_wait_timeouts_total")
    client.scale("pantry-db", 1)
    client.restore_config("pantry-db")
    assert not client.fault(fault["id"])["active"]
    assert scrape(url)["pool_connections_max"] == 16.0
    assert _quiet(client, "pantry-db", "pool_wait_timeouts_total")


def test_a_corrupt_cache_survives_a_restart_and_yields_to_a_clear(
    fanout: tuple[Shop, ControlClient],
) -> None:
    _, client = fanout
    kv = instance_url(client, "specials-kv", "specials-kv-0")
    assert wait_until(lambda: scrape(kv)["cache_entries"] >= 3, timeout=8)
    fault = client.inject("cache_corruption", "specials-kv")
    # The cache looks fine; its caller cannot read what it gets.
    assert _rising(client, "specials", "http_requests_total", status="500")
    client.restart_service("specials-kv")
    assert _rising(client, "specials", "http_requests_total", status="500")
    client.clear_cache("specials-kv")
    assert not client.fault(fault["id"])["active"]
    assert _quiet(client, "specials", "http_requests_total", status="500")


def test_a_provider_outage_survives_a_restart_and_yields_to_a_failover(
    fanout: tuple[Shop, ControlClient],
) -> None:
    _, client = fanout
    fault = client.inject("dependency_outage", "card-net")
    assert _rising(client, "till", "upstream_requests_total", target="card-net", status="503")
    assert _rising(client, "till", "payments_failed_total")
    client.restart_service("card-net")
    assert _rising(client, "till", "payments_failed_total")
    client.failover("till", "card-net")
    assert client.service("till")["dependencies"] == {"card-net": "card-net-dr"}
    assert _quiet(client, "till", "payments_failed_total")
    assert client.fault(fault["id"])["active"]  # healed while the provider is still down
    client.stop_fault(fault["id"])
    client.failover("till", "card-net", "card-net")


def test_faults_outside_a_role_are_refused(fanout: tuple[Shop, ControlClient]) -> None:
    from selfheal.testbed import ControlError

    _, client = fanout
    for fault, service in (
        ("cache_corruption", "pantry-db"),
        ("dependency_outage", "tray-kv"),
        ("pool_exhaustion", "finder"),  # calls nobody: no pool
        ("crash", "card-net"),  # a provider's processes are not the shop's
    ):
        with pytest.raises(ControlError) as err:
            client.inject(fault, service)
        assert err.value.status == 400 and "cannot act on" in str(err.value)
