"""Faults as they act inside one instance process: added latency, injected
errors, a memory leak, a CPU hog, a network delay towards one dependency, an
outage, a crash, cache corruption.

Every effect here lives only in the process's memory, so it dies with the
process: restarting the instance is a true fix for it. (``dependency_outage``
is the exception by design: the platform re-applies it to every new instance of
the external service while it lasts, because a provider's outage does not end
when you restart your client; only a failover helps.)

Called by ``instance.py`` on ``POST/DELETE /-/faults``; driven by ``faults.py``
in the control process.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from selfheal.testbed.apps import App
from selfheal.testbed.cache_app import Cache
from selfheal.testbed.telemetry import JsonLog
from selfheal.testbed.upstream import Upstream

PROCESS_FAULTS = (
    "crash",
    "latency",
    "errors",
    "memory_leak",
    "cpu_hog",
    "network_delay",
    "dependency_outage",
    "cache_corruption",
)


@dataclass(slots=True)
class _Active:
    fault: str
    params: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    hoard: list[bytearray] = field(default_factory=list)


class Effects:
    """The faults currently acting on this process."""

    def __init__(self, app: App, upstream: Upstream, log: JsonLog) -> None:
        self._app = app
        self._upstream = upstream
        self._log = log
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}

    # -- queried on every request -------------------------------------------------
    def added_latency_seconds(self) -> float:
        with self._lock:
            return sum(
                float(a.params.get("delay_ms", 500)) / 1000.0
                for a in self._active.values()
                if a.fault == "latency"
            )

    def should_fail(self) -> bool:
        with self._lock:
            rates = [
                float(a.params.get("rate", 0.5))
                for a in self._active.values()
                if a.fault == "errors"
            ]
        return bool(rates) and random.random() < max(rates)

    def in_outage(self) -> bool:
        with self._lock:
            return any(a.fault == "dependency_outage" for a in self._active.values())

    # -- driven by the control process -----------------------------------------------
    def apply(self, fault_id: str, fault: str, params: dict[str, Any]) -> dict[str, Any]:
        if fault not in PROCESS_FAULTS:
            raise ValueError(f"not a process fault: {fault}")
        active = _Active(fault, dict(params))
        result: dict[str, Any] = {}
        if fault == "crash":
            self._log.error("fatal: unrecoverable state, exiting", fault_id=fault_id)
            # Answer the control process first, then die as a crashing process does.
            threading.Timer(0.05, os._exit, args=(70,)).start()
        elif fault == "memory_leak":
            threading.Thread(target=self._leak, args=(active,), daemon=True).start()
        elif fault == "cpu_hog":
            for _ in range(int(params.get("threads", 1))):
                threading.Thread(target=self._spin, args=(active,), daemon=True).start()
        elif fault == "network_delay":
            self._upstream.extra_delay[str(params["to"])] = (
                float(params.get("delay_ms", 300)) / 1000.0
            )
        elif fault == "cache_corruption":
            if not isinstance(self._app, Cache):
                raise ValueError("cache_corruption applies to a service of role cache only")
            result["corrupted"] = self._app.corrupt()
        with self._lock:
            self._active[fault_id] = active
        self._log.warning("fault applied", fault=fault, fault_id=fault_id)
        return result

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            active = self._active.pop(fault_id, None)
        if active is None:
            return False
        active.stop.set()
        active.hoard.clear()
        if active.fault == "network_delay":
            self._upstream.extra_delay.pop(str(active.params["to"]), None)
        elif active.fault == "cache_corruption" and isinstance(self._app, Cache):
            self._app.drop_corrupted()
        self._log.info("fault removed", fault=active.fault, fault_id=fault_id)
        return True

    def active_ids(self) -> list[str]:
        with self._lock:
            return list(self._active)

    # -- background effects ------------------------------------------------------
    @staticmethod
    def _leak(active: _Active) -> None:
        rate_mb = float(active.params.get("rate_mb", 20))
        max_mb = float(active.params.get("max_mb", 300))
        held = 0.0
        while not active.stop.wait(0.25) and held < max_mb:
            chunk = bytearray(int(rate_mb * 0.25 * 1024 * 1024))
            # Touch every page so the memory is resident, not just reserved.
            chunk[::4096] = b"\x01" * len(chunk[::4096])
            active.hoard.append(chunk)
            held += rate_mb * 0.25

    @staticmethod
    def _spin(active: _Active) -> None:
        x = 0
        while not active.stop.is_set():
            for _ in range(10_000):
                x = (x * 31 + 7) % 1_000_003
            time.sleep(0)
