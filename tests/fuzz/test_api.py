"""Every API operation fuzzed by schemathesis from the live API's own OpenAPI schema.

A real server (real HTTP, a real SQLite store holding incidents and pending approvals)
answers generated requests — valid and invalid paths, queries and bodies, sent with a
token of each role or none. Each answer must match the schema (status codes, content
types, bodies), no answer may be a 500, and an answer that refuses a request (4xx) must
have changed nothing stored: the audit trail, the approvals, the pause flag.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api.api_server import TOKENS as API_TOKENS
from api.api_server import bearer, serve
from selfheal.api import Server
from selfheal.api.auth import TokenBook
from selfheal.core.types import Incident, IncidentStatus
from selfheal.monitoring.alertmanager import AlertInbox
from selfheal.store.state import Store, open_store

#: the checks every answer passes (schemathesis' own, by name)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Store]]:
    path: Path = tmp_path_factory.mktemp("api-fuzz")
    store = open_store(f"sqlite:///{path}/api.db")
    store.incidents.save(
        Incident("inc-1", 10.0, (), frozenset({"cart"}), status=IncidentStatus.RESOLVED)
    )
    for i in range(50):  # enough pending requests that deciding some leaves others
        store.approvals.request({"kind": "Failover"}, f"inc-{i}", 0.8, expires_at=4e9)
    server = serve(store, TokenBook(API_TOKENS), alerts=AlertInbox())  # the webhook receiver too
    yield server, store
    server.stop()
    store.close()


@pytest.fixture(scope="module")
def api_schema(live: tuple[Server, Store]) -> Any:
    server, _ = live
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


def stored(store: Store) -> tuple[object, ...]:
    """What a refused request must leave as it was."""
    last = store.audit.last()
    return (
        store.audit.count(),
        last.hash if last else None,
        store.control.state(),
        tuple((a.id, a.status, a.decided_by) for a in store.approvals.list(limit=1000)),
    )


def check(case: Any, live: tuple[Server, Store], headers: dict[str, str]) -> Any:
    """Call ``case`` with ``headers``; the answer passes ``CHECKS`` and, if it refuses the
    request, nothing stored has changed."""
    server, store = live
    before = stored(store)
    response = case.call(base_url=server.url, headers=headers)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert stored(store) == before, (case.method, case.formatted_path, response.status_code)
    return response


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@schema.parametrize()
@SETTINGS
def test_with_an_admin_token_every_answer_is_documented(
    case: Any, live: tuple[Server, Store]
) -> None:
    check(case, live, bearer("admin"))


@schema.parametrize()
@SETTINGS
def test_without_a_token_only_probes_answer_and_nothing_changes(
    case: Any, live: tuple[Server, Store]
) -> None:
    response = check(case, live, {})
    if case.path not in ("/metrics", "/healthz", "/readyz"):
        assert response.status_code in (400, 401, 405), (
            case.method,
            case.path,
            response.status_code,
        )


def test_undeclared_methods_answer_405_with_allow(live: tuple[Server, Store]) -> None:
    server, _ = live
    answer = httpx.request("TRACE", f"{server.url}/pause", headers=bearer("admin"))
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
