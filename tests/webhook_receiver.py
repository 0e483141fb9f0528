"""A real HTTP webhook receiver for tests: checks signatures and follows a script."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_server import LocalServer
from selfheal.execution.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


class WebhookReceiver:
    """Answers each POST to ``/hook`` from ``script`` in order, then 200 ``{"detail": "ok"}``.

    Requests with a bad signature are answered 401 and counted, not recorded.
    """

    def __init__(self, secret: bytes) -> None:
        self.script: list[tuple[int, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(
                    secret,
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
