"""The loop's guards enforce the configuration's ``guards`` and ``approval`` sections."""

from __future__ import annotations

from pathlib import Path

from selfheal.core.config import parse_config
from selfheal.core.platform import PlanningContext, ServiceState
from selfheal.core.types import Action, ActionKind, Incident
from selfheal.loop.stages import GuardsAdapter
from selfheal.loop.wiring import build


def test_the_guards_section_reaches_the_running_guards(tmp_path: Path) -> None:
    cfg = {
        "scrape": {"targets": ["127.0.0.1:9"], "timeout_seconds": 0.2},  # never scraped here
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "otlp": {"enabled": False},
        "api": {"enabled": False},
        "detection": {"detector": "none"},
        "executor": {"type": "local", "local": {"control_url": "http://127.0.0.1:9"}},
        "guards": {
            "blast_radius_floor_instances": 0,
            "maintenance_windows": [{"start_seconds": 0, "end_seconds": 4e9, "services": ["cart"]}],
        },
        "approval": {"risk_level": 0.3},
    }
    config = parse_config(cfg, "test")
    runtime = build(config)
    try:
        adapter = runtime.engine.remediation.guards
        assert isinstance(adapter, GuardsAdapter)
        assert adapter.guards.settings is config.guards
        assert adapter.guards.approval is config.approval
        incident = Incident("i1", 0.0, (), frozenset({"cart"}))
        ctx = PlanningContext(services={"cache": ServiceState("cache", ("cache-0",))})
        now = runtime.engine.clock.now()
        in_window = adapter.check(Action(ActionKind.RESTART_SERVICE, "cart"), incident, ctx, now)
        assert not in_window.allowed and "maintenance" in in_window.reason
        alone = adapter.check(Action(ActionKind.RESTART_SERVICE, "cache"), incident, ctx, now)
        # floor 0: not even one instance out on its own; wider than that waits for a human
        assert alone.needs_approval and "the blast radius allows" in alone.reason
        risky = Action(ActionKind.SCALE_SERVICE, "checkout", risk=0.3)
        assert adapter.check(risky, incident, ctx, now).needs_approval
    finally:
        runtime.close()
