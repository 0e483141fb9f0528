"""Leases: one replica of the loop leads, the others stand by.

Several ``selfheal run`` replicas share one store (PostgreSQL). Each cycle every
replica calls :meth:`Leases.acquire` on the same lease name: the holder renews it,
and once it stops renewing (crashed, partitioned, stopped) and the lease expired,
the first standby to ask takes it, with the lease's ``epoch`` one higher. The
epoch is a fencing token (Kleppmann, "How to do distributed locking", 2016;
Chubby's sequencers): a write that must only come from the leader — the intent
to act — is checked against the lease in the same transaction
(:meth:`Leases.holds`), so a paused old leader that wakes up after its successor
took over cannot start an action.

Times are the replicas' clocks (seconds since the epoch): keep them in sync (NTP)
to well under the lease's time to live. The lease row is locked while it changes
(``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two
standbys never both take it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from selfheal.core.errors import LeadershipLost
from selfheal.store.db import Database, StoreError
from selfheal.store.schema import LeaseRow


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as held: ``holder`` leads until ``expires_at`` unless it renews."""

    name: str
    holder: str
    epoch: int
    expires_at: float


class LeaseLost(StoreError, LeadershipLost):
    """A fenced write came from a replica that no longer holds the lease."""


def _locked_row(session: Session, name: str) -> LeaseRow | None:
    """The lease row, locked until the transaction ends (``SELECT ... FOR UPDATE``)."""
    return session.execute(
        select(LeaseRow).where(LeaseRow.name == name).with_for_update()
    ).scalar_one_or_none()


def _lease(row: LeaseRow) -> Lease:
    return Lease(row.name, row.holder, row.epoch, row.expires_at)


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def acquire(self, name: str, holder: str, now: float, ttl_seconds: float) -> Lease | None:
        """Renew the lease if ``holder`` has it and it has not expired; take it if it is
        free or expired (epoch + 1, whoever had it); else ``None`` (someone else leads)."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds}")
        try:
            with self.db.write_session() as session:
                row = _locked_row(session, name)
                if row is None:
                    row = LeaseRow(
                        name=name, holder=holder, epoch=1, expires_at=now + ttl_seconds,
                        renewed_at=now,
                    )  # fmt: skip
                    session.add(row)
                    session.flush()
                    return _lease(row)
                if row.holder != holder and row.expires_at >= now:
                    return None
                if row.holder != holder or row.expires_at < now:
                    # taken, not renewed: a new epoch, even for a holder of the same name
                    # (a restarted replica is not its predecessor)
                    row.holder = holder
                    row.epoch += 1
                row.expires_at = now + ttl_seconds
                row.renewed_at = now
                return _lease(row)
        except IntegrityError:  # another replica created the row between our read and insert
            return None

    def advance(
        self, name: str, holder: str, epoch: int, expires_at: float, now: float
    ) -> Lease | None:
        """Mirror a lock held outside the store (a Kubernetes Lease) into the lease row,
        so that intents are fenced by it: the row becomes ``(holder, epoch, expires_at)``
        when ``epoch`` is newer than the row's, or is the row's own epoch under the same
        holder (a renewal); else ``None`` and nothing changes: a holder of a newer epoch
        (or another holder of this one) has the row, so this one no longer leads.

        The lock outside hands out ``epoch`` (the Lease's ``leaseTransitions``), one
        higher at each change of holder: two holders never share an epoch, and the row's
        epoch never goes back."""
        try:
            with self.db.write_session() as session:
                row = _locked_row(session, name)
                if row is None:
                    row = LeaseRow(
                        name=name, holder=holder, epoch=epoch, expires_at=expires_at,
                        renewed_at=now,
                    )  # fmt: skip
                    session.add(row)
                    session.flush()
                    return _lease(row)
                if epoch < row.epoch or (epoch == row.epoch and holder != row.holder):
                    return None
                row.holder = holder
                row.epoch = epoch
                row.expires_at = expires_at
                row.renewed_at = now
                return _lease(row)
        except IntegrityError:  # another replica created the row between our read and insert
            return None

    def release(self, name: str, holder: str, now: float) -> bool:
        """Let the lease go at once (a clean shutdown), if ``holder`` has it."""
        with self.db.write_session() as session:
            row = _locked_row(session, name)
            if row is None or row.holder != holder:
                return False
            row.expires_at = min(row.expires_at, now - 1e-3)
            return True

    def current(self, name: str) -> Lease | None:
        with self.db.session() as session:
            row = session.get(LeaseRow, name)
            return None if row is None else _lease(row)

    @staticmethod
    def holds(session: Session, lease: Lease, now: float) -> None:
        """Inside a write transaction: raise ``LeaseLost`` unless ``lease`` still holds
        (same holder and epoch, not expired at ``now``). Locks the lease row until the
        transaction ends, so no successor can take it meanwhile."""
        row = _locked_row(session, lease.name)
        if row is None or row.holder != lease.holder or row.epoch != lease.epoch:
            taken = "nobody" if row is None else f"{row.holder} (epoch {row.epoch})"
            raise LeaseLost(f"lease {lease.name!r} is held by {taken}, not {lease.holder}")
        if row.expires_at < now:
            raise LeaseLost(f"lease {lease.name!r} of {lease.holder} expired at {row.expires_at}")
