"""The store against a real PostgreSQL server: a throw-away cluster started from
the local PostgreSQL binaries, on a Unix socket only (no TCP port). Skipped
when no ``initdb`` is installed."""

from __future__ import annotations

import multiprocessing
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from tests.store.test_audit import _append_many

from selfheal.core.clock import FakeClock
from selfheal.store import ConflictError, Store, open_store
from selfheal.store.schema import Base

pytestmark = pytest.mark.slow


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user to run the server as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
    root = tempfile.mkdtemp(prefix="selfheal-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    run = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(_as_postgres(["initdb", "-A", "trust", "-U", "postgres", "-D", data]), **run)
        subprocess.run(
            _as_postgres(
                ["pg_ctl", "-D", data, "-o", f"-k {root} -c listen_addresses=''", "-w",
                 "-l", os.path.join(root, "log"), "start"]
            ),
            **run,
        )  # fmt: skip
        yield f"postgresql://postgres@/postgres?host={root}"  # plain URL: the psycopg 3 driver is chosen
    finally:
        subprocess.run(_as_postgres(["pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]), check=False, capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    s = open_store(pg_url, FakeClock(100.0))
    Base.metadata.drop_all(s.db.engine)
    s.db.create_schema()
    yield s
    s.close()


def test_audit_chain_and_tamper_detection_on_postgres(pg_store: Store) -> None:
    for i in range(5):
        pg_store.audit.append("decision", {"i": i, "risk": 0.25}, at=1.5 + i)
    assert pg_store.audit.verify().ok
    with pg_store.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET payload = :p WHERE seq = 4"), {"p": '{"i":7,"risk":0.25}'}
        )
    result = pg_store.audit.verify()
    assert not result.ok and result.first_bad_seq == 4


def test_two_processes_append_without_forking_on_postgres(pg_store: Store, pg_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(pg_url, w, 30)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert [e.seq for e in pg_store.audit.entries()] == list(range(1, 61))
    assert pg_store.audit.verify().ok


def test_intents_approvals_control_on_postgres(pg_store: Store) -> None:
    assert pg_store.intents.record_intent("k", {"kind": "RestartService"}, "inc-1")
    assert not pg_store.intents.record_intent("k", {}, "inc-1")
    assert [i.key for i in pg_store.intents.pending()] == ["k"]
    rid = pg_store.approvals.request({"kind": "Failover"}, "inc-1", 0.9, expires_at=200.0)
    assert pg_store.approvals.decide(rid, True, by="alice").status == "approved"
    with pytest.raises(ConflictError):
        pg_store.approvals.decide(rid, False, by="bob")
    pg_store.control.pause("freeze", by="alice")
    assert pg_store.control.paused


def test_replicas_racing_for_the_lease_on_postgres_get_one_leader_and_fenced_intents(
    pg_store: Store, pg_url: str
) -> None:
    import threading

    from selfheal.store.leases import LeaseLost

    winners: list[str] = []
    start = threading.Barrier(6)

    def contend(name: str) -> None:
        s = open_store(pg_url, FakeClock(100.0))
        try:
            start.wait()
            if s.leases.acquire("loop", name, now=100.0, ttl_seconds=10.0) is not None:
                winners.append(name)
        finally:
            s.close()

    threads = [threading.Thread(target=contend, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    lease = pg_store.leases.current("loop")
    assert lease is not None and lease.holder == winners[0]
    successor = pg_store.leases.acquire("loop", "next", now=111.0, ttl_seconds=10.0)
    assert successor is not None and successor.epoch == 2
    with pytest.raises(LeaseLost):
        pg_store.intents.record_intent("late", {"kind": "x"}, "inc", at=111.5, fence=lease)
    assert pg_store.intents.get("late") is None
