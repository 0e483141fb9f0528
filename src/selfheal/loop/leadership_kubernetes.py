"""A Kubernetes Lease as the high-availability lock (``ha.lock: kubernetes``).

The replicas lead through a ``coordination.k8s.io/v1`` Lease named ``ha.lease_name`` in
the namespace of ``executor.kubernetes``, read and written with the official client
(``CoordinationV1Api``; ``execution.kubernetes.load_coordination_api`` builds it from the
executor's credentials). Each ``lead(now)``:

- reads the Lease; creates it when there is none (404), holding it;
- stands by while another holder's ``renewTime + leaseDurationSeconds`` is in the future,
  remembering that moment for ``wake_at``;
- else renews it (its own, unexpired: ``renewTime`` moves) or takes it (free, expired, or
  released: ``holderIdentity`` is this replica, ``acquireTime`` now, ``leaseTransitions``
  one higher) with ``replace_namespaced_lease`` carrying the ``resourceVersion`` it read,
  so of two replicas writing the same version the API server accepts one and answers the
  other 409 Conflict: that one stands by.

``leaseDurationSeconds`` is an integer in the API: the configured time to live rounded up.
Any failed call (no answer, a timeout, a 5xx, a refused connection) means not leading — a
replica never acts without the lock — and is logged once per change, never raised.
``release`` (a clean shutdown) clears ``holderIdentity`` and dates the renewal a lease
duration back, if this replica holds the Lease, so a standby takes over at once.

Fencing. A replica that was paused (a long GC, a partition) may still believe it leads
after its Lease expired and a successor took it, and Kubernetes cannot make an intent's
write in the store atomic with the Lease. So the Lease hands out fencing tokens
(Kleppmann, "How to do distributed locking", 2016): ``leaseTransitions`` grows by one at
every change of holder and is the epoch. Having taken or renewed the Lease, a replica
advances the store's lease row of the same name to (itself, that epoch, the Lease's
expiry) — only if the epoch is not older than the row's (``Leases.advance``, one locked
write transaction) — and leads only once that succeeded. Intents are then fenced exactly
as with the store's own lock (``Leases.holds`` inside the intent's transaction: same
holder, same epoch, not expired): a stale leader's intent is refused once a successor
advanced the row to a higher epoch, and before that it is refused too, because a
successor only takes the Lease after it expired and the row expires with it. Times are
the replicas' clocks, as for the store's lock: keep them in sync (NTP) to well under the
lease's time to live. A Lease deleted and created again starts its transitions above the
row's epoch, so the epoch never goes back.

Times. ``acquireTime`` and ``renewTime`` are ``MicroTime``: the API server parses them with
exactly six fractional digits. The client serializes a datetime with ``isoformat``, which
leaves the fraction out when it is zero (a whole second) and the server would answer 400;
such a time is written one microsecond later (``lease_time``).

This module does not import the ``kubernetes`` package (only the executor does): it
calls the API object it is given, with plain JSON-shaped bodies, and reads an error's HTTP
``status``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from selfheal.store.leases import Lease, Leases

log = logging.getLogger(__name__)

ONE_MICROSECOND = timedelta(microseconds=1)


def lease_time(when: float | datetime) -> datetime:
    """``when`` (seconds since the epoch, or a datetime) as a Lease's time: UTC, and never
    on a whole second, so that the client's ``isoformat`` writes the six fractional digits
    a ``MicroTime`` needs (a whole second is written one microsecond later)."""
    if isinstance(when, datetime):
        stamp = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).astimezone(UTC)
    else:
        stamp = datetime.fromtimestamp(when, tz=UTC)
    return stamp + ONE_MICROSECOND if stamp.microsecond == 0 else stamp


def _seconds(value: Any) -> float | None:
    """A Lease's time (the client's datetime; a string from a looser client) in seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def _status(exc: Exception) -> int:
    """The HTTP status of a failed API call (the client's ``ApiException``); 0 without one."""
    try:
        return int(getattr(exc, "status", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _reason(exc: Exception) -> str:
    status = _status(exc)
    if status:
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:200]


class KubernetesLeaseLeadership:
    """The ``Leadership`` port over a Kubernetes Lease, with the store's lease row as the
    fence of intents (see the module's docstring)."""

    def __init__(
        self,
        coordination: Any,
        leases: Leases,
        namespace: str,
        name: str,
        holder: str,
        ttl_seconds: float,
        *,
        timeout_seconds: float = 5.0,
    ) -> None:
        """``coordination``: a ``CoordinationV1Api``; ``leases``: the shared store's leases,
        where the fence lives; ``ttl_seconds``: rounded up to whole seconds, the Lease's
        ``leaseDurationSeconds``; ``timeout_seconds`` bounds each API call."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds}")
        self.coordination = coordination
        # the client's own JSON form of the objects it returned (a read Lease's metadata)
        self._json: Callable[[Any], Any] = coordination.api_client.sanitize_for_serialization
        self.leases = leases
        self.namespace = namespace
        self.name = name
        self.holder = holder
        self.duration = math.ceil(ttl_seconds)
        self.timeout = timeout_seconds
        self._lease: Lease | None = None  # the store's lease row as advanced: the fence
        self._other: tuple[str, float] | None = None  # (holder, expiry) of the Lease seen
        self._said = ""  # the state last logged, so each change is logged once

    # -- the Leadership port ----------------------------------------------------------

    def lead(self, now: float) -> bool:
        before = self._lease
        self._other = None
        try:
            self._lease = self._lead(now)
        except Exception as exc:  # the API server or the store unreachable: never act
            self._lease = None
            self._say(
                "unreachable",
                logging.WARNING,
                "%s: Kubernetes Lease %s/%s not %s (%s): standing by",
                self.holder,
                self.namespace,
                self.name,
                "renewed" if before is not None else "read",
                _reason(exc),
            )
            return False
        if self._lease is not None:
            self._say(
                f"leads {self._lease.epoch}",
                logging.INFO,
                "%s leads (Kubernetes Lease %s/%s, epoch %d)",
                self.holder,
                self.namespace,
                self.name,
                self._lease.epoch,
            )
        elif before is not None:
            self._say(
                "lost", logging.WARNING, "%s lost Lease %s: standing by", self.holder, self.name
            )
        elif self._other is not None:
            self._say(
                f"stands by {self._other[0]}",
                logging.INFO,
                "%s stands by: %s holds Lease %s",
                self.holder,
                self._other[0],
                self.name,
            )
        return self._lease is not None

    def release(self, now: float) -> None:
        """Let the Lease go at once if this replica holds it (a clean shutdown); its
        store row too, so no intent of this replica is written any more."""
        self._lease = None
        try:
            self.leases.release(self.name, self.holder, now)
        except Exception:  # shutting down: the row expires on its own
            log.exception("releasing the lease row %s failed", self.name)
        try:
            lease = self._read()
            if lease is None or getattr(lease.spec, "holder_identity", None) != self.holder:
                return
            spec = lease.spec
            self._replace(
                lease,
                self._spec(
                    None,
                    int(spec.lease_transitions or 0),
                    spec.acquire_time,
                    now - self.duration,  # expired now, whoever reads it
                ),
            )
        except Exception as exc:  # shutting down: the Lease expires on its own
            log.warning("releasing Kubernetes Lease %s failed (%s)", self.name, _reason(exc))

    def wake_at(self) -> float | None:
        """When the other holder's Lease expires unless renewed: a standby tries then."""
        if self._lease is not None or self._other is None:
            return None
        return self._other[1]

    def fence(self) -> Lease | None:
        return self._lease

    # -- one try ----------------------------------------------------------------------

    def _lead(self, now: float) -> Lease | None:
        lease = self._read()
        if lease is None:
            return self._create(now)
        spec = lease.spec
        holder = getattr(spec, "holder_identity", None) or None
        renewed = _seconds(getattr(spec, "renew_time", None))
        duration = getattr(spec, "lease_duration_seconds", None)
        expiry = None if renewed is None or duration is None else renewed + float(duration)
        live = expiry is not None and expiry > now
        if holder is not None and holder != self.holder and live:
            assert expiry is not None
            self._other = (holder, expiry)
            return None
        transitions = int(getattr(spec, "lease_transitions", None) or 0)
        if holder == self.holder and live:  # its own: renew
            epoch, acquired = transitions, getattr(spec, "acquire_time", None) or now
        else:  # free, expired or released: take it, a new epoch
            epoch, acquired = max(transitions, self._row_epoch()) + 1, now
        written = self._replace(lease, self._spec(self.holder, epoch, acquired, now))
        if written is None:  # another replica wrote it since we read it: that one won
            return None
        return self._fence(epoch, now)

    def _create(self, now: float) -> Lease | None:
        epoch = self._row_epoch() + 1  # 0 on a fresh store; above any earlier holder's
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(self.holder, epoch, now, now),
        }
        created = self._call(
            (409,), self.coordination.create_namespaced_lease, self.namespace, body
        )
        if created is None:  # another replica created it first
            return None
        return self._fence(epoch, now)

    def _fence(self, epoch: int, now: float) -> Lease | None:
        """Advance the store's lease row to this epoch; ``None`` when a newer one has it."""
        fence = self.leases.advance(self.name, self.holder, epoch, now + self.duration, now)
        if fence is None:
            self._say(
                f"overtaken {epoch}",
                logging.WARNING,
                "%s holds Kubernetes Lease %s at epoch %d but the store's lease row is newer: "
                "standing by",
                self.holder,
                self.name,
                epoch,
            )
        return fence

    def _row_epoch(self) -> int:
        row = self.leases.current(self.name)
        return -1 if row is None else row.epoch

    def _spec(
        self, holder: str | None, epoch: int, acquired: float | datetime | None, renewed: float
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "leaseDurationSeconds": self.duration,
            "leaseTransitions": epoch,
            "renewTime": lease_time(renewed),
        }
        if holder is not None:
            spec["holderIdentity"] = holder
        if acquired is not None:
            spec["acquireTime"] = lease_time(acquired)
        return spec

    def _read(self) -> Any | None:
        """The Lease, or ``None`` when there is none."""
        return self._call(
            (404,), self.coordination.read_namespaced_lease, self.name, self.namespace
        )

    def _replace(self, lease: Any, spec: dict[str, Any]) -> Any | None:
        """Write ``lease`` (as read) back with ``spec``, at the ``resourceVersion`` it was
        read at, its metadata (labels, annotations, owners) kept; ``None`` when another
        replica wrote (or deleted) it since."""
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": self._json(lease.metadata),
            "spec": spec,
        }
        return self._call(
            (404, 409),
            self.coordination.replace_namespaced_lease,
            self.name,
            self.namespace,
            body,
        )

    def _call(self, missing: tuple[int, ...], call: Callable[..., Any], *args: Any) -> Any | None:
        """One API call, bounded by the timeout; ``None`` when it answers one of the
        ``missing`` statuses (404: no such Lease; 409: another replica wrote first)."""
        try:
            return call(*args, _request_timeout=self.timeout)
        except Exception as exc:
            if _status(exc) in missing:
                log.debug("Lease %s/%s: %s", self.namespace, self.name, _reason(exc))
                return None
            raise

    def _say(self, state: str, level: int, message: str, *args: Any) -> None:
        if state != self._said:
            self._said = state
            log.log(level, message, *args)
