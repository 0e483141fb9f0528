"""Core: the loop's vocabulary, clock and errors. Pure; no I/O; imports nothing
from the other layers."""

from selfheal.core.clock import Clock, FakeClock, SystemClock
from selfheal.core.errors import (
    ConfigError,
    ModelFormatError,
    PermanentError,
    SelfHealError,
    TemporaryError,
)
from selfheal.core.types import (
    Action,
    ActionKind,
    ActionResult,
    Anomaly,
    Cause,
    Evidence,
    EvidenceKind,
    FailureType,
    Impact,
    Incident,
    IncidentStatus,
    Outcome,
    Plan,
    Rollback,
    Sample,
    SeriesKey,
    SignalKind,
    Strategy,
    Verification,
)

__all__ = [
    "Action", "ActionKind", "ActionResult", "Anomaly", "Cause", "Clock", "ConfigError",
    "Evidence", "EvidenceKind", "FailureType", "FakeClock", "Impact", "Incident", "IncidentStatus", "ModelFormatError",
    "Outcome", "PermanentError", "Plan", "Rollback", "Sample", "SelfHealError", "SeriesKey",
    "SignalKind", "Strategy", "SystemClock", "TemporaryError", "Verification",
]  # fmt: skip
