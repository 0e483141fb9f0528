from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from selfheal.core.clock import FakeClock
from selfheal.store import Store, open_store


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    s = open_store(db_url, clock)
    yield s
    s.close()
