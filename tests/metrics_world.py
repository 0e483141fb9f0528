"""Real servers for the Prometheus tests: a small fleet's ``/metrics`` over real HTTP,
and the real Prometheus / Alertmanager binaries (skipped, with the reason, when one
is not installed; CI installs both).

``Fleet`` serves three instances (``svc-a`` × 2 calling ``svc-b``, ``svc-b`` × 1) on one
local server, one path each. Every counter is a fixed rate × the seconds since the fleet
started, so a scraper reading at any moment sees the same rates: the embedded scraper
and a Prometheus scraping the same paths must give the same indicators. ``svc-a``'s
second instance is slow (its served and its call latencies sit in higher buckets) and
answers 10% errors; ``stuck`` (a gauge) is what an alerting rule can watch.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from selfheal.cli.prometheus_server import ALERTMANAGER_BINARIES, PROMETHEUS_BINARIES

BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def need(binaries: tuple[str, ...]) -> None:
    if not any(shutil.which(b) for b in binaries):
        pytest.skip(f"no {' or '.join(binaries)} binary on PATH (CI installs it)")


def need_prometheus() -> None:
    need(PROMETHEUS_BINARIES)


def need_alertmanager() -> None:
    need(ALERTMANAGER_BINARIES)


@dataclass
class Instance:
    service: str
    instance_id: str
    path: str
    slow: bool = False
    calls: str = ""  # the service it calls, if any
    stuck: float = 0.0

    def exposition(self, seconds: float) -> str:
        rate, errors = 20.0, (2.0 if self.slow else 0.0)
        # share of requests per bucket (cumulative): fast instances under 0.1 s, the slow
        # one mostly between 0.5 and 1 s
        shares = (0.5, 0.95, 0.99, 1, 1, 1, 1) if not self.slow else (0, 0.1, 0.2, 0.5, 0.99, 1, 1)
        lines = [
            f'http_requests_total{{route="/work",status="200"}} {(rate - errors) * seconds:.3f}',
            f'http_requests_total{{route="/health",status="200"}} {5 * seconds:.3f}',
            f"process_cpu_seconds_total {0.05 * seconds:.4f}",
            f"process_resident_memory_bytes {5e7 if not self.slow else 9e7:.0f}",
            f"stuck {self.stuck}",
        ]
        if errors:
            lines.append(
                f'http_requests_total{{route="/work",status="500"}} {errors * seconds:.3f}'
            )
        for le, share in zip(BUCKETS, shares, strict=True):
            lines.append(
                f'http_request_duration_seconds_bucket{{route="/work",le="{le}"}} '
                f"{share * rate * seconds:.3f}"
            )
        if self.calls:
            calls = 10.0
            lines.append(
                f'upstream_requests_total{{target="{self.calls}",status="200"}} {calls * seconds:.3f}'
            )
            for le, share in zip(BUCKETS, shares, strict=True):
                lines.append(
                    f'upstream_request_duration_seconds_bucket{{target="{self.calls}",le="{le}"}} '
                    f"{share * calls * seconds:.3f}"
                )
        return "\n".join(lines) + "\n"


@dataclass
class Fleet:
    instances: list[Instance] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    base_url: str = ""
    host_port: str = ""

    def targets(self) -> list[tuple[Instance, str]]:
        return [(i, f"{self.base_url}{i.path}") for i in self.instances]

    def scrape_configs(self, interval: str = "1s") -> list[dict[str, Any]]:
        """One Prometheus job per instance (each at its own path), labelled as discovery
        labels the local platform's targets."""
        return [
            {
                "job_name": i.instance_id,
                "scrape_interval": interval,
                "scrape_timeout": "800ms",
                "metrics_path": i.path,
                "static_configs": [
                    {
                        "targets": [self.host_port],
                        "labels": {"service": i.service, "instance_id": i.instance_id},
                    }
                ],
            }
            for i in self.instances
        ]


def wait_for_history(prometheus_url: str, seconds: float = 6.0, timeout: float = 30.0) -> None:
    """Wait until Prometheus holds ``seconds`` of 1 s scrapes of every target (its
    discovery hands the targets over about 5 s after the start)."""
    import httpx

    query = f"min(count_over_time(up[{seconds:g}s]))"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}).json()
        found = result["data"]["result"]
        if found and float(found[0]["value"][1]) >= seconds - 1:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus at {prometheus_url} scraped too little in {timeout:g} s")


@contextmanager
def serve_fleet() -> Iterator[Fleet]:
    fleet = Fleet(
        [
            Instance("svc-a", "a-0", "/a0", calls="svc-b"),
            Instance("svc-a", "a-1", "/a1", slow=True, calls="svc-b"),
            Instance("svc-b", "b-0", "/b0"),
        ]
    )
    by_path = {i.path: i for i in fleet.instances}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            instance = by_path.get(self.path)
            if instance is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = instance.exposition(time.time() - fleet.started).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    fleet.host_port = f"{host}:{port}"
    fleet.base_url = f"http://{host}:{port}"
    try:
        yield fleet
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
