"""Real Prometheus and Alertmanager servers as child processes, for ``selfheal demo
--metrics-source prometheus`` and the tests that check the loop against them.

Each server gets a directory of its own (configuration, storage), listens on a free
loopback port, and is ready when its ``/-/ready`` answers 200. The binaries are the
distributions' (``prometheus``, and ``alertmanager`` or Debian's
``prometheus-alertmanager``), found on ``PATH``; a missing one is one clear line
(``ServerMissing``). ``stop`` terminates the process (and kills it if it lingers).
"""

from __future__ import annotations

import abc
import contextlib
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from selfheal.core.errors import SelfHealError

PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("alertmanager", "prometheus-alertmanager")


class ServerMissing(SelfHealError):
    """The server's binary is not on PATH, or it did not become ready; one line."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_binary(names: tuple[str, ...], what: str) -> str:
    """The first of ``names`` on PATH; ``ServerMissing`` naming them when none is."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise ServerMissing(
        f"{what}: no {' or '.join(repr(n) for n in names)} binary on PATH "
        f"(install it, e.g. apt-get install {names[-1]})"
    )


class _Server(abc.ABC):
    """A child server on a free port of 127.0.0.1; see the module docstring."""

    what = "server"

    def __init__(self, binary: str, directory: Path, port: int | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @abc.abstractmethod
    def _args(self) -> list[str]:
        """The server binary's command-line arguments."""

    def start(self, timeout_seconds: float = 30.0) -> _Server:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "server.log").open("wb")
        self.process = subprocess.Popen(
            [self.binary, *self._args()], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                raise ServerMissing(
                    f"{self.what} exited at start ({self.process.returncode}): {tail}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise ServerMissing(f"{self.what} was not ready on {self.url} within {timeout_seconds:g} s")

    def log_tail(self, chars: int = 300) -> str:
        try:
            text = (self.directory / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return " ".join(text[-chars:].split())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class PrometheusServer(_Server):
    """Prometheus with ``config`` (its YAML as a mapping; JSON is YAML) and optional
    alerting ``rules`` (a rule file's mapping), storing under ``directory``."""

    what = "prometheus"

    def __init__(
        self,
        directory: Path,
        config: dict[str, Any],
        rules: dict[str, Any] | None = None,
        binary: str | None = None,
        port: int | None = None,
    ) -> None:
        binary = binary or find_binary(PROMETHEUS_BINARIES, "Prometheus")
        super().__init__(binary, directory, port)
        self.config = dict(config)
        self.rules = rules

    def _args(self) -> list[str]:
        config = dict(self.config)
        if self.rules is not None:
            rule_file = self.directory / "rules.yml"
            rule_file.write_text(json.dumps(self.rules))
            config["rule_files"] = [str(rule_file)]
        path = self.directory / "prometheus.yml"
        path.write_text(json.dumps(config))
        return [
            f"--config.file={path}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]


class AlertmanagerServer(_Server):
    """Alertmanager with ``config`` (its YAML as a mapping), clustering off."""

    what = "alertmanager"

    def __init__(self, directory: Path, config: dict[str, Any], binary: str | None = None) -> None:
        super().__init__(binary or find_binary(ALERTMANAGER_BINARIES, "Alertmanager"), directory)
        self.config = config

    def _args(self) -> list[str]:
        path = self.directory / "alertmanager.yml"
        path.write_text(json.dumps(self.config))
        return [
            f"--config.file={path}",
            f"--storage.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]


def discovery_scrape_config(discovery_url: str, interval_seconds: float) -> dict[str, Any]:
    """A Prometheus configuration scraping the targets an HTTP service discovery lists
    (the local platform's ``/platform/targets``), every ``interval_seconds``."""
    interval = f"{round(interval_seconds * 1000)}ms"
    timeout = f"{round(interval_seconds * 800)}ms"
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": timeout,
            "evaluation_interval": interval,
        },
        "scrape_configs": [
            {
                "job_name": "platform",
                "http_sd_configs": [{"url": discovery_url, "refresh_interval": "2s"}],
            }
        ],
    }
