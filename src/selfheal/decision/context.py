"""What the decision layer knows about the platform when it plans and guards.

The loop builds a ``PlanningContext`` each cycle (from the executor's view of
the platform, e.g. ``LocalExecutor.planning_context()``) and hands it to the
planner and the guards. It carries instance counts (for blast-radius limits),
service criticality (for risk), dependency wiring (for failover) and the
recent change events (deploys, config pushes) that let the planner tell a bad
release from a bad config from a leaking instance.

``ChangeTracker`` turns successive platform observations into change events
when the platform itself does not report them with times. Pure logic; no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class ChangeKind(enum.StrEnum):
    """What changed on a service."""

    DEPLOY = "deploy"  # a new version rolled out
    CONFIG = "config"  # a new configuration revision pushed
    SCALE = "scale"  # replica count changed


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change to one service at one time (seconds since the epoch)."""

    service: str
    kind: ChangeKind
    at: float
    before: str = ""  # e.g. previous version / revision
    after: str = ""  # e.g. new version / revision
    by_selfheal: bool = False  # made by the loop's own action (a restore, a failover)


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A service as the platform reports it."""

    name: str
    instances: tuple[str, ...] = ()
    unready: frozenset[str] = frozenset()  # instances not serving (down, unhealthy, drained)
    version: str = ""
    config_revision: int = 0
    dependencies: Mapping[str, str] = field(default_factory=dict)  # dep name -> current target
    criticality: float = 0.5  # 0 (nobody notices) .. 1 (revenue path)
    external: bool = False  # a provider outside the shop (e.g. a bank), with a standby

    @property
    def instances_total(self) -> int:
        return len(self.instances)

    @property
    def instances_ready(self) -> int:
        return len([i for i in self.instances if i not in self.unready])


@dataclass(frozen=True, slots=True)
class PlanningContext:
    """Everything the planner and the guards need besides the incident itself."""

    services: Mapping[str, ServiceState] = field(default_factory=dict)
    changes: tuple[ChangeEvent, ...] = ()

    def service(self, name: str) -> ServiceState | None:
        return self.services.get(name)

    def recent_changes(
        self,
        service: str,
        since: float,
        kind: ChangeKind | None = None,
        *,
        include_own: bool = False,
    ) -> tuple[ChangeEvent, ...]:
        """Changes to ``service`` at or after ``since``, newest first; the loop's own
        changes only when ``include_own``."""
        found = [
            c
            for c in self.changes
            if c.service == service
            and c.at >= since
            and (kind is None or c.kind == kind)
            and (include_own or not c.by_selfheal)
        ]
        return tuple(sorted(found, key=lambda c: c.at, reverse=True))

    def dependents_of(self, dependency: str) -> tuple[str, ...]:
        """Services that name ``dependency`` among their dependencies (sorted)."""
        return tuple(sorted(s.name for s in self.services.values() if dependency in s.dependencies))


class ChangeTracker:
    """Derives change events from successive observations of the platform.

    >>> t = ChangeTracker()
    >>> t.observe([ServiceState("cart", version="v1")], now=10.0)
    ()
    >>> [e.kind.value for e in t.observe([ServiceState("cart", version="v2")], now=20.0)]
    ['deploy']
    """

    def __init__(self, keep_seconds: float = 3600.0) -> None:
        self._keep_seconds = keep_seconds
        self._last: dict[str, ServiceState] = {}
        self._events: list[ChangeEvent] = []
        self._expected: dict[tuple[str, ChangeKind], float] = {}

    def expect(self, service: str, kind: ChangeKind, until: float) -> None:
        """The loop is about to change ``service`` itself (a config restore, a failover,
        a rollback, a scale): label such changes seen up to ``until`` as its own, so
        the planner does not mistake them for the cause of the next incident."""
        self._expected[(service, kind)] = until

    def observe(self, services: Iterable[ServiceState], now: float) -> tuple[ChangeEvent, ...]:
        """Record one observation; return the changes it revealed."""
        new: list[ChangeEvent] = []
        for s in services:
            prev = self._last.get(s.name)
            if prev is not None:
                for kind, before, after in (
                    (ChangeKind.DEPLOY, prev.version, s.version),
                    (ChangeKind.CONFIG, str(prev.config_revision), str(s.config_revision)),
                    (ChangeKind.SCALE, str(prev.instances_total), str(s.instances_total)),
                ):
                    if before != after:
                        own = self._expected.get((s.name, kind), float("-inf")) >= now
                        new.append(ChangeEvent(s.name, kind, now, before, after, own))
            self._last[s.name] = s
        self._events.extend(new)
        self._events = [e for e in self._events if e.at >= now - self._keep_seconds]
        return tuple(new)

    def record(self, event: ChangeEvent) -> None:
        """Add a change reported by someone else (e.g. a deploy hook)."""
        self._events.append(event)

    @property
    def events(self) -> tuple[ChangeEvent, ...]:
        return tuple(self._events)
