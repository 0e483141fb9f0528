from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import text

from selfheal.core.types import Cause, FailureType
from selfheal.store import AuditLog, Database, Store
from selfheal.store.audit import GENESIS_HASH, entry_hash


def _fill(audit: AuditLog, n: int = 5) -> None:
    for i in range(n):
        audit.append("signal", {"i": i, "service": "cart"}, at=100.0 + i)


def test_append_links_entries_into_a_chain(store: Store) -> None:
    first = store.audit.append("incident", {"id": "inc-1"}, at=1.5)
    second = store.audit.append("causes", {"causes": [Cause("db", 0.9, FailureType.CODE_BUG)]}, 2.0)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    assert first.hash == entry_hash(1, "incident", {"id": "inc-1"}, 1.5, GENESIS_HASH)
    assert second.payload["causes"][0]["failure_type"] == "CodeBug"
    assert store.audit.entries() == [first, second]
    assert store.audit.verify().ok and store.audit.verify().checked == 2


def test_empty_trail_verifies(store: Store) -> None:
    result = store.audit.verify()
    assert result.ok and result.checked == 0 and result.first_bad_seq is None


def test_edit_with_raw_sql_is_detected_at_that_seq(store: Store) -> None:
    _fill(store.audit)
    with store.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET payload = :p WHERE seq = 3"), {"p": '{"i":99}'})
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 3 and result.checked == 2
    assert "modified" in result.message


def test_edit_of_time_or_kind_is_detected(store: Store) -> None:
    _fill(store.audit)
    with store.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET at = at + 1 WHERE seq = 4"))
    assert store.audit.verify().first_bad_seq == 4


def test_rehashed_edit_breaks_the_next_link(store: Store) -> None:
    _fill(store.audit)
    row = store.audit.entries()[1]
    forged = entry_hash(2, "signal", {"i": 42}, row.at, row.prev_hash)
    with store.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET payload=:p, hash=:h WHERE seq=2"),
            {"p": '{"i":42}', "h": forged},
        )
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 3


def test_deletion_in_the_middle_is_detected(store: Store) -> None:
    _fill(store.audit)
    with store.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 2 and "missing" in result.message


def test_deleting_the_tail_is_detected(store: Store) -> None:
    _fill(store.audit)
    with store.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 4


def test_insertion_is_detected(store: Store) -> None:
    _fill(store.audit, 3)
    with store.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 2"))  # make room
        conn.execute(text("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000"))
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, kind, payload, at, prev_hash, hash)"
                " VALUES (2, 'action', '{}', 101.5, :p, :h)"
            ),
            {"p": "x" * 64, "h": "y" * 64},
        )
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 2


def test_reorder_is_detected(store: Store) -> None:
    _fill(store.audit, 4)
    with store.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = -2 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = -2"))
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 2


def test_append_continues_the_chain_after_reopen(db_url: str) -> None:
    with Database(db_url) as db:
        _fill(AuditLog(db), 2)
    with Database(db_url) as db:
        entry = AuditLog(db).append("pause", {"by": "alice"}, at=5.0)
        assert entry.seq == 3 and AuditLog(db).verify().ok


def test_bad_kind_and_payload_are_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="lower_snake_case"):
        store.audit.append("Bad Kind", {}, at=1.0)
    with pytest.raises(TypeError, match="cannot store"):
        store.audit.append("signal", {"x": object()}, at=1.0)
    assert store.audit.count() == 0


def test_non_finite_floats_are_stored_and_verify(store: Store) -> None:
    entry = store.audit.append("signal", {"value": float("nan")}, at=1.0)
    assert entry.payload == {"value": "NaN"}
    assert store.audit.verify().ok


def _append_many(url: str, worker: int, n: int) -> None:
    with Database(url) as db:
        audit = AuditLog(db)
        for i in range(n):
            audit.append("action", {"worker": worker, "i": i}, at=float(i))


def test_two_processes_appending_do_not_fork_the_chain(db_url: str, tmp_path: Path) -> None:
    Database(db_url).dispose()  # create the schema once
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(db_url, w, 40)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Database(db_url) as db:
        audit = AuditLog(db)
        entries = audit.entries()
        assert [e.seq for e in entries] == list(range(1, 81))
        assert {(e.payload["worker"], e.payload["i"]) for e in entries} == {
            (w, i) for w in range(2) for i in range(40)
        }
        assert audit.verify().ok
    assert json.loads(json.dumps([e.hash for e in entries]))  # hashes are plain strings


def test_for_incident_finds_that_incidents_entries_only_in_order(store: Store) -> None:
    store.audit.append("incident_opened", {"incident": "inc-1", "signals": []}, 1.0)
    store.audit.append("incident_opened", {"incident": "inc-10", "signals": []}, 2.0)
    store.audit.append("action_started", {"incident": "inc-1", "action": {"kind": "X"}}, 3.0)
    # the id inside another field, and LIKE's wildcards in an id, match nothing else
    store.audit.append("note", {"text": '"incident":"inc-1"', "incident": "other"}, 4.0)
    store.audit.append("incident_opened", {"incident": "inc_%", "signals": []}, 5.0)
    store.audit.append("incident_resolved", {"incident": "inc-1", "reason": ""}, 6.0)
    found = store.audit.for_incident("inc-1")
    assert [(e.kind, e.at) for e in found] == [
        ("incident_opened", 1.0),
        ("action_started", 3.0),
        ("incident_resolved", 6.0),
    ]
    assert [e.at for e in store.audit.for_incident("inc_%")] == [5.0]
    assert store.audit.for_incident("inc-1", limit=2)[-1].kind == "action_started"
    assert store.audit.for_incident("inc-2") == []
