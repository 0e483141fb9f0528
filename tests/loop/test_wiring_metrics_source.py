"""``build`` picks the collector by ``metrics.source``; building makes no network call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selfheal.core.config import parse_config
from selfheal.core.errors import ConfigError
from selfheal.loop.collector import PrometheusCollector, ScrapeCollector
from selfheal.loop.wiring import build


def _config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "otlp": {"enabled": False},
        "detection": {"detector": "none"},
        "executor": {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/hook"}},
        **extra,
    }


def test_prometheus_needs_no_scrape_targets_and_sends_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFHEAL_TEST_PROM_TOKEN", "prom-token")
    prom = {"url": "http://127.0.0.1:9/", "bearer_token_env": "SELFHEAL_TEST_PROM_TOKEN"}
    cfg = _config(tmp_path, metrics={"source": "prometheus", "prometheus": prom})
    runtime = build(parse_config(cfg, "test"))
    try:
        collector = runtime.engine.collector
        assert isinstance(collector, PrometheusCollector)
        assert collector.source.url == "http://127.0.0.1:9"
        assert collector.source._client.headers["Authorization"] == "Bearer prom-token"
        assert runtime.alerts is not None and collector.alerts is runtime.alerts
        assert runtime.engine.status()["metrics_source"]["source"] == "prometheus"
    finally:
        runtime.close()


def test_an_unset_prometheus_token_variable_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SELFHEAL_TEST_PROM_TOKEN", raising=False)
    prom = {"url": "http://127.0.0.1:9", "bearer_token_env": "SELFHEAL_TEST_PROM_TOKEN"}
    cfg = _config(tmp_path, metrics={"source": "prometheus", "prometheus": prom})
    with pytest.raises(
        ConfigError,
        match=r"^metrics\.prometheus\.bearer_token_env: environment variable "
        r"SELFHEAL_TEST_PROM_TOKEN is not set$",
    ):
        build(parse_config(cfg, "test"))


def test_embedded_needs_targets_and_the_receiver_can_be_off(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^scrape: give targets or discovery_url"):
        build(parse_config(_config(tmp_path), "test"))
    cfg = _config(tmp_path, scrape={"targets": ["127.0.0.1:9"]}, alertmanager={"enabled": False})
    runtime = build(parse_config(cfg, "test"))
    try:
        assert isinstance(runtime.engine.collector, ScrapeCollector)
        assert runtime.alerts is None
        assert runtime.engine.status()["metrics_source"]["source"] == "embedded"
    finally:
        runtime.close()


def test_through_prometheus_the_first_diagnosis_waits_two_of_its_scrapes_more(
    tmp_path: Path,
) -> None:
    from selfheal.loop.wiring import diagnose_after_seconds

    loop = {"cycle_seconds": 1.0}
    embedded = parse_config(_config(tmp_path, loop=loop), "test")
    prom = parse_config(
        _config(
            tmp_path,
            loop=loop,
            scrape={"interval_seconds": 2.0},
            metrics={"source": "prometheus", "prometheus": {"url": "http://127.0.0.1:9/"}},
        ),
        "test",
    )
    assert diagnose_after_seconds(embedded) == pytest.approx(1.9)
    assert diagnose_after_seconds(prom) == pytest.approx(1.9 + 4.0)
