"""The shipped example configurations load, and say what their README section says."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.core.config import load_config, parse_config_text
from selfheal.core.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def test_the_prometheus_alertmanager_kubernetes_example_loads() -> None:
    cfg = load_config(EXAMPLES / "prometheus-alertmanager-kubernetes.yaml")
    assert cfg.executor.type == "kubernetes"
    assert cfg.metrics.source == "prometheus"
    assert cfg.metrics.prometheus.url == "http://prometheus-server.monitoring.svc:9090"
    assert cfg.metrics.prometheus.bearer_token_env == "PROMETHEUS_TOKEN"
    assert cfg.alertmanager.enabled and cfg.alertmanager.instance_labels[0] == "pod"
    roles = {t.name: (t.role, t.token_env) for t in cfg.api.tokens}
    assert roles["alertmanager"] == ("operator", "SELFHEAL_ALERTMANAGER_TOKEN")
    assert all(t.token is None for t in cfg.api.tokens)  # secrets only from the environment


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics: {source: prometheus}\n", "needs metrics.prometheus.url"),
        ("metrics: {source: graphite}\n", r"metrics\.source"),
        (
            "metrics: {source: prometheus, prometheus: {url: 'prom:9090'}}\n",
            r"metrics\.prometheus\.url: .*not an http\(s\) URL",
        ),
        ("alertmanager: {service_labels: []}\n", r"alertmanager\.service_labels"),
        ("metrics: {prometheus: {timeout_seconds: 0}}\n", r"metrics\.prometheus\.timeout_seconds"),
    ],
)
def test_a_bad_metrics_or_alertmanager_setting_names_its_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config_text(text)
    assert "\n" not in str(caught.value)
