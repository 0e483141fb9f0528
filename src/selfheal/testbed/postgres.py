"""A throw-away PostgreSQL server for tests and benchmarks (never for production).

``ThrowawayPostgres`` runs ``initdb`` and ``pg_ctl`` from the local PostgreSQL
binaries (Debian's ``postgresql`` package) on a fresh data directory, listening on a
Unix socket only (no TCP port), and removes everything on ``stop``. As root, the
server runs as the ``postgres`` user (PostgreSQL refuses root). ``restart`` stops
and starts the same cluster, for benchmarks that restart the store under the loop.

>>> ThrowawayPostgres.available() in (True, False)
True
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from types import TracebackType


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries (or a user to run them as) are missing."""


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class ThrowawayPostgres:
    """One cluster in a temporary directory; ``url`` is its SQLAlchemy URL."""

    def __init__(self) -> None:
        self.root = ""
        self.url = ""

    @staticmethod
    def available() -> bool:
        if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
            return False
        if os.geteuid() != 0:
            return True
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
        return shutil.which("runuser") is not None

    def start(self) -> ThrowawayPostgres:
        if not self.available():
            raise PostgresUnavailable(
                "PostgreSQL binaries (initdb, pg_ctl) and, as root, a 'postgres' user are needed"
            )
        self.root = tempfile.mkdtemp(prefix="selfheal-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(["initdb", "-A", "trust", "-U", "postgres", "-D", self._data])
        self._pg_ctl("start")
        self.url = f"postgresql://postgres@/postgres?host={self.root}"
        return self

    def restart(self) -> None:
        """Stop the server (fast: open connections are cut) and start it again."""
        self._pg_ctl("stop", "-m", "fast")
        self._pg_ctl("start")

    def stop(self) -> None:
        if not self.root:
            return
        subprocess.run(
            _as_postgres(["pg_ctl", "-D", self._data, "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = ""

    @property
    def _data(self) -> str:
        return os.path.join(self.root, "data")

    def _pg_ctl(self, verb: str, *extra: str) -> None:
        args = ["pg_ctl", "-D", self._data, "-w", *extra]
        if verb == "start":
            log = os.path.join(self.root, "log")
            args += ["-o", f"-k {self.root} -c listen_addresses=''", "-l", log]
        self._run([*args, verb])

    @staticmethod
    def _run(args: list[str]) -> None:
        subprocess.run(_as_postgres(args), check=True, capture_output=True, timeout=120)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
