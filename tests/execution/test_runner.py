from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.core.clock import FakeClock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action, ActionKind, Outcome
from selfheal.execution.base import Executor, Undo, Validation
from selfheal.execution.runner import ActionRunner, RetryPolicy

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


def runner(ex: MemoryExecutor, clock: FakeClock, **kw: Any) -> ActionRunner:
    kw.setdefault("skip_if_healthy", False)
    return ActionRunner(ex, clock, **kw)


def test_memory_executor_is_an_executor() -> None:
    assert isinstance(MemoryExecutor(), Executor)


def test_success_path_with_progress_and_audit() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    lines: list[str] = []
    audit: list[tuple[str, Mapping[str, Any]]] = []
    r = runner(ex, clock, audit_hook=lambda k, p: audit.append((k, p))).run(
        SCALE, verify=lambda: ex.replicas["cart"] == 3, progress=lines.append
    )
    assert r.outcome == Outcome.SUCCEEDED
    assert r.verification is not None and r.verification.passed
    assert ex.calls == ["validate", "snapshot", "execute"]
    assert ex.replicas["cart"] == 3
    steps = [k for k, _ in audit]
    assert steps == [
        "action.validating",
        "action.snapshot",
        "action.executing",
        "action.executed",
        "action.verifying",
        "action.succeeded",
    ]
    assert all(line.startswith("ScaleService(cart, delta=1)") for line in lines)
    assert audit[0][1]["target"] == "cart"


def test_verification_polls_until_the_symptom_is_gone() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    start = clock.now()
    r = runner(ex, clock, poll_interval_seconds=2).run(
        SCALE, verify=lambda: clock.now() - start >= 5
    )
    assert r.outcome == Outcome.SUCCEEDED
    assert r.finished_at - r.started_at == 6  # checks at 0, 2, 4, 6


def test_validation_skip_is_skipped_without_acting() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.validation = Validation.nothing_to_do("already 3")
    r = runner(ex, clock).run(SCALE, verify=lambda: False)
    assert r.outcome == Outcome.SKIPPED and "already 3" in r.detail
    assert ex.calls == ["validate"]


def test_already_healthy_is_skipped_when_asked() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    r = ActionRunner(ex, clock).run(SCALE, verify=lambda: True)
    assert r.outcome == Outcome.SKIPPED and "already gone" in r.detail
    assert "execute" not in ex.calls


def test_refused_validation_fails_without_acting() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.validation = Validation.refuse("no such service")
    r = runner(ex, clock).run(SCALE, verify=lambda: True)
    assert r.outcome == Outcome.FAILED and "no such service" in r.detail
    assert ex.calls == ["validate"]


def test_failed_verification_rolls_back() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    r = runner(ex, clock).run(SCALE, verify=lambda: False)
    assert r.outcome == Outcome.ROLLED_BACK
    assert r.verification is not None and not r.verification.passed
    assert r.rollback is not None and r.rollback.restored
    assert ex.replicas["cart"] == 2
    assert r.finished_at - r.started_at >= SCALE.timeout_seconds


def test_failed_verification_of_an_action_without_undo_says_so() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    r = runner(ex, clock).run(RESTART, verify=lambda: False)
    assert r.outcome == Outcome.ROLLED_BACK
    assert r.rollback is not None and "nothing to undo" in r.rollback.detail
    assert "rollback" not in ex.calls


def test_a_failing_rollback_is_reported_as_failed() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.rollback_errors = [PermanentError("platform refused")]
    r = runner(ex, clock).run(SCALE, verify=lambda: False)
    assert r.outcome == Outcome.FAILED
    assert r.rollback is not None and not r.rollback.restored
    assert "platform refused" in r.detail


def test_temporary_errors_are_retried_with_backoff() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.execute_errors = [TemporaryError("busy", 0.1), TemporaryError("busy", 0.1)]
    start = clock.now()
    retry = RetryPolicy(max_attempts=3, initial_delay_seconds=1, multiplier=2)
    r = runner(ex, clock, retry=retry).run(SCALE, verify=lambda: True)
    assert r.outcome == Outcome.SUCCEEDED
    assert ex.calls.count("execute") == 3
    assert clock.now() - start == 1 + 2  # backoff 1 s then 2 s


def test_the_errors_delay_hint_wins_over_a_shorter_backoff() -> None:
    assert RetryPolicy(initial_delay_seconds=0.5).delay(1, TemporaryError("x", 4.0)) == 4.0
    assert RetryPolicy(max_delay_seconds=3).delay(1, TemporaryError("x", 9.0)) == 3.0


def test_retries_are_bounded_and_the_change_is_undone() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.execute_errors = [TemporaryError("busy")] * 5
    r = runner(ex, clock, retry=RetryPolicy(max_attempts=2)).run(SCALE, verify=lambda: True)
    assert r.outcome == Outcome.FAILED
    assert "gave up after 2 attempts" in r.detail
    assert ex.calls.count("execute") == 2
    assert r.rollback is not None and r.rollback.restored


def test_permanent_error_is_not_retried() -> None:
    ex, clock = MemoryExecutor(), FakeClock()
    ex.execute_errors = [PermanentError("409 conflict")]
    r = runner(ex, clock).run(SCALE, verify=lambda: True)
    assert r.outcome == Outcome.FAILED and "409 conflict" in r.detail
    assert ex.calls.count("execute") == 1


def test_a_raising_check_counts_as_not_healed() -> None:
    ex, clock = MemoryExecutor(), FakeClock()

    def broken() -> bool:
        raise RuntimeError("metrics down")

    r = runner(ex, clock).run(SCALE, verify=broken)
    assert r.outcome == Outcome.ROLLED_BACK


def test_a_failing_audit_hook_does_not_abort_the_action() -> None:
    ex, clock = MemoryExecutor(), FakeClock()

    def hook(kind: str, payload: Mapping[str, Any]) -> None:
        raise OSError("disk full")

    r = runner(ex, clock, audit_hook=hook).run(SCALE, verify=lambda: True)
    assert r.outcome == Outcome.SUCCEEDED


_errors = st.lists(
    st.sampled_from(["temporary", "permanent"]).map(
        lambda k: TemporaryError("busy", 0.1) if k == "temporary" else PermanentError("no")
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(
    execute_errors=_errors,
    rollback_errors=_errors,
    heals_after=st.one_of(st.none(), st.integers(0, 15)),
    attempts=st.integers(1, 4),
)
def test_runner_outcomes_are_consistent(
    execute_errors, rollback_errors, heals_after, attempts
) -> None:
    """Whatever fails, the outcome tells the truth about the platform's state."""
    ex, clock = MemoryExecutor(), FakeClock()
    ex.execute_errors = list(execute_errors)
    ex.rollback_errors = list(rollback_errors)
    start = clock.now()

    def verify() -> bool:
        return heals_after is not None and clock.now() - start >= heals_after

    r = runner(ex, clock, retry=RetryPolicy(max_attempts=attempts)).run(SCALE, verify=verify)
    assert ex.calls.count("execute") <= attempts
    assert r.started_at <= r.finished_at
    if r.outcome == Outcome.SUCCEEDED:
        assert r.verification is not None and r.verification.passed
        assert ex.replicas["cart"] == 3
    elif r.outcome == Outcome.ROLLED_BACK:
        assert r.verification is not None and not r.verification.passed
        assert r.rollback is not None and r.rollback.restored
        assert ex.replicas["cart"] == 2
    else:
        assert r.outcome == Outcome.FAILED
        if r.rollback is None or r.rollback.restored:
            assert ex.replicas["cart"] == 2  # nothing changed, or the change was undone
        else:
            assert "rollback failed" in r.detail or "rollback failed" in r.rollback.detail
