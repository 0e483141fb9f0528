"""An in-memory implementation of docs/local-platform-api.md over real HTTP.

The local executor's tests run against it instead of the testbed: the same
routes, bodies and error shapes, no processes. ``fail_next`` makes the next
matching calls answer an error, to exercise retries.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Service:
    name: str
    replicas: int
    versions: list[str] = field(default_factory=lambda: ["v1"])
    configs: list[dict[str, Any]] = field(default_factory=list)  # {revision, config, at}
    drained: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    standby: str | None = None
    cache_entries: int = 0
    restarts: dict[str, int] = field(default_factory=dict)

    def instance_ids(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.replicas)]


class FakePlatform:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = 1000.0
        self.services: dict[str, Service] = {}
        self.calls: list[tuple[str, str]] = []
        self._failures: list[list[Any]] = []  # [method, path regex, status, times]
        self._add("frontend", 2, {"pool_size": 16, "dependencies": {"checkout": "checkout"}})
        self._add("checkout", 2, {"pool_size": 16, "dependencies": {"payment": "payment"}})
        self._add("cart", 3, {"pool_size": 16, "dependencies": {"cache": "cache"}})
        self._add("payment", 2, {"pool_size": 16, "dependencies": {"bank": "bank"}})
        self._add("cache", 1, {"pool_size": 16})
        self._add("bank", 1, {}, standby="bank-b")
        self._add("bank-b", 1, {})
        self.services["cache"].cache_entries = 42
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakePlatform:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1) -> None:
        with self.lock:
            self._failures.append([method, re.compile(path_regex), status, times])

    # -- state helpers ---------------------------------------------------------------
    def _add(self, name: str, n: int, config: dict[str, Any], standby: str | None = None) -> None:
        s = Service(name, n, standby=standby)
        s.configs.append({"revision": 1, "config": copy.deepcopy(config), "at": self._tick()})
        self.services[name] = s

    def _tick(self) -> float:
        self.clock += 1.0
        return self.clock

    def svc(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise ApiError(404, f"unknown service {name!r}") from None

    def _instance(self, s: Service, iid: str) -> str:
        if iid not in s.instance_ids():
            raise ApiError(404, f"{s.name} has no instance {iid!r}")
        return iid

    def config(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.svc(name).configs[-1])

    def _push_config(self, s: Service, config: dict[str, Any]) -> int:
        rev = s.configs[-1]["revision"] + 1
        s.configs.append({"revision": rev, "config": copy.deepcopy(config), "at": self._tick()})
        return int(rev)

    def deploy(self, name: str, version: str) -> None:
        with self.lock:
            self.svc(name).versions.append(version)

    def push_config(self, name: str, config: dict[str, Any]) -> int:
        with self.lock:
            return self._push_config(self.svc(name), config)

    def state(self) -> dict[str, Any]:
        """Everything an action may change, for before/after comparisons."""
        with self.lock:
            return {
                n: {
                    "replicas": s.replicas,
                    "version": s.versions[-1],
                    "config": s.configs[-1]["config"],
                    "drained": sorted(s.drained),
                }
                for n, s in self.services.items()
            }

    # -- the API ---------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        out = []
        for s in self.services.values():
            out.append(
                {
                    "name": s.name,
                    "version": s.versions[-1],
                    "replicas": s.replicas,
                    "config_revision": s.configs[-1]["revision"],
                    "lb_url": f"http://lb/{s.name}",
                    "dependencies": dict(s.configs[-1]["config"].get("dependencies", {})),
                    "external": s.name.startswith("bank"),
                    "instances": [
                        {
                            "id": i,
                            "url": f"http://{i}",
                            "healthy": i not in s.down,
                            "ready": i not in s.down,
                            "drained": i in s.drained,
                            "pid": None if i in s.down else 100,
                        }
                        for i in s.instance_ids()
                    ],
                }
            )
        return {"services": out}

    def dispatch(self, method: str, path: str, body: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        if parts[0] != "platform":
            raise ApiError(404, f"no such endpoint: {method} {path}")
        parts = parts[1:]
        if parts == ["status"] and method == "GET":
            return self.status()
        if len(parts) < 3 or parts[0] != "services":
            raise ApiError(404, f"no such endpoint: {method} {path}")
        s = self.svc(parts[1])
        rest = parts[2:]
        route = (
            method,
            "/".join(rest if rest[0] != "instances" else ["instances", "*", *rest[2:]]),
        )
        if route == ("POST", "restart"):
            for i in s.instance_ids():
                s.restarts[i] = s.restarts.get(i, 0) + 1
            s.down.clear()
            return {"service": s.name}
        if rest[0] == "instances":
            iid = self._instance(s, rest[1])
            op = rest[2] if len(rest) > 2 else ""
            if method != "POST" or op not in ("restart", "stop", "start", "drain", "undrain"):
                raise ApiError(404, f"no such endpoint: {method} {path}")
            if op == "restart":
                s.restarts[iid] = s.restarts.get(iid, 0) + 1
                s.down.discard(iid)
            elif op == "stop":
                s.down.add(iid)
            elif op == "start":
                s.down.discard(iid)
            elif op == "drain":
                s.drained.add(iid)
            else:
                s.drained.discard(iid)
            return {"id": iid}
        if route == ("POST", "scale"):
            replicas = body.get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool):
                raise ApiError(400, "replicas must be an integer")
            if replicas < 0:
                raise ApiError(409, f"cannot scale {s.name} below 0 (asked {replicas})")
            s.replicas = replicas
            return {"replicas": replicas}
        if route == ("POST", "deploy"):
            version = body.get("version")
            if version not in ("v1", "v2"):
                raise ApiError(400, f"unknown version {version!r}")
            s.versions.append(version)
            return {"version": version}
        if route == ("POST", "rollback"):
            version = body.get("version")
            if version is None:
                if len(s.versions) < 2:
                    raise ApiError(409, f"{s.name} has no previous version to roll back to")
                version = s.versions[-2]
            elif version not in s.versions:
                raise ApiError(404, f"version {version!r} is not in the history of {s.name}")
            s.versions.append(version)
            return {"version": version}
        if route == ("GET", "versions"):
            return {"current": s.versions[-1], "history": list(s.versions)}
        if route == ("GET", "config"):
            c = s.configs[-1]
            return {"revision": c["revision"], "config": copy.deepcopy(c["config"])}
        if route == ("PUT", "config"):
            if not isinstance(body.get("config"), dict):
                raise ApiError(400, "config must be an object")
            return {"revision": self._push_config(s, body["config"])}
        if route == ("GET", "config/history"):
            return {"revisions": copy.deepcopy(s.configs)}
        if route == ("POST", "config/restore"):
            current = s.configs[-1]["revision"]
            wanted = body.get("revision", current - 1)
            match = [c for c in s.configs if c["revision"] == wanted]
            if not match:
                raise ApiError(404, f"{s.name} has no config revision {wanted}")
            return {"revision": self._push_config(s, match[0]["config"])}
        if route == ("POST", "cache/clear"):
            if s.name != "cache":
                raise ApiError(400, f"{s.name} holds no cache; clear applies to the cache service")
            s.cache_entries = 0
            return {"cleared": True}
        if route == ("POST", "failover"):
            config = copy.deepcopy(s.configs[-1]["config"])
            deps = config.get("dependencies", {})
            dep = body.get("dependency")
            if dep not in deps:
                raise ApiError(400, f"{s.name} has no dependency {dep!r}")
            to = body.get("to") or self.svc(deps[dep]).standby
            if to is None:
                raise ApiError(409, f"{deps[dep]} has no standby to fail over to")
            if to not in (dep, self.svc(dep).standby):
                raise ApiError(400, f"{to!r} cannot stand in for {dep}")
            deps[dep] = to
            return {"revision": self._push_config(s, config), "to": to}
        raise ApiError(404, f"no such endpoint: {method} {path}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with platform.lock:
                    platform.calls.append((self.command, self.path))
                    status, payload = 200, None
                    for f in platform._failures:
                        if f[0] == self.command and f[1].search(self.path) and f[3] > 0:
                            f[3] -= 1
                            status, payload = f[2], {"error": f"injected failure {f[2]}"}
                            break
                    if payload is None:
                        try:
                            body = json.loads(raw) if raw else {}
                            payload = platform.dispatch(self.command, self.path, body)
                        except ApiError as exc:
                            status, payload = exc.status, {"error": str(exc)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
