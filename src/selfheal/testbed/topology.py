"""The shop's shape: which services exist, whom each calls, how many replicas
run by default and what a fresh config looks like.

Read by the platform (to start the shop) and by the instance processes (to know
their routes' dependencies). Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSIONS: tuple[str, ...] = ("v1", "v2")
"""``v1`` is good; ``v2`` carries a real bug in each service's code (see ``apps``)."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service of the shop."""

    name: str
    dependencies: tuple[str, ...]
    default_replicas: int
    external: bool = False
    standby: str | None = None
    """For an external dependency: the service that can stand in for it."""
    role: str = ""
    """What the platform tells the loop the service is: entry, cache, database, or plain."""
    criticality: float = 0.5
    """How much the service matters to revenue (0..1), as the platform reports it."""


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("frontend", ("catalog", "cart", "checkout"), 2, role="entry", criticality=0.8),
    ServiceSpec("catalog", ("inventory",), 2),
    ServiceSpec("cart", ("cache",), 2, criticality=0.7),
    ServiceSpec("checkout", ("cart", "payment", "inventory", "shipping"), 2, criticality=0.9),
    ServiceSpec("payment", ("bank",), 1, criticality=0.9),
    ServiceSpec("inventory", (), 1),
    ServiceSpec("shipping", (), 1),
    ServiceSpec("cache", (), 1, role="cache"),
    ServiceSpec("bank", (), 1, external=True, standby="bank-b"),
    ServiceSpec("bank-b", (), 1, external=True, standby="bank"),
)

SERVICE_NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)


def spec(name: str) -> ServiceSpec:
    """The spec of service ``name``; ``KeyError`` if there is none."""
    for s in SERVICES:
        if s.name == name:
            return s
    raise KeyError(name)


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
    if service.name == "cache":
        config["snapshot_interval_seconds"] = 0.5
    return config
