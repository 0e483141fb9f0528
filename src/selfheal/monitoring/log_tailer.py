"""Follow log files like ``tail -F``: new lines only, across rotation and truncation.

The loop's collector polls a :class:`LogTailer` once per cycle and keeps the lines
in a :class:`~selfheal.monitoring.log_window.LogWindow`. The tailer re-expands its
glob patterns (and, optionally, asks the platform's ``GET /platform/logs`` through
:class:`HttpLogDiscovery`) so that files of new instances are picked up, and reads
what was appended since the last poll:

- files present at start are read from their end (``from_start=False``, the
  default); files that appear later are read from their beginning, so the
  first lines of a new instance or a freshly rotated file are not lost;
- rotation by rename (``app.log`` → ``app.log.1``, new ``app.log``) is noticed by
  the inode change: the rest of the old file is read through the still-open
  handle, then the new file from its start;
- truncation in place (copytruncate) is noticed by the size dropping below the
  read offset: reading restarts at 0;
- a partial last line waits for its newline (up to ``max_line_bytes``, after
  which it is cut so that a runaway writer cannot grow memory).

Bytes are decoded as UTF-8 with replacement; it never raises on file content.
Patterns should not match the rotated names (``*.log``, not ``*.log*``), or
rotated files would be read again from their start.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LogSource:
    """A file to follow and the labels its lines are attributed to when the line
    itself does not say (plain-text lines)."""

    path: str
    service: str | None = None
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class RawLine:
    source: LogSource
    text: str


class _Follower:
    __slots__ = ("buffer", "file", "inode", "offset", "source")

    def __init__(self, source: LogSource, at_end: bool) -> None:
        self.source = source
        self.file: object | None = None
        self.inode: tuple[int, int] | None = None
        self.offset = 0
        self.buffer = b""
        self._open(at_end)

    def _open(self, at_end: bool) -> None:
        try:
            handle = open(self.source.path, "rb")  # noqa: SIM115 - kept open to follow renames
        except OSError:
            self.file, self.inode = None, None
            return
        st = os.fstat(handle.fileno())
        self.file = handle
        self.inode = (st.st_dev, st.st_ino)
        self.offset = st.st_size if at_end else 0
        handle.seek(self.offset)
        self.buffer = b""

    def close(self) -> None:
        if self.file is not None:
            self.file.close()  # type: ignore[attr-defined]
            self.file = None

    def _read_all(self, max_bytes: int) -> bytes:
        if self.file is None:
            return b""
        data: bytes = self.file.read(max_bytes)  # type: ignore[attr-defined]
        self.offset += len(data)
        return data

    def poll(self, max_bytes: int, max_line_bytes: int) -> list[str]:
        try:
            st = os.stat(self.source.path)
            current: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            st, current = None, None
        if self.file is None:
            if current is not None:
                self._open(at_end=False)
        elif current is not None and current != self.inode:
            # rotated: finish the old file through its open handle, then start the new one
            tail = self.buffer + self._read_all(max_bytes)
            if tail and not tail.endswith(b"\n"):
                tail += b"\n"  # the old file's last line ends with the file
            self.close()
            self._open(at_end=False)
            self.buffer = tail
        elif st is not None and st.st_size < self.offset:
            self.file.seek(0)  # type: ignore[attr-defined]
            self.offset = 0
            self.buffer = b""
        data = self.buffer + self._read_all(max_bytes)
        if not data:
            return []
        parts = data.split(b"\n")
        self.buffer = parts.pop()
        lines = [p for p in parts if p]
        if len(self.buffer) > max_line_bytes:
            lines.append(self.buffer[:max_line_bytes])
            self.buffer = b""
        return [
            (line[:max_line_bytes] if len(line) > max_line_bytes else line)
            .decode("utf-8", errors="replace")
            .rstrip("\r")
            for line in lines
        ]


class HttpLogDiscovery:
    """Log files listed by the platform: ``GET url`` →
    ``{"files": [{"service", "instance_id", "path"}]}``."""

    def __init__(
        self, url: str, timeout_seconds: float = 2.0, refresh_seconds: float = 10.0
    ) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.refresh_seconds = refresh_seconds
        self.last_error: str | None = None
        self.last_refresh_monotonic: float | None = None
        self.sources: tuple[LogSource, ...] = ()

    def due(self) -> bool:
        last = self.last_refresh_monotonic
        return last is None or time.monotonic() - last >= self.refresh_seconds

    def parse(self, document: object) -> tuple[LogSource, ...]:
        files = document.get("files") if isinstance(document, dict) else None
        if not isinstance(files, list):
            raise ValueError("log discovery document must be {'files': [...]}")
        out = []
        for i, f in enumerate(files):
            if not isinstance(f, dict) or not isinstance(f.get("path"), str):
                raise ValueError(f"log discovery files[{i}] needs a 'path' string")
            out.append(LogSource(f["path"], f.get("service"), f.get("instance_id")))
        return tuple(out)

    def refresh(self, client: httpx.Client) -> tuple[LogSource, ...]:
        """Fetch; on failure keep the last good list."""
        self.last_refresh_monotonic = time.monotonic()
        try:
            response = client.get(self.url, timeout=self.timeout_seconds)
            response.raise_for_status()
            self.sources = self.parse(response.json())
            self.last_error = None
        except (httpx.HTTPError, ValueError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("log discovery %s failed: %s", self.url, self.last_error)
        return self.sources


class LogTailer:
    """Follows every file matching ``patterns`` plus explicitly given ``sources``."""

    def __init__(
        self,
        patterns: Sequence[str] = (),
        *,
        sources: Iterable[LogSource] = (),
        discovery: HttpLogDiscovery | None = None,
        from_start: bool = False,
        labels: Mapping[str, tuple[str | None, str | None]] | None = None,
        max_bytes_per_poll: int = 4 * 1024 * 1024,
        max_line_bytes: int = 64 * 1024,
        client: httpx.Client | None = None,
    ) -> None:
        self.patterns = tuple(patterns)
        self._static = {s.path: s for s in sources}
        self._discovery = discovery
        self._labels = dict(labels or {})
        self._max_bytes = max_bytes_per_poll
        self._max_line = max_line_bytes
        self._client = client
        self._own_client = False
        self._followers: dict[str, _Follower] = {}
        self._started = False
        self._from_start = from_start

    def _wanted(self) -> dict[str, LogSource]:
        wanted = dict(self._static)
        if self._discovery is not None:
            if self._discovery.due():
                if self._client is None:  # one client for the tailer's life: cheap calls
                    self._client = httpx.Client()
                    self._own_client = True
                self._discovery.refresh(self._client)
            for s in self._discovery.sources:
                wanted[s.path] = s
        for pattern in self.patterns:
            for path in sorted(glob.glob(pattern)):
                if path not in wanted and os.path.isfile(path):
                    service, instance = self._labels.get(path, (None, None))
                    wanted[path] = LogSource(path, service, instance)
        return wanted

    def files(self) -> list[str]:
        return sorted(self._followers)

    def poll(self) -> list[RawLine]:
        """New complete lines of every followed file since the last poll."""
        wanted = self._wanted()
        at_end = not self._started and not self._from_start
        for path, source in wanted.items():
            if path not in self._followers:
                self._followers[path] = _Follower(source, at_end=at_end)
        self._started = True
        out: list[RawLine] = []
        for path, follower in list(self._followers.items()):
            try:
                lines = follower.poll(self._max_bytes, self._max_line)
            except OSError as exc:
                log.warning("cannot read log file %s: %s", path, exc)
                continue
            out.extend(RawLine(follower.source, text) for text in lines)
            if path not in wanted:  # gone (its rest was read just now)
                follower.close()
                del self._followers[path]
        return out

    def close(self) -> None:
        for follower in self._followers.values():
            follower.close()
        self._followers.clear()
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> LogTailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
