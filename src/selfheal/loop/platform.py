"""The local platform, seen and driven over its HTTP API (docs/local-platform-api.md).

``LocalPlatformView`` gives the engine its ``PlanningContext`` each cycle: it
reads ``GET /platform/status`` and turns successive observations into change
events (deploys, config pushes, scaling) with the decision layer's
``ChangeTracker``. (Actions go through the execution layer's ``LocalExecutor``.)
It speaks HTTP only; it never imports the testbed.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from selfheal.decision.context import ChangeTracker, PlanningContext, ServiceState

log = logging.getLogger(__name__)

# How much a service matters to revenue, for risk (0..1). Unknown services: 0.5.
CRITICALITY = {"checkout": 0.9, "payment": 0.9, "frontend": 0.8, "cart": 0.7}


class LocalPlatformView:
    """``PlanningContext`` from the platform's status, with change tracking."""

    def __init__(self, control_url: str, client: httpx.Client | None = None) -> None:
        self.control_url = control_url.rstrip("/")
        self._client = client or httpx.Client(timeout=3.0)
        self._tracker = ChangeTracker()
        self._last = PlanningContext()
        self._external: frozenset[str] = frozenset()

    def status(self) -> dict[str, Any]:
        response = self._client.get(f"{self.control_url}/platform/status")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def context(self, now: float) -> PlanningContext:
        try:
            data = self.status()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("platform status unavailable: %s", exc)
            return self._last
        services = []
        self._external = frozenset(s["name"] for s in data.get("services", []) if s.get("external"))
        for s in data.get("services", []):
            instances = tuple(i["id"] for i in s.get("instances", []))
            unready = frozenset(
                i["id"]
                for i in s.get("instances", [])
                if not i.get("ready", False) or i.get("drained", False)
            )
            services.append(
                ServiceState(
                    name=s["name"],
                    instances=instances,
                    unready=unready,
                    version=str(s.get("version", "")),
                    config_revision=int(s.get("config_revision", 0)),
                    dependencies=dict(s.get("dependencies") or {}),
                    criticality=CRITICALITY.get(s["name"], 0.5),
                )
            )
        self._tracker.observe(services, now)
        self._last = PlanningContext(
            services={s.name: s for s in services}, changes=self._tracker.events
        )
        return self._last

    def external(self) -> frozenset[str]:
        return self._external

    def close(self) -> None:
        self._client.close()
