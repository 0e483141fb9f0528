from __future__ import annotations

import doctest
import importlib

import pytest

import selfheal.monitoring as monitoring
import selfheal.store as store

MONITORING_API = {
    "STALE", "Compiler", "EdgeStats", "ExpositionError", "ExpositionSample", "HttpLogDiscovery",
    "HttpServiceDiscovery", "IndicatorDef", "IndicatorSet", "Instant", "LogSource", "LogTailer",
    "LogWindow", "OtlpReceiver", "ParseResult", "PromQLError", "Query", "RawLine",
    "ScrapeTarget", "Scraper", "SeriesParser", "ServiceGraph", "SpanWindow", "TargetHealth",
    "WindowStore", "histogram_quantile", "increase", "is_stale", "parse_exposition", "rate",
    "window_seconds",
}  # fmt: skip

MODULES = [
    "selfheal.monitoring.exposition",
    "selfheal.monitoring.window_store",
    "selfheal.monitoring.promql",
    "selfheal.monitoring.log_window",
    "selfheal.monitoring.promql_binop",
    "selfheal.monitoring.promql_eval",
    "selfheal.monitoring.promql_labels",
    "selfheal.monitoring.indicators",
    "selfheal.store.json_codec",
]


def test_monitoring_public_api_is_pinned() -> None:
    assert set(monitoring.__all__) == MONITORING_API
    for name in MONITORING_API:
        assert getattr(monitoring, name) is not None


def test_store_public_api_resolves() -> None:
    for name in store.__all__:
        assert getattr(store, name) is not None


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
