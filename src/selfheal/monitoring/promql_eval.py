"""The embedded PromQL evaluator: instant queries over the window store.

The indicator set (:mod:`selfheal.monitoring.indicators`) compiles every
indicator expression here once, at start, and evaluates them all at one
instant every cycle over the raw window store the scraper fills. Expressions
are parsed by the ``promql-parser`` package (the Prometheus grammar, v2.45);
the math (``rate``/``increase`` extrapolation, ``histogram_quantile``,
``quantile``) is :mod:`selfheal.monitoring.promql`'s, the binary operators and
vector matching :mod:`selfheal.monitoring.promql_binop`'s. Reads the store; no I/O.

Supported, with Prometheus' semantics (https://prometheus.io/docs/prometheus/latest/querying/):

- instant vector selectors with ``=``, ``!=``, ``=~``, ``!~`` matchers (regexes
  anchored at both ends; ``__name__`` matchers too): the newest point at or
  before the evaluation time ``t`` and after ``t - lookback`` (Prometheus'
  ``--query.lookback-delta``, 5 min by default); a series whose newest point is
  the staleness marker (NaN, written by the scraper) is absent;
- range vector selectors ``x[5s]``: the points in ``(t - 5s, t]``, staleness
  markers left out; a series without points there is absent;
- functions: ``rate``, ``increase``, ``delta``, ``avg_over_time``,
  ``min_over_time``, ``max_over_time``, ``sum_over_time``, ``count_over_time``,
  ``last_over_time``, ``histogram_quantile``, ``clamp``, ``clamp_min``,
  ``clamp_max``, ``abs``, ``ceil``, ``floor``, ``exp``, ``ln``, ``log2``,
  ``log10``, ``sqrt``, ``sgn``, ``label_replace``, ``vector``, ``scalar``, ``time``;
- aggregations ``sum``, ``min``, ``max``, ``avg``, ``count``, ``group``,
  ``stddev``, ``stdvar``, ``quantile``, each with ``by (...)`` or ``without (...)``;
- binary operators ``+ - * / % ^ atan2``, comparisons (with and without
  ``bool``), ``and``, ``or``, ``unless``, between scalars and vectors, with
  ``on``/``ignoring`` and ``group_left``/``group_right`` vector matching;
  unary minus; number literals and parentheses.

Functions, arithmetic and aggregations drop the metric name
(``last_over_time`` and ``label_replace`` keep it, as in Prometheus). Anything
else — ``offset``, ``@``, subqueries, ``topk``/``bottomk``/``count_values``,
other functions, ``{a="b" or c="d"}`` matchers — is refused when the expression
is compiled (:class:`PromQLError`), never evaluated approximately. A query that
Prometheus would fail while evaluating (many-to-many matching, ...) raises
:class:`~selfheal.monitoring.promql_binop.EvaluationError`.

Identical subexpressions of all the expressions compiled by one
:class:`Compiler` are one node, evaluated once per :class:`Instant`: the same
``rate(...)`` read by five indicators costs one read of the store.

>>> from selfheal.core.types import Sample, SeriesKey
>>> store = WindowStore()
>>> key = SeriesKey.of("requests_total", {"service": "cart"})
>>> _ = store.append_many([Sample(key, t, 10.0 * t) for t in (1.0, 2.0, 3.0, 4.0, 5.0)])
>>> query = Compiler().compile('sum by (service) (rate(requests_total[4s]))')
>>> Instant(store, at=5.0).eval(query)
[(None, {'service': 'cart'}, 10.0)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import promql_parser as pp

from selfheal.core.types import SeriesKey
from selfheal.monitoring import promql
from selfheal.monitoring.promql_binop import (
    ARITHMETIC,
    COMPARISON,
    SET_OPERATORS,
    Card,
    Element,
    EvaluationError,
    Matching,
    Vector,
    binop_scalars,
    binop_vector_scalar,
    binop_vectors,
    negate,
    set_operation,
)
from selfheal.monitoring.promql_labels import LabelCache, LabelKey, Labels, LabelSets
from selfheal.monitoring.window_store import WindowStore

__all__ = ["Compiler", "Element", "EvaluationError", "Instant", "PromQLError", "Query"]

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
            if any(v != v for v in vs):
                kept = [(t, v) for t, v in zip(ts, vs, strict=True) if v == v]
                ts, vs = [t for t, _ in kept], [v for _, v in kept]
            if ts:
                found.append((key, labels, ts, vs))
        return found


_Points = tuple[SeriesKey, Labels, list[float], list[float]]


class Node:
    """One compiled subexpression."""

    __slots__ = ("kind",)
    kind: Kind

    def value(self, ctx: Instant) -> Any:
        memo = ctx.memo
        key = id(self)
        if key in memo:
            return memo[key]
        result = memo[key] = self.evaluate(ctx)
        return result

    def evaluate(self, ctx: Instant) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Query:
    """A compiled expression; evaluate it with :meth:`Instant.eval`."""

    text: str
    root: Node

    @property
    def kind(self) -> Kind:
        return self.root.kind


# -- leaves ------------------------------------------------------------------------------
class _Number(Node):
    __slots__ = ("number",)

    def __init__(self, number: float) -> None:
        self.kind = "scalar"
        self.number = number

    def evaluate(self, ctx: Instant) -> float:
        return self.number


class _String(Node):
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


class _InstantSelector(Node):
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


class _RangeSelector(Node):
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


# -- functions ---------------------------------------------------------------------------
def _sgn(x: float) -> float:
    return x if x == 0.0 or math.isnan(x) else math.copysign(1.0, x)


def _safe(f: Callable[[float], float]) -> Callable[[float], float]:
    def apply(x: float) -> float:
        try:
            return f(x)
        except OverflowError:
            return math.inf
        except ValueError:  # ln(-1), sqrt(-1), ln(0): Go answers NaN / -Inf
            return -math.inf if x == 0.0 else math.nan

    return apply


_ELEMENTWISE: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": lambda x: x if math.isinf(x) or math.isnan(x) else float(math.ceil(x)),
    "floor": lambda x: x if math.isinf(x) or math.isnan(x) else float(math.floor(x)),
    "exp": _safe(math.exp),
    "ln": _safe(math.log),
    "log2": _safe(math.log2),
    "log10": _safe(math.log10),
    "sqrt": _safe(math.sqrt),
    "sgn": _sgn,
}


def _extrapolated(kind: str) -> Callable[[list[float], list[float], float, float], float]:
    if kind == "rate":
        return promql.rate
    if kind == "increase":
        return promql.increase
    return lambda ts, vs, start, end: promql.increase(ts, vs, start, end, is_counter=False)


_OVER_TIME: dict[str, Callable[[list[float]], float]] = {
    "avg_over_time": lambda vs: sum(vs) / len(vs),
    "min_over_time": min,
    "max_over_time": max,
    "sum_over_time": sum,
    "count_over_time": lambda vs: float(len(vs)),
    "last_over_time": lambda vs: vs[-1],
}
_RANGE_FUNCTIONS = frozenset({"rate", "increase", "delta", *_OVER_TIME})
SUPPORTED_FUNCTIONS = frozenset(
    {
        *_RANGE_FUNCTIONS,
        *_ELEMENTWISE,
        "histogram_quantile",
        "clamp",
        "clamp_min",
        "clamp_max",
        "label_replace",
        "vector",
        "scalar",
        "time",
    }
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Go's regexp.Expand template: $1, ${1}, $name, ${name}, $$
_TEMPLATE = re.compile(r"\$(?:\{(\w+)\}|(\w+)|(\$))")


def _expand(template: str, match: re.Match[str]) -> str:
    def one(ref: re.Match[str]) -> str:
        if ref.group(3):
            return "$"
        name = ref.group(1) or ref.group(2)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except IndexError:  # no such group: Go expands it to nothing
            return ""

    return _TEMPLATE.sub(one, template)


class _Call(Node):
    __slots__ = ("args", "derived", "fn", "sets")

    def __init__(self, fn: str, args: list[Node]) -> None:
        self.fn = fn
        self.args = args
        self.derived = LabelCache()  # label_replace's and histogram_quantile's label work
        self.sets = LabelSets()
        self.kind = "scalar" if fn in ("scalar", "time") else "vector"
        if fn == "label_replace":
            dst, _, _, regex = (a.text for a in args[1:] if isinstance(a, _String))
            if not _LABEL_NAME.fullmatch(dst):
                raise PromQLError(f"label_replace: invalid destination label name {dst!r}")
            try:
                re.compile(regex)
            except re.error as exc:
                raise PromQLError(
                    f"label_replace: invalid regular expression {regex!r}: {exc}"
                ) from None
        if fn == "histogram_quantile" and args[0].kind != "scalar":
            raise PromQLError("histogram_quantile: the quantile must be a scalar")

    def evaluate(self, ctx: Instant) -> Any:
        fn = self.fn
        if fn in _RANGE_FUNCTIONS:
            return self._over_range(ctx)
        if fn in _ELEMENTWISE:
            f = _ELEMENTWISE[fn]
            return [(None, labels, f(v)) for _, labels, v in self.args[0].value(ctx)]
        if fn in ("clamp", "clamp_min", "clamp_max"):
            return self._clamp(ctx)
        if fn == "histogram_quantile":
            return self._histogram_quantile(ctx)
        if fn == "label_replace":
            return self._label_replace(ctx)
        if fn == "vector":
            return [(None, {}, self.args[0].value(ctx))]
        if fn == "scalar":
            vector = self.args[0].value(ctx)
            return vector[0][2] if len(vector) == 1 else math.nan
        return ctx.at  # time()

    def _over_range(self, ctx: Instant) -> Vector:
        node = self.args[0]
        assert isinstance(node, _RangeSelector)
        series: list[RangeSeries] = node.value(ctx)
        out: Vector = []
        if self.fn in _OVER_TIME:
            f = _OVER_TIME[self.fn]
            keep_name = self.fn == "last_over_time"
            for name, labels, _, vs in series:
                out.append((name if keep_name else None, labels, f(vs)))
            return out
        extrapolate = _extrapolated(self.fn)
        start = ctx.at - node.range_seconds
        for _, labels, ts, vs in series:
            if len(ts) >= 2:
                value = extrapolate(ts, vs, start, ctx.at)
                if value == value:
                    out.append((None, labels, value))
        return out

    def _clamp(self, ctx: Instant) -> Vector:
        vector = self.args[0].value(ctx)
        bounds = [a.value(ctx) for a in self.args[1:]]
        lo = bounds[0] if self.fn in ("clamp", "clamp_min") else -math.inf
        hi = bounds[-1] if self.fn in ("clamp", "clamp_max") else math.inf
        if self.fn == "clamp" and lo > hi:
            return []
        if math.isnan(lo) or math.isnan(hi):
            return [(None, labels, math.nan) for _, labels, _ in vector]
        return [(None, labels, max(lo, min(hi, v))) for _, labels, v in vector]

    def _label_replace(self, ctx: Instant) -> Vector:
        vector = self.args[0].value(ctx)
        dst, template, src, pattern = (a.value(ctx) for a in self.args[1:])
        if dst == "__name__" or src == "__name__":
            return [_replace_name(e, dst, template, src, re.compile(pattern)) for e in vector]
        regex = re.compile(pattern)
        self.derived.cycle(len(vector))
        known = self.derived.found
        out: Vector = []
        for name, labels, v in vector:
            hit = known.get(id(labels))
            if hit is None:
                found = regex.fullmatch(labels.get(src, ""))
                changed = labels
                if found is not None:
                    new = _expand(template, found)
                    changed = dict(labels)
                    if new:
                        changed[dst] = new
                    else:
                        changed.pop(dst, None)
                hit = known[id(labels)] = (labels, changed)
            out.append((name, hit[1], v))
        return out

    def _histogram_quantile(self, ctx: Instant) -> Vector:
        """Buckets grouped by their labels without ``le`` (and the metric name);
        a bucket without a numeric ``le`` is ignored, as Prometheus does."""
        q = self.args[0].value(ctx)
        vector: Vector = self.args[1].value(ctx)
        self.derived.cycle(len(vector))
        self.sets.cycle()
        known = self.derived.found
        groups: dict[LabelKey, dict[float, float]] = {}
        for _, labels, v in vector:
            hit = known.get(id(labels))
            if hit is None:
                hit = known[id(labels)] = (labels, _bucket_of(labels))
            bucket = hit[1]
            if not bucket:
                continue
            key, le = bucket
            counts = groups.get(key)
            if counts is None:
                counts = groups[key] = {}
            counts[le] = counts.get(le, 0.0) + v  # the same bound twice is summed (coalesced)
        return [
            (None, self.sets.of(key), promql.histogram_quantile(q, counts.items()))
            for key, counts in groups.items()
        ]


def _replace_name(
    element: Element, dst: str, template: str, src: str, regex: re.Pattern[str]
) -> Element:
    name, labels, v = element
    found = regex.fullmatch((name or "") if src == "__name__" else labels.get(src, ""))
    if found is None:
        return element
    new = _expand(template, found)
    if dst == "__name__":
        return (new or None, labels, v)
    changed = dict(labels)
    if new:
        changed[dst] = new
    else:
        changed.pop(dst, None)
    return (name, changed, v)


def _bucket_of(labels: Labels) -> tuple[tuple[tuple[str, str], ...], float] | tuple[()]:
    raw = labels.get("le")
    if raw is None:
        return ()
    try:
        le = float(raw)
    except ValueError:
        return ()
    return tuple(sorted(kv for kv in labels.items() if kv[0] != "le")), le


# -- aggregations ------------------------------------------------------------------------
def _min(values: list[float]) -> float:
    out = values[0]
    for v in values[1:]:
        if v < out or out != out:
            out = v
    return out


def _max(values: list[float]) -> float:
    out = values[0]
    for v in values[1:]:
        if v > out or out != out:
            out = v
    return out


def _stdvar(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


_AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "sum": sum,
    "avg": lambda vs: sum(vs) / len(vs),
    "count": lambda vs: float(len(vs)),
    "group": lambda vs: 1.0,
    "min": _min,
    "max": _max,
    "stdvar": _stdvar,
    "stddev": lambda vs: math.sqrt(_stdvar(vs)),
}
SUPPORTED_AGGREGATIONS = frozenset({*_AGGREGATE, "quantile"})


class _Aggregate(Node):
    __slots__ = ("by", "expr", "groups", "labels", "op", "param", "sets")

    def __init__(
        self, op: str, expr: Node, param: Node | None, by: bool, labels: Sequence[str]
    ) -> None:
        self.kind = "vector"
        self.op = op
        self.expr = expr
        self.param = param
        self.by = by
        self.labels = tuple(labels)
        self.groups = LabelCache()  # input label set -> its group's key and label set
        self.sets = LabelSets()

    def _group(self, labels: Labels) -> tuple[LabelKey, Labels]:
        if self.by:
            key = tuple((n, labels[n]) for n in sorted(self.labels) if labels.get(n))
        else:
            skip = self.labels
            key = tuple(sorted(kv for kv in labels.items() if kv[0] not in skip))
        found: tuple[LabelKey, Labels] = self.groups.put(labels, (key, self.sets.of(key)))
        return found

    def evaluate(self, ctx: Instant) -> Vector:
        vector: Vector = self.expr.value(ctx)
        self.groups.cycle(len(vector))
        self.sets.cycle()
        groups: dict[tuple[str | None, LabelKey], tuple[Labels, list[float]]] = {}
        keep_name = self.by and "__name__" in self.labels
        known = self.groups.found
        for name, labels, v in vector:
            hit = known.get(id(labels))
            grouped = hit[1] if hit is not None else self._group(labels)
            key = (name if keep_name else None, grouped[0])
            found = groups.get(key)
            if found is None:
                groups[key] = (grouped[1], [v])
            else:
                found[1].append(v)
        if self.op == "quantile":
            assert self.param is not None
            q = self.param.value(ctx)
            return [(k[0], g, promql.quantile(q, vs)) for k, (g, vs) in groups.items()]
        f = _AGGREGATE[self.op]
        return [(k[0], g, f(vs)) for k, (g, vs) in groups.items()]


# -- binary operators --------------------------------------------------------------------
class _Binary(Node):
    __slots__ = ("lhs", "matching", "op", "return_bool", "rhs", "signatures")

    def __init__(
        self, op: str, lhs: Node, rhs: Node, matching: Matching, return_bool: bool
    ) -> None:
        self.op = op
        self.lhs = lhs
        self.rhs = rhs
        self.matching = matching
        self.return_bool = return_bool
        self.kind = "scalar" if lhs.kind == rhs.kind == "scalar" else "vector"
        self.signatures = LabelCache()

    def evaluate(self, ctx: Instant) -> Any:
        a = self.lhs.value(ctx)
        b = self.rhs.value(ctx)
        if isinstance(a, list) and isinstance(b, list):
            self.signatures.cycle(len(a) + len(b))
        if self.op in SET_OPERATORS:
            return set_operation(self.op, a, b, self.matching, self.signatures)
        left_scalar = self.lhs.kind == "scalar"
        right_scalar = self.rhs.kind == "scalar"
        if left_scalar and right_scalar:
            return binop_scalars(self.op, a, b)
        if right_scalar:
            return binop_vector_scalar(self.op, a, b, swap=False, return_bool=self.return_bool)
        if left_scalar:
            return binop_vector_scalar(self.op, b, a, swap=True, return_bool=self.return_bool)
        return binop_vectors(
            self.op, a, b, self.matching, return_bool=self.return_bool, cache=self.signatures
        )


class _Negate(Node):
    __slots__ = ("expr",)

    def __init__(self, expr: Node) -> None:
        self.kind = expr.kind
        self.expr = expr

    def evaluate(self, ctx: Instant) -> Any:
        value = self.expr.value(ctx)
        return -value if self.kind == "scalar" else negate(value)


# -- compiling ---------------------------------------------------------------------------
def _card(value: pp.VectorMatchCardinality) -> Card:
    # the parser's enums are not hashable: compare one by one
    if value == pp.VectorMatchCardinality.ManyToOne:
        return "many-to-one"
    if value == pp.VectorMatchCardinality.OneToMany:
        return "one-to-many"
    if value == pp.VectorMatchCardinality.ManyToMany:
        return "many-to-many"
    return "one-to-one"


class Compiler:
    """Compiles expressions into node trees, sharing identical subexpressions
    across every expression it compiles."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}

    def compile(self, text: str) -> Query:
        """Parse and check ``text``; :class:`PromQLError` says what is wrong."""
        try:
            ast = pp.parse(text)
        except Exception as exc:  # the parser raises ValueError/TypeError with its message
            raise PromQLError(str(exc).strip() or "not a valid PromQL expression") from None
        root = self._node(ast)
        if root.kind not in ("vector", "scalar"):
            raise PromQLError(f"the expression yields a {root.kind}, not an instant vector")
        return Query(text, root)

    def _node(self, ast: pp.Expr) -> Node:
        if isinstance(ast, pp.ParenExpr):
            return self._node(ast.expr)
        key = f"{type(ast).__name__}:{ast}"
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = self._build(ast)
        return node

    def _build(self, ast: pp.Expr) -> Node:
        if isinstance(ast, pp.NumberLiteral):
            return _Number(float(ast.val))
        if isinstance(ast, pp.StringLiteral):
            return _String(ast.val)
        if isinstance(ast, pp.VectorSelector):
            return _InstantSelector(ast)
        if isinstance(ast, pp.MatrixSelector):
            return _RangeSelector(ast)
        if isinstance(ast, pp.UnaryExpr):
            return _Negate(self._node(ast.expr))
        if isinstance(ast, pp.Call):
            name = ast.func.name
            if name not in SUPPORTED_FUNCTIONS:
                raise PromQLError(f"function {name}() is not supported")
            args = [self._node(a) for a in ast.args]
            if name in _RANGE_FUNCTIONS and not isinstance(args[0], _RangeSelector):
                raise PromQLError(f"{name}() needs a range selector such as x[1m]")
            return _Call(name, args)
        if isinstance(ast, pp.AggregateExpr):
            return self._aggregate(ast)
        if isinstance(ast, pp.BinaryExpr):
            return self._binary(ast)
        raise PromQLError(f"{type(ast).__name__} ({ast}) is not supported")

    def _aggregate(self, ast: pp.AggregateExpr) -> Node:
        op = str(ast.op)
        if op not in SUPPORTED_AGGREGATIONS:
            raise PromQLError(f"aggregation {op} is not supported")
        expr = self._node(ast.expr)
        if expr.kind != "vector":
            raise PromQLError(f"{op} needs an instant vector")
        param = self._node(ast.param) if op == "quantile" and ast.param is not None else None
        if op == "quantile" and (param is None or param.kind != "scalar"):
            raise PromQLError("quantile needs a scalar parameter")
        modifier = ast.modifier
        by = modifier is None or modifier.type == pp.AggModifierType.By
        labels = list(modifier.labels) if modifier is not None else []
        return _Aggregate(op, expr, param, by, labels)

    def _binary(self, ast: pp.BinaryExpr) -> Node:
        op = str(ast.op)
        if op not in ARITHMETIC and op not in COMPARISON and op not in SET_OPERATORS:
            raise PromQLError(f"operator {op} is not supported")
        lhs, rhs = self._node(ast.lhs), self._node(ast.rhs)
        for side in (lhs, rhs):
            if side.kind not in ("scalar", "vector"):
                raise PromQLError(f"operator {op} needs scalars or instant vectors")
        mod = ast.modifier
        matching = Matching("many-to-many" if op in SET_OPERATORS else "one-to-one")
        return_bool = False
        if mod is not None:
            fill = mod.fill_values
            if fill is not None and (fill.lhs is not None or fill.rhs is not None):
                raise PromQLError("fill modifiers are not supported")
            return_bool = mod.return_bool
            on = mod.matching is not None and mod.matching.type == pp.LabelModifierType.Include
            labels = tuple(mod.matching.labels) if mod.matching is not None else ()
            card = _card(mod.card)
            if op in SET_OPERATORS:
                card = "many-to-many"
            include = tuple(mod.group_labels or ())
            matching = Matching(card, on, labels, include)
        return _Binary(op, lhs, rhs, matching, return_bool)
