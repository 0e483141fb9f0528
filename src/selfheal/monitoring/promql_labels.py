"""Label sets of the embedded PromQL evaluator, and what is derived from them, kept
from one cycle to the next.

The evaluator (:mod:`selfheal.monitoring.promql_eval`, :mod:`selfheal.monitoring.promql_binop`)
works on label dicts that are never modified: the window store keeps one per series
for its life, and every node that makes new label sets (aggregations,
``histogram_quantile``, ``label_replace``) hands out one shared dict per label set
(:class:`LabelSets`). So whatever a node derives from a label set — its group, its
matching signature, its replaced labels — is found again next cycle by the dict's
identity (:class:`LabelCache`), instead of being recomputed for every series every
cycle. Both keep two generations: what was not used during the last evaluation is
dropped at the next, so memory follows the live series. No I/O.

>>> sets = LabelSets()
>>> a = sets.of((("service", "cart"),))
>>> a is sets.of((("service", "cart"),)), a
(True, {'service': 'cart'})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Labels = Mapping[str, str]
LabelKey = tuple[tuple[str, str], ...]


class LabelCache:
    """A value derived from a label dict, found again by the dict's identity:
    ``found.get(id(labels))`` is ``(labels, value)`` or None (the dict is kept in
    the entry, so that its id cannot be reused while the entry lives).

    Call :meth:`cycle` once at the start of each evaluation with the number of label
    sets about to be looked up: past twice that (label sets that come and go), the
    cache starts over."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: dict[int, tuple[Labels, Any]] = {}

    def cycle(self, expected: int) -> None:
        if len(self.found) > 2 * expected + 1024:
            self.found = {}

    def get(self, labels: Labels) -> Any:
        hit = self.found.get(id(labels))
        return None if hit is None else hit[1]

    def put(self, labels: Labels, value: Any) -> Any:
        self.found[id(labels)] = (labels, value)
        return value


class LabelSets:
    """One shared dict per label set. Call :meth:`cycle` at the start of each evaluation."""

    __slots__ = ("_before", "_now")

    def __init__(self) -> None:
        self._now: dict[LabelKey, Labels] = {}
        self._before: dict[LabelKey, Labels] = {}

    def cycle(self) -> None:
        self._before, self._now = self._now, {}

    def of(self, key: LabelKey) -> Labels:
        found = self._now.get(key)
        if found is None:
            found = self._before.get(key)
            if found is None:
                found = dict(key)
            self._now[key] = found
        return found
