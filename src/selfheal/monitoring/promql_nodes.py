"""The evaluator's values and leaves: one evaluation instant over the window store,
the node every compiled subexpression is, numbers, strings and selectors.

:mod:`selfheal.monitoring.promql_eval` compiles expressions into these nodes (and
those of :mod:`selfheal.monitoring.promql_functions`); every node is evaluated at
most once per :class:`Instant`. Selectors follow Prometheus: an instant selector
reads a series' newest point in ``(t - lookback, t]`` unless it is the staleness
marker (NaN); a range selector its points in ``(t - range, t]`` without markers.
Reads the store; no I/O.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import promql_parser as pp

from selfheal.core.types import SeriesKey
from selfheal.monitoring.promql_binop import Vector
from selfheal.monitoring.promql_labels import Labels
from selfheal.monitoring.window_store import WindowStore

RangeSeries = tuple[str | None, Labels, list[float], list[float]]
Kind = Literal["scalar", "string", "vector", "matrix"]
DEFAULT_LOOKBACK_SECONDS = 300.0  # Prometheus' default --query.lookback-delta


class PromQLError(ValueError):
    """An expression that is not valid PromQL or not in the supported subset."""


@dataclass(slots=True)
class Instant:
    """One evaluation time over one store; subexpression results (and the store's
    series, read once per metric name and range) are kept for the life of the
    object, so evaluate every query of a cycle through one."""

    store: WindowStore
    at: float
    lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS
    memo: dict[int, Any] = field(default_factory=dict)
    _ranges: dict[tuple[str, float], list[_Points]] = field(default_factory=dict)
    _latest: dict[str, list[tuple[SeriesKey, Labels, float]]] = field(default_factory=dict)

    def eval(self, query: Query) -> Any:
        """The query's value: a float for a scalar query, else a list of
        ``(metric name or None, labels, value)`` elements."""
        return query.root.value(self)

    def latest(self, name: str) -> list[tuple[SeriesKey, Labels, float]]:
        """Every series ``name`` with its newest value at ``at`` within the lookback,
        unless that value is the staleness marker."""
        found = self._latest.get(name)
        if found is None:
            oldest = self.at - self.lookback_seconds
            found = self._latest[name] = [
                (key, labels, v)
                for key, labels, ts, v in self.store.scan_latest(name, until=self.at)
                if ts > oldest and v == v  # v != v: the staleness marker ends the series
            ]
        return found

    def points(self, name: str, range_seconds: float) -> list[_Points]:
        """Every series ``name`` with its points in ``(at - range, at]``, staleness
        markers left out; series without such points left out."""
        found = self._ranges.get((name, range_seconds))
        if found is not None:
            return found
        start = self.at - range_seconds
        found = self._ranges[(name, range_seconds)] = []
        for key, labels, ts, vs in self.store.scan(name, start, self.at):
            if ts and ts[0] <= start:  # the range is left-open
                i = 1
                while i < len(ts) and ts[i] <= start:
                    i += 1
                ts, vs = ts[i:], vs[i:]
            total = sum(vs)  # NaN (a staleness marker) makes the sum NaN; so can inf - inf
            if total != total and any(v != v for v in vs):
                kept = [(t, v) for t, v in zip(ts, vs, strict=True) if v == v]
                ts, vs = [t for t, _ in kept], [v for _, v in kept]
            if ts:
                found.append((key, labels, ts, vs))
        return found


_Points = tuple[SeriesKey, Labels, list[float], list[float]]


class Node(abc.ABC):
    """One compiled subexpression; each kind of node says how it evaluates."""

    __slots__ = ("kind",)
    kind: Kind

    def value(self, ctx: Instant) -> Any:
        memo = ctx.memo
        key = id(self)
        if key in memo:
            return memo[key]
        result = memo[key] = self.evaluate(ctx)
        return result

    @abc.abstractmethod
    def evaluate(self, ctx: Instant) -> Any:
        """This node's value at the instant of ``ctx`` (uncached; see ``value``)."""


@dataclass(frozen=True, slots=True)
class Query:
    """A compiled expression; evaluate it with :meth:`Instant.eval`."""

    text: str
    root: Node

    @property
    def kind(self) -> Kind:
        return self.root.kind


# -- leaves ------------------------------------------------------------------------------
class Number(Node):
    __slots__ = ("number",)

    def __init__(self, number: float) -> None:
        self.kind = "scalar"
        self.number = number

    def evaluate(self, ctx: Instant) -> float:
        return self.number


class String(Node):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.kind = "string"
        self.text = text

    def evaluate(self, ctx: Instant) -> str:
        return self.text


MatchFn = Callable[[str], bool]


def _matcher(m: pp.Matcher) -> tuple[str, MatchFn]:
    value = m.value
    if m.op in (pp.MatchOp.Equal, pp.MatchOp.NotEqual):
        equal = m.op == pp.MatchOp.Equal
        return m.name, (lambda v: v == value) if equal else (lambda v: v != value)
    try:
        regex = re.compile(value)
    except re.error as exc:
        raise PromQLError(
            f"invalid regular expression {value!r} for label {m.name}: {exc}"
        ) from None
    if m.op == pp.MatchOp.Re:
        return m.name, lambda v: regex.fullmatch(v) is not None
    return m.name, lambda v: regex.fullmatch(v) is None


class _Selector:
    """The series a vector selector names, with a per-series cache of the
    label matchers' verdict (series labels never change)."""

    __slots__ = ("_cache", "label_checks", "name", "name_checks")

    def __init__(self, vs: pp.VectorSelector) -> None:
        if vs.offset is not None or vs.at is not None:
            raise PromQLError(f"{vs}: offset and @ modifiers are not supported")
        if vs.matchers.or_matchers:
            raise PromQLError(f"{vs}: 'or' inside label matchers is not supported")
        self.name: str | None = vs.name
        self.name_checks: list[MatchFn] = []
        self.label_checks: list[tuple[str, MatchFn]] = []
        for m in vs.matchers.matchers:
            if m.name == "__name__":
                if self.name is None and m.op == pp.MatchOp.Equal:
                    self.name = m.value
                else:
                    self.name_checks.append(_matcher(m)[1])
            else:
                self.label_checks.append(_matcher(m))
        self._cache: dict[SeriesKey, bool] = {}

    def names(self, store: WindowStore) -> list[str]:
        if self.name is not None:
            return [self.name] if all(c(self.name) for c in self.name_checks) else []
        return [n for n in store.names() if all(c(n) for c in self.name_checks)]

    def matches(self, key: SeriesKey, labels: Labels) -> bool:
        found = self._cache.get(key)
        if found is None:
            found = all(check(labels.get(name, "")) for name, check in self.label_checks)
            if len(self._cache) > 200_000:  # series come and go; keep the cache bounded
                self._cache.clear()
            self._cache[key] = found
        return found


class InstantSelector(Node):
    __slots__ = ("selector",)

    def __init__(self, vs: pp.VectorSelector) -> None:
        self.kind = "vector"
        self.selector = _Selector(vs)

    def evaluate(self, ctx: Instant) -> Vector:
        sel = self.selector
        return [
            (name, labels, v)
            for name in sel.names(ctx.store)
            for key, labels, v in ctx.latest(name)
            if sel.matches(key, labels)
        ]


class RangeSelector(Node):
    __slots__ = ("range_seconds", "selector")

    def __init__(self, ms: pp.MatrixSelector) -> None:
        self.kind = "matrix"
        self.selector = _Selector(ms.vector_selector)
        self.range_seconds = ms.range.total_seconds()
        if self.range_seconds <= 0:
            raise PromQLError(f"{ms}: the range must be positive")

    def evaluate(self, ctx: Instant) -> list[RangeSeries]:
        sel = self.selector
        return [
            (name, labels, ts, vs)
            for name in sel.names(ctx.store)
            for key, labels, ts, vs in ctx.points(name, self.range_seconds)
            if sel.matches(key, labels)
        ]
