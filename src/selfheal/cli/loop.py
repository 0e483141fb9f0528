"""``selfheal demo|run|incidents|audit|pause|resume|approve|deny``.

``demo`` and ``run`` start the loop in this process; the others work on the
state store (``--db``, the same SQLite/PostgreSQL URL the loop uses), so they
work from another terminal while the loop runs, and also when it does not.
The commands that change state (pause, resume, approve, deny) go through the
running loop's API instead when given ``--api URL`` (or ``SELFHEAL_API``), with
a bearer token (``--token`` or ``SELFHEAL_TOKEN``): the API checks the token's
role and records its name as the actor. Without ``--api`` they write the store
directly, as the local user (``local:NAME``); whoever can write the store holds
every right anyway, so that path asks for no token.
User errors print one clear line and exit 2; never a traceback.
"""

from __future__ import annotations

import getpass
import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from selfheal.core.errors import SelfHealError

F = TypeVar("F", bound=Callable[..., Any])

DB_HELP = "State store URL (SQLAlchemy). Default: sqlite:///selfheal.db in this directory."


def serve(runtime: Any, host: str, port: int, tokens: Any = None) -> Any:
    """Start the REST API and the dashboard for a running loop; returns the server.
    ``tokens``: a ``TokenBook`` (default: the runtime's ``api.tokens``). ``ConfigError``
    when a token's variable is unset, or ``host`` is not loopback and no token is set."""
    from selfheal.api import Server, create_app
    from selfheal.api.auth import TokenBook
    from selfheal.core.config import exposure_problem
    from selfheal.core.errors import ConfigError
    from selfheal.web import mount

    book = tokens if tokens is not None else TokenBook.from_config(runtime.config.api)
    exposed = exposure_problem(host, book.configured)
    if exposed:
        raise ConfigError(f"api.host: {exposed}")
    registry = runtime.engine.metrics.registry
    app = mount(
        create_app(
            runtime.engine,
            runtime.store,
            registry,
            tokens=book,
            history=runtime.history,
            alerts=runtime.alerts,
            clock=runtime.engine.clock.now,
        )
    )
    return Server(app, host, port).start()


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def _store(db: str) -> Any:
    from selfheal.store.state import open_store

    try:
        return open_store(db)
    except Exception as exc:
        _fail(f"cannot open the state store {db!r}: {exc}")


@click.command()
@click.option(
    "--scenario-file", type=click.Path(dir_okay=False), help="YAML list of faults to play."
)
@click.option(
    "--json-summary", type=click.Path(dir_okay=False), help="Write the outcome as JSON here."
)
@click.option(
    "--api-port",
    type=int,
    default=0,
    show_default=True,
    help="Port of the API/dashboard (0: free port).",
)
@click.option(
    "--traces",
    is_flag=True,
    help="Shop instances send OTLP traces to the loop, whose RCA reads them (more CPU).",
)
@click.option(
    "--topology",
    default=None,
    help="Topology file or shipped name (default: the shop). Without --scenario-file, "
    "a topology other than the shop gets a generated scenario (every fault type it allows).",
)
@click.option(
    "--soak-seconds",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Play no fault: run this long and count the loop's actions (all false).",
)
@click.option(
    "--record-rca",
    type=click.Path(file_okay=False),
    default=None,
    help="Write each fault's telemetry and label here as an RCA dataset "
    "(docs/campaign-dataset.md); score it with `selfheal bench rca --dataset campaign`.",
)
@click.option(
    "--metrics-source",
    type=click.Choice(["embedded", "prometheus"]),
    default="embedded",
    show_default=True,
    help="Where the loop reads its indicators: its own scraper, or a real Prometheus server "
    "(the prometheus binary on PATH) that scrapes the shop.",
)
def demo(
    scenario_file: str | None,
    json_summary: str | None,
    api_port: int,
    traces: bool,
    topology: str | None,
    soak_seconds: float | None,
    record_rca: str | None,
    metrics_source: str,
) -> None:
    """Start the shop and its load, run the loop, play faults, show the outcome."""
    from rich.console import Console

    from selfheal.cli.demo import run_demo
    from selfheal.cli.scenario import DEFAULT_SCENARIO, generated_scenario, load_scenario
    from selfheal.testbed.errors import TestbedError
    from selfheal.testbed.topology_file import DEFAULT_TOPOLOGY, find_topology

    if record_rca and (Path(record_rca) / "cases.csv").exists():
        _fail(f"{record_rca} already holds a recording (cases.csv); give a new or empty folder")
    try:
        topo = find_topology(topology)
        if scenario_file:
            scenario = load_scenario(scenario_file)
        elif topo.name == DEFAULT_TOPOLOGY and {s.service for s in DEFAULT_SCENARIO} <= set(
            topo.names
        ):
            scenario = DEFAULT_SCENARIO
        else:
            scenario = generated_scenario(topo)
        if metrics_source == "prometheus":
            from selfheal.cli.prometheus_server import PROMETHEUS_BINARIES, find_binary

            find_binary(PROMETHEUS_BINARIES, "--metrics-source prometheus needs Prometheus")
    except (SelfHealError, TestbedError) as exc:
        _fail(str(exc))
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    try:
        summary = run_demo(
            scenario,
            console,
            json_summary,
            api_port,
            traces=traces,
            topology=topo,
            soak_seconds=soak_seconds,
            record_rca=record_rca,
            metrics_source=metrics_source,
        )
    except SelfHealError as exc:  # e.g. Prometheus did not start
        _fail(str(exc))
    if not summary["scenarios"] and soak_seconds is None:
        raise SystemExit(1)


@click.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="YAML configuration.",
)
def run(config_path: str) -> None:
    """Run the loop against the configured targets until Ctrl-C."""
    from selfheal.api.auth import TokenBook
    from selfheal.core.config import load_config
    from selfheal.loop.wiring import build

    try:
        cfg = load_config(config_path)
        tokens = TokenBook.from_config(cfg.api)
        runtime = build(
            cfg, on_event=lambda k, p: click.echo(f"{k} {json.dumps(p, default=str)[:200]}")
        )
    except SelfHealError as exc:
        _fail(str(exc))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = None
    try:
        if cfg.api.enabled:
            try:
                server = serve(runtime, cfg.api.host, cfg.api.port, tokens)
            except OSError as exc:
                _fail(f"api: cannot listen on {cfg.api.host}:{cfg.api.port}: {exc.strerror}")
            click.echo(f"API and dashboard on {server.url}")
        if runtime.otlp_endpoint:
            click.echo(f"OTLP/HTTP trace receiver on {runtime.otlp_endpoint}")
        runtime.engine.start()
        click.echo(f"loop running every {cfg.loop.cycle_seconds:g} s; Ctrl-C stops it")
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        runtime.close()


@click.command()
@click.option("--db", default="sqlite:///selfheal.db", show_default=True, help=DB_HELP)
@click.option("--status", type=click.Choice(["open", "remediating", "resolved", "escalated"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incidents(db: str, status: str | None, as_json: bool) -> None:
    """List incidents, newest first."""
    store = _store(db)
    rows = store.incidents.list(status=status)
    if as_json:
        click.echo(json.dumps([_record(r) for r in rows], indent=2, default=str))
        return
    if not rows:
        click.echo("no incidents")
    for r in rows:
        d = _record(r)
        cause = d["causes"][0] if d["causes"] else None
        top = (
            f"{cause['service']} {cause['failure_type']} {cause['confidence']:.2f}"
            if cause
            else "-"
        )
        click.echo(f"{d['id']:<24} {d['status']:<12} {','.join(d['services']):<30} cause: {top}")


def _record(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": r.status,
        "opened_at": r.opened_at,
        "updated_at": r.updated_at,
        "services": list(r.services),
        "causes": list(r.causes or []),
        "impact": r.impact,
    }


@click.command()
@click.argument("what", required=False, type=click.Choice(["verify"]))
@click.option("--db", default="sqlite:///selfheal.db", show_default=True, help=DB_HELP)
@click.option("--limit", default=50, show_default=True, help="Entries to show.")
def audit(what: str | None, db: str, limit: int) -> None:
    """Show the audit trail, or `audit verify` its hash chain (exit 1 if tampered)."""
    store = _store(db)
    if what == "verify":
        result = store.audit.verify()
        if result.ok:
            click.echo(f"audit trail intact: {result.checked} entries")
            return
        click.echo(
            f"audit trail TAMPERED at entry {result.first_bad_seq}: {result.message}", err=True
        )
        raise SystemExit(1)
    entries = store.audit.entries()
    for e in entries[-limit:]:
        click.echo(f"{e.seq:>6} {e.at:.3f} {e.kind:<22} {json.dumps(e.payload, default=str)[:160]}")


def _local_actor() -> str:
    """The actor recorded when the store is written directly: the local user."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment (a bare container)
        return "local"


def _through_api(api_url: str, token: str | None, path: str, body: dict[str, Any]) -> Any:
    """POST ``path`` to the running loop's API with ``token``; one clear line on failure."""
    import httpx

    if not token:
        _fail("--api needs a token: --token TOKEN or SELFHEAL_TOKEN")
    try:
        response = httpx.post(
            api_url.rstrip("/") + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the API at {api_url}: {exc}")
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:200]}
    if response.status_code >= 400:
        _fail(f"{api_url}{path}: {response.status_code} {answer.get('error', '')}")
    return answer


def _no_token_without_api(api_url: str | None) -> None:
    ctx = click.get_current_context()
    given = ctx.get_parameter_source("token") is click.core.ParameterSource.COMMANDLINE
    if given and not api_url:
        _fail("--token is for --api URL; writing the store directly (--db) takes no token")


def _with_access(fn: F) -> F:
    """The options every state-changing command shares: the store, or the API and a token."""
    fn = click.option(
        "--token",
        envvar="SELFHEAL_TOKEN",
        help="Bearer token for --api (prefer the SELFHEAL_TOKEN variable: a flag shows in ps).",
    )(fn)
    fn = click.option(
        "--api",
        "api_url",
        envvar="SELFHEAL_API",
        help="URL of the running loop's API (or SELFHEAL_API): go through it with a token "
        "instead of writing the store.",
    )(fn)
    return click.option("--db", default="sqlite:///selfheal.db", show_default=True, help=DB_HELP)(
        fn
    )


def _control(paused: bool) -> Callable[..., None]:
    def command(db: str, api_url: str | None, token: str | None) -> None:
        _no_token_without_api(api_url)
        if api_url:
            _through_api(api_url, token, "/pause" if paused else "/resume", {})
        else:
            store = _store(db)
            actor = _local_actor()
            if paused:
                store.control.pause(by=actor)
                store.audit.append("engine_paused", {"by": actor}, store.control.state().at)
            else:
                store.control.resume(by=actor)
                store.audit.append("engine_resumed", {"by": actor}, store.control.state().at)
        if paused:
            click.echo("paused: the loop watches and diagnoses but takes no action")
        else:
            click.echo("resumed: the loop acts again")

    return command


pause = click.command("pause", help="Stop the loop from acting (it keeps watching).")(
    _with_access(_control(True))
)
resume = click.command("resume", help="Let the loop act again.")(_with_access(_control(False)))


def _decide(approved: bool) -> Callable[..., None]:
    def command(
        approval_id: str, reason: str, db: str, api_url: str | None, token: str | None
    ) -> None:
        from selfheal.store.db import ConflictError, NotFoundError

        _no_token_without_api(api_url)
        verb = "approve" if approved else "deny"
        if api_url:
            if not approval_id.isascii() or not approval_id.isdigit():
                _fail(f"approval id must be a number, got {approval_id!r}")
            answer = _through_api(
                api_url, token, f"/approvals/{approval_id}/{verb}", {"reason": reason}
            )
            rid, by = answer.get("id"), answer.get("decided_by")
        else:
            store = _store(db)
            try:
                request = store.decide_approval(
                    approval_id, approved, by=_local_actor(), reason=reason
                )
            except (NotFoundError, ConflictError, ValueError) as exc:
                _fail(str(exc).strip("'\""))
            rid, by = request.id, request.decided_by
        click.echo(f"approval {rid} {'approved' if approved else 'denied'} by {by}")

    return command


def _approval_command(name: str, approved: bool) -> click.Command:
    fn = _with_access(_decide(approved))
    fn = click.option("--reason", default="", help="Why, for the audit trail.")(fn)
    fn = click.argument("approval_id")(fn)
    verb = "Approve" if approved else "Deny"
    return click.command(name, help=f"{verb} a pending action (its approval ID).")(fn)


approve = _approval_command("approve", True)
deny = _approval_command("deny", False)

COMMANDS: list[click.Command] = [demo, run, incidents, audit, pause, resume, approve, deny]
