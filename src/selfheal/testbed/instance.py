"""One shop instance: a real HTTP server in its own OS process.

Started by the platform as ``python -m selfheal.testbed.instance ...``. Serves
the service's business routes (``apps``), ``/health`` (alive), ``/ready`` (can
serve), ``/metrics`` (Prometheus text), and a few testbed-internal routes under
``/-/`` that the control process uses: ``/-/reload`` (re-read config),
``/-/faults`` (apply/remove an in-process fault), ``/-/clear`` (cache only).
Writes one JSON log line per request to its log file and exports spans over
OTLP/HTTP when given an endpoint. Kept light (stdlib ``ThreadingHTTPServer``)
so the whole shop stays well under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from selfheal.testbed.apps import App, AppContext, HttpError, Request, build_app
from selfheal.testbed.cache_app import Cache
from selfheal.testbed.effects import Effects
from selfheal.testbed.telemetry import JsonLog, create_metrics, create_tracer
from selfheal.testbed.topology import Role, Topology
from selfheal.testbed.upstream import Upstream, UpstreamError

_PROBES = ("/health", "/ready", "/metrics")


def _read_topology(path: str) -> Topology:
    with open(path, encoding="utf-8") as f:
        return Topology.from_json(json.load(f))


def _read_config(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config must be a JSON object")
    return config


class Instance:
    """Everything one process serves, wired together."""

    def __init__(self, args: argparse.Namespace) -> None:
        topology = _read_topology(args.topology)
        spec = topology.service(args.service)
        self.service: str = args.service
        self.instance_id: str = args.instance_id
        self.version: str = args.version
        self.config_path: str = args.config
        config = _read_config(self.config_path)
        self.log_stream = open(args.log_file, "a", encoding="utf-8")  # noqa: SIM115
        self.log = JsonLog(
            self.log_stream, self.service, self.instance_id, trace_ids=bool(args.otlp_endpoint)
        )
        self.metrics = create_metrics(
            self.service,
            self.version,
            spec.counters,
            cache=spec.role == Role.CACHE,
            convention=topology.metrics,
            instance_id=self.instance_id,
        )
        self.tracer, self.tracer_provider = create_tracer(
            self.service, self.instance_id, self.version, args.otlp_endpoint
        )
        self.upstream = Upstream(config, self.metrics, self.tracer)
        self.ctx = AppContext(
            spec=spec,
            topology=topology,
            version=self.version,
            config=config,
            upstream=self.upstream,
            metrics=self.metrics,
            log=self.log,
            data_dir=args.data_dir,
        )
        self.app: App = build_app(self.ctx)
        self.effects = Effects(self.app, self.upstream, self.log)
        # A request holds a pool connection where there is a pool: a caller's pool of
        # connections to its dependencies, a database's own pool of backends.
        self.holds_pool = spec.has_pool
        self.in_flight = 0
        self._in_flight_lock = threading.Lock()

    def reload(self) -> None:
        config = _read_config(self.config_path)
        self.ctx.config = config
        self.upstream.reconfigure(config)
        self.log.info("config reloaded", route="/-/reload")

    # -- request handling ---------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, bytes, str]:
        parts = urlsplit(raw_path)
        path = parts.path
        if path == "/health":
            return _json(200, {"status": "alive", "instance_id": self.instance_id})
        if path == "/ready":
            if self.effects.in_outage():
                return _json(503, {"status": "unavailable"})
            return _json(200, {"status": "ready", "version": self.version})
        if path == "/metrics":
            return 200, generate_latest(), CONTENT_TYPE_LATEST
        if path.startswith("/-/"):
            return self._internal(method, path, body)
        return self._business(method, path, dict(parse_qsl(parts.query)), headers, body)

    def _business(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, bytes, str]:
        started = time.perf_counter()
        found = self.app.match(method, path)
        route = found[0] if found else "unmatched"
        context = propagate.extract(dict(headers.items()))
        self.metrics.http.in_flight.inc()
        with self._in_flight_lock:
            self.in_flight += 1
        status = 500
        payload: dict[str, Any] = {}
        with self.tracer.start_as_current_span(
            f"{method} {route}",
            context=context,
            kind=SpanKind.SERVER,
            attributes={"http.method": method, "http.route": route, "url.path": path},
        ) as span:
            trace_id = format_trace_id(span.get_span_context().trace_id)
            span_id = format_span_id(span.get_span_context().span_id)
            try:
                delay = self.effects.added_latency_seconds()
                if delay:
                    time.sleep(delay)
                if self.effects.in_outage():
                    raise HttpError(503, f"{self.service} is unavailable")
                if found is None:
                    raise HttpError(404, f"no route {method} {path}")
                if self.effects.should_fail():
                    raise HttpError(500, "internal error while handling request")
                try:
                    data = json.loads(body) if body else {}
                except ValueError as exc:
                    raise HttpError(400, "body is not JSON") from exc
                request = Request(
                    method, path, query, data if isinstance(data, dict) else {}, found[2]
                )
                if self.holds_pool:
                    # A request holds one pool connection for all its work.
                    try:
                        with self.upstream.connection():
                            status, payload = found[1](request)
                    except UpstreamError as exc:
                        raise HttpError(503, f"{self.service}: {exc}") from exc
                else:
                    status, payload = found[1](request)
            except HttpError as exc:
                suspects = list(exc.suspects or (self.service,))
                status, payload = exc.status, {"error": str(exc), "suspects": suspects, **exc.extra}
            except Exception as exc:  # a bug in the app: answer 500 like a real server
                status = 500
                payload = {"error": f"{exc.__class__.__name__}: {exc}", "suspects": [self.service]}
            span.set_attribute("http.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, str(payload.get("error", ""))))
        elapsed = time.perf_counter() - started
        self.metrics.http.in_flight.dec()
        with self._in_flight_lock:
            self.in_flight -= 1
        self.metrics.http.served(route, method, status, elapsed)
        level = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
        msg = payload.get("error") if status >= 400 else "request served"
        self.log.write(
            level,
            str(msg),
            route=route,
            method=method,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            trace_id=trace_id,
            span_id=span_id,
        )
        return _json(status, payload)

    def _internal(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
        try:
            data = json.loads(body) if body else {}
            if method == "POST" and path == "/-/reload":
                self.reload()
                return _json(200, {"reloaded": True})
            if method == "POST" and path == "/-/faults":
                result = self.effects.apply(
                    str(data["id"]), str(data["fault"]), data.get("params", {})
                )
                return _json(200, {"applied": True, **result})
            if method == "DELETE" and path.startswith("/-/faults/"):
                removed = self.effects.remove(path.rsplit("/", 1)[1])
                return _json(200, {"removed": removed})
            if method == "GET" and path == "/-/faults":
                return _json(200, {"faults": self.effects.active_ids()})
            if method == "POST" and path == "/-/clear" and isinstance(self.app, Cache):
                n = self.app.clear()
                self.log.info("cache cleared", entries=n)
                return _json(200, {"cleared": n})
            if method == "POST" and path == "/-/uncorrupt" and isinstance(self.app, Cache):
                return _json(200, {"dropped": self.app.drop_corrupted()})
            if method == "GET" and path == "/-/info":
                return _json(
                    200,
                    {
                        "service": self.service,
                        "instance_id": self.instance_id,
                        "version": self.version,
                        "pid": os.getpid(),
                        "config": self.ctx.config,
                    },
                )
        except (KeyError, ValueError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(404, {"error": f"no internal route {method} {path}"})

    def close(self) -> None:
        self.app.close()
        self.tracer_provider.shutdown()


def _json(status: int, payload: dict[str, Any]) -> tuple[int, bytes, str]:
    return status, json.dumps(payload).encode(), "application/json"


def _handler_class(instance: Instance) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"shop-{instance.service}/{instance.version}"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, data, ctype = instance.handle(self.command, self.path, self.headers, body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # requests are logged as JSON by Instance

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _watch_parent(parent_pid: int) -> None:
    """Exit when the control process is gone, so no instance outlives the shop."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One shop instance (testbed).")
    parser.add_argument("--service", required=True)
    parser.add_argument("--topology", required=True, help="The shop's topology as JSON.")
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--version", default="v1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", required=True)
    parser.add_argument("--log-file", required=True)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--otlp-endpoint", default=None)
    args = parser.parse_args(argv)
    random.seed()
    instance = Instance(args)
    try:
        server = _Server(("127.0.0.1", args.port), _handler_class(instance))
    except OSError:
        server = _Server(("127.0.0.1", 0), _handler_class(instance))  # old port taken
    port = server.server_address[1]
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    instance.log.info("instance started", port=port, version=instance.version, pid=os.getpid())
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"port": port, "pid": os.getpid()}, f)
    os.replace(tmp, args.ready_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    server.shutdown()
    # Let requests already being served finish (briefly), as a graceful stop does.
    deadline = time.monotonic() + 2.0
    while instance.in_flight > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    instance.log.info("instance stopping")
    instance.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
