"""What an instance serves: one app per role, built from the topology.

The base here holds the route table, the calls to dependencies and the error
conventions; the roles' behaviour lives in ``service_app`` (entry and plain
services), ``cache_app``, ``database_app`` and ``external_app``. No app knows
a service by name: a service is what its role and its routes in the topology
make it.

``v1`` is correct. ``v2`` of every role ships a real bug in its code (not a flag
that fails on purpose): a renamed field, a key of the wrong type, a missing
request field... so a ``bad_release`` is found the way a real one is, and only
a rollback fixes it.

Errors answer ``{"error": message, "suspects": [...], ...}``: ``suspects`` names
the services that may have caused the failure (the one that failed on its own,
or a caller together with the callee it got no answer or bad data from); a
caller passes a callee's suspects on. The load generator and the demo's judge
read it to tell overlapping faults apart; the product never does.

Runs inside an instance process (``instance.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selfheal.testbed.telemetry import JsonLog, Metrics
from selfheal.testbed.topology import Role, RouteSpec, ServiceSpec, Topology
from selfheal.testbed.upstream import Upstream, UpstreamError, UpstreamResponse


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> str | None:
        value = self.params.get("user") or self.body.get("user") or self.query.get("user")
        return str(value) if value else None


class HttpError(Exception):
    """Answer the request with ``status`` and ``{"error": message, **extra}``."""

    def __init__(
        self, status: int, message: str, suspects: tuple[str, ...] = (), **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.suspects = suspects
        self.extra = extra


Handler = Callable[[Request], tuple[int, dict[str, Any]]]


@dataclass(slots=True)
class AppContext:
    """What an app may use: its spec, the topology, live config, dependencies, telemetry."""

    spec: ServiceSpec
    topology: Topology
    version: str
    config: dict[str, Any]
    upstream: Upstream
    metrics: Metrics
    log: JsonLog
    data_dir: str

    @property
    def service(self) -> str:
        return self.spec.name


class App:
    """Base: a route table of ``(method, pattern, template, handler)``."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def route(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
        self.routes.append((method, pattern, template, handler))

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        for m, pattern, template, handler in self.routes:
            found = pattern.match(path)
            if found and m == method:
                return template, handler, found.groupdict()
        return None

    @property
    def v2(self) -> bool:
        return self.ctx.version == "v2"

    def call(
        self, target: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> UpstreamResponse:
        """Call a dependency; no answer, a 5xx or a refusal (4xx) becomes a 502."""
        me = self.ctx.service
        try:
            response = self.ctx.upstream.call(target, method, path, body)
        except UpstreamError as exc:
            raise HttpError(
                502, f"{target} unavailable: {exc}", (me, target), failed_stage=target
            ) from exc
        if response.status >= 500:
            raise HttpError(
                502,
                f"{target} failed with HTTP {response.status}: {response.body.get('error', '')}",
                tuple(response.body.get("suspects") or (target,)),
                failed_stage=target,
            )
        if response.status >= 400:
            raise HttpError(
                502,
                f"{target} refused the request: {response.body.get('error', '')}",
                (me, target),
                failed_stage=target,
            )
        return response

    def close(self) -> None:
        """Release background work (snapshots) on shutdown."""


def serve_routes(
    app: App,
    routes: tuple[RouteSpec, ...],
    handle: Callable[[RouteSpec, Request], tuple[int, dict[str, Any]]],
) -> None:
    """Register ``handle(route, request)`` for each of ``routes``."""
    for spec in routes:
        app.route(spec.method, spec.path, functools.partial(handle, spec))


def build_app(ctx: AppContext) -> App:
    """The app of the service's role."""
    from selfheal.testbed.cache_app import Cache
    from selfheal.testbed.database_app import Database
    from selfheal.testbed.external_app import External
    from selfheal.testbed.service_app import Service

    kinds: dict[Role, type[App]] = {
        Role.ENTRY: Service,
        Role.SERVICE: Service,
        Role.CACHE: Cache,
        Role.DATABASE: Database,
        Role.EXTERNAL: External,
    }
    return kinds[ctx.spec.role](ctx)


PRODUCTS: dict[int, float] = {i: round(5.0 + 3.5 * i, 2) for i in range(1, 21)}
"""Product id → price: what shoppers pick from, what rows and amounts are about."""
