"""Prometheus text exposition parsing for the embedded scraper.

Called by :mod:`selfheal.monitoring.scraper` on every scrape body; never does I/O
and never raises on bad input: malformed text comes back as an
:class:`ExpositionError` value, so one broken target cannot crash the loop.

Two parsers, one format (the Prometheus text exposition format 0.0.4):

- :func:`parse_exposition` is the reference: it delegates to
  ``prometheus_client.parser.text_string_to_metric_families``.
- :class:`SeriesParser` is what the scraper runs every second. A target
  exposes the same series on every scrape, so the parser keeps a cache from the
  raw series text (``name{labels}``) to the finished :class:`SeriesKey` (target
  labels already merged). A cache hit costs one string split, one dict look-up
  and one ``float()``; only unseen series text goes through the reference
  parser. Both parsers agree on every input (a property test checks it).

As in Prometheus, a scrape whose body has one malformed line fails as a whole.
The ``<family>_created`` samples of counters, histograms and summaries are
dropped (prometheus_client exposes them as extra gauge families; they are
creation timestamps, not observations, and would double the series count).

>>> result = parse_exposition('# TYPE up gauge\\nup{job="a"} 1\\n')
>>> result.ok, result.samples[0].name, result.samples[0].value
(True, 'up', 1.0)
>>> parse_exposition("up{job=\\"a\\" 1\\n").ok
False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from selfheal.core.types import SeriesKey

_TYPES_WITH_CREATED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})


@dataclass(frozen=True, slots=True)
class ExpositionSample:
    """One sample line as exposed (before target labels are merged)."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class ExpositionError:
    """Why a scrape body could not be parsed; ``line_number`` is 1-based."""

    message: str
    line_number: int | None = None
    line: str | None = None

    def __str__(self) -> str:
        where = f" at line {self.line_number}" if self.line_number is not None else ""
        shown = f": {self.line!r}" if self.line is not None else ""
        return f"malformed exposition{where}{shown}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Samples of a body, or the error that rejected it (then ``samples`` is empty)."""

    samples: tuple[ExpositionSample, ...]
    error: ExpositionError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _locate_error(text: str) -> ExpositionError:
    """Find the first line the reference parser rejects (error path only)."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            for _ in text_string_to_metric_families(line + "\n"):
                pass
        except Exception as exc:  # the parser raises ValueError, IndexError, ...
            return ExpositionError(str(exc) or type(exc).__name__, number, line[:200])
    return ExpositionError("the body is not valid text exposition")


def parse_exposition(text: str) -> ParseResult:
    """Parse a whole body with prometheus_client's parser; never raises."""
    samples: list[ExpositionSample] = []
    try:
        families = list(text_string_to_metric_families(text))
        created = {f.name + "_created" for f in families if f.type in _TYPES_WITH_CREATED}
        for family in families:
            for s in family.samples:
                if s.name in created:
                    continue
                samples.append(
                    ExpositionSample(
                        s.name,
                        tuple(sorted(s.labels.items())),
                        float(s.value),
                        None if s.timestamp is None else float(s.timestamp),
                    )
                )
    except Exception:
        return ParseResult((), _locate_error(text))
    return ParseResult(tuple(samples))


def merge_labels(
    name: str, exposed: Mapping[str, str], target_labels: Mapping[str, str]
) -> SeriesKey:
    """Series key with target labels attached, Prometheus' ``honor_labels: false``
    way: an exposed label that clashes with a target label is kept as
    ``exported_<label>``."""
    labels = dict(target_labels)
    for k, v in exposed.items():
        labels[f"exported_{k}" if k in target_labels else k] = v
    return SeriesKey.of(name, labels)


class SeriesParser:
    """Cached parser for one target's bodies, producing ``(SeriesKey, value)`` pairs.

    Not thread-safe: the scraper keeps one per target and scrapes a target from
    one thread at a time.
    """

    def __init__(
        self, target_labels: Mapping[str, str] | None = None, max_cached_series: int = 50_000
    ) -> None:
        self._target_labels = dict(target_labels or {})
        self._max = max_cached_series
        # series text -> key; None marks a `_created` sample to drop
        self._cache: dict[str, SeriesKey | None] = {}
        # sample names that only go up (counters, histogram/summary _bucket/_count/_sum),
        # from the TYPE lines seen so far
        self.counter_names: set[str] = set()

    @property
    def cached_series(self) -> int:
        return len(self._cache)

    def _resolve(self, series_text: str, created_names: set[str]) -> SeriesKey | None:
        families = list(text_string_to_metric_families(series_text + " 0\n"))
        if len(families) != 1 or len(families[0].samples) != 1:
            raise ValueError("expected one sample")
        s = families[0].samples[0]
        if s.name in created_names:
            return None
        return merge_labels(s.name, s.labels, self._target_labels)

    def parse(self, text: str) -> tuple[list[tuple[SeriesKey, float]], ExpositionError | None]:
        """All samples of a body, or ``([], error)`` if any line is malformed."""
        out: list[tuple[SeriesKey, float]] = []
        cache = self._cache
        created_names: set[str] = set()
        for number, line in enumerate(text.split("\n"), start=1):
            if not line or line[0] == "#":
                if line.startswith("# TYPE "):
                    parts = line.split()
                    if len(parts) == 4 and parts[3] in _TYPES_WITH_CREATED:
                        name, kind = parts[2], parts[3]
                        base = name
                        if kind == "counter":
                            self.counter_names.add(name)
                            if base.endswith("_total"):
                                base = base[: -len("_total")]
                        else:
                            self.counter_names.update(
                                (name + "_bucket", name + "_count", name + "_sum")
                            )
                        created_names.add(base + "_created")
                continue
            brace = line.rfind("}")
            if brace >= 0:
                series_text = line[: brace + 1]
                rest = line[brace + 1 :].split()
            else:
                parts = line.split()
                if not parts:
                    continue
                series_text, rest = parts[0], parts[1:]
            if not 1 <= len(rest) <= 2:
                return [], ExpositionError(
                    "expected 'name{labels} value [timestamp]'", number, line[:200]
                )
            key = cache.get(series_text, _MISSING)
            if key is _MISSING:
                try:
                    key = self._resolve(series_text, created_names)
                    value = float(rest[0])
                    if len(rest) == 2:
                        float(rest[1])
                except Exception as exc:  # the reference parser raises ValueError, IndexError, ...
                    return [], ExpositionError(str(exc) or type(exc).__name__, number, line[:200])
                if len(cache) < self._max:
                    cache[series_text] = key
            else:
                try:
                    value = float(rest[0])
                    if len(rest) == 2:
                        float(rest[1])
                except ValueError as exc:
                    return [], ExpositionError(str(exc), number, line[:200])
            if key is not None:
                out.append((key, value))
        return out, None


_MISSING: SeriesKey | None = SeriesKey("\x00missing")
