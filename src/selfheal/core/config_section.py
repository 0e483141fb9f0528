"""The base of every configuration section (``selfheal.core.config``): unknown keys
refused, values frozen, no infinite or NaN number anywhere."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


def _refuse_twice(what: str, names: list[str]) -> None:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{what}: {', '.join(twice)}")


class _Section(BaseModel):
    # no infinite or NaN number anywhere: a .inf timeout or a .nan cooldown would disable
    # what it bounds, and neither has a JSON form for the API
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
