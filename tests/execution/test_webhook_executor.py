from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from local_server import LocalServer
from selfheal.core.clock import FakeClock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action, ActionKind, Outcome
from selfheal.execution.runner import ActionRunner
from selfheal.execution.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookExecutor,
    verify_signature,
)

SECRET = b"s3cret"
ACTION = Action(ActionKind.RESTART_SERVICE, "cart", timeout_seconds=5)


class Receiver:
    """A real HTTP webhook receiver that checks signatures and follows a script."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any]] = []  # answers to give, in order; then 200
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(
                    SECRET,
                    self.headers.get(TIMESTAMP_HEADER, ""),
                    raw,
                    self.headers.get(SIGNATURE_HEADER, ""),
                )
                receiver.keys.append(self.headers.get("Idempotency-Key", ""))
                receiver.headers.append(dict(self.headers.items()))
                if not ok:
                    receiver.bad_signatures += 1
                    status, payload = 401, {"error": "bad signature"}
                else:
                    receiver.received.append(json.loads(raw))
                    status, payload = (
                        receiver.script.pop(0) if receiver.script else (200, {"detail": "ok"})
                    )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.local = LocalServer(Handler)

    @property
    def url(self) -> str:
        return self.local.base_url + "/hook"

    def stop(self) -> None:
        self.local.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def test_execute_posts_the_signed_action(receiver: Receiver) -> None:
    with WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock()) as ex:
        assert ex.execute(ACTION) == "ok"
    (body,) = receiver.received
    assert body["phase"] == "execute"
    assert body["action"]["kind"] == "RestartService"
    assert body["action"]["target"] == "cart"
    assert receiver.bad_signatures == 0


def test_extra_headers_are_sent_but_cannot_replace_the_signature(receiver: Receiver) -> None:
    extra = {"Authorization": "Bearer t0ken", SIGNATURE_HEADER: "sha256=forged"}
    with WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock(), headers=extra) as ex:
        assert ex.execute(ACTION) == "ok"
    (seen,) = receiver.headers
    assert seen["Authorization"] == "Bearer t0ken"
    assert receiver.bad_signatures == 0


def test_wrong_secret_is_rejected_by_the_receiver_as_permanent(receiver: Receiver) -> None:
    with (
        WebhookExecutor(receiver.url, secret="wrong", clock=FakeClock()) as ex,
        pytest.raises(PermanentError, match="HTTP 401: bad signature"),
    ):
        ex.execute(ACTION)
    assert receiver.bad_signatures == 1


def test_5xx_is_retried_with_the_same_idempotency_key(receiver: Receiver) -> None:
    receiver.script = [(503, {"error": "busy"}), (502, {"error": "busy"})]
    clock = FakeClock()
    with WebhookExecutor(receiver.url, secret=SECRET, clock=clock, max_attempts=3) as ex:
        assert ex.execute(ACTION) == "ok"
    assert len(receiver.received) == 3
    assert len(set(receiver.keys)) == 1


def test_5xx_beyond_the_attempts_is_a_temporary_error(receiver: Receiver) -> None:
    receiver.script = [(500, {"error": "down"})] * 3
    ex = WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock(), max_attempts=2)
    with ex, pytest.raises(TemporaryError, match="HTTP 500: down .after 2 attempts"):
        ex.execute(ACTION)


def test_4xx_is_permanent_and_not_retried(receiver: Receiver) -> None:
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


def test_remote_validation_and_skip(receiver: Receiver) -> None:
    receiver.script = [(200, {"ok": True, "skip": True, "reason": "already restarted"})]
    with WebhookExecutor(
        receiver.url, secret=SECRET, remote_validate=True, clock=FakeClock()
    ) as ex:
        v = ex.validate(ACTION)
    assert v.ok and v.skip and v.reason == "already restarted"


def test_runner_asks_the_receiver_to_roll_back(receiver: Receiver) -> None:
    with WebhookExecutor(receiver.url, secret=SECRET, clock=FakeClock()) as ex:
        r = ActionRunner(ex, FakeClock(), skip_if_healthy=False).run(ACTION, verify=lambda: False)
    assert r.outcome == Outcome.ROLLED_BACK
    assert [b["phase"] for b in receiver.received] == ["execute", "rollback"]
    assert receiver.received[1]["undo"] is not None


def test_without_rollback_support_the_undo_says_so(receiver: Receiver) -> None:
    with WebhookExecutor(receiver.url, supports_rollback=False) as ex:
        undo = ex.snapshot(ACTION)
    assert not undo.reversible and "does not undo" in undo.description
