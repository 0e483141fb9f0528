"""Change events from successive observations of the platform.

The loop's platform views (``selfheal.loop.platform``) call
``ChangeTracker.observe`` with the services as the platform reports them each
cycle; a version, configuration revision or replica count that differs from the
previous observation becomes a ``ChangeEvent`` (deploy, config push, scale), for
platforms that do not report their changes with times. The loop labels the
changes its own actions cause (``expect``), so they are not mistaken for the
cause of the next incident. Pure logic; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from selfheal.core.platform import ChangeEvent, ChangeKind, ServiceState


class ChangeTracker:
    """Derives change events from successive observations of the platform.

    >>> t = ChangeTracker()
    >>> t.observe([ServiceState("orders", version="v1")], now=10.0)
    ()
    >>> [e.kind.value for e in t.observe([ServiceState("orders", version="v2")], now=20.0)]
    ['deploy']
    """

    def __init__(self, keep_seconds: float = 3600.0, settle_seconds: float = 10.0) -> None:
        """``settle_seconds``: how long after the first change an expected action caused,
        further changes of the same kind are still its own (a rolling update shows its
        version change over a few observations); after that, a change is someone else's
        even within the expected span (a push right after the loop's own restore)."""
        self._keep_seconds = keep_seconds
        self._settle_seconds = settle_seconds
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
                        until = self._expected.get((s.name, kind), float("-inf"))
                        own = until >= now
                        if own:  # seen: the rest of the span is for its stragglers only
                            self._expected[(s.name, kind)] = min(until, now + self._settle_seconds)
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
