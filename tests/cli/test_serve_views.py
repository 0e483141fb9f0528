"""``serve`` (what ``selfheal run`` starts) hands the API the running loop's readiness and its
indicator history: /readyz follows the engine's cycles, an incident's series read the history."""

from __future__ import annotations

from pathlib import Path

import httpx

from selfheal.cli.loop import serve
from selfheal.core.config import parse_config
from selfheal.core.types import Anomaly, Incident, Sample, SeriesKey
from selfheal.loop.wiring import build


def test_the_served_api_reads_the_loops_readiness_and_history(tmp_path: Path) -> None:
    config = {
        # nothing listens there: the scrape and the platform fail, and the cycle goes on
        "scrape": {"targets": ["127.0.0.1:9"], "timeout_seconds": 0.2},
        "executor": {"type": "local", "local": {"control_url": "http://127.0.0.1:9"}},
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "otlp": {"enabled": False},
    }
    runtime = build(parse_config(config, "test"))
    server = serve(runtime, "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            before = client.get("/readyz")
            assert before.status_code == 503 and "no cycle" in before.json()["error"]
            runtime.engine.step()
            assert client.get("/readyz").json()["status"] == "ready"

            # the history the collector fills is the one the incident's series read
            assert runtime.history is runtime.engine.collector.history  # type: ignore[attr-defined]
            now = runtime.engine.clock.now()
            key = SeriesKey.of("error_ratio", {"service": "billing"})
            runtime.history.append(Sample(key, now, 0.4))
            anomaly = Anomaly("billing", now, 0.9, "rule:x", indicator="error_ratio")
            runtime.store.incidents.save(Incident("inc-1", now, (anomaly,), frozenset({"billing"})))
            body = client.get("/incidents/inc-1/series").json()
            assert [line["points"] for line in body["series"]] == [[[now, 0.4]]]
    finally:
        server.stop()
        runtime.close()
