"""Fixtures for the testbed suite: a real shop per test module (started once,
stopped at the end with a check that none of its processes is left) and a real
OTLP receiver it exports traces to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testbed_helpers import OtlpReceiver, alive, wait_until

from selfheal.testbed import ControlClient, Shop


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Shop]:
    running = Shop.start(tmp_path_factory.mktemp("shop"), otlp_endpoint=otlp.endpoint)
    pids = running.pids()
    try:
        yield running
    finally:
        running.stop()
        assert wait_until(lambda: not any(alive(p) for p in pids), timeout=10)


@pytest.fixture(scope="module")
def client(shop: Shop) -> Iterator[ControlClient]:
    with ControlClient(shop.control_url) as c:
        yield c
