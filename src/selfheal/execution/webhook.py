"""A generic webhook executor: hand the action to someone else's automation.

For platforms selfheal does not drive itself (a StackStorm rule, a runbook
service, a CI job), the runner can use this executor: each step is a signed
JSON POST to one URL. The receiver answers 2xx to accept (optionally with
``{"detail": str}``; for ``validate`` with ``{"ok": bool, "skip": bool,
"reason": str}``), 4xx to refuse for good (``{"error": str}``), 5xx to ask for
a retry. 5xx answers, timeouts and connection failures are retried here with
bounded backoff, then raised as ``TemporaryError``; 4xx as ``PermanentError``.

Body: ``{"phase": "validate"|"execute"|"rollback", "action": {...},
"undo": {...}|null, "sent_at": float}``. Headers: ``X-Selfheal-Timestamp``
and ``X-Selfheal-Signature: sha256=HEX`` where HEX is the HMAC-SHA256 (RFC
2104) of ``timestamp + "." + body`` under the shared secret, so a receiver can
reject forged and replayed calls; ``Idempotency-Key`` stays the same across
the retries of one step.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.errors import PermanentError, TemporaryError
from selfheal.core.types import Action
from selfheal.execution.base import Undo, Validation

SIGNATURE_HEADER = "X-Selfheal-Signature"
TIMESTAMP_HEADER = "X-Selfheal-Timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``.

    >>> sign(b"k", "1", b"{}")[:7]
    'sha256='
    """
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """Receiver side: constant-time check of a signature header."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def action_json(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind.value,
        "target": action.target,
        "instance": action.instance,
        "params": dict(action.params),
        "risk": action.risk,
        "timeout_seconds": action.timeout_seconds,
        "description": action.describe(),
    }


class WebhookExecutor:
    """``Executor`` that POSTs each step of an action to ``url``."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes | None = None,
        timeout_seconds: float = 10.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        remote_validate: bool = False,
        supports_rollback: bool = True,
        clock: Clock | None = None,
        client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``remote_validate``: ask the receiver in a ``validate`` phase (else every action
        validates locally). ``supports_rollback``: the receiver undoes on ``rollback``.
        ``headers``: extra headers on every request (e.g. an API token); they cannot
        replace the signature, timestamp or idempotency headers."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._remote_validate = remote_validate
        self._supports_rollback = supports_rollback
        self._clock = clock or SystemClock()
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._owns_client = client is None
        self._headers = dict(headers or {})

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WebhookExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def validate(self, action: Action) -> Validation:
        if not self._remote_validate:
            return Validation.proceed("validated by the receiver when it executes")
        try:
            answer = self._post("validate", action, None)
        except PermanentError as exc:
            return Validation.refuse(str(exc))
        return Validation(
            ok=bool(answer.get("ok", True)),
            skip=bool(answer.get("skip", False)),
            reason=str(answer.get("reason", "")),
        )

    def snapshot(self, action: Action) -> Undo:
        if not self._supports_rollback:
            return Undo.none(action, f"the receiver at {self.url} does not undo actions")
        return Undo(
            action,
            True,
            f"ask the receiver at {self.url} to undo {action.describe()}",
            {"snapshot_at": self._clock.now()},
        )

    def execute(self, action: Action) -> str:
        answer = self._post("execute", action, None)
        return str(answer.get("detail") or f"accepted by {self.url}")

    def rollback(self, action: Action, undo: Undo) -> str:
        if not undo.reversible:
            return f"nothing to undo: {undo.description}"
        answer = self._post("rollback", action, dict(undo.state))
        return str(answer.get("detail") or f"undone by {self.url}")

    def _post(self, phase: str, action: Action, undo: Mapping[str, Any] | None) -> dict[str, Any]:
        body = json.dumps(
            {
                "phase": phase,
                "action": action_json(action),
                "undo": undo,
                "sent_at": self._clock.now(),
            },
            sort_keys=True,
        ).encode()
        key = str(uuid.uuid4())
        last = ""
        for attempt in range(1, self._max_attempts + 1):
            timestamp = f"{self._clock.now():.3f}"
            headers = {
                **self._headers,
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                TIMESTAMP_HEADER: timestamp,
            }
            if self._secret is not None:
                headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
            try:
                response = self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{phase} {action.describe()}: webhook unreachable: {exc}"
            else:
                if response.status_code < 300:
                    return _json(response)
                message = _error(response)
                text = f"{phase} {action.describe()}: webhook answered HTTP {response.status_code}: {message}"
                if response.status_code < 500 and response.status_code != 429:
                    raise PermanentError(text)
                last = text
            if attempt < self._max_attempts:
                self._clock.sleep(self._backoff * 2 ** (attempt - 1))
        raise TemporaryError(f"{last} (after {self._max_attempts} attempts)", self._backoff)


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        return {"detail": response.text.strip()[:200]}
    return data if isinstance(data, dict) else {"detail": str(data)}


def _error(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return str(data)[:200]
