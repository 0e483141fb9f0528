"""Runs one action end to end: validate, snapshot, execute, verify, roll back.

The loop hands the ``ActionRunner`` one action of a plan (after the guards
allowed it) and a ``verify`` callable that answers "is the symptom gone?". The
runner drives the executor in order:

1. ``validate`` — refused → ``FAILED``; nothing to do → ``SKIPPED``;
2. optionally ``verify()`` once — already healthy → ``SKIPPED``;
3. ``snapshot`` — the undo is captured before anything changes;
4. ``execute`` — ``TemporaryError`` is retried with exponential backoff, a
   bounded number of times; ``PermanentError`` (or retries spent) → the
   snapshot is restored and the result is ``FAILED``;
5. ``verify()`` is polled until ``action.timeout_seconds`` — passed →
   ``SUCCEEDED``; not passed → ``rollback`` and ``ROLLED_BACK`` (an action with
   no undo, like a restart, leaves nothing behind to restore), or ``FAILED``
   when the rollback itself fails.

Progress lines go to ``progress`` and each step to ``audit_hook``. All waiting
is done on the injected clock. The runner never chooses actions or checks
guards; the loop does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from selfheal.core.clock import Clock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action, ActionResult, Outcome, Rollback, Verification
from selfheal.execution.base import Executor, Undo

log = logging.getLogger(__name__)

T = TypeVar("T")
AuditHook = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff for ``TemporaryError``."""

    max_attempts: int = 3  # tries in all, the first included
    initial_delay_seconds: float = 0.5
    multiplier: float = 2.0
    max_delay_seconds: float = 10.0

    def delay(self, attempt: int, error: TemporaryError) -> float:
        """Wait before try ``attempt + 1``: the longer of the backoff and the error's hint."""
        backoff = self.initial_delay_seconds * self.multiplier ** (attempt - 1)
        return min(self.max_delay_seconds, max(backoff, error.delay_seconds))


class ActionRunner:
    """Drives one executor through the action lifecycle."""

    def __init__(
        self,
        executor: Executor,
        clock: Clock,
        audit_hook: AuditHook | None = None,
        *,
        retry: RetryPolicy | None = None,
        poll_interval_seconds: float = 1.0,
        skip_if_healthy: bool = True,
    ) -> None:
        """``skip_if_healthy``: call ``verify()`` once before acting and skip when it passes
        (the symptom went away by itself)."""
        self.executor = executor
        self._clock = clock
        self._audit = audit_hook
        self._retry = retry or RetryPolicy()
        self._poll = poll_interval_seconds
        self._skip_if_healthy = skip_if_healthy

    def run(
        self,
        action: Action,
        verify: Callable[[], bool],
        progress: Callable[[str], None] | None = None,
    ) -> ActionResult:
        started = self._clock.now()
        what = action.describe()

        def say(step: str, message: str, **extra: Any) -> None:
            line = f"{what}: {message}"
            if progress is not None:
                progress(line)
            self._record(step, action, message, extra)

        def result(outcome: Outcome, detail: str, **kw: Any) -> ActionResult:
            say(f"action.{outcome.value}", detail)
            return ActionResult(action, outcome, started, self._clock.now(), detail=detail, **kw)

        say("action.validating", f"validating on {self.executor.name}")
        try:
            validation = self._with_retry(lambda: self.executor.validate(action), say)
        except (PermanentError, TemporaryError) as exc:
            return result(Outcome.FAILED, f"validation failed: {exc}")
        if not validation.ok:
            return result(Outcome.FAILED, f"refused: {validation.reason}")
        if validation.skip:
            return result(Outcome.SKIPPED, f"nothing to do: {validation.reason}")
        if self._skip_if_healthy and self._check(verify):
            return result(Outcome.SKIPPED, "nothing to do: the symptom is already gone")

        try:
            undo = self._with_retry(lambda: self.executor.snapshot(action), say)
        except (PermanentError, TemporaryError) as exc:
            return result(Outcome.FAILED, f"snapshot failed, nothing changed: {exc}")
        say("action.snapshot", f"undo captured: {undo.description}", reversible=undo.reversible)

        say("action.executing", "executing")
        try:
            detail = self._with_retry(lambda: self.executor.execute(action), say)
        except (PermanentError, TemporaryError) as exc:
            rollback = self._undo(action, undo, say) if undo.reversible else None
            return result(Outcome.FAILED, f"execution failed: {exc}", rollback=rollback)
        say("action.executed", f"executed: {detail}")

        verification = self._verify(action, verify, say)
        if verification.passed:
            return result(Outcome.SUCCEEDED, verification.detail, verification=verification)
        rollback = self._undo(action, undo, say)
        outcome = Outcome.ROLLED_BACK if rollback.restored else Outcome.FAILED
        return result(
            outcome,
            f"{verification.detail}; {rollback.detail}",
            verification=verification,
            rollback=rollback,
        )

    # -- steps ---------------------------------------------------------------------------

    def _verify(
        self, action: Action, verify: Callable[[], bool], say: Callable[..., None]
    ) -> Verification:
        deadline = self._clock.now() + action.timeout_seconds
        say("action.verifying", f"verifying for up to {action.timeout_seconds:.0f}s")
        checks = 0
        while True:
            checks += 1
            if self._check(verify):
                return Verification(True, self._clock.now(), f"symptom gone (check {checks})")
            if self._clock.now() >= deadline:
                return Verification(
                    False,
                    self._clock.now(),
                    f"symptom still present after {action.timeout_seconds:.0f}s ({checks} checks)",
                )
            self._clock.sleep(min(self._poll, max(0.0, deadline - self._clock.now())))

    def _undo(self, action: Action, undo: Undo, say: Callable[..., None]) -> Rollback:
        if not undo.reversible:
            say("action.rollback", f"nothing to roll back: {undo.description}")
            return Rollback(True, self._clock.now(), f"nothing to undo: {undo.description}")
        say("action.rollback", f"rolling back: {undo.description}")
        try:
            detail = self._with_retry(lambda: self.executor.rollback(action, undo), say)
        except (PermanentError, TemporaryError) as exc:
            say("action.rollback_failed", f"rollback failed: {exc}")
            return Rollback(False, self._clock.now(), f"rollback failed: {exc}")
        return Rollback(True, self._clock.now(), f"rolled back: {detail}")

    def _check(self, verify: Callable[[], bool]) -> bool:
        try:
            return bool(verify())
        except Exception as exc:  # a broken check counts as "not healed", never crashes the run
            log.warning("verification check raised: %s", exc)
            return False

    def _with_retry(self, call: Callable[[], T], say: Callable[..., None]) -> T:
        attempt = 1
        while True:
            try:
                return call()
            except TemporaryError as exc:
                if attempt >= self._retry.max_attempts:
                    raise TemporaryError(
                        f"{exc} (gave up after {attempt} attempts)", exc.delay_seconds
                    ) from exc
                delay = self._retry.delay(attempt, exc)
                say("action.retry", f"temporary error, retry in {delay:.1f}s: {exc}")
                self._clock.sleep(delay)
                attempt += 1

    def _record(self, step: str, action: Action, message: str, extra: Mapping[str, Any]) -> None:
        if self._audit is None:
            return
        payload = {
            "action": action.kind.value,
            "target": action.target,
            "instance": action.instance,
            "params": dict(action.params),
            "message": message,
            **extra,
        }
        try:
            self._audit(step, payload)
        except Exception as exc:  # the action must not die half-way because a hook did
            log.error("audit hook failed at %s: %s", step, exc)
