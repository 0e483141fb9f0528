"""Fixtures: a real API server over a real SQLite store, with one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from selfheal.api import Server
from selfheal.api.auth import TokenBook
from selfheal.monitoring.alertmanager import AlertInbox
from selfheal.store.state import Store, open_store

from .api_server import TOKENS, serve


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/api.db")
    yield s
    s.close()


@pytest.fixture
def alerts() -> AlertInbox:
    return AlertInbox()


@pytest.fixture
def server(store: Store, alerts: AlertInbox) -> Iterator[Server]:
    s = serve(store, TokenBook(TOKENS), alerts=alerts)
    yield s
    s.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@pytest.fixture
def open_client(store: Store) -> Iterator[httpx.Client]:
    """An API with no token configured (read-only)."""
    s = serve(store, TokenBook())
    with httpx.Client(base_url=s.url, timeout=10) as c:
        yield c
    s.stop()
