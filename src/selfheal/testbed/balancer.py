"""A health-aware load balancer in front of each service (one port per service).

Lives as threads in the control process. Callers use a service's LB URL, never
an instance URL; the LB sends each request to the next instance that is ready
and not drained (round robin), and retries another one only when a connection
is refused (the request never reached the first). With no eligible instance it
answers 503 itself, as an empty Kubernetes Service would refuse connections.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Backend = tuple[str, int]
"""(instance id, port)"""

_FORWARDED = ("Content-Type", "traceparent", "tracestate", "baggage")


class LoadBalancer:
    """Round-robin over ``backends()``; ``on_refused(id)`` reports a dead one."""

    def __init__(
        self,
        service: str,
        backends: Callable[[], list[Backend]],
        on_refused: Callable[[str], None],
        timeout_seconds: float = 30.0,
    ) -> None:
        self.service = service
        self._backends = backends
        self._on_refused = on_refused
        self._timeout = timeout_seconds
        self._counter = itertools.count()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name=f"lb-{service}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        backends = self._backends()
        if not backends:
            return _error(503, f"no ready instance of {self.service}")
        start = next(self._counter) % len(backends)
        order = backends[start:] + backends[:start]
        for instance_id, port in order:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=self._timeout)
            try:
                try:
                    conn.connect()
                except ConnectionRefusedError:
                    self._on_refused(instance_id)
                    continue
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, data, response.getheader("Content-Type", "")
            except (OSError, http.client.HTTPException) as exc:
                return _error(502, f"{self.service} instance {instance_id} failed: {exc}")
            finally:
                conn.close()
        return _error(503, f"no reachable instance of {self.service}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        lb = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k in _FORWARDED if (v := self.headers.get(k)) is not None}
                status, data, ctype = lb.forward(self.command, self.path, headers, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype or "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller gave up (timed out) before the answer came

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def _error(status: int, message: str) -> tuple[int, bytes, str]:
    import json

    return status, json.dumps({"error": message}).encode(), "application/json"
