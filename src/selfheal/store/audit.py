"""Append-only audit trail with a hash chain: the loop's tamper-evident memory.

The loop appends one entry per step of every incident — signal, incident,
causes, decision (with its inputs and risk), approval, intent, action,
verification, rollback — and every pause / resume; ``selfheal audit verify``
calls :meth:`AuditLog.verify`. Nothing here updates or deletes an entry.

Each entry's hash is ``sha256`` over the canonical JSON of
``{"seq", "kind", "payload", "at", "prev_hash"}`` and ``prev_hash`` is the hash
of the entry before (64 zeros for the first): a hash chain in the manner of
Haber & Stornetta, "How to time-stamp a digital document" (J. Cryptology,
1991), and Schneier & Kelsey, "Secure audit logs to support computer
forensics" (ACM TISSEC, 1999). Editing, deleting, inserting or reordering any
entry breaks the chain at that entry; a head row keeps the last seq and hash so
that cutting off the tail is detected too. (Whoever can rewrite the whole
table and the head can forge a consistent chain; anchoring the head elsewhere
is the answer to that, not part of this module.)

Appends run in one write transaction (SQLite ``BEGIN IMMEDIATE``; on
PostgreSQL the head row is locked ``FOR UPDATE``, and ``seq`` is the primary
key), so two processes appending at once cannot fork the chain.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from selfheal.store.db import Database, StoreError
from selfheal.store.json_codec import canonical_json, loads, to_jsonable
from selfheal.store.schema import AuditHeadRow, AuditRow

GENESIS_HASH = "0" * 64

# The kinds the loop writes (any lower_snake_case kind is accepted).
SIGNAL = "signal"
INCIDENT = "incident"
CAUSES = "causes"
DECISION = "decision"
APPROVAL = "approval"
INTENT = "intent"
ACTION = "action"
VERIFICATION = "verification"
ROLLBACK = "rollback"
PAUSE = "pause"
RESUME = "resume"
KINDS = (
    SIGNAL, INCIDENT, CAUSES, DECISION, APPROVAL, INTENT, ACTION, VERIFICATION, ROLLBACK,
    PAUSE, RESUME,
)  # fmt: skip

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_HEAD_ID = 1
_APPEND_ATTEMPTS = 5


_HEAD = cast(Table, AuditHeadRow.__table__)
_LOG = cast(Table, AuditRow.__table__)
_SELECT_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID).with_for_update()
_SELECT_LAST = select(_LOG.c.seq, _LOG.c.hash).order_by(_LOG.c.seq.desc()).limit(1)
_INSERT_HEAD = insert(_HEAD)
_INSERT_ENTRY = insert(_LOG)
_UPDATE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == _HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def entry_hash(seq: int, kind: str, payload: Any, at: float, prev_hash: str) -> str:
    """The chain hash of one entry (payload as plain JSON)."""
    document = {"seq": seq, "kind": kind, "payload": payload, "at": at, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    kind: str
    payload: Mapping[str, Any]
    at: float
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    checked: int
    first_bad_seq: int | None
    message: str


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(row.seq, row.kind, loads(row.payload), row.at, row.prev_hash, row.hash)


class AuditLog:
    """The audit trail over one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, kind: str, payload: Mapping[str, Any], at: float) -> AuditEntry:
        """Append one entry and return it; ValueError for a bad kind or payload."""
        if not _KIND.match(kind):
            raise ValueError(f"audit kind must be lower_snake_case, got {kind!r}")
        plain = to_jsonable(payload)
        if not isinstance(plain, dict):
            raise ValueError(f"audit payload must be a mapping, got {type(payload).__name__}")
        text = canonical_json(plain)
        plain = loads(text)  # hash exactly what a reader will get back
        at = float(at)
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                return self._append_once(kind, plain, text, at)
            except (IntegrityError, OperationalError) as exc:
                # another writer took this seq (PostgreSQL without the head row yet)
                if attempt == _APPEND_ATTEMPTS - 1:
                    raise StoreError(f"could not append to the audit trail: {exc}") from exc
        raise AssertionError("unreachable")

    def _append_once(self, kind: str, plain: Any, text: str, at: float) -> AuditEntry:
        # Prebuilt Core statements on the session's connection, not the ORM unit of
        # work: this runs for every loop step, and statement building was its main cost.
        with self.db.write_session() as session:
            conn = session.connection()
            head = conn.execute(_SELECT_HEAD).first()
            if head is None:
                last = conn.execute(_SELECT_LAST).first()
                last_seq, last_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
                conn.execute(_INSERT_HEAD, {"id": _HEAD_ID, "seq": last_seq, "hash": last_hash})
            else:
                last_seq, last_hash = head[0], head[1]
            seq = last_seq + 1
            digest = entry_hash(seq, kind, plain, at, last_hash)
            conn.execute(
                _INSERT_ENTRY,
                {"seq": seq, "kind": kind, "payload": text, "at": at,
                 "prev_hash": last_hash, "hash": digest},
            )  # fmt: skip
            conn.execute(_UPDATE_HEAD, {"new_seq": seq, "new_hash": digest})
            return AuditEntry(seq, kind, plain, at, last_hash, digest)

    # -- reading -----------------------------------------------------------------------
    def entries(
        self,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kind: str | None = None,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        query = select(AuditRow).where(AuditRow.seq > after_seq)
        if kind is not None:
            query = query.where(AuditRow.kind == kind)
        query = query.order_by(AuditRow.seq.desc() if newest_first else AuditRow.seq)
        if limit is not None:
            query = query.limit(limit)
        with self.db.session() as session:
            return [_entry(r) for r in session.execute(query).scalars()]

    def for_incident(self, incident_id: str, *, limit: int = 500) -> list[AuditEntry]:
        """The entries about one incident (payload ``"incident": incident_id``), oldest
        first, at most ``limit``. The stored payload is canonical JSON, so the pair is
        found as text in the database; the parsed payload is then checked exactly."""
        needle = canonical_json({"incident": incident_id})[1:-1]  # '"incident":"ID"'
        query = (
            select(AuditRow)
            .where(AuditRow.payload.contains(needle, autoescape=True))
            .order_by(AuditRow.seq)
        )
        found: list[AuditEntry] = []
        with self.db.session() as session:
            for row in session.execute(query).scalars():
                entry = _entry(row)
                if isinstance(entry.payload, dict) and entry.payload.get("incident") == incident_id:
                    found.append(entry)
                    if len(found) >= limit:
                        break
        return found

    def last(self) -> AuditEntry | None:
        found = self.entries(limit=1, newest_first=True)
        return found[0] if found else None

    def count(self) -> int:
        with self.db.session() as session:
            return int(session.execute(select(func.count()).select_from(AuditRow)).scalar_one())

    def _scan(self, batch: int = 1000) -> Iterator[AuditRow]:
        after = -1
        while True:
            with self.db.session() as session:
                rows = list(
                    session.execute(
                        select(AuditRow)
                        .where(AuditRow.seq > after)
                        .order_by(AuditRow.seq)
                        .limit(batch)
                    ).scalars()
                )
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].seq

    def verify(self) -> AuditVerification:
        """Recompute the chain; report the first entry that does not fit."""
        expected_seq, prev = 1, GENESIS_HASH
        checked = 0
        for row in self._scan():
            if row.seq != expected_seq:
                bad = min(row.seq, expected_seq)
                what = "missing (deleted)" if row.seq > expected_seq else "out of order"
                return AuditVerification(
                    False,
                    checked,
                    bad,
                    f"entry {bad} is {what}: found seq {row.seq} after {expected_seq - 1}",
                )
            if row.prev_hash != prev:
                return AuditVerification(
                    False, checked, row.seq,
                    f"entry {row.seq} does not link to entry {row.seq - 1} (prev_hash differs)",
                )  # fmt: skip
            try:
                payload = loads(row.payload)
            except ValueError:
                return AuditVerification(
                    False, checked, row.seq, f"entry {row.seq} payload is not JSON"
                )
            if entry_hash(row.seq, row.kind, payload, row.at, row.prev_hash) != row.hash:
                return AuditVerification(
                    False, checked, row.seq, f"entry {row.seq} was modified (hash mismatch)"
                )
            checked += 1
            prev = row.hash
            expected_seq += 1
        with self.db.session() as session:
            head = session.get(AuditHeadRow, _HEAD_ID)
            head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        if head_seq != checked or head_hash != prev:
            bad = min(head_seq, checked) + 1
            return AuditVerification(
                False, checked, bad,
                f"the chain ends at entry {checked} but its head records entry {head_seq}:"
                " entries were removed from the end, or the head was altered",
            )  # fmt: skip
        return AuditVerification(True, checked, None, f"{checked} entries verified")
