"""``selfheal testbed up/status/load/down`` and ``selfheal inject``: the shop
runs in the background between commands, errors are one line without a
traceback, and ``down`` leaves no process behind."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from testbed_helpers import alive, wait_until

from selfheal.cli.main import cli

pytestmark = pytest.mark.slow


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _one_line_error(output: str) -> bool:
    return "Traceback" not in output and output.strip().splitlines()[-1].startswith("Error: ")


def test_the_shop_lifecycle_from_the_command_line(tmp_path: Path) -> None:
    run_dir = str(tmp_path / "shop")
    code, out = _run("testbed", "status", "--run-dir", run_dir)
    assert code == 1 and "not up" in out and _one_line_error(out)

    code, out = _run("testbed", "up", "--run-dir", run_dir, "--replicas", "cart=3")
    assert code == 0, out
    assert "15 instances" in out
    state = json.loads((tmp_path / "shop" / "testbed.json").read_text())
    # The daemon, its instance launcher and every instance: all must be gone after `down`.
    tree = {state["pid"]} | {c.pid for c in psutil.Process(state["pid"]).children(recursive=True)}
    pids = set(tree)
    try:
        code, out = _run("testbed", "status", "--run-dir", run_dir, "--json")
        assert code == 0
        status = json.loads(out)
        cart = next(s for s in status["services"] if s["name"] == "cart")
        assert [i["id"] for i in cart["instances"]] == ["cart-0", "cart-1", "cart-2"]
        for svc in status["services"]:
            assert {"name", "version", "instances"} <= set(svc)
            for inst in svc["instances"]:
                assert {"id", "url", "healthy"} <= set(inst) and inst["healthy"]
                pids.add(inst["pid"])
        assert len(pids) == len(tree) == 17  # daemon + launcher + 15 instances

        code, out = _run("testbed", "up", "--run-dir", run_dir)
        assert code == 1 and "already up" in out

        code, out = _run("inject", "meteor", "--service", "cart", "--run-dir", run_dir)
        assert code == 2 and "unknown fault 'meteor'" in out and "Traceback" not in out
        code, out = _run("inject", "crash", "--service", "nope", "--run-dir", run_dir)
        assert code == 1 and "unknown service 'nope'" in out and _one_line_error(out)
        code, out = _run(
            "inject", "crash", "--service", "cart", "--instance", "cart-7", "--run-dir", run_dir
        )
        assert code == 1 and "unknown instance 'cart-7'" in out and _one_line_error(out)
        code, out = _run(
            "inject", "latency", "--service", "cart", "--instance", "cart-0",
            "--param", "delay_ms=50", "--duration", "30", "--run-dir", run_dir,
        )  # fmt: skip
        assert code == 0 and "injected f-1: latency on cart/cart-0" in out
        code, out = _run("inject", "list", "--run-dir", run_dir, "--json")
        (fault,) = json.loads(out)
        assert fault["active"] and fault["params"] == {"delay_ms": 50}

        code, out = _run(
            "testbed", "load", "--run-dir", run_dir, "--rate", "10", "--duration", "2", "--json"
        )
        assert code == 0, out
        stats = json.loads(out)
        assert stats["overall"]["total"] >= 10 and stats["overall"]["success_ratio"] >= 0.9
        assert stats["latency_p50_ms"] > 0

        code, out = _run("inject", "stop", "--all", "--run-dir", run_dir)
        assert code == 0 and "stopped 1 fault(s): f-1" in out
        code, out = _run("inject", "stop", "f-42", "--run-dir", run_dir)
        assert code == 1 and "unknown fault id" in out and _one_line_error(out)
    finally:
        code, out = _run("testbed", "down", "--run-dir", run_dir)
    assert code == 0, out
    assert "none left" in out
    assert wait_until(lambda: not any(alive(p) for p in pids), timeout=5)
    assert not (tmp_path / "shop" / "testbed.json").exists()
    code, out = _run("testbed", "down", "--run-dir", run_dir)
    assert code == 1 and _one_line_error(out)
