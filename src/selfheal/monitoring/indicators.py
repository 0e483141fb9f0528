"""The one indicator path: the indicator table, compiled once, evaluated every cycle.

The loop's collector (``selfheal.loop.collector``) builds one :class:`IndicatorSet`
at start — the shipped table (:mod:`selfheal.monitoring.indicator_table`) plus the
``indicators:`` entries of the configuration — and calls :meth:`IndicatorSet.evaluate`
once per cycle over the raw window store the scraper fills. Every expression is
evaluated at the same instant by the embedded PromQL evaluator
(:mod:`selfheal.monitoring.promql_eval`), and each result element becomes one
indicator :class:`Sample` named after its indicator (the names of
:mod:`selfheal.core.indicators`), with the element's labels (``service``, and
``instance`` / ``target`` where the expression keeps them). Like a Prometheus
recording rule, the entry's name replaces whatever metric name the expression
yields. An element without a ``service`` label, or whose value is NaN (the p99 of
no observations), is not emitted: nothing downstream could place it.

The same evaluation gives the call graph: a node per ``service`` of the ``up``
series, an edge per caller → ``target`` of ``upstream_requests_total``
(``indicator_table.GRAPH_*``).

The table comes in presets, one per metric convention (:data:`PRESETS`, chosen by
the ``indicators_preset`` setting): ``native``, the names of
``docs/local-platform-api.md`` (``indicator_table``), and ``opentelemetry``, the
HTTP semantic conventions as exported to Prometheus (``indicator_otel``). The
indicators' names and labels are the same in both.

The range of ``rate``/``increase`` (``$window`` in the expressions) follows the
scrape interval: :func:`window_seconds` is four intervals (why: ``indicator_table``). A query that fails
while being evaluated (Prometheus would fail it too, e.g. a many-to-many match of a
configured expression) emits nothing that cycle and is logged once; the other
indicators are unaffected. Reads the store; no I/O.

>>> from selfheal.core.types import SeriesKey
>>> store = WindowStore()
>>> key = SeriesKey.of("up", {"service": "orders", "instance_id": "orders-0"})
>>> _ = store.append(Sample(key, 10.0, 1.0))
>>> samples, graph = IndicatorSet(window_seconds=4.0).evaluate(store, 10.0)
>>> [str(s.series) for s in samples], list(graph.nodes)
(['up{instance="orders-0",service="orders"}'], ['orders'])
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import networkx as nx

from selfheal.core.errors import ConfigError
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.indicator_otel import OPENTELEMETRY_TABLE
from selfheal.monitoring.indicator_table import (
    NATIVE_TABLE,
    WINDOW,
    WINDOW_SCRAPES,
    IndicatorDef,
    IndicatorTable,
)
from selfheal.monitoring.promql_eval import (
    DEFAULT_LOOKBACK_SECONDS,
    Compiler,
    EvaluationError,
    Instant,
    PromQLError,
    Query,
)
from selfheal.monitoring.window_store import WindowStore

__all__ = [
    "PRESETS",
    "IndicatorDef",
    "IndicatorSet",
    "call_graph",
    "duration",
    "window_seconds",
]

log = logging.getLogger(__name__)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_WINDOW_TOKEN = re.compile(re.escape(WINDOW) + r"\b")

PRESETS: dict[str, IndicatorTable] = {t.name: t for t in (NATIVE_TABLE, OPENTELEMETRY_TABLE)}
"""The shipped tables by metric convention (the ``indicators_preset`` setting)."""


def _preset(name: str) -> IndicatorTable:
    """The shipped table of convention ``name``; ``ConfigError`` naming the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ConfigError(f"unknown indicator preset {name!r}; known: {known}") from None


def window_seconds(scrape_interval_seconds: float) -> float:
    """The range of every ``rate``/``increase``: ``WINDOW_SCRAPES`` scrape intervals."""
    return WINDOW_SCRAPES * scrape_interval_seconds


def duration(seconds: float) -> str:
    """A PromQL duration: ``4s``, or ``1500ms`` for a fraction of a second.

    >>> duration(4.0), duration(1.5), duration(20)
    ('4s', '1500ms', '20s')
    """
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"a range must be at least 1 ms, got {seconds} s")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


class IndicatorEntry(Protocol):
    """A configured indicator (``core.config.IndicatorConfig``)."""

    @property
    def name(self) -> str: ...

    @property
    def expr(self) -> str: ...

    @property
    def help(self) -> str: ...


def merged(
    defaults: Sequence[IndicatorDef], extra: Iterable[IndicatorDef]
) -> tuple[IndicatorDef, ...]:
    """``defaults`` with each ``extra`` entry replacing the one of its name, or added."""
    table = {d.name: d for d in defaults}
    for d in extra:
        table[d.name] = d
    return tuple(table.values())


class IndicatorSet:
    """Compiled indicator expressions plus the call-graph queries."""

    def __init__(
        self,
        definitions: Sequence[IndicatorDef] | None = None,
        *,
        window_seconds: float,
        lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
        preset: str = "native",
    ) -> None:
        """Compile every definition (default: the ``preset``'s table) and the
        ``preset``'s call-graph queries; ``PromQLError`` (prefixed with the indicator's
        name) on the first that is not a valid expression of the supported subset."""
        table = _preset(preset)
        self.preset = table.name
        if definitions is None:
            definitions = table.definitions
        self.window_seconds = window_seconds
        self.lookback_seconds = lookback_seconds
        self.window = duration(window_seconds)
        compiler = Compiler()
        queries: list[tuple[IndicatorDef, Query]] = []
        for d in definitions:
            if not _METRIC_NAME.fullmatch(d.name):
                raise PromQLError(f"{d.name!r} is not a valid indicator name")
            try:
                queries.append((d, self._compile(compiler, d.expr)))
            except PromQLError as exc:
                raise PromQLError(f"{d.name}: {exc}") from None
        self.definitions = tuple(d for d, _ in queries)
        self._queries = tuple(queries)
        self.graph_queries = (table.graph_services, table.graph_edges)  # standard PromQL
        self._services = compiler.compile(table.graph_services)
        self._edges = compiler.compile(table.graph_edges)
        self._reported: set[str] = set()

    def _compile(self, compiler: Compiler, expr: str) -> Query:
        query = compiler.compile(self.expand(expr))
        if query.kind != "vector":
            raise PromQLError("the expression yields a scalar, not an instant vector")
        return query

    def expand(self, expr: str) -> str:
        """``expr`` with ``$window`` replaced by this set's range."""
        return _WINDOW_TOKEN.sub(self.window, expr)

    @classmethod
    def from_config(
        cls,
        entries: Sequence[IndicatorEntry],
        *,
        window_seconds: float,
        key: str = "indicators",
        preset: str = "native",
    ) -> IndicatorSet:
        """The shipped table of ``preset`` with the configured ``entries`` added or
        replacing the entries of the same name; ``ConfigError`` naming every bad
        entry's key (``indicators.2.expr: ...``), nothing built then."""
        table = _preset(preset)
        extra = [IndicatorDef(e.name, e.expr, help=e.help) for e in entries]
        problems = []
        for i, d in enumerate(extra):
            try:
                cls([d], window_seconds=window_seconds)
            except PromQLError as exc:
                message = str(exc).removeprefix(f"{d.name}: ")
                problems.append(f"{key}.{i}.expr: {message}")
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(
            merged(table.definitions, extra), window_seconds=window_seconds, preset=table.name
        )

    def expressions(self) -> dict[str, str]:
        """Each indicator's expression as evaluated (``$window`` replaced)."""
        return {d.name: self.expand(d.expr) for d in self.definitions}

    def evaluate(self, store: WindowStore, at: float) -> tuple[list[Sample], nx.DiGraph]:
        """Every indicator's samples at ``at`` (sorted by series within an indicator,
        indicators in table order) and the call graph.

        The evaluation makes a few hundred thousand short-lived tuples and lists at
        fleet size, none in a reference cycle: the cyclic garbage collector is paused
        meanwhile (its collections, started by allocation counts, would each walk every
        long-lived object of the process; at 20,000 series that was half the cycle's
        time, ``bench/fleet_cycle.py``). Reference counting frees them as usual."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._evaluate(store, at)
        finally:
            if paused:
                gc.enable()

    def _evaluate(self, store: WindowStore, at: float) -> tuple[list[Sample], nx.DiGraph]:
        instant = Instant(store, at, self.lookback_seconds)
        out: list[Sample] = []
        for d, query in self._queries:
            try:
                vector = instant.eval(query)
            except EvaluationError as exc:
                self.report(d.name, str(exc))
                continue
            out.extend(self.samples(d.name, ((labels, v) for _, labels, v in vector), at))
        services = (labels for _, labels, _ in instant.eval(self._services))
        edges = (labels for _, labels, _ in instant.eval(self._edges))
        return out, call_graph(services, edges)

    def samples(
        self, name: str, elements: Iterable[tuple[Mapping[str, str], float]], at: float
    ) -> list[Sample]:
        """The samples of indicator ``name`` from its result's (labels, value) elements,
        sorted by series: NaN values and elements without ``service`` left out, nothing
        (reported) when two elements share a label set. Any evaluator's result (the
        embedded one's, a Prometheus server's) becomes samples here."""
        found: dict[SeriesKey, float] = {}
        for labels, value in elements:
            if value != value or not labels.get("service"):
                continue
            key = SeriesKey.of(name, labels)
            if key in found:
                self.report(name, f"vector cannot contain metrics with the same labelset {key}")
                return []
            found[key] = value
        return [Sample(k, at, found[k]) for k in sorted(found, key=_order)]

    def report(self, name: str, message: str) -> None:
        """Log ``message`` about indicator ``name`` once while it lasts."""
        text = f"indicator {name}: {message}"
        if text not in self._reported:
            if len(self._reported) > 1000:  # messages that name series: stay bounded
                self._reported.clear()
            self._reported.add(text)
            log.warning("%s (nothing emitted for it while this lasts)", text)


def call_graph(
    services: Iterable[Mapping[str, str]], edges: Iterable[Mapping[str, str]]
) -> nx.DiGraph:
    """The call graph from the label sets of ``GRAPH_SERVICES`` and ``GRAPH_EDGES``."""
    graph = nx.DiGraph()
    for labels in services:
        if labels.get("service"):
            graph.add_node(labels["service"])
    for labels in edges:
        caller, callee = labels.get("service"), labels.get("target")
        if caller and callee:
            graph.add_edge(caller, callee)
    return graph


def _order(key: SeriesKey) -> tuple[tuple[str, str], ...]:
    return key.labels
