"""``selfheal incidents|audit|pause|resume|approve|deny|run|demo`` on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from selfheal.cli.main import cli
from selfheal.core.types import Incident, IncidentStatus
from selfheal.store.state import open_store


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def test_incidents_lists_the_store(tmp_path: Path) -> None:
    store = open_store(db_url(tmp_path))
    store.incidents.save(
        Incident("inc-9", 5.0, (), frozenset({"cart"}), status=IncidentStatus.OPEN)
    )
    store.close()
    result = CliRunner().invoke(cli, ["incidents", "--db", db_url(tmp_path)])
    assert result.exit_code == 0
    assert "inc-9" in result.output and "open" in result.output


def test_pause_resume_write_the_flag_and_the_audit(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["pause", "--db", db_url(tmp_path)]).exit_code == 0
    store = open_store(db_url(tmp_path))
    assert store.control.paused
    assert runner.invoke(cli, ["resume", "--db", db_url(tmp_path)]).exit_code == 0
    assert not store.control.paused
    kinds = [e.kind for e in store.audit.entries()]
    assert kinds == ["engine_paused", "engine_resumed"]
    store.close()


def test_audit_verify_detects_tampering(tmp_path: Path) -> None:
    store = open_store(db_url(tmp_path))
    store.audit.append("action_result", {"outcome": "succeeded"}, 1.0)
    store.audit.append("incident_resolved", {"incident": "inc-1"}, 2.0)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--db", db_url(tmp_path)])
    assert ok.exit_code == 0 and "intact" in ok.output
    with store.db.write_session() as session:
        session.execute(
            text('UPDATE audit_log SET payload = \'{"outcome": "failed"}\' WHERE seq = 1')
        )
    bad = runner.invoke(cli, ["audit", "verify", "--db", db_url(tmp_path)])
    assert bad.exit_code == 1
    assert "TAMPERED" in bad.output
    store.close()


def test_approve_and_deny_with_clear_errors(tmp_path: Path) -> None:
    store = open_store(db_url(tmp_path))
    rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.8, expires_at=4e9)
    runner = CliRunner()
    ok = runner.invoke(cli, ["approve", str(rid), "--db", db_url(tmp_path), "--by", "alice"])
    assert ok.exit_code == 0 and "approved by alice" in ok.output
    again = runner.invoke(cli, ["deny", str(rid), "--db", db_url(tmp_path)])
    assert again.exit_code == 2 and "error:" in again.output and "Traceback" not in again.output
    missing = runner.invoke(cli, ["approve", "999", "--db", db_url(tmp_path)])
    assert missing.exit_code == 2 and "999" in missing.output
    store.close()


def test_run_with_a_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("guards:\n  cooldown_secs: 3\n")
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "guards.cooldown_secs: unknown key" in result.output
    assert "Traceback" not in result.output


def test_run_with_a_bad_indicator_expression_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "scrape: {targets: ['127.0.0.1:9']}\n"
        "executor: {type: local, local: {control_url: 'http://127.0.0.1:9'}}\n"
        f"store: {{url: 'sqlite:///{tmp_path}/s.db'}}\n"
        "indicators:\n  - {name: spikes, expr: 'topk(3, up)'}\n"
    )
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "indicators.0.expr: aggregation topk is not supported" in result.output
    assert "Traceback" not in result.output


def test_demo_with_a_bad_scenario_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("- {at_seconds: 5, fault: crash}\n")
    result = CliRunner().invoke(cli, ["demo", "--scenario-file", str(path)])
    assert result.exit_code == 2
    assert "[0].service" in result.output
