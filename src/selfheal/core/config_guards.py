"""The ``guards`` and ``approval`` sections of the configuration (``selfheal.core.config``):
what may stop or delay an action, read by ``selfheal.decision.guards``."""

from __future__ import annotations

from pydantic import Field, model_validator

from selfheal.core.config_section import _Section


class MaintenanceWindow(_Section):
    """A time span in which the loop does not act, optionally repeating."""

    start_seconds: float = Field(description="(First) window start, seconds since the epoch.")
    end_seconds: float = Field(
        description="(First) window end (exclusive), seconds since the epoch."
    )
    every_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Repeat period in seconds (86400: daily, 604800: weekly). Default none: "
        "a one-off window.",
    )
    services: frozenset[str] = Field(
        default=frozenset(),
        description="Services it covers. Default none listed: every service.",
    )
    reason: str = Field(default="", description="Said in the guard's refusal. Default empty.")

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.end_seconds <= self.start_seconds:
            raise ValueError("end_seconds must be after start_seconds")
        if self.every_seconds is not None and self.every_seconds <= (
            self.end_seconds - self.start_seconds
        ):
            raise ValueError("every_seconds must be longer than the window")
        return self


class GuardsConfig(_Section):
    """The limits the safety guards (``selfheal.decision.guards``) enforce."""

    cooldown_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Minimum seconds between two actions on the same target. Default 60 s.",
    )
    budget_actions: int = Field(
        default=10, ge=1, description="Actions allowed per budget window, globally. Default 10."
    )
    budget_window_seconds: float = Field(
        default=600.0, gt=0, description="Length of the action budget window. Default 600 s."
    )
    blast_radius_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Largest share of a service's instances one action may take down. Default 0.5.",
    )
    blast_radius_floor_instances: int = Field(
        default=1,
        ge=0,
        description="Instances that may be out at once whatever the fraction says, so a "
        "one-instance service can still be restarted; 0 forbids that. Default 1.",
    )
    recurrence_limit: int = Field(
        default=3,
        ge=1,
        description="Healed-then-returned incidents on one service within the recurrence window "
        "before the loop stops acting and escalates. Default 3.",
    )
    recurrence_window_seconds: float = Field(
        default=3600.0, gt=0, description="Window of the recurrence count. Default 1 h."
    )
    storm_services: int = Field(
        default=6,
        ge=1,
        description="More distinct services than this needing action within the storm window "
        "is a storm (a shared cause the loop cannot see): escalate instead of acting. Default 6.",
    )
    storm_window_seconds: float = Field(
        default=120.0, gt=0, description="Window of the storm count, seconds. Default 120 s."
    )
    breaker_failures: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed or rolled-back actions that open the circuit breaker. "
        "Default 5.",
    )
    breaker_target_failures: int = Field(
        default=3,
        ge=1,
        description="Consecutive failed or rolled-back actions on one service that stop the "
        "loop acting on that service for the breaker's cool-off. Default 3 (every rung of a "
        "typical ladder missed).",
    )
    breaker_cooloff_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Seconds an open breaker refuses before one probe action. Default 300 s.",
    )
    maintenance_windows: list[MaintenanceWindow] = Field(
        default_factory=list,
        description="Spans in which the loop does not act: {start_seconds, end_seconds, "
        "every_seconds, services, reason} (seconds since the epoch; every_seconds repeats the "
        "window, 86400 daily; no services listed: every service). Default none.",
    )


class ApprovalConfig(_Section):
    risk_level: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="Actions with risk at or above this wait for a human. Default 0.7: every "
        "failover, scale-down and node drain, a rollback of a service of criticality above "
        "0.57, new config values above 0.44 (see `selfheal/decision/risk.py`).",
    )
    expiry_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Seconds before an unanswered approval expires. Default 15 min.",
    )
