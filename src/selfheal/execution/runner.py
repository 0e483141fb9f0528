"""Runs one action on one executor, in the steps the loop drives.

The loop's engine (through its ``Runner`` port, ``selfheal.loop.ports``) hands the
``ActionRunner`` one action the guards allowed, on a worker thread, and calls it in
order:

1. ``prepare`` — ``validate`` (refused → ``ValidationRefused``, a ``PermanentError``; nothing to do → a
   ``Prepared`` with a ``skip_reason``), then ``snapshot``: the undo is captured
   *before* anything changes;
2. ``execute`` — a ``TemporaryError`` is retried after the error's delay hint (at
   most ``MAX_RETRY_DELAY_SECONDS``), up to ``attempts`` tries in all; the last one,
   or a ``PermanentError``, reaches the loop, which records the action as failed;
3. ``rollback`` — only when the loop's verification failed: the snapshot is
   restored (an action with no undo, like a restart, leaves nothing to restore).

Verification is the loop's, cycle by cycle on the symptom that opened the incident,
so it is not done here. The runner never chooses actions or checks guards; all its
waiting is on the injected clock.

>>> from selfheal.core.clock import FakeClock
>>> from selfheal.core.types import Action, ActionKind
>>> from selfheal.execution.base import Undo, Validation
>>> class Flaky:
...     name = "flaky"
...     failures = 1
...     def validate(self, action): return Validation.proceed()
...     def snapshot(self, action): return Undo(action, True, "scale back", {"replicas": 2})
...     def execute(self, action):
...         if self.failures:
...             self.failures -= 1
...             raise TemporaryError("busy", delay_seconds=2.0)
...         return "scaled"
...     def rollback(self, action, undo): return f"back to {undo.state['replicas']}"
>>> clock = FakeClock(0.0)
>>> runner = ActionRunner(Flaky(), clock)
>>> prepared = runner.prepare(Action(ActionKind.SCALE_SERVICE, "orders"))
>>> runner.execute(prepared), clock.now()
('scaled', 2.0)
>>> runner.rollback(prepared)
'back to 2'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from selfheal.core.clock import Clock
from selfheal.core.errors import TemporaryError, ValidationRefused
from selfheal.core.types import Action
from selfheal.execution.base import Executor, Undo

# A platform that asks for a longer wait is better left to the loop's next rung than
# waited on: the action runs on one of the loop's few worker threads.
MAX_RETRY_DELAY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Prepared:
    """An action validated and snapshotted, ready to execute (or to skip)."""

    action: Action
    skip_reason: str = ""  # non-empty: validation found nothing to do
    snapshot: Mapping[str, Any] = field(default_factory=dict)


class ActionRunner:
    """Validate + snapshot, execute with bounded retries of temporary failures, roll
    back from the snapshot: one action on one ``Executor`` (blocking calls)."""

    def __init__(self, executor: Executor, clock: Clock, attempts: int = 3) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        self.executor = executor
        self.clock = clock
        self.attempts = attempts  # tries of ``execute`` in all, the first included

    def prepare(self, action: Action) -> Prepared:
        check = self.executor.validate(action)
        if not check.ok:
            raise ValidationRefused(f"validation refused {action.describe()}: {check.reason}")
        if check.skip:
            return Prepared(action, check.reason or "nothing to do")
        return Prepared(action, "", {"undo": self.executor.snapshot(action)})

    def execute(self, prepared: Prepared) -> str:
        """Do it; return the executor's detail line. Raises the last ``TemporaryError``
        once the tries are spent, or a ``PermanentError`` at once."""
        for attempt in range(1, self.attempts + 1):
            try:
                return self.executor.execute(prepared.action)
            except TemporaryError as exc:
                if attempt == self.attempts:
                    raise
                self.clock.sleep(min(exc.delay_seconds, MAX_RETRY_DELAY_SECONDS))
        raise AssertionError("unreachable")

    def rollback(self, prepared: Prepared) -> str:
        """Undo it from the snapshot; return a detail line. Raises on failure."""
        undo = prepared.snapshot.get("undo")
        if not isinstance(undo, Undo) or not undo.reversible:
            why = undo.description if isinstance(undo, Undo) else "no snapshot"
            return f"nothing to undo: {why}"
        return self.executor.rollback(prepared.action, undo)
