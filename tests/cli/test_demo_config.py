"""The demo's own settings: unattended on purpose, and its dashboard behind a fresh token."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from selfheal.cli.demo import demo_config
from selfheal.cli.main import cli
from selfheal.core.platform import PlanningContext, ServiceState
from selfheal.core.types import Action
from selfheal.decision.playbook import Playbook
from selfheal.decision.risk import assess


def test_no_rung_of_the_shipped_playbook_reaches_the_demos_approval_level(tmp_path: Path) -> None:
    level = demo_config("http://127.0.0.1:1", str(tmp_path)).approval.risk_level
    highest = 0.0
    for entry in Playbook.default().entries:
        for rung in entry.strategy.ladder:
            for criticality in (0.0, 0.5, 0.9, 1.0):
                for n in (1, 2, 3):
                    names = tuple(f"svc-{i}" for i in range(n))
                    ctx = PlanningContext(
                        services={"svc": ServiceState("svc", names, criticality=criticality)}
                    )
                    instance = "svc-0" if rung.instance else None
                    action = Action(rung.kind, "svc", instance, rung.params)
                    highest = max(highest, assess(action, ctx).risk)
    assert 0.7 <= highest < level  # the shipped level (0.7) would ask; the demo's does not


def test_each_demo_gets_a_fresh_admin_token(tmp_path: Path) -> None:
    first = demo_config("http://127.0.0.1:1", str(tmp_path)).api.tokens
    second = demo_config("http://127.0.0.1:1", str(tmp_path)).api.tokens
    assert [(t.name, t.role) for t in first] == [("demo", "admin")]
    assert first[0].token != second[0].token
    fixed = demo_config("http://127.0.0.1:1", str(tmp_path), api_token="t" * 20).api.tokens[0]
    assert fixed.token is not None and fixed.token.get_secret_value() == "t" * 20


def test_with_prometheus_the_demo_reads_only_through_its_api(tmp_path: Path) -> None:
    cfg = demo_config("http://127.0.0.1:1", str(tmp_path), prometheus_url="http://127.0.0.1:9090")
    assert cfg.metrics.source == "prometheus"
    assert cfg.metrics.prometheus.url == "http://127.0.0.1:9090"
    assert cfg.scrape.discovery_url is None and cfg.scrape.targets == []  # scrapes nothing
    assert cfg.scrape.interval_seconds == 1.0  # Prometheus's interval: the 4 s rate window
    embedded = demo_config("http://127.0.0.1:1", str(tmp_path))
    assert embedded.metrics.source == "embedded"
    assert embedded.scrape.discovery_url == "http://127.0.0.1:1/platform/targets"


def test_the_prometheus_demo_without_the_binary_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no prometheus here
    result = CliRunner().invoke(cli, ["demo", "--metrics-source", "prometheus"])
    assert result.exit_code == 2
    assert result.output == (
        "error: --metrics-source prometheus needs Prometheus: no 'prometheus' binary on PATH "
        "(install it, e.g. apt-get install prometheus)\n"
    )


def test_the_demo_reads_the_metric_convention_its_shop_emits(tmp_path: Path) -> None:
    """The preset follows the topology's ``metrics``: the shipped shop-otel topology gets the
    OpenTelemetry preset, the shop the native one."""
    from selfheal.testbed.topology_file import find_topology

    for name, preset in (("shop", "native"), ("shop-otel", "opentelemetry")):
        metrics = find_topology(name).metrics
        config = demo_config("http://127.0.0.1:1", str(tmp_path), indicators_preset=metrics)
        assert config.indicators_preset == preset
