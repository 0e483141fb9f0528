"""The platform's health prober: every 0.5 s it asks each instance's ``/ready``
(1 s timeout) and keeps ``healthy`` and ``ready`` on the instance's state, as a
kubelet's probes do. Two misses in a row make an instance unhealthy; a process
that is gone is unhealthy at once.

Owned by the platform (``platform.py``); it never restarts anything.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selfheal.testbed.platform import InstanceState

PROBE_INTERVAL_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 1.0
PROBE_FAILURES_TO_UNHEALTHY = 2


class Prober:
    """Probes ``instances()`` until stopped."""

    def __init__(self, instances: Callable[[], list[InstanceState]]) -> None:
        self._instances = instances
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="probe")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="prober", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL_SECONDS):
            try:
                futures = [self._pool.submit(probe, i) for i in self._instances()]
            except RuntimeError:
                return  # shutting down
            concurrent.futures.wait(futures, timeout=PROBE_TIMEOUT_SECONDS + 0.5)


def probe(inst: InstanceState) -> None:
    """One probe of one instance; updates its ``healthy``, ``ready`` and ``failures``."""
    proc = inst.process
    if proc is None or not proc.alive():
        inst.healthy = inst.ready = False
        return
    port = inst.port
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT_SECONDS)
        try:
            conn.request("GET", "/ready")
            status = conn.getresponse().status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        inst.failures += 1
        if inst.failures >= PROBE_FAILURES_TO_UNHEALTHY and inst.process is proc:
            inst.healthy = inst.ready = False
        return
    if inst.process is not proc or inst.stopping:
        return  # being stopped or restarted; that operation sets the state
    inst.failures = 0
    inst.healthy = True
    inst.ready = status == 200
