"""A bounded, time-ordered window of recent log lines, for root-cause analysis.

The loop's collector polls a :class:`~selfheal.monitoring.log_tailer.LogTailer`
once per cycle and appends the parsed lines here; when an incident is
diagnosed, the ranker reads the lines of the incident and of the stretch before
it (its baseline) with :meth:`LogWindow.between`. Lines older than
``keep_seconds`` are dropped, and at most ``max_lines`` are kept (the oldest go
first), so a chatty service cannot grow memory without bound.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable

from selfheal.monitoring.log_tailer import RawLine
from selfheal.monitoring.logs import LogRecord, parse_line


class LogWindow:
    """Recent parsed log lines, oldest first."""

    def __init__(self, keep_seconds: float = 300.0, max_lines: int = 50_000) -> None:
        if keep_seconds <= 0 or max_lines <= 0:
            raise ValueError("keep_seconds and max_lines must be > 0")
        self.keep_seconds = keep_seconds
        self._lines: deque[LogRecord] = deque(maxlen=max_lines)
        self.lines_total = 0

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, lines: Iterable[RawLine], now: float) -> int:
        """Parse and keep ``lines`` (read at ``now``); returns how many were added."""
        added = 0
        for line in lines:
            record = parse_line(line.text, line.source, now)
            if self._lines and record.timestamp < self._lines[-1].timestamp:
                # Files are read one after another: keep the window ordered by time
                # by stamping a late-read earlier line with the latest time seen.
                record = LogRecord(
                    record.service,
                    record.instance,
                    self._lines[-1].timestamp,
                    record.level,
                    record.message,
                )
            self._lines.append(record)
            added += 1
        self.lines_total += added
        cutoff = now - self.keep_seconds
        while self._lines and self._lines[0].timestamp < cutoff:
            self._lines.popleft()
        return added

    def between(self, start: float, end: float, limit: int | None = None) -> list[LogRecord]:
        """Lines with ``start <= timestamp <= end``; with ``limit``, the latest ``limit``."""
        lines = self._lines
        stamps = [r.timestamp for r in lines]
        lo = bisect.bisect_left(stamps, start)
        hi = bisect.bisect_right(stamps, end)
        if limit is not None:
            lo = max(lo, hi - limit)
        return [lines[i] for i in range(lo, hi)]
