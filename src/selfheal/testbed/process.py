"""Start and stop instance processes.

Instances are forked by a zygote (``zygote.py``) that has the instance code
already imported, so a whole shop starts in about a second and shares the
interpreter's pages. Each instance is nevertheless its own OS process: the
platform signals it by pid, and learns of its exit from the zygote, which reaps
it. An instance is ready when it has bound its port and written its ready file;
a stop is SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from selfheal.testbed.errors import TestbedError


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    service: str
    instance_id: str
    version: str
    config_path: str
    log_file: str
    data_dir: str
    run_dir: str
    otlp_endpoint: str | None
    topology_path: str
    port: int = 0

    @property
    def ready_file(self) -> str:
        return os.path.join(self.run_dir, "ready", f"{self.instance_id}.json")

    def argv(self) -> list[str]:
        argv = [
            "--service", self.service,
            "--instance-id", self.instance_id,
            "--version", self.version,
            "--port", str(self.port),
            "--config", self.config_path,
            "--log-file", self.log_file,
            "--ready-file", self.ready_file,
            "--data-dir", self.data_dir,
            "--topology", self.topology_path,
        ]  # fmt: skip
        if self.otlp_endpoint:
            argv += ["--otlp-endpoint", self.otlp_endpoint]
        return argv


class Forked:
    """A process the zygote forked: the subset of ``Popen`` the platform uses."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid

    @property
    def returncode(self) -> int | None:
        code = self.zygote.exit_code(self.pid)
        if code is None and not self.zygote.running() and not _exists(self.pid):
            return -signal.SIGKILL  # its launcher died and took it along; nobody reported it
        return code

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self.zygote.wait_exit(self.pid, timeout):
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        code = self.returncode
        return 0 if code is None else code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The fork server process and the bookkeeping of its children."""

    def __init__(self, output_path: str, otlp: bool = False) -> None:
        cmd = [sys.executable, "-m", "selfheal.testbed.zygote"] + (["--otlp"] if otlp else [])
        with open(output_path, "ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=out,
                close_fds=True,
            )
        self._cond = threading.Condition()
        self._pids: dict[int, int] = {}  # request id → pid
        self._exits: dict[int, int] = {}  # pid → exit code
        self._next = 0
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="zygote-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def spawn(self, argv: list[str], output: str, timeout: float = 30.0) -> Forked:
        with self._cond:
            self._next += 1
            request_id = self._next
        line = json.dumps({"id": request_id, "argv": argv, "output": output}) + "\n"
        assert self._proc.stdin is not None
        with self._write_lock:
            try:
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()
            except OSError as exc:
                raise TestbedError(f"the instance launcher is gone: {exc}") from exc
        with self._cond:
            if not self._cond.wait_for(lambda: request_id in self._pids, timeout):
                raise TestbedError("the instance launcher did not fork in time")
            return Forked(self, self._pids.pop(request_id))

    def exit_code(self, pid: int) -> int | None:
        with self._cond:
            return self._exits.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: pid in self._exits or self._dead(), timeout)

    def running(self) -> bool:
        return self._proc.poll() is None

    def _dead(self) -> bool:
        return not self.running()

    def close(self) -> None:
        """Stop every child (the zygote does it on EOF) and the zygote."""
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(8.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(2.0)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            with self._cond:
                if "exit" in msg:
                    self._exits[int(msg["exit"])] = int(msg["code"])
                else:
                    self._pids[int(msg["id"])] = int(msg["pid"])
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()


class InstanceProcess:
    """A running instance process and the port it serves on."""

    def __init__(self, proc: Forked, port: int) -> None:
        self.popen = proc
        self.port = port

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, grace_seconds: float = 3.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)  # a hung (stopped) process cannot die of TERM
            self.popen.terminate()
            try:
                self.popen.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5.0)


def set_process_name(name: str) -> None:
    """Name this process (``ps -o comm``, ``top``, psutil) — Linux only, best effort."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def spawn(zygote: Zygote, spec: LaunchSpec) -> Forked:
    """Start the process; pair with ``wait_ready``. Separate so a whole shop
    can be started in parallel."""
    if os.path.exists(spec.ready_file):
        os.unlink(spec.ready_file)
    return zygote.spawn(spec.argv(), spec.log_file + ".stderr")


def wait_ready(spec: LaunchSpec, proc: Forked, timeout_seconds: float = 30.0) -> InstanceProcess:
    """Block until the instance serves; kill it and raise if it does not."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TestbedError(
                f"instance {spec.instance_id} exited with code {proc.returncode} on start; "
                f"see {spec.log_file}.stderr"
            )
        try:
            with open(spec.ready_file, encoding="utf-8") as f:
                port = int(json.load(f)["port"])
            return InstanceProcess(proc, port)
        except (OSError, ValueError, KeyError):
            time.sleep(0.01)
    proc.kill()
    proc.wait(5.0)
    raise TestbedError(f"instance {spec.instance_id} not ready within {timeout_seconds:.0f}s")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
