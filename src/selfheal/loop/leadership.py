"""Who acts: the ``Leadership`` port's implementations.

The engine asks ``lead(now)`` at the start of every cycle. ``Alone`` always leads
(one replica, the default). ``LeaseLeadership`` renews or takes a lease in the
shared store (``selfheal.store.leases``): one replica leads and acts, the others
stand by — they keep collecting and detecting so their baselines are warm — and
the first to find the lease expired takes over (``loop.reconcile`` then adopts
the predecessor's open incidents and verifies its action in flight, never
repeating it). ``fence`` hands the store adapter the lease that fences every
intent, so a replica that lost the lead cannot start an action.
"""

from __future__ import annotations

import logging

from selfheal.store.leases import Lease, Leases

log = logging.getLogger(__name__)


class Alone:
    """A single replica: it always leads."""

    def lead(self, now: float) -> bool:
        return True

    def release(self, now: float) -> None:
        return None

    def wake_at(self) -> float | None:
        return None

    def fence(self) -> Lease | None:
        return None


class LeaseLeadership:
    """A lease in the store, renewed every cycle; ``ttl_seconds`` after its last renewal
    a standby may take it."""

    def __init__(self, leases: Leases, name: str, holder: str, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds}")
        self.leases = leases
        self.name = name
        self.holder = holder
        self.ttl_seconds = ttl_seconds
        self._lease: Lease | None = None
        self._other: Lease | None = None  # the lease another replica held when last asked

    def lead(self, now: float) -> bool:
        before = self._lease
        self._other = None
        try:
            self._lease = self.leases.acquire(self.name, self.holder, now, self.ttl_seconds)
            if self._lease is None:
                self._other = self.leases.current(self.name)
        except Exception as exc:  # the store is unreachable: never act without a lease
            if before is not None:
                log.warning("lease %s not renewed (%s): standing by", self.name, exc)
            self._lease = None
            return False
        if self._lease is not None and (before is None or before.epoch != self._lease.epoch):
            log.info("%s leads (lease %s, epoch %d)", self.holder, self.name, self._lease.epoch)
        elif self._lease is None and before is not None:
            log.warning("%s lost lease %s: standing by", self.holder, self.name)
        return self._lease is not None

    def release(self, now: float) -> None:
        if self._lease is not None:
            try:
                self.leases.release(self.name, self.holder, now)
            except Exception:  # shutting down: the lease expires on its own
                log.exception("releasing lease %s failed", self.name)
            self._lease = None

    def wake_at(self) -> float | None:
        """When the other replica's lease expires unless it renews: a standby tries then
        (the engine wakes early for it), so a dead leader is replaced about ``ttl``
        after its last renewal rather than up to a cycle later."""
        if self._lease is not None or self._other is None:
            return None
        return self._other.expires_at

    def fence(self) -> Lease | None:
        return self._lease
