"""Label sets of the embedded PromQL evaluator, and what is derived from them, kept
from one cycle to the next.

The evaluator (:mod:`selfheal.monitoring.promql_eval`, :mod:`selfheal.monitoring.promql_binop`)
works on label dicts that are never modified: the window store keeps one per series
for its life, and every node that makes new label sets (aggregations,
``histogram_quantile``, ``label_replace``) keeps handing out the same dict for the
same label set (:class:`Grouping`, ``LabelCache``). So whatever a node derives from a
label set — its group, its matching signature, its replaced labels — is found again
next cycle by the dict's identity, instead of being recomputed for every series every
cycle. Both stay within a small multiple of the label sets in use, so memory follows
the live series. No I/O.

>>> groups = Grouping()
>>> groups.number((("service", "orders"),)), groups.number((("service", "web"),))
(0, 1)
>>> groups.number((("service", "orders"),)), groups.label_sets[0]
(0, {'service': 'orders'})
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


class Grouping:
    """Groups of label sets, numbered for the life of the node that groups: ``known``
    maps an input label dict's id to ``(the dict, what it was found to be)`` (its
    group's number, and whatever else the node derives), ``label_sets[n]`` is group
    ``n``'s one shared label dict. Call :meth:`cycle` at the start of each evaluation
    with the number of label sets about to be grouped: past twice that, it starts over."""

    __slots__ = ("_numbers", "known", "label_sets")

    def __init__(self) -> None:
        self.known: dict[int, tuple[Labels, Any]] = {}
        self._numbers: dict[LabelKey, int] = {}
        self.label_sets: list[Labels] = []

    def cycle(self, expected: int) -> None:
        limit = 2 * expected + 1024
        if len(self.known) > limit or len(self.label_sets) > limit:
            self.known, self._numbers, self.label_sets = {}, {}, []

    def number(self, key: LabelKey) -> int:
        """The number of the group whose labels are ``key`` (sorted pairs)."""
        found = self._numbers.get(key)
        if found is None:
            found = self._numbers[key] = len(self.label_sets)
            self.label_sets.append(dict(key))
        return found
