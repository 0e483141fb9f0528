"""Every fault of the vocabulary: inject it under load, see its symptom from
outside (health, metrics, the shoppers' success), apply the platform operation
the catalogue names, and see the shop recover while the fault is still there.
Where a cheaper-looking operation must NOT fix a fault (restart vs. a bad
config, an outage, corrupt data), that is checked too."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import httpx
import pytest
from testbed_helpers import instance_url, metric_sum, scrape, wait_until

from selfheal.testbed import ControlClient, LoadGenerator, Shop

pytestmark = pytest.mark.slow

WINDOW = 2.0


@pytest.fixture(scope="module")
def load(shop: Shop) -> Iterator[LoadGenerator]:
    with LoadGenerator(shop.frontend_url, rate=15, seed=7, timeout_seconds=2.0) as generator:
        time.sleep(2.0)
        yield generator


@pytest.fixture(autouse=True)
def healthy_between_tests(client: ControlClient, load: LoadGenerator) -> Iterator[None]:
    assert _recovered(load), load.stats(WINDOW).to_dict()
    yield
    client.stop_all_faults()
    for svc in client.status()["services"]:
        for inst in svc["instances"]:
            if inst["pid"] is None:
                client.instance_op(svc["name"], inst["id"], "start")
    assert wait_until(
        lambda: all(i["ready"] for s in client.status()["services"] for i in s["instances"]),
        timeout=10,
    )


def _ratio(load: LoadGenerator, journey: str) -> float:
    stats = load.stats(WINDOW)
    if journey == "payment":
        return stats.payment.success_ratio if stats.payment.total >= 2 else 1.0
    j = stats.overall if journey == "all" else stats.journeys[journey]
    return j.success_ratio if j.total >= 2 else 1.0


def _broken(load: LoadGenerator, journey: str, below: float = 0.5) -> bool:
    return wait_until(lambda: _ratio(load, journey) < below, timeout=10)


def _recovered(load: LoadGenerator, journey: str = "all") -> bool:
    return wait_until(lambda: _ratio(load, journey) >= 0.95, timeout=12, interval=0.25)


def _elapsed_get(url: str, timeout: float = 5.0) -> tuple[int, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            status = int(r.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.monotonic() - started


def _instance(client: ControlClient, service: str, instance_id: str) -> dict[str, object]:
    return next(i for i in client.service(service)["instances"] if i["id"] == instance_id)


def test_crash_takes_the_instance_down_until_restarted(
    client: ControlClient, load: LoadGenerator
) -> None:
    fault = client.inject("crash", "inventory")
    inst = _instance(client, "inventory", "inventory-0")
    assert inst["pid"] is None and not inst["healthy"]
    assert _broken(load, "browse")
    assert client.fault(fault["id"])["active"]
    client.instance_op("inventory", "inventory-0", "restart")
    assert _recovered(load)
    assert not client.fault(fault["id"])["active"]
    logs = {f["instance_id"]: f["path"] for f in client.logs()["files"]}
    with open(logs["inventory-0"], encoding="utf-8") as f:
        assert any('"fatal' in line and '"ERROR"' in line for line in f)


def test_hang_stops_answers_until_restarted(client: ControlClient, load: LoadGenerator) -> None:
    url = instance_url(client, "payment", "payment-0")
    client.inject("hang", "payment")
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=0.5)
    assert wait_until(lambda: not _instance(client, "payment", "payment-0")["ready"], timeout=6)
    assert _instance(client, "payment", "payment-0")["pid"] is not None  # alive, just silent
    assert _broken(load, "payment")
    client.instance_op("payment", "payment-0", "restart")
    assert _recovered(load, "payment")


def test_latency_slows_the_instance_until_restarted(client: ControlClient) -> None:
    url = instance_url(client, "catalog", "catalog-0") + "/products"
    client.inject("latency", "catalog", instance="catalog-0", params={"delay_ms": 400})
    status, seconds = _elapsed_get(url)
    assert status == 200 and seconds >= 0.4
    client.instance_op("catalog", "catalog-0", "restart")
    url = instance_url(client, "catalog", "catalog-0") + "/products"
    assert max(_elapsed_get(url)[1] for _ in range(3)) < 0.3


def test_errors_fail_a_fraction_until_restarted(client: ControlClient) -> None:
    url = instance_url(client, "shipping", "shipping-0") + "/shipments"
    client.inject("errors", "shipping", params={"rate": 0.5})
    with httpx.Client(timeout=5) as http:
        codes = [http.post(url, json={"user": "u"}).status_code for _ in range(30)]
        assert 3 <= codes.count(500) <= 27 and codes.count(200) >= 3
        assert metric_sum(scrape(url.rsplit("/", 1)[0]), "http_requests_total", status="500") >= 3
        client.instance_op("shipping", "shipping-0", "restart")
        url = instance_url(client, "shipping", "shipping-0") + "/shipments"
        assert all(http.post(url, json={"user": "u"}).status_code == 200 for _ in range(20))


def test_memory_leak_grows_rss_until_restarted(client: ControlClient) -> None:
    url = instance_url(client, "cart", "cart-1")
    start = scrape(url)["process_resident_memory_bytes"]
    client.inject("memory_leak", "cart", instance="cart-1", params={"rate_mb": 40, "max_mb": 200})
    assert wait_until(
        lambda: scrape(url)["process_resident_memory_bytes"] > start + 60e6, timeout=8
    )
    client.instance_op("cart", "cart-1", "restart")
    url = instance_url(client, "cart", "cart-1")
    assert scrape(url)["process_resident_memory_bytes"] < start + 30e6


def test_cpu_hog_burns_cpu_until_restarted(client: ControlClient) -> None:
    url = instance_url(client, "shipping", "shipping-0")

    def cpu_rate() -> float:
        before = scrape(url)["process_cpu_seconds_total"]
        time.sleep(1.0)
        return scrape(url)["process_cpu_seconds_total"] - before

    # The box is shared, so compare with this process's own baseline, not with a core.
    baseline = cpu_rate()
    client.inject("cpu_hog", "shipping")
    hogging = cpu_rate()
    assert hogging > max(0.1, 4 * baseline)
    client.instance_op("shipping", "shipping-0", "restart")
    url = instance_url(client, "shipping", "shipping-0")
    assert cpu_rate() < hogging / 2


def test_network_delay_slows_one_edge_until_the_caller_restarts(
    client: ControlClient, load: LoadGenerator
) -> None:
    def edge_mean(service: str = "checkout", target: str = "inventory") -> float:
        urls = [i["url"] for i in client.service(service)["instances"]]

        def totals() -> tuple[float, float]:
            s = [scrape(u) for u in urls]
            return (
                sum(
                    metric_sum(m, "upstream_request_duration_seconds_sum", target=target) for m in s
                ),
                sum(
                    metric_sum(m, "upstream_request_duration_seconds_count", target=target)
                    for m in s
                ),
            )

        s0, c0 = totals()
        assert wait_until(lambda: totals()[1] >= c0 + 3, timeout=10)
        s1, c1 = totals()
        return (s1 - s0) / (c1 - c0)

    client.inject("network_delay", "checkout", params={"to": "inventory", "delay_ms": 600})
    slow = edge_mean()
    assert slow >= 0.55
    assert slow - edge_mean(target="payment") >= 0.3  # only the named edge is slow
    client.restart_service("checkout")
    assert edge_mean() < slow - 0.4


def test_bad_config_survives_restart_and_yields_to_restore(
    client: ControlClient, load: LoadGenerator
) -> None:
    fault = client.inject("bad_config", "cart")
    assert _broken(load, "add_to_cart", below=0.2)
    client.restart_service("cart")
    assert _broken(load, "add_to_cart", below=0.2)  # the config persists across restarts
    client.restore_config("cart")
    assert _recovered(load)
    assert not client.fault(fault["id"])["active"]


def test_bad_release_is_fixed_by_rollback(client: ControlClient, load: LoadGenerator) -> None:
    client.inject("bad_release", "checkout")
    assert client.versions("checkout")["current"] == "v2"
    assert _broken(load, "checkout", below=0.2)
    # The bug is checkout's own (it reads a field its dependencies never send): the
    # failed checkouts name checkout alone as their suspect.
    errors = load.stats(WINDOW).errors
    assert any(k.endswith(" checkout") for k in errors), errors
    client.rollback("checkout")
    assert client.versions("checkout")["current"] == "v1"
    assert _recovered(load)


def test_dependency_outage_survives_restart_and_yields_to_failover(
    client: ControlClient, load: LoadGenerator
) -> None:
    fault = client.inject("dependency_outage", "bank")
    assert wait_until(lambda: not _instance(client, "bank", "bank-0")["ready"], timeout=5)
    assert _broken(load, "payment", below=0.2)
    client.instance_op("bank", "bank-0", "restart")
    assert wait_until(lambda: not _instance(client, "bank", "bank-0")["ready"], timeout=5)
    assert _broken(load, "payment", below=0.2)  # still down after a restart
    client.failover("payment", "bank")
    assert _recovered(load, "payment") and _recovered(load)
    assert client.fault(fault["id"])["active"]  # healed while the provider is still down
    client.stop_fault(fault["id"])
    client.failover("payment", "bank", "bank")
    assert _recovered(load, "payment")


def test_cache_corruption_survives_restart_and_yields_to_clear(
    client: ControlClient, load: LoadGenerator
) -> None:
    time.sleep(1.0)  # let shoppers fill their carts
    fault = client.inject("cache_corruption", "cache")
    assert _broken(load, "add_to_cart", below=0.8)
    client.restart_service("cache")
    assert _broken(load, "add_to_cart", below=0.8)  # the snapshot brings the garbage back
    client.clear_cache("cache")
    assert _recovered(load)
    assert not client.fault(fault["id"])["active"]


def test_pool_exhaustion_is_fixed_by_restoring_the_pool(
    client: ControlClient, load: LoadGenerator
) -> None:
    urls = [i["url"] for i in client.service("frontend")["instances"]]

    def timeouts() -> float:
        return sum(scrape(u)["pool_wait_timeouts_total"] for u in urls)

    before = timeouts()
    fault = client.inject("pool_exhaustion", "frontend")
    assert all(scrape(u)["pool_connections_max"] == 0.0 for u in urls)
    assert wait_until(lambda: timeouts() >= before + 3, timeout=10)
    assert _broken(load, "all", below=0.2)
    client.scale("frontend", 3)  # more instances, each with the same empty pool
    assert _broken(load, "all", below=0.2)
    client.scale("frontend", 2)
    client.restore_config("frontend")
    assert not client.fault(fault["id"])["active"]
    assert all(scrape(u)["pool_connections_max"] == 16.0 for u in urls)
    settled = timeouts()
    time.sleep(1.5)
    assert timeouts() == settled
    assert _recovered(load)


def test_a_fault_with_a_duration_stops_by_itself(client: ControlClient) -> None:
    url = instance_url(client, "catalog", "catalog-1") + "/products"
    fault = client.inject(
        "latency", "catalog", instance="catalog-1", params={"delay_ms": 500}, duration=1.0
    )
    assert fault["expires_at"] is not None and fault["active"]
    assert _elapsed_get(url)[1] >= 0.5
    assert wait_until(lambda: not client.fault(fault["id"])["active"], timeout=5)
    assert _elapsed_get(url)[1] < 0.3  # same process, effect removed


def test_stopping_a_config_fault_restores_the_config(client: ControlClient) -> None:
    before = client.config("catalog")
    fault = client.inject("bad_config", "catalog", params={"mode": "timeout"})
    assert client.config("catalog")["config"]["upstream_timeout_seconds"] == 0.001
    client.stop_fault(fault["id"])
    assert client.config("catalog")["config"] == before["config"]
