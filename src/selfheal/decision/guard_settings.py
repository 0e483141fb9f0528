"""Guard settings: the limits the safety guards enforce, loaded at the edge.

``selfheal.decision.guards`` reads these; the loop builds them from its YAML
configuration with ``load_guard_settings`` (errors name the key and the file).
Every field names its unit and says why its default; pydantic validates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from selfheal.core.errors import ConfigError


class MaintenanceWindow(BaseModel):
    """A time span (seconds since the epoch) in which the loop does not act, optionally
    repeating every ``every_seconds`` (86400: daily, 604800: weekly)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_seconds: float = Field(description="(First) window start, seconds since the epoch.")
    end_seconds: float = Field(
        description="(First) window end (exclusive), seconds since the epoch."
    )
    every_seconds: float | None = Field(
        default=None, gt=0, description="Repeat period; None for a one-off window."
    )
    services: frozenset[str] = Field(
        default=frozenset(), description="Services it covers; empty means every service."
    )
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.end_seconds <= self.start_seconds:
            raise ValueError("end_seconds must be after start_seconds")
        if self.every_seconds is not None and self.every_seconds <= (
            self.end_seconds - self.start_seconds
        ):
            raise ValueError("every_seconds must be longer than the window")
        return self

    def ends_at(self, now: float) -> float | None:
        """End of the occurrence covering ``now``, or None when ``now`` is outside."""
        if now < self.start_seconds:
            return None
        duration = self.end_seconds - self.start_seconds
        offset = now - self.start_seconds
        if self.every_seconds is not None:
            offset %= self.every_seconds
        return now + (duration - offset) if offset < duration else None

    def covers(self, service: str, now: float) -> bool:
        in_scope = not self.services or service in self.services
        return in_scope and self.ends_at(now) is not None


class GuardSettings(BaseModel):
    """Guard limits. Every field names its unit; defaults suit a demo-sized shop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown_seconds: float = Field(
        default=60.0,
        ge=0,
        description="After an action on a target, other incidents (and the same action kind) "
        "wait this long before acting on it again: long enough for metrics to settle over "
        "several scrape intervals, short enough to act on a new fault within a minute.",
    )
    budget_actions_total: int = Field(
        default=20,
        ge=1,
        description="Actions allowed per budget window across the fleet; a storm of alerts "
        "cannot turn into a storm of restarts.",
    )
    budget_window_seconds: float = Field(
        default=600.0, gt=0, description="Length of the sliding budget window."
    )
    breaker_failures_total: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed or rolled-back actions that open the circuit breaker: "
        "that many misses in a row means the loop itself is wrong.",
    )
    breaker_target_failures_total: int = Field(
        default=3,
        ge=1,
        description="Consecutive failed or rolled-back actions on one service that stop the "
        "loop acting on that service for the cool-off: every rung of a typical ladder missed.",
    )
    breaker_cooloff_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long an open breaker refuses before letting one probe action through.",
    )
    max_unavailable_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Largest share of a service's instances that may be out of service at once "
        "(already unready ones included).",
    )
    max_unavailable_floor_instances: int = Field(
        default=1,
        ge=0,
        description="At least this many instances may be out at once, so a one-instance "
        "service can still be restarted; 0 forbids it.",
    )
    recurrence_limit_total: int = Field(
        default=3,
        ge=1,
        description="Heals of the same cause (service + failure type) within the recurrence "
        "window after which the loop stops acting on it and escalates to a human.",
    )
    recurrence_window_seconds: float = Field(
        default=3600.0, gt=0, description="Window over which heals of one cause are counted."
    )
    approval_risk_threshold: float = Field(
        default=0.65,
        ge=0,
        le=1,
        description="Actions with risk at or above this wait for a human's approval. With the "
        "default risk weights a failover or config patch on a fully critical service reaches it.",
    )
    approval_ttl_seconds: float = Field(
        default=900.0, gt=0, description="How long an approval request stays open before expiry."
    )
    storm_services_total: int = Field(
        default=6,
        ge=1,
        description="More distinct services than this needing action within the storm window "
        "is a storm: so many failing at once share a cause the loop cannot see (network, a "
        "node, a shared dependency), and acting on each would make it worse; escalate instead.",
    )
    storm_window_seconds: float = Field(
        default=120.0, gt=0, description="Window over which services needing action are counted."
    )
    dry_run: bool = Field(default=False, description="Decide and record, never act (shadow mode).")
    maintenance_windows: tuple[MaintenanceWindow, ...] = Field(
        default=(), description="Spans in which the loop does not act."
    )


def load_guard_settings(data: Mapping[str, Any] | None, source: str = "<config>") -> GuardSettings:
    """``GuardSettings`` from a config mapping; errors name the key and the source.

    >>> load_guard_settings({"cooldown_seconds": 30}).cooldown_seconds
    30.0
    """
    try:
        return GuardSettings.model_validate(dict(data or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: invalid guard settings: {problems}") from exc
