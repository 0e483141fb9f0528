"""The platform as the engine sees it: the ``PlatformView`` port's implementations.

The engine asks ``context(now)`` once per cycle. Each view turns successive
observations into change events (deploys, config pushes, scaling) with the
decision layer's ``ChangeTracker``; actions go through the execution layer.

- ``LocalPlatformView``: the local platform's ``GET /platform/status``
  (docs/local-platform-api.md); HTTP only, it never imports the testbed.
- ``ObservedPlatformView``: any ``ServiceSource`` (the execution layer's
  ``KubernetesNamespaceView``) merged with services from configuration
  (``platform.services``: criticality, dependencies, external providers). With no
  source it is the configured list of services alone, which is what a webhook platform
  offers: the receiver is the platform and there is nothing to ask.

A view that cannot read the platform keeps the last context it had, logs why
(once per distinct reason), and the cycle goes on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import httpx

from selfheal.core.errors import SelfHealError
from selfheal.core.platform import ChangeKind, PlanningContext, ServiceState
from selfheal.monitoring.changes import ChangeTracker

log = logging.getLogger(__name__)

DEFAULT_CRITICALITY = 0.5  # a service the platform says nothing about matters this much


class LocalPlatformView:
    """``PlanningContext`` from the platform's status, with change tracking."""

    def __init__(self, control_url: str, client: httpx.Client | None = None) -> None:
        self.control_url = control_url.rstrip("/")
        self._client = client or httpx.Client(timeout=3.0)
        self._tracker = ChangeTracker()
        self._last = PlanningContext()

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
                    criticality=_criticality(s.get("criticality")),
                    external=bool(s.get("external", False)),
                    role=str(s.get("role") or ""),
                )
            )
        self._tracker.observe(services, now)
        self._last = PlanningContext(
            services={s.name: s for s in services}, changes=self._tracker.events
        )
        return self._last

    def expect(self, service: str, kind: ChangeKind, until: float) -> None:
        self._tracker.expect(service, kind, until)

    def close(self) -> None:
        self._client.close()


def _criticality(value: object) -> float:
    """The platform's criticality of a service, clamped to 0..1; the default when absent or
    not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return DEFAULT_CRITICALITY
    return min(1.0, max(0.0, float(value)))


_OVERRIDABLE = frozenset({"criticality", "external", "role"})


class ServiceSource(Protocol):
    """Reads the services of a platform as they are now; raises ``TemporaryError`` or
    ``PermanentError`` when it cannot."""

    def services(self) -> tuple[ServiceState, ...]: ...

    def close(self) -> None: ...


class ObservedPlatformView:
    """``PlatformView`` over an optional ``ServiceSource`` and configured services.

    A configured service overrides what the source says about its criticality, role
    and external flag (those set in ``explicit[name]``; all three when ``explicit``
    does not name it) and its dependencies (when it lists any); one the source does
    not report is added as configured (e.g. an external provider next to the
    Deployments).
    """

    def __init__(
        self,
        source: ServiceSource | None = None,
        configured: Iterable[ServiceState] = (),
        explicit: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._source = source
        self._configured = {s.name: s for s in configured}
        self._explicit = dict(explicit or {})
        self._tracker = ChangeTracker()
        self._last = PlanningContext()
        self.last_error = ""  # why the last read failed; empty once it reads again
        self.failures_total = 0

    def context(self, now: float) -> PlanningContext:
        try:
            observed = self._source.services() if self._source is not None else ()
        except SelfHealError as exc:
            self.failures_total += 1
            if str(exc) != self.last_error:
                log.warning("platform view unavailable, keeping the last one: %s", exc)
            self.last_error = str(exc)
            return self._last
        if self.last_error:
            log.info("platform view readable again")
            self.last_error = ""
        services = self._merge(observed)
        self._tracker.observe(services, now)
        self._last = PlanningContext(
            services={s.name: s for s in services}, changes=self._tracker.events
        )
        return self._last

    def expect(self, service: str, kind: ChangeKind, until: float) -> None:
        self._tracker.expect(service, kind, until)

    def close(self) -> None:
        if self._source is not None:
            self._source.close()

    def _merge(self, observed: Iterable[ServiceState]) -> list[ServiceState]:
        out = []
        seen = set()
        for s in observed:
            seen.add(s.name)
            conf = self._configured.get(s.name)
            if conf is not None:
                given = self._explicit.get(s.name, _OVERRIDABLE)
                s = dataclasses.replace(
                    s,
                    criticality=conf.criticality if "criticality" in given else s.criticality,
                    dependencies=dict(conf.dependencies) or dict(s.dependencies),
                    external=conf.external if "external" in given else s.external,
                    role=conf.role if "role" in given and conf.role else s.role,
                )
            out.append(s)
        out += [c for name, c in self._configured.items() if name not in seen]
        return out
