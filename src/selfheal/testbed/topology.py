"""A shop's shape as values: its services (with a role each), their routes and
whom each route calls, replica counts, the business counters, the shoppers'
journeys, and what a fresh config looks like.

Read by the platform (to start the shop), the instance processes (to know their
routes and their dependencies' routes), the load generator (the journeys), the
fault manager and the scenario generator (which roles a fault may target), and
the demo's judge (the call graph). Pure data; no I/O: ``topology_file`` parses
the YAML format of ``docs/topology.md`` into these values.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

VERSIONS: tuple[str, ...] = ("v1", "v2")
"""``v1`` is good; ``v2`` carries a real bug in each role's code (see the apps)."""

COUNTERS: tuple[str, ...] = ("orders", "payments")
"""Business counters a service may emit: ``orders_total``/``orders_failed_total``
and ``payments_total``/``payments_failed_total``."""

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})


class Role(enum.StrEnum):
    """What a service is, which decides its behaviour and the faults it can suffer."""

    ENTRY = "entry"
    """Where shoppers come in; its routes are the journeys' steps. Calls others."""
    SERVICE = "service"
    """A plain service: each route calls its dependencies in order (a leaf computes)."""
    CACHE = "cache"
    """A key/value store persisted to a snapshot: its entries can be corrupted, cleared."""
    DATABASE = "database"
    """Rows behind a connection pool of its own, which a config push can exhaust."""
    EXTERNAL = "external"
    """A third-party provider; with a ``standby`` its callers can fail over to."""


STORE_ROLES = frozenset({Role.CACHE, Role.DATABASE})
"""Roles whose routes are fixed by the role; callers use them by method."""


@dataclass(frozen=True, slots=True)
class CallSpec:
    """One call a route makes: a service and, for a service with routes, which one."""

    service: str
    route: str | None = None


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route a service serves."""

    name: str
    method: str
    path: str
    calls: tuple[CallSpec, ...] = ()

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS


CACHE_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("get", "GET", "/kv/{key}"),
    RouteSpec("put", "PUT", "/kv/{key}"),
    RouteSpec("delete", "DELETE", "/kv/{key}"),
)
DATABASE_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("read", "GET", "/rows/{key}"),
    RouteSpec("write", "PUT", "/rows/{key}"),
)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service of the shop."""

    name: str
    role: Role
    replicas: int
    routes: tuple[RouteSpec, ...]
    criticality: float | None = None
    counters: tuple[str, ...] = ()
    standby: str | None = None
    """For an external provider: the service that can stand in for it."""
    config: dict[str, Any] = field(default_factory=dict)
    """Overrides of the first config revision's keys."""

    @property
    def external(self) -> bool:
        return self.role == Role.EXTERNAL

    @property
    def dependencies(self) -> tuple[str, ...]:
        """Every service its routes call, in the order of first use."""
        seen: dict[str, None] = {}
        for route in self.routes:
            for call in route.calls:
                seen.setdefault(call.service, None)
        return tuple(seen)

    @property
    def has_pool(self) -> bool:
        """Whether requests hold a pool connection (callers, and databases' own pool)."""
        return bool(self.dependencies) or self.role == Role.DATABASE

    def route(self, name: str | None) -> RouteSpec:
        """The named route, or the first (the main route) for ``None``."""
        if name is None:
            return self.routes[0]
        for r in self.routes:
            if r.name == name:
                return r
        raise KeyError(f"{self.name} has no route {name!r}")


@dataclass(frozen=True, slots=True)
class JourneySpec:
    """A shopper's journey: entry routes taken in order, and its share of traffic."""

    name: str
    weight: float
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Topology:
    """A whole shop. Build it with ``topology_file.parse_topology`` (it validates)."""

    name: str
    services: tuple[ServiceSpec, ...]
    journeys: tuple[JourneySpec, ...]
    description: str = ""
    metrics: str = "native"
    """The metric convention its instances emit served requests and calls under:
    ``native`` or ``opentelemetry`` (``telemetry.py``)."""

    def __iter__(self) -> Iterator[ServiceSpec]:
        return iter(self.services)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    def service(self, name: str) -> ServiceSpec:
        """The spec of service ``name``; ``KeyError`` if there is none."""
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def entry(self) -> ServiceSpec:
        return next(s for s in self.services if s.role == Role.ENTRY)

    def callers(self, name: str) -> frozenset[str]:
        """Services that call ``name`` directly, or call a provider it stands in for."""
        stood_for = {s.name for s in self.services if s.standby == name}
        return frozenset(
            s.name
            for s in self.services
            if name in s.dependencies or stood_for & set(s.dependencies)
        )

    def above(self, name: str) -> frozenset[str]:
        """``name`` and every service whose requests may reach it: where its symptoms show."""
        reached = {name}
        todo = [name]
        while todo:
            for caller in self.callers(todo.pop()):
                if caller not in reached:
                    reached.add(caller)
                    todo.append(caller)
        return frozenset(reached)

    def below(self, name: str, route: str | None = None) -> frozenset[str]:
        """``name`` and every service a request to it (one route, or any) may reach,
        standbys of the providers reached included."""
        start = self.service(name)
        todo = [c for r in start.routes if route in (None, r.name) for c in r.calls]
        reached = {name}
        while todo:
            call = todo.pop()
            spec = self.service(call.service)
            if spec.standby:
                reached.add(spec.standby)
            if call.service in reached:
                continue
            reached.add(call.service)
            todo.extend(c for r in spec.routes if call.route in (None, r.name) for c in r.calls)
        return frozenset(reached)

    def journey_reach(self, journey: JourneySpec) -> frozenset[str]:
        """Every service a journey's steps may reach."""
        entry = self.entry.name
        out: set[str] = set()
        for step in journey.steps:
            out |= self.below(entry, step)
        return frozenset(out)

    def journeys_through(self, name: str) -> tuple[str, ...]:
        """Names of the journeys that may reach service ``name``."""
        return tuple(j.name for j in self.journeys if name in self.journey_reach(j))

    @property
    def payment_stages(self) -> frozenset[str]:
        """The services at or below a service that emits the payments counters."""
        out: set[str] = set()
        for s in self.services:
            if "payments" in s.counters:
                out |= self.below(s.name)
        return frozenset(out)

    def to_json(self) -> dict[str, Any]:
        """A plain form for the instance processes (``from_json`` reads it back)."""
        return {
            "name": self.name,
            "description": self.description,
            "metrics": self.metrics,
            "services": [
                {
                    "name": s.name,
                    "role": s.role.value,
                    "replicas": s.replicas,
                    "criticality": s.criticality,
                    "counters": list(s.counters),
                    "standby": s.standby,
                    "config": s.config,
                    "routes": [
                        {
                            "name": r.name,
                            "method": r.method,
                            "path": r.path,
                            "calls": [[c.service, c.route] for c in r.calls],
                        }
                        for r in s.routes
                    ],
                }
                for s in self.services
            ],
            "journeys": [
                {"name": j.name, "weight": j.weight, "steps": list(j.steps)} for j in self.journeys
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Topology:
        return cls(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            metrics=str(data.get("metrics", "native")),
            services=tuple(
                ServiceSpec(
                    name=s["name"],
                    role=Role(s["role"]),
                    replicas=int(s["replicas"]),
                    criticality=s.get("criticality"),
                    counters=tuple(s.get("counters", ())),
                    standby=s.get("standby"),
                    config=dict(s.get("config") or {}),
                    routes=tuple(
                        RouteSpec(
                            r["name"],
                            r["method"],
                            r["path"],
                            tuple(CallSpec(c[0], c[1]) for c in r["calls"]),
                        )
                        for r in s["routes"]
                    ),
                )
                for s in data["services"]
            ),
            journeys=tuple(
                JourneySpec(j["name"], float(j["weight"]), tuple(j["steps"]))
                for j in data["journeys"]
            ),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


def default_config(service: ServiceSpec, lb_urls: dict[str, str]) -> dict[str, Any]:
    """The first config revision of ``service``; ``lb_urls`` maps service → LB URL."""
    config: dict[str, Any] = {
        "dependencies": {dep: lb_urls[dep] for dep in service.dependencies},
        "upstream_timeout_seconds": 2.0,
        "pool_size": 16,
        "pool_timeout_seconds": 0.5,
        "features": {"recommendations": True},
    }
    if service.external:
        config["processing_ms"] = 15
    if service.role == Role.CACHE:
        config["snapshot_interval_seconds"] = 0.5
    config.update(service.config)
    return config
