"""A bounded, time-ordered window of recent log lines, for root-cause analysis.

The loop's collector polls a :class:`~selfheal.monitoring.log_tailer.LogTailer`
once per cycle and appends the new lines here (raw); when an incident is
diagnosed, the ranker reads the lines of the incident and of the stretch before
it (its baseline) with :meth:`LogWindow.between`, parsed into the
``LogRecord``s the RCA reads (``selfheal.core.telemetry``). Lines older than
``keep_seconds`` are dropped, and at most ``max_lines`` are kept (the oldest go
first), so a chatty service cannot grow memory without bound. Templating the
lines is the RCA's (``selfheal.analysis.rca.logs``), not done here.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
from collections import deque
from collections.abc import Iterable

from selfheal.core.telemetry import LogRecord
from selfheal.monitoring.log_tailer import LogSource, RawLine

UNKNOWN_SERVICE = "unknown"
_SPAN_KEYS = ("span_id", "spanId", "SpanID", "span.id")


def parse_line(text: str, source: LogSource | None, now: float) -> LogRecord:
    """A JSON line's fields (``ts``, ``service``, ``instance_id``, ``msg``, a span id;
    as in ``docs/local-platform-api.md``), or the plain text stamped ``now`` and
    labelled by its ``source``; never raises on content.

    >>> parse_line('{"ts": 5.5, "service": "orders", "msg": "served", "span_id": "AB12"}', None, 9.0)
    LogRecord(timestamp=5.5, service='orders', message='served', instance=None, span_id='ab12')
    >>> parse_line("ERROR db down", LogSource("/l", "ledger", "ledger-0"), 9.0).service
    'ledger'
    """
    default_service = (source.service if source else None) or UNKNOWN_SERVICE
    default_instance = source.instance if source else None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            ts = obj.get("ts", obj.get("timestamp"))
            timestamp = float(ts) if isinstance(ts, int | float) and math.isfinite(ts) else now
            message = obj.get("msg", obj.get("message"))
            if not isinstance(message, str):
                message = stripped
            span = next((obj[k] for k in _SPAN_KEYS if isinstance(obj.get(k), str)), None)
            return LogRecord(
                timestamp,
                str(obj.get("service") or default_service),
                message,
                str(obj["instance_id"]) if obj.get("instance_id") else default_instance,
                span.lower() if span else None,
            )
    return LogRecord(now, default_service, stripped, default_instance)


class LogWindow:
    """Recent log lines, oldest first, stamped with the time they were read.

    Lines are kept raw and parsed only when read back (a diagnosis is rare, lines are
    many): the per-cycle cost is the file reads alone. A line's own timestamp, when
    it has one, is what ``between`` returns; the window itself is ordered and trimmed
    by read time (within a cycle of the write for a followed file). Thread-safe: the
    loop adds and reads on its own thread, and a recorder may read from another.
    """

    def __init__(self, keep_seconds: float = 300.0, max_lines: int = 50_000) -> None:
        if keep_seconds <= 0 or max_lines <= 0:
            raise ValueError("keep_seconds and max_lines must be > 0")
        self.keep_seconds = keep_seconds
        self._lines: deque[tuple[float, RawLine]] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self.lines_total = 0

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, lines: Iterable[RawLine], now: float) -> int:
        """Keep ``lines`` (read at ``now``); returns how many were added."""
        batch = list(lines)
        with self._lock:
            if self._lines and now < self._lines[-1][0]:
                now = self._lines[-1][0]  # a clock step back must not unorder the window
            self._lines.extend((now, line) for line in batch)
            self.lines_total += len(batch)
            cutoff = now - self.keep_seconds
            while self._lines and self._lines[0][0] < cutoff:
                self._lines.popleft()
        return len(batch)

    def between(self, start: float, end: float, limit: int | None = None) -> list[LogRecord]:
        """Lines read in ``[start, end]``, parsed; with ``limit``, the latest ``limit``."""
        with self._lock:
            lines = list(self._lines)
        stamps = [at for at, _ in lines]
        lo = bisect.bisect_left(stamps, start)
        hi = bisect.bisect_right(stamps, end)
        if limit is not None:
            lo = max(lo, hi - limit)
        return [parse_line(line.text, line.source, at) for at, line in lines[lo:hi]]
