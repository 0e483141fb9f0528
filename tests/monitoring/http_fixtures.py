"""A real local HTTP server whose responses the tests control (port chosen by the OS)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: Callable[[], bytes] | bytes = b""
    content_type: str = "text/plain; version=0.0.4"
    delay_seconds: float = 0.0


@dataclass
class ServedRoutes:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    auth: list[str] = field(default_factory=list)  # each request's Authorization header
    base_url: str = ""
    host_port: str = ""


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[ServedRoutes]:
    served = ServedRoutes(routes=routes)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

        def do_GET(self) -> None:
            served.auth.append(self.headers.get("Authorization", ""))
            served.hits[self.path] = served.hits.get(self.path, 0) + 1
            route = served.routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.delay_seconds:
                time.sleep(route.delay_seconds)
            body = route.body() if callable(route.body) else route.body
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    served.host_port = f"{host}:{port}"
    served.base_url = f"http://{host}:{port}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
