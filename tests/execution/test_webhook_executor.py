from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from local_server import LocalServer
from selfheal.core.clock import FakeClock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action, ActionKind
from selfheal.execution.runner import ActionRunner
from selfheal.execution.webhook import SIGNATURE_HEADER, WebhookExecutor
from webhook_receiver import WebhookReceiver

SECRET = b"s3cret"
ACTION = Action(ActionKind.RESTART_SERVICE, "cart", timeout_seconds=5)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(SECRET)
    yield r
    r.stop()


def test_execute_posts_the_signed_action(receiver: WebhookReceiver) -> None:
    with WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock()) as ex:
        assert ex.execute(ACTION) == "ok"
    (body,) = receiver.received
    assert body["phase"] == "execute"
    assert body["action"]["kind"] == "RestartService"
    assert body["action"]["target"] == "cart"
    assert receiver.bad_signatures == 0


def test_extra_headers_are_sent_but_cannot_replace_the_signature(receiver: WebhookReceiver) -> None:
    extra = {"Authorization": "Bearer t0ken", SIGNATURE_HEADER: "sha256=forged"}
    with WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock(), headers=extra) as ex:
        assert ex.execute(ACTION) == "ok"
    (seen,) = receiver.headers
    assert seen["Authorization"] == "Bearer t0ken"
    assert receiver.bad_signatures == 0


def test_wrong_secret_is_rejected_by_the_receiver_as_permanent(receiver: WebhookReceiver) -> None:
    with (
        WebhookExecutor(receiver.url, secret="wrong", clock=FakeClock()) as ex,
        pytest.raises(PermanentError, match="HTTP 401: bad signature"),
    ):
        ex.execute(ACTION)
    assert receiver.bad_signatures == 1


def test_5xx_is_retried_with_the_same_idempotency_key(receiver: WebhookReceiver) -> None:
    receiver.script = [(503, {"error": "busy"}), (502, {"error": "busy"})]
    clock = FakeClock()
    with WebhookExecutor(receiver.url, secret=SECRET, clock=clock, max_attempts=3) as ex:
        assert ex.execute(ACTION) == "ok"
    assert len(receiver.received) == 3
    assert len(set(receiver.keys)) == 1


def test_5xx_beyond_the_attempts_is_a_temporary_error(receiver: WebhookReceiver) -> None:
    receiver.script = [(500, {"error": "down"})] * 3
    ex = WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock(), max_attempts=2)
    with ex, pytest.raises(TemporaryError, match="HTTP 500: down .after 2 attempts"):
        ex.execute(ACTION)


def test_4xx_is_permanent_and_not_retried(receiver: WebhookReceiver) -> None:
    receiver.script = [(422, {"error": "unknown service cart"})]
    ex = WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock())
    with ex, pytest.raises(PermanentError, match="unknown service cart"):
        ex.execute(ACTION)
    assert len(receiver.received) == 1


def test_timeout_is_temporary() -> None:
    gate = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            gate.wait(2)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = LocalServer(Slow)
    try:
        with (
            WebhookExecutor(
                server.base_url + "/", timeout_seconds=0.2, max_attempts=1, clock=FakeClock()
            ) as ex,
            pytest.raises(TemporaryError, match="unreachable"),
        ):
            ex.execute(ACTION)
    finally:
        gate.set()
        server.stop()


def test_remote_validation_and_skip(receiver: WebhookReceiver) -> None:
    receiver.script = [(200, {"ok": True, "skip": True, "reason": "already restarted"})]
    with WebhookExecutor(
        receiver.url, secret=SECRET, remote_validate=True, clock=FakeClock()
    ) as ex:
        v = ex.validate(ACTION)
    assert v.ok and v.skip and v.reason == "already restarted"


def test_runner_asks_the_receiver_to_roll_back(receiver: WebhookReceiver) -> None:
    with WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock()) as ex:
        runner = ActionRunner(ex, FakeClock())
        prepared = runner.prepare(ACTION)
        runner.execute(prepared)
        runner.rollback(prepared)
    assert [b["phase"] for b in receiver.received] == ["execute", "rollback"]
    assert receiver.received[1]["undo"] is not None


def test_without_rollback_support_the_undo_says_so(receiver: WebhookReceiver) -> None:
    with WebhookExecutor(receiver.url, supports_rollback=False) as ex:
        undo = ex.snapshot(ACTION)
    assert not undo.reversible and "does not undo" in undo.description
