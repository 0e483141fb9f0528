"""The control port: the platform operations and the fault API over HTTP,
exactly as ``docs/local-platform-api.md`` specifies (paths, JSON shapes,
errors as ``{"error": ...}`` with 400/404/409).

This is the only door the product uses (through its local executor and
collectors); it runs in the control process next to the platform.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from selfheal.testbed.errors import BadRequest, NotFound, TestbedError
from selfheal.testbed.faults import CATALOGUE, FaultManager
from selfheal.testbed.platform import Platform

Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class ControlServer:
    """HTTP front of ``Platform`` + ``FaultManager`` on a free port."""

    def __init__(
        self,
        platform: Platform,
        faults: FaultManager,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.platform = platform
        self.faults = faults
        self._on_shutdown = on_shutdown
        self._routes: list[Route] = []
        self._add_routes()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="control", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add_routes(self) -> None:
        p, f = self.platform, self.faults
        svc = r"/platform/services/(?P<svc>[^/]+)"
        inst = svc + r"/instances/(?P<iid>[^/]+)"

        def add(method: str, pattern: str, fn: Callable[..., Any]) -> None:
            self._routes.append((method, re.compile("^" + pattern + "$"), fn))

        add("GET", "/platform/status", lambda b: p.status())
        add("GET", "/platform/targets", lambda b: p.targets())
        add("GET", "/platform/logs", lambda b: p.logs())
        add("POST", svc + "/restart", lambda b, svc: p.restart_service(svc))
        add("POST", inst + "/restart", lambda b, svc, iid: p.restart_instance(svc, iid))
        add("POST", inst + "/stop", lambda b, svc, iid: p.stop_instance(svc, iid))
        add("POST", inst + "/start", lambda b, svc, iid: p.start_instance(svc, iid))
        add("POST", inst + "/drain", lambda b, svc, iid: p.drain(svc, iid, True))
        add("POST", inst + "/undrain", lambda b, svc, iid: p.drain(svc, iid, False))
        add("POST", svc + "/scale", lambda b, svc: p.scale(svc, _field(b, "replicas")))
        add("POST", svc + "/deploy", lambda b, svc: p.deploy(svc, _field(b, "version")))
        add("POST", svc + "/rollback", lambda b, svc: p.rollback(svc, b.get("version")))
        add("GET", svc + "/versions", lambda b, svc: p.versions(svc))
        add("GET", svc + "/config", lambda b, svc: p.get_config(svc))
        add("PUT", svc + "/config", lambda b, svc: p.put_config(svc, _field(b, "config")))
        add("GET", svc + "/config/history", lambda b, svc: p.config_history(svc))
        add(
            "POST", svc + "/config/restore", lambda b, svc: p.restore_config(svc, b.get("revision"))
        )
        add("POST", svc + "/cache/clear", lambda b, svc: p.clear_cache(svc))
        add(
            "POST",
            svc + "/failover",
            lambda b, svc: p.failover(svc, _field(b, "dependency"), b.get("to")),
        )
        add(
            "POST",
            "/faults",
            lambda b: f.inject(
                _field(b, "fault"),
                _field(b, "service"),
                b.get("instance"),
                b.get("params"),
                b.get("duration"),
            ),
        )
        add("GET", "/faults", lambda b: f.listing())
        add(
            "GET",
            "/faults/catalogue",
            lambda b: {
                "faults": [
                    {
                        "name": i.name,
                        "symptom": i.symptom,
                        "remediation": i.remediation,
                        "params": i.params,
                        "scope": i.scope,
                        "roles": [r.value for r in i.roles],
                        "targets": i.targets(),
                    }
                    for i in CATALOGUE.values()
                ]
            },
        )
        add("GET", "/faults/(?P<fid>[^/]+)", lambda b, fid: f.get(fid))
        add("DELETE", "/faults/(?P<fid>[^/]+)", lambda b, fid: f.stop(fid))
        add("DELETE", "/faults", lambda b: f.stop_all())
        add("POST", "/platform/shutdown", lambda b: self._shutdown())

    def _shutdown(self) -> dict[str, Any]:
        if self._on_shutdown is None:
            raise BadRequest("this shop is managed in-process; stop it with Shop.stop()")
        # Answer first; the shutdown kills this server's own thread pool.
        threading.Timer(0.1, self._on_shutdown).start()
        return {"shutting_down": True}

    def dispatch(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        path = path.split("?", 1)[0].rstrip("/") or "/"
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return 400, {"error": "body is not valid JSON"}
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        allowed = False
        for m, pattern, fn in self._routes:
            found = pattern.match(path)
            if not found:
                continue
            allowed = True
            if m != method:
                continue
            try:
                return 200, fn(body, **found.groupdict())
            except TestbedError as exc:
                return exc.status, {"error": str(exc)}
        if allowed:
            return 405, {"error": f"method {method} not allowed on {path}"}
        return 404, {"error": f"no such endpoint: {method} {path}"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        control = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    status, payload = control.dispatch(self.command, self.path, raw)
                except Exception as exc:  # never leave the caller without an answer
                    status, payload = 500, {"error": f"{exc.__class__.__name__}: {exc}"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise BadRequest(f"missing field {name!r}")
    return body[name]


__all__ = ["ControlServer", "NotFound"]
