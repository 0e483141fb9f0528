"""A failed action is rolled back, unless undoing it brings back what the diagnosis blamed."""

from __future__ import annotations

from selfheal.analysis import failure_type as ft
from selfheal.core.types import Action, ActionKind, Cause, FailureType
from selfheal.loop.remediation import undo_restores_the_cause

PUSHED = Cause("api", 0.95, FailureType.CONFIGURATION_ERROR, indicator=ft.CONFIG)
DEPLOYED = Cause("api", 0.95, FailureType.CODE_BUG, indicator=ft.VERSION)
RESTORE = Action(ActionKind.UPDATE_CONFIGURATION, "api", params={"restore": "last_good"})
ROLLBACK = Action(ActionKind.ROLLBACK_DEPLOYMENT, "api", params={"version": "previous"})


def test_a_restore_of_the_config_blamed_on_a_fresh_push_is_kept() -> None:
    assert undo_restores_the_cause(RESTORE, PUSHED)
    assert undo_restores_the_cause(ROLLBACK, DEPLOYED)
    # the planner turns "last_good" into the exact revision before the first push, or the
    # one in effect before its time: those are restores too (chain-s19: a failed restore
    # of revision 1 was rolled back to the pushed revision 2)
    exact = Action(ActionKind.UPDATE_CONFIGURATION, "api", params={"revision": 1})
    before = Action(ActionKind.UPDATE_CONFIGURATION, "api", params={"restore_before": 5.0})
    assert undo_restores_the_cause(exact, PUSHED)
    assert undo_restores_the_cause(before, PUSHED)


def test_everything_else_is_rolled_back_as_usual() -> None:
    # a config change that is not a restore, a restore without a blamed push, another
    # service's config, and stateless or unrelated actions
    widen = Action(ActionKind.UPDATE_CONFIGURATION, "api", params={"multiply": {"pool_size": 2}})
    assert not undo_restores_the_cause(widen, PUSHED)
    assert not undo_restores_the_cause(RESTORE, Cause("api", 0.9, FailureType.CODE_BUG))
    other = Action(ActionKind.UPDATE_CONFIGURATION, "db", params={"restore": "last_good"})
    assert not undo_restores_the_cause(other, PUSHED)
    assert not undo_restores_the_cause(ROLLBACK, PUSHED)
    assert not undo_restores_the_cause(Action(ActionKind.SCALE_SERVICE, "api"), PUSHED)
