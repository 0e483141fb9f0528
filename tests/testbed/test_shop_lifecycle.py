"""Starting and stopping a shop in-process: replica overrides, nothing left
behind after ``stop()``, and no orphan if the instances' launcher dies."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest
from testbed_helpers import alive, wait_until

from selfheal.testbed import ControlClient, Shop, TestbedError

pytestmark = pytest.mark.slow


def test_stop_leaves_no_process_and_replicas_are_honoured(tmp_path: Path) -> None:
    shop = Shop.start(tmp_path, replicas={"cart": 1, "bank-b": 0, "shipping": 2})
    try:
        counts = {
            s["name"]: len(s["instances"])
            for s in ControlClient(shop.control_url).status()["services"]
        }
        assert counts["cart"] == 1 and counts["bank-b"] == 0 and counts["shipping"] == 2
        pids = shop.pids()
        tree = {c.pid for c in psutil.Process().children(recursive=True)}
        assert set(pids) <= tree and len(pids) == 14  # 13 instances + their launcher
    finally:
        shop.stop()
    assert shop.pids() == []
    assert wait_until(lambda: not any(alive(p) for p in pids), timeout=5)
    shop.stop()  # idempotent


def test_instances_do_not_outlive_their_launcher(tmp_path: Path) -> None:
    shop = Shop.start(tmp_path, replicas={"frontend": 1, "catalog": 1, "cart": 1, "checkout": 1})
    try:
        launcher, *instances = shop.pids()
        os.kill(launcher, signal.SIGKILL)
        assert wait_until(lambda: not any(alive(p) for p in instances), timeout=8)
        client = ControlClient(shop.control_url)
        assert wait_until(
            lambda: (
                not any(i["healthy"] for s in client.status()["services"] for i in s["instances"])
            ),
            timeout=5,
        )
    finally:
        shop.stop()
    assert not any(alive(p) for p in instances)


def test_unknown_service_in_replicas_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TestbedError, match="unknown service"):
        Shop.start(tmp_path, replicas={"warehouse": 2})
