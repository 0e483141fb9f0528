"""Who may call what: every endpoint against every role, over real HTTP; the token book."""

from __future__ import annotations

import hmac

import httpx
import pytest

from selfheal.api import auth
from selfheal.api.auth import AuthError, Permission, TokenBook
from selfheal.core.config import parse_config
from selfheal.core.errors import ConfigError
from selfheal.store.state import Store

from .api_server import ROLES, TOKENS, bearer

READS = [
    "/status",
    "/whoami",
    "/incidents",
    "/incidents/inc-1",
    "/approvals",
    "/audit",
    "/audit/verify",
]

#: every state-changing call, with the roles that may make it
CHANGES = [
    ("/pause", {"operator", "admin"}),
    ("/resume", {"operator", "admin"}),
    ("/approvals/{rid}/approve", {"approver", "admin"}),
    ("/approvals/{rid}/deny", {"approver", "admin"}),
    ("/alertmanager", {"operator", "admin"}),
]
#: the body of each change: an Alertmanager notification for its receiver, else none
NOTIFICATION = {"alerts": [{"status": "firing", "labels": {"service": "svc", "alertname": "A"}}]}


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_valid_token_of_any_role(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    for role in ROLES:
        assert client.get(path, headers=bearer(role)).status_code in (200, 404), role


def test_a_refusal_says_why_and_asks_for_bearer(client: httpx.Client) -> None:
    missing = client.post("/pause")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Bearer TOKEN" in missing.json()["error"]
    wrong = client.post("/pause", headers=bearer("approver"))
    assert wrong.status_code == 403
    assert wrong.json()["error"] == (
        "token 'holder-approver' has role approver; this call needs operator or admin"
    )


@pytest.mark.parametrize(("template", "allowed"), CHANGES)
def test_each_change_is_accepted_only_from_its_roles(
    client: httpx.Client, store: Store, template: str, allowed: set[str]
) -> None:
    refusals = {None: 401, "bogus": 401} | {r: 403 for r in ROLES if r not in allowed}
    for who, status in refusals.items():
        rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.8, expires_at=4e9)
        before = (store.audit.count(), store.control.paused)
        headers = {} if who is None else (bearer(who) if who in ROLES else {"Authorization": who})
        body = NOTIFICATION if template == "/alertmanager" else {}
        answer = client.post(template.format(rid=rid), json=body, headers=headers)
        assert answer.status_code == status, who
        assert (store.audit.count(), store.control.paused) == before, who
        assert store.approvals.get(rid).status == "pending", who  # type: ignore[union-attr]
    for role in sorted(allowed):
        rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.8, expires_at=4e9)
        body = NOTIFICATION if template == "/alertmanager" else {}
        answer = client.post(template.format(rid=rid), json=body, headers=bearer(role))
        assert answer.status_code == 200, role


def test_identify_compares_every_token_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    book = TokenBook(TOKENS)
    holder = book.identify(TOKENS["holder-viewer"][1])
    assert holder is not None and holder.name == "holder-viewer"
    assert len(calls) == len(TOKENS)  # no early exit on the first match
    assert book.identify("viewer-token-0123456789abcdeX") is None


def test_authorize_without_tokens_reads_anonymously_and_refuses_changes() -> None:
    book = TokenBook()
    assert book.authorize(None, Permission.READ) is None
    with pytest.raises(AuthError) as refused:
        book.authorize("Bearer anything-at-all-here", Permission.CONTROL)
    assert refused.value.status == 401


def config_with(tokens: list[dict[str, str]]) -> TokenBook:
    return TokenBook.from_config(parse_config({"api": {"tokens": tokens}}).api, environ=ENV)


ENV = {"OPS_TOKEN": "ops-token-from-the-environment", "SHORT": "short"}


def test_tokens_come_from_the_config_or_its_environment_variables() -> None:
    book = config_with(
        [
            {"name": "ops", "role": "operator", "token_env": "OPS_TOKEN"},
            {"name": "ann", "role": "approver", "token": "ann-token-0123456789"},
        ]
    )
    assert book.identify("ops-token-from-the-environment").name == "ops"  # type: ignore[union-attr]
    assert book.identify("ann-token-0123456789").role == "approver"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ([{"name": "x", "role": "admin", "token_env": "UNSET"}], "api.tokens.0.token_env"),
        ([{"name": "x", "role": "admin", "token_env": "SHORT"}], "fewer than 16"),
        (
            [
                {"name": "a", "role": "admin", "token_env": "OPS_TOKEN"},
                {"name": "b", "role": "viewer", "token": "ops-token-from-the-environment"},
            ],
            "api.tokens.1: 'b' holds the same token as 'a'",
        ),
    ],
)
def test_a_bad_token_source_is_one_clear_error(tokens: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_with(tokens)
