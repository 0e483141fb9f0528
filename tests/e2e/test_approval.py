"""End to end: with the shipped approval defaults a risky action really waits for a human.

The real shop and its load, the real loop and its API (real HTTP, tokens per role).
The bank goes down; the loop's remedy, a failover of payment to the standby bank,
scores above the shipped ``approval.risk_level``, so the loop asks. Nobody but an
approver can answer; the approver's ``POST /approvals/{id}/approve`` lets the loop
execute the failover, verify that payment recovered, and resolve the incident. The
audit trail names the approver's token as the one who decided.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from selfheal.core.config import ApiConfig, ApiTokenConfig, ApprovalConfig

pytestmark = pytest.mark.slow

TOKENS = {
    "vic": ("viewer", "vic-viewer-token-0123456789"),
    "ann": ("approver", "ann-approver-token-0123456789"),
}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][1]}"}


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.seen.append((kind, payload))

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for k, p in self.seen if k == kind]

    def wait_for(self, kind: str, test: Any, timeout: float) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [p for p in self.of(kind) if test(p)]
            if found:
                return found[0]
            time.sleep(0.5)
        with self.lock:
            tail = [f"{k}: {str(p)[:120]}" for k, p in self.seen[-40:]]
        raise AssertionError(f"no {kind} within {timeout:.0f} s; last events: {tail}")


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Events, Any]]:
    from selfheal.cli.demo import demo_config
    from selfheal.cli.loop import serve
    from selfheal.loop.wiring import build
    from selfheal.testbed.load import LoadGenerator
    from selfheal.testbed.shop import Shop

    run_dir: Path = tmp_path_factory.mktemp("approval-shop")
    shop = Shop.start(run_dir)
    load = LoadGenerator(shop.frontend_url, rate=8.0, seed=5).start()
    tokens = [ApiTokenConfig(name=n, role=r, token=t) for n, (r, t) in TOKENS.items()]  # type: ignore[arg-type]
    config = demo_config(shop.control_url, str(run_dir)).model_copy(
        update={"approval": ApprovalConfig(), "api": ApiConfig(port=0, tokens=tokens)}
    )
    events = Events()
    runtime = build(config, on_event=events)
    server = serve(runtime, config.api.host, config.api.port)
    runtime.engine.start()
    time.sleep(35.0)  # warm-up: every series learns its baseline
    try:
        yield server.url, events, shop
    finally:
        runtime.engine.stop()
        server.stop()
        with httpx.Client() as c:
            c.delete(f"{shop.control_url}/faults")
        load.stop()
        runtime.close()
        shop.stop()


def test_a_failover_waits_for_an_approver_then_runs_and_heals(
    loop: tuple[str, Events, Any],
) -> None:
    api, events, shop = loop
    assert ApprovalConfig().risk_level == 0.7  # the shipped default, not lowered for the test
    with httpx.Client(base_url=api, timeout=10) as client:
        injected = httpx.post(
            f"{shop.control_url}/faults",
            json={"fault": "dependency_outage", "service": "bank", "params": {}},
            timeout=30,
        )
        assert injected.status_code == 200, injected.text
        asked = events.wait_for(
            "approval_requested", lambda p: p["action"]["kind"] == "Failover", 90.0
        )
        rid = int(asked["approval"])
        waiting = client.get("/approvals?pending=true", headers=bearer("vic")).json()
        (request,) = [a for a in waiting["approvals"] if a["id"] == rid]
        assert request["risk"] >= 0.7 and request["action"]["target"] == "payment"
        assert not [
            p for p in events.of("action_started") if p["action"]["kind"] == "Failover"
        ]  # nothing ran while waiting

        assert client.post(f"/approvals/{rid}/approve").status_code == 401
        assert client.post(f"/approvals/{rid}/approve", headers=bearer("vic")).status_code == 403
        approved = client.post(
            f"/approvals/{rid}/approve",
            json={"reason": "bank-b is healthy"},
            headers=bearer("ann"),
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["decided_by"] == "ann"

        result = events.wait_for(
            "action_result",
            lambda p: p["incident"] == asked["incident"] and p["action"]["kind"] == "Failover",
            60.0,
        )
        assert result["outcome"] == "succeeded", result
        resolved = events.wait_for(
            "incident_resolved", lambda p: p["incident"] == asked["incident"], 60.0
        )
        assert resolved["healed_by_action"] is True
        trail = client.get("/audit?kind=approval_decided", headers=bearer("vic")).json()
        assert [(e["payload"]["approval"], e["payload"]["by"]) for e in trail["entries"]] == [
            (rid, "ann")
        ]
        platform = httpx.get(f"{shop.control_url}/platform/status", timeout=10).json()
        (payment,) = [s for s in platform["services"] if s["name"] == "payment"]
        assert payment["dependencies"]["bank"] == "bank-b"  # the approved failover happened
