"""Exception types shared by every stage. Retryable vs permanent failure is
carried by the type (as in kopf's TemporaryError / PermanentError)."""

from __future__ import annotations


class SelfHealError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SelfHealError):
    """A configuration file or value is invalid; the message names the key."""


class TemporaryError(SelfHealError):
    """Failed now, may succeed if retried after ``delay_seconds``."""

    def __init__(self, message: str, delay_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


class PermanentError(SelfHealError):
    """Failed and will fail again; do not retry."""


class ValidationRefused(PermanentError):
    """The executor's validation refused the action before anything was done (e.g. a
    release rollback with no earlier version): nothing changed on the platform."""


class ModelFormatError(SelfHealError):
    """A saved model is corrupt or from an incompatible version."""


class LeadershipLost(SelfHealError):
    """This replica no longer leads (its lease expired or another took it): it must not
    act. Raised by a write fenced by the lease."""
