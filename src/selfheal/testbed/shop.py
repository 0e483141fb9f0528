"""The running shop: platform + faults + control port, started in-process
(``Shop.start``) or as a detached background process (``start_detached``,
what ``selfheal testbed up`` uses), with a state file that tells later commands
where the control port is and which processes belong to the shop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import psutil

from selfheal.testbed.control import ControlServer
from selfheal.testbed.errors import TestbedError
from selfheal.testbed.faults import FaultManager
from selfheal.testbed.platform import Platform
from selfheal.testbed.topology import Topology

STATE_FILE = "testbed.json"


def default_run_dir() -> str:
    """``$SELFHEAL_TESTBED_DIR``, else ``./runs/testbed``."""
    return os.environ.get("SELFHEAL_TESTBED_DIR") or os.path.join("runs", "testbed")


class Shop:
    """A running shop owned by this process. Stop it with ``stop()`` (or use it
    as a context manager); nothing is left behind."""

    def __init__(self, platform: Platform, faults: FaultManager, control: ControlServer) -> None:
        self.platform = platform
        self.faults = faults
        self.control = control
        self._stopped = False

    @classmethod
    def start(
        cls,
        run_dir: str | os.PathLike[str],
        otlp_endpoint: str | None = None,
        replicas: dict[str, int] | None = None,
        on_shutdown: Any = None,
        topology: Topology | None = None,
    ) -> Shop:
        """Start every instance (in parallel) and the control port; returns
        when all are ready. ``replicas`` overrides the topology's per service;
        ``topology`` defaults to the shipped shop."""
        platform = Platform(
            os.fspath(run_dir), otlp_endpoint=otlp_endpoint, replicas=replicas, topology=topology
        )
        try:
            platform.start()
        except BaseException:
            platform.shutdown()
            raise
        faults = FaultManager(platform)
        control = ControlServer(platform, faults, on_shutdown=on_shutdown)
        control.start()
        return cls(platform, faults, control)

    @property
    def control_url(self) -> str:
        return self.control.url

    @property
    def topology(self) -> Topology:
        return self.platform.topology

    @property
    def entry_url(self) -> str:
        """Where shoppers (the load generator) enter: the entry service's LB."""
        return self.platform.service(self.topology.entry.name).lb.url

    @property
    def frontend_url(self) -> str:
        """The entry's LB (the shop's entry is its frontend)."""
        return self.entry_url

    def pids(self) -> list[int]:
        return self.platform.pids()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.faults.close()
        self.control.stop()
        self.platform.shutdown()

    def __enter__(self) -> Shop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class ShopState:
    """What ``testbed up`` leaves in the run dir for later commands."""

    control_url: str
    pid: int
    pgid: int
    run_dir: str
    started_at: float
    topology: str = ""
    """The topology file the shop runs (empty: the default)."""

    @classmethod
    def read(cls, run_dir: str) -> ShopState | None:
        path = os.path.join(run_dir, STATE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return cls(
                str(data["control_url"]),
                int(data["pid"]),
                int(data["pgid"]),
                str(data["run_dir"]),
                float(data["started_at"]),
                str(data.get("topology", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self) -> None:
        path = os.path.join(self.run_dir, STATE_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "control_url": self.control_url,
                    "pid": self.pid,
                    "pgid": self.pgid,
                    "run_dir": self.run_dir,
                    "started_at": self.started_at,
                    "topology": self.topology,
                },
                f,
            )
        os.replace(tmp, path)


def start_detached(
    run_dir: str,
    otlp_endpoint: str | None = None,
    replicas: dict[str, int] | None = None,
    timeout_seconds: float = 60.0,
    topology: str | os.PathLike[str] | None = None,
) -> ShopState:
    """Start the shop in a background process group that outlives this process;
    returns once every instance is ready (the daemon has written the state).
    ``topology`` is a topology file (default: the shipped shop)."""
    run_dir = os.path.abspath(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    existing = ShopState.read(run_dir)
    if existing is not None and psutil.pid_exists(existing.pid):
        raise TestbedError(f"a shop is already up in {run_dir} (control {existing.control_url})")
    state_path = os.path.join(run_dir, STATE_FILE)
    if os.path.exists(state_path):
        os.unlink(state_path)
    cmd = [sys.executable, "-m", "selfheal.testbed.daemon", "--run-dir", run_dir]
    if otlp_endpoint:
        cmd += ["--otlp-endpoint", otlp_endpoint]
    for name, n in (replicas or {}).items():
        cmd += ["--replicas", f"{name}={n}"]
    if topology is not None:
        cmd += ["--topology", os.path.abspath(topology)]
    log_path = os.path.join(run_dir, "daemon.log")
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: `down` kills the whole group
            close_fds=True,
        )
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        state = ShopState.read(run_dir)
        if state is not None and state.pid == daemon.pid:
            return state
        if daemon.poll() is not None:
            raise TestbedError(f"the shop failed to start: {_last_line(log_path)}")
        time.sleep(0.05)
    _kill_group(daemon.pid)
    raise TestbedError(f"the shop was not ready within {timeout_seconds:.0f}s; see {log_path}")


def stop_detached(run_dir: str, timeout_seconds: float = 15.0) -> list[int]:
    """Stop the background shop of ``run_dir``; returns the pids that were
    stopped. Raises if any of them is still alive afterwards."""
    run_dir = os.path.abspath(run_dir)
    state = ShopState.read(run_dir)
    if state is None:
        raise TestbedError(f"no shop is up in {run_dir} (no {STATE_FILE})")
    group = _group_pids(state.pgid)
    if psutil.pid_exists(state.pid):
        group.add(state.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)  # the daemon stops its instances itself
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and any(_alive(p) for p in group):
        time.sleep(0.05)
    _kill_group(state.pgid)
    for pid in group:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(_alive(p) for p in group):
        time.sleep(0.05)
    left = sorted(p for p in group if _alive(p))
    if left:
        raise TestbedError(f"processes still alive after stop: {left}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(run_dir, STATE_FILE))
    return sorted(group)


def _group_pids(pgid: int) -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                pids.add(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return pids


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1] if lines else "no output"
    except OSError:
        return "no log"
