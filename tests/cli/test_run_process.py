"""``selfheal run`` as a real process against the real shop: it serves its API, receives
traces, runs cycles, and stops cleanly on SIGTERM."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def control_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from selfheal.testbed.shop import Shop

    shop = Shop.start(tmp_path_factory.mktemp("run-shop"))
    try:
        yield shop.control_url
    finally:
        shop.stop()


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    out: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return out


def _wait_for(lines: queue.Queue[str], prefix: str, timeout: float = 60.0) -> str:
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting with {prefix!r}; got {seen[-20:]}")


def test_run_serves_api_and_traces_and_stops_on_sigterm(control_url: str, tmp_path: Path) -> None:
    config = {
        "scrape": {"discovery_url": control_url + "/platform/targets", "interval_seconds": 1.0},
        "loop": {"cycle_seconds": 1.0},
        "executor": {"type": "local", "local": {"control_url": control_url}},
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "api": {"port": 0},
        "otlp": {"port": 0},
        "logs": {"discovery_url": control_url + "/platform/logs"},
    }
    path = tmp_path / "selfheal.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from selfheal.cli.main import main; main()",
            "run",
            "--config",
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = _lines(proc)
        api = _wait_for(lines, "API and dashboard on ").split(" on ", 1)[1].strip()
        otlp = _wait_for(lines, "OTLP/HTTP trace receiver on ").split(" on ", 1)[1].strip()
        _wait_for(lines, "loop running every 1 s")
        body = {"resourceSpans": []}
        answer = httpx.post(otlp, json=body, timeout=5)
        assert answer.status_code == 200
        deadline = time.time() + 30
        status: dict[str, object] = {}
        while time.time() < deadline:
            status = httpx.get(api + "/status", timeout=5).json()
            if int(status["cycles"]) >= 3:  # type: ignore[call-overload]
                break
            time.sleep(0.5)
        assert int(status["cycles"]) >= 3, status  # type: ignore[call-overload]
        assert status["paused"] is False
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
