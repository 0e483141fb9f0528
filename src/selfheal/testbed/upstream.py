"""An instance's calls to its dependencies: a bounded connection pool and an
HTTP client that propagates the trace context and records the contract's
``pool_*`` metrics and each call (``upstream_*``, or the OpenTelemetry client
histogram under the topology's ``metrics: opentelemetry``).

Runs inside an instance process; the pool size and timeouts come from the
service's current config, so a config push or restore changes them live.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from selfheal.testbed.telemetry import Metrics


class UpstreamError(Exception):
    """A call that got no HTTP answer (refused, timed out, no pool connection)."""


def _error_type(exc: UpstreamError) -> str:
    """OpenTelemetry's ``error.type`` of a call that got no answer: ``timeout``, else
    the underlying exception's class name (``ConnectionRefusedError``), else ``_OTHER``
    (no pool connection: the call was never sent)."""
    cause = exc.__cause__
    if isinstance(cause, TimeoutError):
        return "timeout"
    return type(cause).__name__ if cause is not None else "_OTHER"


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Pool:
    """At most ``size`` concurrent calls; a caller waits ``timeout`` for a slot."""

    def __init__(self, size: int, metrics: Metrics) -> None:
        self._cond = threading.Condition()
        self._size = size
        self._in_use = 0
        self._metrics = metrics
        metrics.pool_max.set(size)

    def resize(self, size: int) -> None:
        with self._cond:
            self._size = size
            self._metrics.pool_max.set(size)
            self._cond.notify_all()

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._in_use >= self._size:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._metrics.pool_wait_timeouts.inc()
                    return False
                self._cond.wait(left)
            self._in_use += 1
            self._metrics.pool_in_use.set(self._in_use)
            return True

    def release(self) -> None:
        with self._cond:
            self._in_use -= 1
            self._metrics.pool_in_use.set(self._in_use)
            self._cond.notify()


class Upstream:
    """Calls dependencies by name through the URLs in the live config."""

    def __init__(self, config: dict[str, Any], metrics: Metrics, tracer: Tracer) -> None:
        self._metrics = metrics
        self._tracer = tracer
        self._config = config
        self.pool = Pool(int(config.get("pool_size", 16)), metrics)
        self._local = threading.local()
        self.extra_delay: dict[str, float] = {}
        """target → seconds added before each call (the ``network_delay`` fault)."""

    @contextlib.contextmanager
    def connection(self) -> Iterator[None]:
        """Hold one pool connection; re-entrant within a thread, so a request
        that holds one for its whole handling (as a worker holds its database
        connection) makes all its calls on it."""
        if getattr(self._local, "held", False):
            yield
            return
        if not self.pool.acquire(float(self._config.get("pool_timeout_seconds", 0.5))):
            raise UpstreamError("connection pool exhausted")
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            self.pool.release()

    def reconfigure(self, config: dict[str, Any]) -> None:
        self._config = config
        self.pool.resize(int(config.get("pool_size", 16)))

    def call(
        self, target: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> UpstreamResponse:
        config = self._config
        base = config.get("dependencies", {}).get(target)
        if base is None:
            raise UpstreamError(f"no dependency named {target!r} in config")
        timeout = float(config.get("upstream_timeout_seconds", 2.0))
        started = time.perf_counter()
        status: int | None = None
        error = "_OTHER"
        with self._tracer.start_as_current_span(
            f"{method} {target}{path.split('?')[0]}",
            kind=SpanKind.CLIENT,
            attributes={"peer.service": target, "http.method": method, "url.path": path},
        ) as span:
            try:
                with self.connection():
                    delay = self.extra_delay.get(target, 0.0)
                    if delay:
                        time.sleep(delay)
                    response = self._send(base, method, path, body, timeout)
                status = response.status
                span.set_attribute("http.status_code", response.status)
                if response.status >= 500:
                    span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status}"))
                return response
            except UpstreamError as exc:
                error = _error_type(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                raise
            finally:
                self._metrics.http.called(
                    target, method, urlsplit(base).port, status, error,
                    time.perf_counter() - started,
                )  # fmt: skip

    def _send(
        self, base: str, method: str, path: str, body: dict[str, Any] | None, timeout: float
    ) -> UpstreamResponse:
        parts = urlsplit(base)
        headers = {"Content-Type": "application/json"}
        propagate.inject(headers)
        payload = None if body is None else json.dumps(body).encode()
        conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )
        try:
            conn.request(method, path, body=payload, headers=headers)
            raw = conn.getresponse()
            data = raw.read()
        except (OSError, http.client.HTTPException) as exc:
            raise UpstreamError(f"{method} {base}{path}: {exc.__class__.__name__}: {exc}") from exc
        finally:
            conn.close()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"raw": data[:200].decode("utf-8", "replace")}
        if not isinstance(parsed, dict):
            parsed = {"value": parsed}
        return UpstreamResponse(raw.status, parsed)
