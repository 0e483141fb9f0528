"""Log signals: error bursts and new templates per service, from tailed log files.

The loop calls :meth:`LogMonitor.poll` once per cycle. It reads the new lines
from a :class:`~selfheal.monitoring.log_tailer.LogTailer`, parses each one (a
JSON object as in ``docs/local-platform-api.md`` — ``ts``, ``level``,
``service``, ``instance_id``, ``msg`` — or, failing that, plain text whose
level is guessed from words such as ``ERROR``), mines its message into a
template per service (:mod:`selfheal.monitoring.log_templates`) and returns
one :class:`LogEvent` per line. From those it keeps, per service:

- the count of ERROR (and CRITICAL/FATAL) lines in the last ``window_seconds``
  (:meth:`LogMonitor.error_counts`; a burst is a count at or above
  ``burst_threshold``, :meth:`LogMonitor.bursts`), and the
  ``indicator:log_error_rate`` sample (errors per second, 0 when quiet) for
  every service ever seen (:meth:`LogMonitor.indicators`);
- new-template events: ``LogEvent.is_new`` is true for the first line of a
  template that appears after the service's learning period
  (``learn_seconds`` from its first line), so the start-up vocabulary is not
  reported as news.

Windows count on the injected clock at ingestion, not on the timestamps the
lines carry. Bad lines are templated as text; nothing here raises on content.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.indicators import LOG_ERROR_RATE
from selfheal.core.indicators import PREFIX as DEFAULT_PREFIX
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.log_tailer import LogSource, LogTailer, RawLine
from selfheal.monitoring.log_templates import TemplateMiner

ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL", "EMERGENCY", "ALERT"})
_LEVEL_WORD = re.compile(
    r"\b(CRITICAL|FATAL|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE)\b", re.IGNORECASE
)
_LEVEL_ALIASES = {"ERR": "ERROR", "WARN": "WARNING"}
UNKNOWN_SERVICE = "unknown"


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log line, mined. ``template_id`` is unique across services."""

    service: str
    instance: str | None
    timestamp: float
    level: str
    template_id: str
    template: str
    is_new: bool

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A parsed line before mining."""

    service: str
    instance: str | None
    timestamp: float
    level: str
    message: str
    span_id: str | None = None  # the span the line was written in, when it says


_SPAN_KEYS = ("span_id", "spanId", "SpanID", "span.id")


def _level(value: object) -> str:
    text = str(value).upper() if value is not None else "INFO"
    return _LEVEL_ALIASES.get(text, text) or "INFO"


def parse_line(text: str, source: LogSource | None, now: float) -> LogRecord:
    """A JSON line's fields, or the plain text with a guessed level; never raises."""
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
                str(obj.get("service") or default_service),
                str(obj["instance_id"]) if obj.get("instance_id") else default_instance,
                timestamp,
                _level(obj.get("level", obj.get("severity"))),
                message,
                span.lower() if span else None,
            )
    found = _LEVEL_WORD.search(stripped)
    level = _level(found.group(1)) if found else "INFO"
    return LogRecord(default_service, default_instance, now, level, stripped)


class LogMonitor:
    """Tails, parses and mines log lines; keeps per-service error windows."""

    def __init__(
        self,
        tailer: LogTailer | None = None,
        *,
        clock: Clock | None = None,
        window_seconds: float = 10.0,
        learn_seconds: float = 30.0,
        burst_threshold: int = 5,
        prefix: str = DEFAULT_PREFIX,
        max_errors_kept: int = 100_000,
        max_services: int = 1_000,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self.tailer = tailer
        self.clock: Clock = clock or SystemClock()
        self.window_seconds = window_seconds
        self.learn_seconds = learn_seconds
        self.burst_threshold = burst_threshold
        self.prefix = prefix
        self._max_errors = max_errors_kept
        # lines name their service; past this many, new names are pooled as "unknown"
        # so that garbage in the service field cannot grow memory without bound
        self._max_services = max_services
        self._miners: dict[str, TemplateMiner] = {}
        self._first_seen: dict[str, float] = {}
        self._errors: dict[str, deque[float]] = {}
        self.lines_total = 0

    def poll(self) -> list[LogEvent]:
        """Read and mine every new line of the tailer's files."""
        if self.tailer is None:
            return []
        return self.observe(self.tailer.poll())

    def observe(self, lines: Iterable[RawLine]) -> list[LogEvent]:
        """Mine lines obtained elsewhere (e.g. received over HTTP)."""
        now = self.clock.now()
        return [self._observe_one(line.text, line.source, now) for line in lines]

    def observe_text(self, text: str, source: LogSource | None = None) -> LogEvent:
        return self._observe_one(text, source, self.clock.now())

    def _observe_one(self, text: str, source: LogSource | None, now: float) -> LogEvent:
        record = parse_line(text, source, now)
        service = record.service
        if service not in self._miners and len(self._miners) >= self._max_services:
            service = UNKNOWN_SERVICE
        miner = self._miners.get(service)
        if miner is None:
            miner = self._miners[service] = TemplateMiner()
            self._first_seen[service] = now
            self._errors[service] = deque(maxlen=self._max_errors)
        match = miner.add(record.message)
        learning = now - self._first_seen[service] < self.learn_seconds
        if record.level in ERROR_LEVELS:
            self._errors[service].append(now)
        self.lines_total += 1
        return LogEvent(
            service=service,
            instance=record.instance,
            timestamp=record.timestamp,
            level=record.level,
            template_id=f"{service}#{match.template_id}",
            template=match.template,
            is_new=match.is_new and not learning,
        )

    # -- window signals --------------------------------------------------------------------
    def error_counts(self, now: float | None = None) -> dict[str, int]:
        """ERROR lines per service in the last ``window_seconds`` (every service seen)."""
        when = self.clock.now() if now is None else now
        cutoff = when - self.window_seconds
        counts: dict[str, int] = {}
        for service, times in self._errors.items():
            while times and times[0] <= cutoff:
                times.popleft()
            counts[service] = len(times)
        return counts

    def bursts(self, now: float | None = None) -> dict[str, int]:
        """Services whose error count in the window reached ``burst_threshold``."""
        return {s: n for s, n in self.error_counts(now).items() if n >= self.burst_threshold}

    def indicators(self, now: float | None = None) -> list[Sample]:
        """``log_error_rate`` (errors per second over the window) per service."""
        when = self.clock.now() if now is None else now
        return [
            Sample(
                SeriesKey.of(self.prefix + LOG_ERROR_RATE, {"service": service}),
                when,
                n / self.window_seconds,
            )
            for service, n in sorted(self.error_counts(when).items())
        ]

    def template_count(self, service: str) -> int:
        miner = self._miners.get(service)
        return 0 if miner is None else miner.template_count

    def close(self) -> None:
        if self.tailer is not None:
            self.tailer.close()
