"""The embedded PromQL evaluator: instant queries over the window store.

The indicator set (:mod:`selfheal.monitoring.indicators`) compiles every
indicator expression here once, at start, and evaluates them all at one
instant every cycle over the raw window store the scraper fills. Expressions
are parsed by the ``promql-parser`` package (the Prometheus grammar, v2.45);
the math (``rate``/``increase`` extrapolation, ``histogram_quantile``,
``quantile``) is :mod:`selfheal.monitoring.promql`'s, the binary operators and
vector matching :mod:`selfheal.monitoring.promql_binop`'s; selectors are in
:mod:`selfheal.monitoring.promql_nodes`, functions and aggregations in
:mod:`selfheal.monitoring.promql_functions`. This module compiles. Reads the
store; no I/O.

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
>>> from selfheal.monitoring.window_store import WindowStore
>>> store = WindowStore()
>>> key = SeriesKey.of("requests_total", {"service": "orders"})
>>> _ = store.append_many([Sample(key, t, 10.0 * t) for t in (1.0, 2.0, 3.0, 4.0, 5.0)])
>>> query = Compiler().compile('sum by (service) (rate(requests_total[4s]))')
>>> Instant(store, at=5.0).eval(query)
[(None, {'service': 'orders'}, 10.0)]
"""

from __future__ import annotations

from typing import Any

import promql_parser as pp

from selfheal.monitoring.promql_binop import (
    ARITHMETIC,
    COMPARISON,
    SET_OPERATORS,
    Card,
    Element,
    EvaluationError,
    Matching,
    binop_scalars,
    binop_vector_scalar,
    binop_vectors,
    negate,
    set_operation,
)
from selfheal.monitoring.promql_functions import (
    RANGE_FUNCTIONS,
    SUPPORTED_AGGREGATIONS,
    SUPPORTED_FUNCTIONS,
    Aggregate,
    Call,
)
from selfheal.monitoring.promql_labels import LabelCache
from selfheal.monitoring.promql_nodes import (
    DEFAULT_LOOKBACK_SECONDS,
    Instant,
    InstantSelector,
    Node,
    Number,
    PromQLError,
    Query,
    RangeSelector,
    String,
)

__all__ = [
    "DEFAULT_LOOKBACK_SECONDS",
    "Compiler",
    "Element",
    "EvaluationError",
    "Instant",
    "PromQLError",
    "Query",
]


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
            return Number(float(ast.val))
        if isinstance(ast, pp.StringLiteral):
            return String(ast.val)
        if isinstance(ast, pp.VectorSelector):
            return InstantSelector(ast)
        if isinstance(ast, pp.MatrixSelector):
            return RangeSelector(ast)
        if isinstance(ast, pp.UnaryExpr):
            return _Negate(self._node(ast.expr))
        if isinstance(ast, pp.Call):
            name = ast.func.name
            if name not in SUPPORTED_FUNCTIONS:
                raise PromQLError(f"function {name}() is not supported")
            args = [self._node(a) for a in ast.args]
            if name in RANGE_FUNCTIONS and not isinstance(args[0], RangeSelector):
                raise PromQLError(f"{name}() needs a range selector such as x[1m]")
            return Call(name, args)
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
        return Aggregate(op, expr, param, by, labels)

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
