"""Engine and sessions of the state store (SQLAlchemy 2.0).

Everything the loop must not forget lives here: the audit trail, the intent
journal, incidents, approval requests and the pause flag. The loop, the API and
the CLI open one :class:`Database` each (possibly in different processes) on
the same URL: ``sqlite:///path/to/selfheal.db`` by default, a
``postgresql+psycopg://...`` URL in production.

SQLite is set up for several threads and processes: WAL journal (readers do
not block the writer), ``busy_timeout`` so a second writer waits instead of
failing, foreign keys on, and transactions that will write begin with
``BEGIN IMMEDIATE`` (:meth:`Database.write_session`), which takes the write lock
before the first read — so a read-then-write such as appending to the audit
chain cannot interleave with another process's. On PostgreSQL the same
sessions are plain transactions; the modules lock the rows they depend on.

This module knows nothing of the loop's values; the modules beside it do.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from selfheal.core.errors import SelfHealError
from selfheal.store.schema import Base


class StoreError(SelfHealError):
    """The state store refused an operation; the message says why."""


class NotFoundError(StoreError, KeyError):
    """No row with that id / key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(StoreError):
    """The row is not in a state that allows the operation (e.g. decided twice)."""


def normalize_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` mean psycopg 3 (the driver the ``postgres``
    extra installs) unless psycopg2 is present; other URLs pass unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            if importlib.util.find_spec("psycopg2") is None:
                return "postgresql+psycopg://" + url[len(prefix) :]
            return "postgresql://" + url[len(prefix) :]
    return url


def _setup_sqlite(engine: Engine, busy_timeout_ms: int, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take over transaction control from pysqlite so BEGIN can be IMMEDIATE
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _first_line(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's SQL echo and background link."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


class Database:
    """One engine plus session factories; thread-safe (a session per operation)."""

    def __init__(
        self,
        url: str = "sqlite:///selfheal.db",
        *,
        create: bool = True,
        busy_timeout_ms: int = 10_000,
        echo: bool = False,
    ) -> None:
        url = normalize_url(url)
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        self._shared_connection = False
        if self.dialect == "sqlite":
            database = parsed.database or ""
            in_memory = database in ("", ":memory:") or "mode=memory" in url
            kwargs["connect_args"] = {"check_same_thread": False}
            if in_memory:
                kwargs["poolclass"] = StaticPool  # one shared connection, else each sees a new DB
                self._shared_connection = True
            elif create:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        self._write_engine: Engine
        if self.dialect == "sqlite":
            _setup_sqlite(self.engine, busy_timeout_ms, wal=not in_memory)
            self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self._write_engine = self.engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        # one in-process writer at a time: SQLite would serialise us anyway, and
        # this keeps threads from spinning on busy_timeout
        self._write_lock = threading.RLock()
        if create:
            try:
                self.create_schema()
            except (DBAPIError, OSError) as exc:
                self.engine.dispose()
                raise StoreError(
                    f"store.url: cannot open the store at "
                    f"{parsed.render_as_string(hide_password=True)}: {_first_line(exc)}"
                ) from None

    def create_schema(self) -> None:
        """Create missing tables (idempotent)."""
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read (or light write) transaction: committed on success, rolled back on error."""
        if self._shared_connection:
            # in-memory SQLite is one connection shared by every thread: take turns
            with self._write_lock, self._sessions() as session, session.begin():
                yield session
            return
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A transaction that holds the database's write lock from its first statement
        (SQLite ``BEGIN IMMEDIATE``); use it for read-then-write sequences."""
        with self._write_lock, self._write_sessions() as session, session.begin():
            yield session

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
