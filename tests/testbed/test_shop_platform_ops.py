"""Each platform operation of the control port really changes the running
shop: processes start and stop, versions and configs change in the instances,
traffic moves. And bad requests get the contract's errors."""

from __future__ import annotations

import json
import time
import urllib.request

import httpx
import pytest
from testbed_helpers import alive, instance_url, metric_sum, scrape, wait_until

from selfheal.testbed import ControlClient, ControlError, LoadGenerator, Shop

pytestmark = pytest.mark.slow


def _pids(client: ControlClient, service: str) -> dict[str, int | None]:
    return {i["id"]: i["pid"] for i in client.service(service)["instances"]}


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


def test_restart_instance_replaces_its_process(client: ControlClient) -> None:
    before = _pids(client, "shipping")["shipping-0"]
    assert before is not None
    result = client.instance_op("shipping", "shipping-0", "restart")
    assert result["pid"] != before and result["ready"]
    assert wait_until(lambda: not alive(before), timeout=5)
    assert _get(result["url"] + "/health") == 200


def test_stop_and_start_instance_while_lb_keeps_serving(client: ControlClient) -> None:
    lb = client.service("catalog")["lb_url"]
    stopped = client.instance_op("catalog", "catalog-1", "stop")
    assert stopped["pid"] is None and not stopped["healthy"]
    # The other replica serves every request through the load balancer.
    assert all(_get(lb + "/products") == 200 for _ in range(6))
    with pytest.raises(ControlError) as err:
        client.instance_op("catalog", "catalog-1", "stop")
    assert err.value.status == 409
    started = client.instance_op("catalog", "catalog-1", "start")
    assert started["pid"] is not None and started["ready"]


def test_rolling_restart_replaces_every_process(client: ControlClient) -> None:
    before = _pids(client, "cart")
    client.restart_service("cart")
    after = _pids(client, "cart")
    assert set(after) == set(before)
    assert all(after[i] != before[i] and after[i] is not None for i in before)


def test_rolling_restart_under_load_loses_no_request(client: ControlClient, shop: Shop) -> None:
    with LoadGenerator(shop.frontend_url, rate=15, seed=3) as load:
        time.sleep(0.5)
        started = time.monotonic()
        client.restart_service("frontend")
        client.restart_service("checkout")
        time.sleep(0.5)
        stats = load.stats(time.monotonic() - started)
    assert stats.overall.total >= 5
    assert stats.success_ratio == 1.0, stats.errors


def test_scale_out_and_in_changes_the_processes(client: ControlClient) -> None:
    assert client.scale("inventory", 3)["replicas"] == 3
    pids = _pids(client, "inventory")
    assert sorted(pids) == ["inventory-0", "inventory-1", "inventory-2"]
    assert all(p is not None and alive(p) for p in pids.values())
    assert len(client.targets()) == 16
    client.scale("inventory", 1)
    assert list(_pids(client, "inventory")) == ["inventory-0"]
    assert wait_until(lambda: not alive(pids["inventory-2"]), timeout=5)
    with pytest.raises(ControlError) as err:
        client.scale("inventory", -1)
    assert err.value.status == 409


def test_deploy_and_rollback_change_the_running_version(client: ControlClient) -> None:
    client.deploy("shipping", "v2")
    assert client.versions("shipping") == {"current": "v2", "history": ["v1", "v2"]}
    url = instance_url(client, "shipping", "shipping-0")
    assert scrape(url)["app_info{version=v2}"] == 1.0
    # v2's bug is real: its shipment route fails.
    ship = httpx.post(url + "/shipments", json={"user": "u", "items": []}, timeout=5)
    assert ship.status_code == 500 and "AttributeError" in ship.json()["error"]
    client.rollback("shipping")
    assert client.versions("shipping")["current"] == "v1"
    url = instance_url(client, "shipping", "shipping-0")
    assert scrape(url)["app_info{version=v1}"] == 1.0
    assert (
        httpx.post(url + "/shipments", json={"user": "u", "items": []}, timeout=5).status_code
        == 200
    )
    with pytest.raises(ControlError) as err:
        client.deploy("shipping", "v9")
    assert err.value.status == 400


def test_config_write_is_live_and_restore_goes_back(client: ControlClient) -> None:
    current = client.config("cart")
    config = dict(current["config"], pool_size=7)
    revision = client.put_config("cart", config)["revision"]
    assert revision == current["revision"] + 1
    for inst in client.service("cart")["instances"]:
        assert scrape(inst["url"])["pool_connections_max"] == 7.0
    history = client.config_history("cart")["revisions"]
    assert [r["revision"] for r in history][-2:] == [current["revision"], revision]
    restored = client.restore_config("cart")["revision"]
    assert restored == revision + 1
    assert client.config("cart")["config"] == current["config"]
    for inst in client.service("cart")["instances"]:
        assert scrape(inst["url"])["pool_connections_max"] == 16.0


def test_clear_cache_drops_every_entry(client: ControlClient, shop: Shop) -> None:
    for user in ("a", "b", "c"):
        r = httpx.post(
            shop.frontend_url + "/cart/add", json={"user": user, "product": 2}, timeout=5
        )
        assert r.status_code == 200
    url = instance_url(client, "cache", "cache-0")
    assert scrape(url)["cache_entries"] >= 3
    assert client.clear_cache("cache")["cleared"] >= 3
    assert scrape(url)["cache_entries"] == 0
    with pytest.raises(ControlError) as err:
        client.clear_cache("cart")
    assert err.value.status == 400


def test_drain_moves_traffic_off_an_instance(client: ControlClient) -> None:
    lb = client.service("catalog")["lb_url"]
    drained_url = instance_url(client, "catalog", "catalog-0")
    client.instance_op("catalog", "catalog-0", "drain")
    before = metric_sum(scrape(drained_url), "http_requests_total")
    for _ in range(8):
        assert _get(lb + "/products") == 200
    assert metric_sum(scrape(drained_url), "http_requests_total") == before
    client.instance_op("catalog", "catalog-0", "undrain")
    for _ in range(8):
        assert _get(lb + "/products") == 200
    assert metric_sum(scrape(drained_url), "http_requests_total") > before


def test_failover_sends_payments_to_the_standby(client: ControlClient) -> None:
    standby = instance_url(client, "bank-b", "bank-b-0")
    before = metric_sum(scrape(standby), "http_requests_total", route="/charge")
    result = client.failover("payment", "bank")
    assert result["to"] == "bank-b"
    assert client.service("payment")["dependencies"] == {"bank": "bank-b"}
    pay = client.service("payment")["lb_url"] + "/payments"
    r = httpx.post(pay, json={"user": "u", "amount": 3.5, "currency": "EUR"}, timeout=5)
    assert r.status_code == 200 and r.json()["result"]["via"]["bank"] == "bank-b"
    assert metric_sum(scrape(standby), "http_requests_total", route="/charge") == before + 1
    client.failover("payment", "bank", "bank")
    assert client.service("payment")["dependencies"] == {"bank": "bank"}
    with pytest.raises(ControlError) as err:
        client.failover("payment", "cache")
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/platform/services/nope/restart", None, 404),
        ("POST", "/platform/services/cart/instances/cart-9/restart", None, 404),
        ("POST", "/platform/services/cart/scale", {}, 400),
        ("POST", "/platform/services/cart/scale", {"replicas": "two"}, 400),
        ("POST", "/platform/services/cart/config/restore", {"revision": 999}, 404),
        ("POST", "/faults", {"fault": "meteor", "service": "cart"}, 404),
        ("POST", "/faults", {"fault": "crash", "service": "nope"}, 404),
        ("POST", "/faults", {"fault": "latency", "service": "cart", "duration": -1}, 400),
        (
            "POST",
            "/faults",
            {"fault": "network_delay", "service": "cart", "params": {"to": "bank"}},
            400,
        ),
        ("POST", "/faults", {"fault": "dependency_outage", "service": "cart"}, 400),
        ("DELETE", "/faults/f-999", None, 404),
        ("GET", "/nowhere", None, 404),
    ],
)
def test_bad_requests_get_a_json_error(
    shop: Shop, method: str, path: str, body: dict[str, object] | None, status: int
) -> None:
    r = httpx.request(method, shop.control_url + path, json=body, timeout=10)
    assert r.status_code == status
    assert isinstance(json.loads(r.text)["error"], str)
