"""PromQL's functions and aggregations, as nodes of the embedded evaluator.

:mod:`selfheal.monitoring.promql_eval` builds a :class:`Call` for each supported
function and an :class:`Aggregate` for each aggregation; the math is
:mod:`selfheal.monitoring.promql`'s. As in Prometheus, functions and aggregations
drop the metric name (``last_over_time`` and ``label_replace`` keep it);
``rate``/``increase``/``delta`` give nothing for a series with fewer than two points
in range; ``histogram_quantile`` groups buckets by their labels without ``le`` and
ignores a bucket whose ``le`` is not a number; ``label_replace`` anchors its regex
and leaves a series whose source label does not match unchanged. Label work
(groups, replaced label sets) is kept from cycle to cycle by label set
(:mod:`selfheal.monitoring.promql_labels`). No I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from selfheal.monitoring import promql
from selfheal.monitoring.promql_binop import Element, Vector
from selfheal.monitoring.promql_labels import Grouping, LabelCache, Labels
from selfheal.monitoring.promql_nodes import (
    Instant,
    Node,
    PromQLError,
    RangeSelector,
    RangeSeries,
    String,
)


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
RANGE_FUNCTIONS = frozenset({"rate", "increase", "delta", *_OVER_TIME})
SUPPORTED_FUNCTIONS = frozenset(
    {
        *RANGE_FUNCTIONS,
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


class Call(Node):
    """A call of one of ``SUPPORTED_FUNCTIONS`` (the parser has checked its arguments'
    number and types)."""

    __slots__ = ("args", "derived", "fn", "groups")

    def __init__(self, fn: str, args: list[Node]) -> None:
        self.fn = fn
        self.args = args
        self.derived = LabelCache()  # label_replace's label work
        self.groups = Grouping()  # histogram_quantile's
        self.kind = "scalar" if fn in ("scalar", "time") else "vector"
        if fn == "label_replace":
            dst, _, _, regex = (a.text for a in args[1:] if isinstance(a, String))
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
        if fn in RANGE_FUNCTIONS:
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
        assert isinstance(node, RangeSelector)
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
        groups = self.groups
        groups.cycle(len(vector))
        known = groups.known
        buckets: dict[int, dict[float, float]] = {}
        for _, labels, v in vector:
            hit = known.get(id(labels))
            if hit is None:
                bucket = _bucket_of(labels)
                found = (groups.number(bucket[0]), bucket[1]) if bucket else None
                hit = known[id(labels)] = (labels, found)
            if hit[1] is None:
                continue
            group, le = hit[1]
            counts = buckets.get(group)
            if counts is None:
                counts = buckets[group] = {}
            counts[le] = counts.get(le, 0.0) + v  # the same bound twice is summed (coalesced)
        label_sets = groups.label_sets
        return [
            (None, label_sets[g], promql.histogram_quantile(q, counts.items()))
            for g, counts in buckets.items()
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


class Aggregate(Node):
    """``op by (labels) (expr)``, or ``without``; ``param`` is quantile's φ."""

    __slots__ = ("by", "expr", "groups", "labels", "op", "param")

    def __init__(
        self, op: str, expr: Node, param: Node | None, by: bool, labels: Sequence[str]
    ) -> None:
        self.kind = "vector"
        self.op = op
        self.expr = expr
        self.param = param
        self.by = by
        self.labels = tuple(labels)
        self.groups = Grouping()

    def _group(self, labels: Labels) -> int:
        if self.by:
            key = tuple((n, labels[n]) for n in sorted(self.labels) if labels.get(n))
        else:
            skip = self.labels
            key = tuple(sorted(kv for kv in labels.items() if kv[0] not in skip))
        number = self.groups.number(key)
        self.groups.known[id(labels)] = (labels, number)
        return number

    def evaluate(self, ctx: Instant) -> Vector:
        vector: Vector = self.expr.value(ctx)
        self.groups.cycle(len(vector))
        known = self.groups.known
        values: dict[Any, list[float]] = {}
        keep_name = self.by and "__name__" in self.labels
        for name, labels, v in vector:
            hit = known.get(id(labels))
            group: Any = hit[1] if hit is not None else self._group(labels)
            if keep_name:
                group = (name, group)
            found = values.get(group)
            if found is None:
                values[group] = [v]
            else:
                found.append(v)
        if self.op == "quantile":
            assert self.param is not None
            q = self.param.value(ctx)
            f: Callable[[list[float]], float] = lambda vs: promql.quantile(q, vs)  # noqa: E731
        else:
            f = _AGGREGATE[self.op]
        label_sets = self.groups.label_sets
        if keep_name:
            return [(g[0], label_sets[g[1]], f(vs)) for g, vs in values.items()]
        return [(None, label_sets[g], f(vs)) for g, vs in values.items()]
