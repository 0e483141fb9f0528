"""PromQL's binary operators and vector matching, for the embedded evaluator.

:mod:`selfheal.monitoring.promql_eval` calls these when it evaluates a binary
expression; they work on the evaluator's values (a scalar is a float, an instant
vector a list of ``(name, labels, value)`` elements) and do no I/O. The rules
are Prometheus' (``promql/engine.go``: ``VectorBinop``, ``VectorAnd``,
``VectorOr``, ``VectorUnless``, ``VectorscalarBinop``, ``resultMetric``;
https://prometheus.io/docs/prometheus/latest/querying/operators/):

- arithmetic (``+ - * / % ^ atan2``) yields floats as IEEE 754 does (``x / 0``
  is ±Inf or NaN, never an exception) and drops the metric name;
- a comparison (``== != > < >= <=``) filters: an element is kept, with the
  value of the vector side, when the comparison holds; with ``bool`` every
  matched element is kept with value 1 or 0 and loses its metric name;
- vector to vector, elements match on their labels except the metric name,
  or on the labels of ``on(...)``, or on all but those of ``ignoring(...)``;
  one-to-one matching keeps the left side's labels (only the ``on`` labels /
  without the ``ignoring`` ones); ``group_left(...)`` / ``group_right(...)``
  (many-to-one / one-to-many) keep the "many" side's labels plus the listed
  ones copied from the "one" side; a match group that is not unique where it
  must be raises :class:`EvaluationError` with Prometheus' message;
- ``and`` keeps the left elements that have a match on the right, ``unless``
  those that have none, ``or`` all left elements plus the right ones whose
  label set has no match on the left.

>>> up = [("up", {"service": "a"}, 1.0), ("up", {"service": "b"}, 0.0)]
>>> binop_vector_scalar("==", up, 0.0, swap=False, return_bool=False)
[('up', {'service': 'b'}, 0.0)]
>>> binop_vector_scalar("*", up, 2.0, swap=False, return_bool=False)
[(None, {'service': 'a'}, 2.0), (None, {'service': 'b'}, 0.0)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from selfheal.monitoring.promql_labels import LabelCache, Labels

Element = tuple[str | None, Labels, float]
Vector = list[Element]
Card = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]


class EvaluationError(RuntimeError):
    """A query that Prometheus, too, would fail while evaluating it (for example
    a many-to-many match of an arithmetic operation)."""


def _div(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    if b == 0.0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)  # Go's math.Mod: the result has the sign of a


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except ValueError:  # a negative base with a fractional exponent, 0 to a negative power
        return math.inf if a == 0.0 else math.nan


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "%": _mod,
    "^": _pow,
    "atan2": math.atan2,
}
COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}
SET_OPERATORS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True, slots=True)
class Matching:
    """How two vectors' elements are paired: ``on`` (True: only ``labels`` count;
    False: every label but ``labels`` and the metric name counts), the
    cardinality, and the ``group_left``/``group_right`` labels to copy."""

    card: Card = "one-to-one"
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


def signature(
    matching: Matching, cache: LabelCache | None = None
) -> Callable[[Element], tuple[object, ...]]:
    """The key two elements must share to match (kept in ``cache`` by label set)."""
    names = matching.labels
    compute: Callable[[Element], tuple[object, ...]]
    if matching.on:
        if "__name__" in names:  # the name is not in the label dict: never cached
            return lambda e: tuple(
                (e[0] or "") if n == "__name__" else e[1].get(n, "") for n in names
            )
        compute = lambda e: tuple(e[1].get(n, "") for n in names)  # noqa: E731
    else:
        skip = frozenset(names)
        compute = lambda e: tuple(sorted(kv for kv in e[1].items() if kv[0] not in skip))  # noqa: E731
    if cache is None:
        return compute
    known = cache.found

    def cached(e: Element) -> tuple[object, ...]:
        hit = known.get(id(e[1]))
        if hit is None:
            hit = known[id(e[1])] = (e[1], compute(e))
        return hit[1]

    return cached


def binop_scalars(op: str, a: float, b: float) -> float:
    """Scalar op scalar (a comparison needs ``bool`` there; the parser requires it)."""
    if op in ARITHMETIC:
        return ARITHMETIC[op](a, b)
    return 1.0 if COMPARISON[op](a, b) else 0.0


def binop_vector_scalar(
    op: str, vector: Vector, scalar: float, *, swap: bool, return_bool: bool
) -> Vector:
    """``vector op scalar`` (``scalar op vector`` with ``swap``)."""
    out: Vector = []
    if op in ARITHMETIC:
        f = ARITHMETIC[op]
        for _, labels, v in vector:
            out.append((None, labels, f(scalar, v) if swap else f(v, scalar)))
        return out
    cmp = COMPARISON[op]
    for name, labels, v in vector:
        keep = cmp(scalar, v) if swap else cmp(v, scalar)
        if return_bool:
            out.append((None, labels, 1.0 if keep else 0.0))
        elif keep:
            out.append((name, labels, v))  # the vector element's value, whichever side
    return out


def set_operation(
    op: str, lhs: Vector, rhs: Vector, matching: Matching, cache: LabelCache | None = None
) -> Vector:
    """``and`` / ``or`` / ``unless``."""
    sig = signature(matching, cache)
    if op == "and":
        right = {sig(e) for e in rhs}
        return [e for e in lhs if sig(e) in right]
    if op == "unless":
        right = {sig(e) for e in rhs}
        return [e for e in lhs if sig(e) not in right]
    left = {sig(e) for e in lhs}
    return lhs + [e for e in rhs if sig(e) not in left]


def _describe(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _result_labels(many: Labels, one: Labels, matching: Matching) -> Labels:
    if matching.card == "one-to-one":
        if matching.on:
            keep = matching.labels
            return {k: v for k, v in many.items() if k in keep}
        if not matching.labels:
            return many
        drop = matching.labels
        return {k: v for k, v in many.items() if k not in drop}
    if not matching.include:
        return many
    out = dict(many)
    for name in matching.include:
        value = one.get(name, "")
        if value:
            out[name] = value
        else:
            out.pop(name, None)
    return out


def binop_vectors(
    op: str,
    lhs: Vector,
    rhs: Vector,
    matching: Matching,
    *,
    return_bool: bool,
    cache: LabelCache | None = None,
) -> Vector:
    """``vector op vector`` for arithmetic and comparison operators."""
    swapped = matching.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    sig = signature(matching, cache)
    one_by_sig: dict[tuple[object, ...], Element] = {}
    for e in one:
        s = sig(e)
        if s in one_by_sig:
            side = "left" if swapped else "right"
            raise EvaluationError(
                f"found duplicate series for the match group {_describe(e[1])} on the {side}"
                " hand-side of the operation; many-to-many matching not allowed: matching"
                " labels must be unique on one side"
            )
        one_by_sig[s] = e
    arithmetic = ARITHMETIC.get(op)
    cmp = COMPARISON.get(op)
    seen: dict[tuple[object, ...], set[tuple[tuple[str, str], ...]]] = {}
    out: Vector = []
    for e in many:
        s = sig(e)
        other = one_by_sig.get(s)
        if other is None:
            continue
        vl, vr = (other[2], e[2]) if swapped else (e[2], other[2])
        if arithmetic is not None:
            value, keep = arithmetic(vl, vr), True
        else:
            assert cmp is not None
            value, keep = vl, cmp(vl, vr)
        if return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if not keep:
            continue
        labels = _result_labels(e[1], other[1], matching)
        name = None if arithmetic is not None or return_bool else e[0]
        if matching.card == "one-to-one" and matching.on:
            name = name if "__name__" in matching.labels else None
        _check_unique(seen, s, labels, matching)
        out.append((name, labels, value))
    return out


def _check_unique(
    seen: dict[tuple[object, ...], set[tuple[tuple[str, str], ...]]],
    sig: tuple[object, ...],
    labels: Labels,
    matching: Matching,
) -> None:
    if matching.card == "one-to-one":
        if sig in seen:
            raise EvaluationError(
                "multiple matches for labels: many-to-one matching must be explicit"
                " (group_left/group_right)"
            )
        seen[sig] = set()
        return
    inserted = seen.setdefault(sig, set())
    key = tuple(sorted(labels.items()))
    if key in inserted:
        raise EvaluationError(
            "multiple matches for labels: grouping labels must ensure unique matches"
        )
    inserted.add(key)


def negate(vector: Sequence[Element]) -> Vector:
    """Unary minus: the values negated, the metric name dropped."""
    return [(None, labels, -v) for _, labels, v in vector]
