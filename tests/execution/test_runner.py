"""The action runner: prepare (validate + snapshot), execute with bounded retries of
temporary failures, roll back from the snapshot."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import selfheal.execution.runner
from selfheal.core.clock import FakeClock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action, ActionKind
from selfheal.execution.base import Executor, Undo, Validation
from selfheal.execution.runner import MAX_RETRY_DELAY_SECONDS, ActionRunner

SCALE = Action(ActionKind.SCALE_SERVICE, "cart", params={"delta": 1}, timeout_seconds=10)
RESTART = Action(ActionKind.RESTART_CONTAINER, "cart", "cart-0", timeout_seconds=10)


class MemoryExecutor:
    """An in-memory platform with one number per service; scripted failures."""

    name = "memory"

    def __init__(self) -> None:
        self.replicas = {"cart": 2}
        self.validation = Validation.proceed()
        self.execute_errors: list[Exception] = []
        self.rollback_errors: list[Exception] = []
        self.calls: list[str] = []

    def validate(self, action: Action) -> Validation:
        self.calls.append("validate")
        return self.validation

    def snapshot(self, action: Action) -> Undo:
        self.calls.append("snapshot")
        if action.kind == ActionKind.RESTART_CONTAINER:
            return Undo.none(action, "a restart leaves nothing behind")
        return Undo(action, True, "scale back", {"replicas": self.replicas[action.target]})

    def execute(self, action: Action) -> str:
        self.calls.append("execute")
        if self.execute_errors:
            raise self.execute_errors.pop(0)
        if action.kind == ActionKind.SCALE_SERVICE:
            self.replicas[action.target] += 1
        return "done"

    def rollback(self, action: Action, undo: Undo) -> str:
        self.calls.append("rollback")
        if self.rollback_errors:
            raise self.rollback_errors.pop(0)
        self.replicas[action.target] = undo.state["replicas"]
        return "restored"


def test_memory_executor_is_an_executor() -> None:
    assert isinstance(MemoryExecutor(), Executor)


def test_prepare_snapshots_before_anything_changes_and_rollback_restores_it() -> None:
    ex = MemoryExecutor()
    runner = ActionRunner(ex, FakeClock())
    prepared = runner.prepare(SCALE)
    assert prepared.skip_reason == "" and ex.calls == ["validate", "snapshot"]
    assert runner.execute(prepared) == "done" and ex.replicas["cart"] == 3
    assert runner.rollback(prepared) == "restored"
    assert ex.replicas["cart"] == 2
    assert ex.calls == ["validate", "snapshot", "execute", "rollback"]


def test_validation_skip_is_prepared_as_a_skip_without_a_snapshot() -> None:
    ex = MemoryExecutor()
    ex.validation = Validation.nothing_to_do("already 3")
    prepared = ActionRunner(ex, FakeClock()).prepare(SCALE)
    assert prepared.skip_reason == "already 3"
    assert ex.calls == ["validate"]


def test_refused_validation_is_a_permanent_error_before_acting() -> None:
    ex = MemoryExecutor()
    ex.validation = Validation.refuse("no such service")
    with pytest.raises(PermanentError, match="no such service"):
        ActionRunner(ex, FakeClock()).prepare(SCALE)
    assert ex.calls == ["validate"]


def test_temporary_errors_are_retried_after_their_delay_hint() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.execute_errors = [TemporaryError("busy", 2.0), TemporaryError("busy", 0.5)]
    runner = ActionRunner(ex, clock, attempts=3)
    start = clock.now()
    assert runner.execute(runner.prepare(SCALE)) == "done"
    assert ex.calls.count("execute") == 3
    assert clock.now() - start == 2.0 + 0.5


def test_a_long_delay_hint_is_cut_to_the_cap() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.execute_errors = [TemporaryError("busy", 60.0)]
    runner = ActionRunner(ex, clock)
    start = clock.now()
    runner.execute(runner.prepare(SCALE))
    assert clock.now() - start == MAX_RETRY_DELAY_SECONDS


def test_retries_are_bounded_and_the_last_temporary_error_reaches_the_loop() -> None:
    ex = MemoryExecutor()
    ex.execute_errors = [TemporaryError("busy")] * 5
    runner = ActionRunner(ex, FakeClock(), attempts=2)
    with pytest.raises(TemporaryError, match="busy"):
        runner.execute(runner.prepare(SCALE))
    assert ex.calls.count("execute") == 2


def test_permanent_error_is_not_retried() -> None:
    ex = MemoryExecutor()
    ex.execute_errors = [PermanentError("409 conflict")]
    runner = ActionRunner(ex, FakeClock())
    with pytest.raises(PermanentError, match="409 conflict"):
        runner.execute(runner.prepare(SCALE))
    assert ex.calls.count("execute") == 1


def test_rolling_back_an_action_without_undo_says_so_and_calls_nothing() -> None:
    ex = MemoryExecutor()
    runner = ActionRunner(ex, FakeClock())
    prepared = runner.prepare(RESTART)
    runner.execute(prepared)
    assert runner.rollback(prepared) == "nothing to undo: a restart leaves nothing behind"
    assert "rollback" not in ex.calls


def test_a_failing_rollback_raises_to_the_loop() -> None:
    ex = MemoryExecutor()
    ex.rollback_errors = [PermanentError("platform refused")]
    runner = ActionRunner(ex, FakeClock())
    prepared = runner.prepare(SCALE)
    runner.execute(prepared)
    with pytest.raises(PermanentError, match="platform refused"):
        runner.rollback(prepared)


def test_attempts_must_allow_one_try() -> None:
    with pytest.raises(ValueError, match="attempts"):
        ActionRunner(MemoryExecutor(), FakeClock(), attempts=0)


def test_docstring_example_runs() -> None:
    result = doctest.testmod(selfheal.execution.runner)
    assert result.attempted > 0 and result.failed == 0


_errors = st.lists(
    st.sampled_from(["temporary", "permanent"]).map(
        lambda k: TemporaryError("busy", 0.1) if k == "temporary" else PermanentError("no")
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(execute_errors=_errors, attempts=st.integers(1, 4))
def test_execute_then_rollback_leaves_the_platform_as_it_was(execute_errors, attempts) -> None:
    """Whatever execute raised or returned, rolling back from the snapshot restores the
    state captured before it, and ``execute`` never tries more than ``attempts`` times."""
    ex = MemoryExecutor()
    ex.execute_errors = list(execute_errors)
    runner = ActionRunner(ex, FakeClock(), attempts=attempts)
    prepared = runner.prepare(SCALE)
    try:
        runner.execute(prepared)
        assert ex.replicas["cart"] == 3
    except (TemporaryError, PermanentError):
        assert ex.replicas["cart"] == 2
    assert ex.calls.count("execute") <= attempts
    runner.rollback(prepared)
    assert ex.replicas["cart"] == 2
