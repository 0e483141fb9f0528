"""End to end: the real shop, its load, the real loop; each fault type healed.

One shop and one loop are shared by every test of this module (starting them
takes seconds; each test waits for the loop to be quiet before injecting).
Each test injects one fault through the testbed's control API and asserts that
the loop opened an incident, acted on the right service, verified recovery and
resolved the incident by its own action.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

HEAL_TIMEOUT_SECONDS = 75.0

# fault, service, instance, params, the service the cause must name
CASES = [
    ("crash", "cart", "cart-0", {}, "cart"),
    ("hang", "frontend", "frontend-1", {}, "frontend"),
    ("latency", "catalog", "catalog-0", {"delay_ms": 800}, "catalog"),
    ("errors", "catalog", "catalog-1", {}, "catalog"),
    ("memory_leak", "inventory", None, {"rate_mb": 40}, "inventory"),
    ("cpu_hog", "shipping", None, {}, "shipping"),
    ("network_delay", "checkout", "checkout-0", {"to": "payment", "delay_ms": 800}, "checkout"),
    ("bad_config", "checkout", None, {"mode": "timeout", "dependency": "inventory"}, "checkout"),
    ("bad_release", "shipping", None, {}, "shipping"),
    ("dependency_outage", "bank", None, {}, "bank"),
    ("cache_corruption", "cache", None, {}, "cache"),
    ("pool_exhaustion", "cart", None, {}, "cart"),
]


class Loop:
    def __init__(self, control_url: str, runtime: Any) -> None:
        self.control_url = control_url
        self.runtime = runtime
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((time.time(), kind, payload))

    def since(self, mark: int) -> list[tuple[float, str, dict[str, Any]]]:
        with self.lock:
            return list(self.events[mark:])

    def quiet(self, timeout: float = 40.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.runtime.engine.correlator.open_incidents:
                return
            time.sleep(0.5)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    from selfheal.cli.demo import demo_config
    from selfheal.loop.wiring import build
    from selfheal.testbed.load import LoadGenerator
    from selfheal.testbed.shop import Shop

    run_dir: Path = tmp_path_factory.mktemp("e2e-shop")
    shop = Shop.start(run_dir)
    load = LoadGenerator(shop.frontend_url, rate=8.0, seed=3).start()
    holder: dict[str, Loop] = {}
    runtime = build(
        demo_config(shop.control_url, str(run_dir)),
        on_event=lambda k, p: holder["loop"].on_event(k, p) if "loop" in holder else None,
    )
    holder["loop"] = Loop(shop.control_url, runtime)
    runtime.engine.start()
    time.sleep(35.0)  # warm-up: every series learns its baseline
    try:
        yield holder["loop"]
    finally:
        runtime.engine.stop()
        with httpx.Client() as c:
            c.delete(f"{shop.control_url}/faults")
        load.stop()
        runtime.close()
        shop.stop()


@pytest.mark.parametrize(("fault", "service", "instance", "params", "cause"), CASES)
def test_fault_is_healed_by_the_loop(
    loop: Loop, fault: str, service: str, instance: str | None, params: dict[str, Any], cause: str
) -> None:
    loop.quiet()
    mark = len(loop.events)
    with httpx.Client(timeout=30) as c:
        response = c.post(
            f"{loop.control_url}/faults",
            json={"fault": fault, "service": service, "instance": instance, "params": params},
        )
        assert response.status_code == 200, response.text
        fault_id = response.json()["id"]
        try:
            healed = None
            deadline = time.time() + HEAL_TIMEOUT_SECONDS
            while time.time() < deadline and healed is None:
                time.sleep(1.0)
                healed = next(
                    (
                        p
                        for _, k, p in loop.since(mark)
                        if k == "incident_resolved" and p["healed_by_action"]
                    ),
                    None,
                )
            events = loop.since(mark)
            summary = [
                f"{k}: {p.get('reason') or p.get('outcome') or p.get('detail') or ''}"
                f"{' ' + str(p['action'].get('kind')) + '/' + str(p['action'].get('instance')) if isinstance(p.get('action'), dict) else ''}"
                for _, k, p in events
            ]
            assert healed is not None, f"{fault} on {service} not healed; events: {summary}"
            decisions = [
                p for _, k, p in events if k == "decision" and p["incident"] == healed["incident"]
            ]
            assert decisions and decisions[0]["inputs"]["cause"]["service"] == cause, (
                f"{fault} on {service}: the first incident healed was decided on"
                f" {decisions[:1]}; events: {summary}"
            )
            results = [
                p
                for _, k, p in events
                if k == "action_result" and p["incident"] == healed["incident"]
            ]
            assert results[-1]["outcome"] == "succeeded"
        finally:
            c.delete(f"{loop.control_url}/faults/{fault_id}")
