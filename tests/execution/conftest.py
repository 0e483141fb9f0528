import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_local_platform import FakePlatform  # noqa: E402


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    p = FakePlatform().start()
    try:
        yield p
    finally:
        p.stop()
