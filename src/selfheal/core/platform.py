"""What the platform looks like now: services, their instances, and recent changes.

Pure values, no I/O. The loop's platform view builds a ``PlanningContext`` each
cycle (from the local platform API, a Kubernetes namespace or configuration) and
hands it to whoever needs the platform's facts: the triage of causes (analysis),
the planner and the guards (decision). It carries instance counts (for
blast-radius limits), service criticality (for risk), dependency wiring (for
failover) and the recent change events (deploys, config pushes) that tell a bad
release from a bad config from a leaking instance.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from selfheal.core.types import ActionKind


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


# Roles a platform may give a service (``ServiceState.role``); the loop knows no service
# by name, only by role. Any other role, or none, is a plain service.
ROLE_ENTRY = "entry"  # where users' requests enter
ROLE_CACHE = "cache"  # serves cached entries that can go bad (clear it, do not restart it)
ROLE_DATABASE = "database"  # holds state; its callers keep connection pools to it


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
    external: bool = False  # a provider outside (a third party), maybe with a standby
    role: str = ""  # ROLE_ENTRY, ROLE_CACHE, ROLE_DATABASE, anything else, or "" (plain)

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

    def role(self, name: str) -> str:
        """The role the platform gives service ``name`` ("" when unknown or plain)."""
        state = self.services.get(name)
        return state.role if state is not None else ""

    def dependents_of(self, dependency: str) -> tuple[str, ...]:
        """Services that name ``dependency`` among their dependencies (sorted)."""
        return tuple(sorted(s.name for s in self.services.values() if dependency in s.dependencies))


#: The platform change each action kind makes (a failover rewrites the dependency config);
#: restarts, drains and cache clears change no version, configuration or replica count.
CHANGE_MADE_BY: Mapping[ActionKind, ChangeKind] = {
    ActionKind.UPDATE_CONFIGURATION: ChangeKind.CONFIG,
    ActionKind.FAILOVER: ChangeKind.CONFIG,
    ActionKind.ROLLBACK_DEPLOYMENT: ChangeKind.DEPLOY,
    ActionKind.SCALE_SERVICE: ChangeKind.SCALE,
}
