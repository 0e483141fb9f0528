"""JSON for the state store: turn the loop's values into plain JSON, canonically.

Every store module writes payloads through :func:`to_jsonable` (dataclasses,
enums, tuples, sets and mappings from ``selfheal.core.types`` become plain JSON
values) and :func:`canonical_json` (sorted keys, no spaces, UTF-8), so that the
audit trail hashes exactly the text it stores. Non-finite floats have no JSON
form; they are written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

>>> canonical_json({"b": 1, "a": (1.5, float("nan"))})
'{"a":[1.5,"NaN"],"b":1}'
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from typing import Any


def to_jsonable(value: Any) -> Any:
    """A plain-JSON copy of ``value``; TypeError naming the type it cannot convert."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")  # private caches (e.g. SeriesKey's hash)
        }
    if isinstance(value, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON: {value!r}")


def canonical_json(value: Any) -> str:
    """Deterministic JSON text of ``value`` (after :func:`to_jsonable`)."""
    return json.dumps(
        to_jsonable(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
