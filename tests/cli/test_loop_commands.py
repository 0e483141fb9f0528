"""``selfheal incidents|audit|pause|resume|approve|deny|run|demo`` on a real SQLite store,
and the state-changing ones through a real API server with tokens."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from selfheal.api import Server, create_app
from selfheal.api.auth import TokenBook
from selfheal.cli.main import cli
from selfheal.core.types import Incident, IncidentStatus
from selfheal.store.state import Store, open_store


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
    ok = runner.invoke(cli, ["approve", str(rid), "--db", db_url(tmp_path), "--reason", "ok"])
    actor = f"local:{getpass.getuser()}"
    assert ok.exit_code == 0 and f"approved by {actor}" in ok.output
    (decided,) = [e.payload for e in store.audit.entries() if e.kind == "approval_decided"]
    assert decided["by"] == actor and decided["reason"] == "ok"
    again = runner.invoke(cli, ["deny", str(rid), "--db", db_url(tmp_path)])
    assert again.exit_code == 2 and "error:" in again.output and "Traceback" not in again.output
    missing = runner.invoke(cli, ["approve", "999", "--db", db_url(tmp_path)])
    assert missing.exit_code == 2 and "999" in missing.output
    huge = runner.invoke(cli, ["approve", str(2**64), "--db", db_url(tmp_path)])
    assert huge.exit_code == 2 and "no approval request" in huge.output
    store.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    store = open_store(db_url(tmp_path))
    tokens = TokenBook(
        {"ops": ("operator", "ops-token-0123456789"), "ann": ("approver", "ann-token-0123456789")}
    )
    server = Server(create_app(_Engine(store), store, CollectorRegistry(), tokens)).start()
    yield server.url, store
    server.stop()
    store.close()


class _Engine:
    def __init__(self, store: Store) -> None:
        self.store = store

    def status(self) -> dict[str, object]:
        return {"paused": self.store.control.paused}

    def pause(self, by: str = "") -> None:
        self.store.control.pause(by=by)

    def resume(self, by: str = "") -> None:
        self.store.control.resume(by=by)


def test_pause_and_approve_through_the_api_with_a_token(api: tuple[str, Store]) -> None:
    url, store = api
    runner = CliRunner()
    paused = runner.invoke(
        cli, ["pause", "--api", url], env={"SELFHEAL_TOKEN": "ops-token-0123456789"}
    )
    assert paused.exit_code == 0, paused.output
    assert store.control.state().paused and store.control.state().by == "ops"
    rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.8, expires_at=4e9)
    args = ["approve", str(rid), "--api", url, "--token", "ann-token-0123456789"]
    approved = runner.invoke(cli, args)
    assert approved.exit_code == 0 and "approved by ann" in approved.output


def test_the_api_path_refuses_a_wrong_role_or_no_token_in_one_line(
    api: tuple[str, Store],
) -> None:
    url, store = api
    runner = CliRunner()
    wrong = runner.invoke(cli, ["resume", "--api", url, "--token", "ann-token-0123456789"])
    assert wrong.exit_code == 2 and "403" in wrong.output and "operator" in wrong.output
    none = runner.invoke(cli, ["pause", "--api", url], env={"SELFHEAL_TOKEN": ""})
    assert none.exit_code == 2 and "SELFHEAL_TOKEN" in none.output
    stray = runner.invoke(cli, ["pause", "--db", db_url(Path("/nonexistent")), "--token", "x"])
    assert stray.exit_code == 2 and "--token is for --api" in stray.output
    assert "Traceback" not in wrong.output + none.output + stray.output
    assert not store.control.paused


def test_run_with_a_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("guards:\n  cooldown_secs: 3\n")
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "guards.cooldown_secs: unknown key" in result.output
    assert "Traceback" not in result.output


def test_run_with_a_store_that_cannot_be_reached_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "pg.yaml"
    path.write_text(
        "scrape: {targets: ['127.0.0.1:9']}\n"
        "executor: {type: local, local: {control_url: 'http://127.0.0.1:9'}}\n"
        f"store: {{url: 'postgresql+psycopg://loop:s3cret@127.0.0.1:{port}/selfheal'}}\n"
    )
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: store.url: cannot open the store at postgresql+psycopg://loop:")
    assert "s3cret" not in result.output  # the password never reaches a terminal or a log
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


def test_run_refuses_a_public_api_without_tokens_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text("api: {host: 0.0.0.0, port: 0}\n")
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and "api.host: 0.0.0.0 is not a loopback" in line


def test_run_names_a_token_variable_that_is_not_set(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("api:\n  tokens: [{name: ops, role: operator, token_env: SELFHEAL_T_UNSET}]\n")
    result = CliRunner().invoke(cli, ["run", "--config", str(path)], env={"SELFHEAL_T_UNSET": ""})
    assert result.exit_code == 2
    assert (
        "api.tokens.0.token_env: environment variable SELFHEAL_T_UNSET is not set" in result.output
    )


def test_demo_with_a_bad_scenario_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("- {at_seconds: 5, fault: crash}\n")
    result = CliRunner().invoke(cli, ["demo", "--scenario-file", str(path)])
    assert result.exit_code == 2
    assert "[0].service" in result.output
