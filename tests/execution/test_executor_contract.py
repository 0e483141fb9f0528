"""One contract, every executor: the checks the runner relies on."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import MagicMock

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from selfheal.core.clock import FakeClock
from selfheal.core.types import Action, ActionKind
from selfheal.execution import (
    Executor,
    KubernetesExecutor,
    LocalExecutor,
    Undo,
    Validation,
    WebhookExecutor,
)

from .fake_local_platform import FakePlatform

RESTART = Action(ActionKind.RESTART_SERVICE, "cart")
MISSING = Action(ActionKind.RESTART_SERVICE, "no-such-service")


def _local() -> Iterator[tuple[Executor, MagicMock | None]]:
    platform = FakePlatform().start()
    try:
        with LocalExecutor(platform.url, timeout_seconds=5) as ex:
            yield ex, None
    finally:
        platform.stop()


def _kubernetes() -> Iterator[tuple[Executor, MagicMock | None]]:
    apps = MagicMock(spec=client.AppsV1Api)
    core = MagicMock(spec=client.CoreV1Api)
    apps.read_namespaced_deployment.side_effect = ApiException(status=404, reason="Not Found")
    yield KubernetesExecutor("ns", apps_api=apps, core_api=core, clock=FakeClock()), apps


def _webhook() -> Iterator[tuple[Executor, MagicMock | None]]:
    with WebhookExecutor("http://127.0.0.1:9/hook", clock=FakeClock()) as ex:
        yield ex, None


@pytest.fixture(params=[_local, _kubernetes, _webhook], ids=["local", "kubernetes", "webhook"])
def executor(request: pytest.FixtureRequest) -> Iterator[tuple[Executor, MagicMock | None]]:
    yield from request.param()


def test_is_an_executor_with_a_name(executor) -> None:
    ex, _ = executor
    assert isinstance(ex, Executor)
    assert ex.name


def test_validate_answers_with_a_validation(executor) -> None:
    ex, _ = executor
    v = ex.validate(MISSING)
    assert isinstance(v, Validation)
    if not isinstance(ex, WebhookExecutor):  # a webhook validates on the receiver's side
        assert not v.ok and "no-such-service" in v.reason


def test_a_restart_has_no_undo_and_says_why(executor) -> None:
    ex, _ = executor
    undo = ex.snapshot(RESTART)
    assert isinstance(undo, Undo) and undo.description
    # a webhook receiver decides what it can undo; the platforms' own restarts leave nothing
    assert undo.reversible == isinstance(ex, WebhookExecutor)


def test_rolling_back_an_irreversible_undo_is_a_no_op(executor) -> None:
    ex, apps = executor
    undo = Undo.none(RESTART, "nothing to restore")
    assert "nothing to undo" in ex.rollback(RESTART, undo)
    if apps is not None:
        apps.patch_namespaced_deployment.assert_not_called()
