from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_local_platform import FakePlatform
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.core.clock import FakeClock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action, ActionKind
from selfheal.execution.local import LocalExecutor
from selfheal.execution.runner import ActionRunner

K = ActionKind


@pytest.fixture
def ex(platform: FakePlatform) -> Iterator[LocalExecutor]:
    with LocalExecutor(platform.url, timeout_seconds=5) as e:
        yield e


def do(ex: LocalExecutor, action: Action) -> str:
    v = ex.validate(action)
    assert v.ok and not v.skip, v.reason
    ex.snapshot(action)
    return ex.execute(action)


def test_restart_service_restarts_every_instance(platform, ex) -> None:
    do(ex, Action(K.RESTART_SERVICE, "cart"))
    assert platform.services["cart"].restarts == {"cart-0": 1, "cart-1": 1, "cart-2": 1}


def test_restart_container_restarts_one_instance_and_has_no_undo(platform, ex) -> None:
    action = Action(K.RESTART_CONTAINER, "cart", "cart-1")
    undo = ex.snapshot(action)
    assert not undo.reversible and "no change" in undo.description
    ex.execute(action)
    assert platform.services["cart"].restarts == {"cart-1": 1}


def test_scale_by_delta_and_back(platform, ex) -> None:
    action = Action(K.SCALE_SERVICE, "cart", params={"delta": 1})
    undo = ex.snapshot(action)
    assert ex.execute(action) == "scaled cart to 4 replicas"
    assert platform.services["cart"].replicas == 4
    ex.rollback(action, undo)
    assert platform.services["cart"].replicas == 3


def test_scale_beyond_capacity_is_refused(platform) -> None:
    with LocalExecutor(platform.url, max_replicas=3) as ex:
        v = ex.validate(Action(K.SCALE_SERVICE, "cart", params={"delta": 1}))
    assert not v.ok and "capacity" in v.reason


def test_scale_to_the_current_count_is_skipped(ex) -> None:
    v = ex.validate(Action(K.SCALE_SERVICE, "cart", params={"replicas": 3}))
    assert v.ok and v.skip


def test_config_restore_before_a_push_and_undo(platform, ex) -> None:
    good = platform.config("payment")
    platform.push_config("payment", {**good["config"], "pool_size": 1})
    bad_at = platform.services["payment"].configs[-1]["at"]
    action = Action(K.UPDATE_CONFIGURATION, "payment", params={"restore_before": bad_at})
    undo = ex.snapshot(action)
    do(ex, action)
    assert platform.config("payment")["config"] == good["config"]
    ex.rollback(action, undo)
    assert platform.config("payment")["config"]["pool_size"] == 1


def test_config_restore_previous_and_by_revision(platform, ex) -> None:
    platform.push_config("cart", {"pool_size": 2})
    platform.push_config("cart", {"pool_size": 3})
    do(ex, Action(K.UPDATE_CONFIGURATION, "cart", params={"restore": "previous"}))
    assert platform.config("cart")["config"] == {"pool_size": 2}
    do(ex, Action(K.UPDATE_CONFIGURATION, "cart", params={"revision": 1}))
    assert platform.config("cart")["config"]["pool_size"] == 16


def test_config_restore_of_a_missing_revision_is_refused(ex) -> None:
    v = ex.validate(Action(K.UPDATE_CONFIGURATION, "cart", params={"revision": 99}))
    assert not v.ok and "no config revision" in v.reason


def test_config_multiply_and_patch(platform, ex) -> None:
    do(ex, Action(K.UPDATE_CONFIGURATION, "cart", params={"multiply": {"pool_size": 2}}))
    assert platform.config("cart")["config"]["pool_size"] == 32
    do(ex, Action(K.UPDATE_CONFIGURATION, "cart", params={"patch": {"mode": "safe"}}))
    assert platform.config("cart")["config"]["mode"] == "safe"


def test_config_multiply_of_a_missing_key_is_refused(ex) -> None:
    v = ex.validate(Action(K.UPDATE_CONFIGURATION, "bank", params={"multiply": {"pool_size": 2}}))
    assert not v.ok and "pool_size" in v.reason


def test_clear_cache(platform, ex) -> None:
    do(ex, Action(K.CLEAR_CACHE, "cache"))
    assert platform.services["cache"].cache_entries == 0


def test_clear_cache_on_a_service_without_one_reports_the_platform_error(ex) -> None:
    with pytest.raises(PermanentError, match="holds no cache"):
        ex.execute(Action(K.CLEAR_CACHE, "cart"))


def test_drain_and_undrain(platform, ex) -> None:
    action = Action(K.DRAIN_TRAFFIC, "cart", "cart-2")
    undo = ex.snapshot(action)
    do(ex, action)
    assert platform.services["cart"].drained == {"cart-2"}
    assert ex.validate(action).skip
    ex.rollback(action, undo)
    assert platform.services["cart"].drained == set()


def test_draining_the_last_serving_instance_is_refused(ex) -> None:
    v = ex.validate(Action(K.DRAIN_TRAFFIC, "cache", "cache-0"))
    assert not v.ok and "no ready instance" in v.reason


def test_failover_and_fail_back(platform, ex) -> None:
    action = Action(K.FAILOVER, "payment", params={"dependency": "bank"})
    undo = ex.snapshot(action)
    do(ex, action)
    assert platform.config("payment")["config"]["dependencies"] == {"bank": "bank-b"}
    assert ex.validate(action).skip
    ex.rollback(action, undo)
    assert platform.config("payment")["config"]["dependencies"] == {"bank": "bank"}


def test_failover_of_an_unknown_dependency_is_refused(ex) -> None:
    v = ex.validate(Action(K.FAILOVER, "payment", params={"dependency": "visa"}))
    assert not v.ok and "no dependency 'visa'" in v.reason


def test_rollback_deployment_and_redeploy(platform, ex) -> None:
    platform.deploy("checkout", "v2")
    action = Action(K.ROLLBACK_DEPLOYMENT, "checkout", params={"version": "v1"})
    undo = ex.snapshot(action)
    assert do(ex, action) == "rolled checkout back to v1"
    ex.rollback(action, undo)
    assert platform.services["checkout"].versions[-1] == "v2"


def test_rollback_without_history_is_refused(ex) -> None:
    v = ex.validate(Action(K.ROLLBACK_DEPLOYMENT, "checkout"))
    assert not v.ok and "no earlier version" in v.reason


def test_unknown_service_and_instance_are_refused_by_name(ex) -> None:
    v = ex.validate(Action(K.RESTART_SERVICE, "nope"))
    assert not v.ok and "no service 'nope'" in v.reason and "cart" in v.reason
    v = ex.validate(Action(K.RESTART_CONTAINER, "cart", "cart-9"))
    assert not v.ok and "no instance 'cart-9'" in v.reason


def test_server_errors_are_temporary_client_errors_permanent(platform, ex) -> None:
    platform.fail_next("POST", "/restart$", 503)
    with pytest.raises(TemporaryError, match="HTTP 503: injected failure"):
        ex.execute(Action(K.RESTART_SERVICE, "cart"))
    with pytest.raises(PermanentError, match="HTTP 409"):
        ex.execute(Action(K.SCALE_SERVICE, "cart", params={"replicas": -1}))


def test_unreachable_platform_is_a_temporary_error() -> None:
    with (
        LocalExecutor("http://127.0.0.1:9", timeout_seconds=1) as ex,
        pytest.raises(TemporaryError, match="unreachable"),
    ):
        ex.status()


def test_runner_retries_a_temporary_platform_error(platform, ex) -> None:
    platform.fail_next("POST", "/instances/cart-0/restart$", 502, times=2)
    runner = ActionRunner(ex, FakeClock())
    prepared = runner.prepare(Action(K.RESTART_CONTAINER, "cart", "cart-0"))
    assert runner.execute(prepared) == "restarted cart-0"
    assert platform.services["cart"].restarts == {"cart-0": 1}


def test_runner_rolls_back_from_the_snapshot(platform, ex) -> None:
    before = platform.state()
    runner = ActionRunner(ex, FakeClock())
    prepared = runner.prepare(Action(K.FAILOVER, "payment", params={"dependency": "bank"}))
    runner.execute(prepared)
    assert platform.state() != before
    runner.rollback(prepared)
    assert platform.state() == before


REVERSIBLE = st.sampled_from(
    [
        Action(K.SCALE_SERVICE, "cart", params={"delta": 1}),
        Action(K.SCALE_SERVICE, "frontend", params={"replicas": 1}),
        Action(K.UPDATE_CONFIGURATION, "cart", params={"multiply": {"pool_size": 2}}),
        Action(K.UPDATE_CONFIGURATION, "payment", params={"patch": {"pool_size": 1}}),
        Action(K.UPDATE_CONFIGURATION, "checkout", params={"restore": "previous"}),
        Action(K.DRAIN_TRAFFIC, "cart", "cart-0"),
        Action(K.DRAIN_TRAFFIC, "cart", "cart-1"),
        Action(K.FAILOVER, "payment", params={"dependency": "bank"}),
        Action(K.ROLLBACK_DEPLOYMENT, "checkout"),
    ]
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=st.lists(REVERSIBLE, min_size=1, max_size=5))
def test_rollback_restores_the_platform_state(platform, actions) -> None:
    """Whatever sequence of reversible actions runs, undoing them in reverse restores it."""
    with platform.lock:
        platform.deploy("checkout", "v2")
        platform.push_config("checkout", {"pool_size": 8})
    with LocalExecutor(platform.url, timeout_seconds=5) as ex:
        before = platform.state()
        done = []
        for action in actions:
            v = ex.validate(action)
            if not v.ok or v.skip:
                continue
            undo = ex.snapshot(action)
            assert undo.reversible
            ex.execute(action)
            done.append((action, undo))
        for action, undo in reversed(done):
            ex.rollback(action, undo)
        assert platform.state() == before
