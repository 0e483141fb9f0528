"""``selfheal testbed ...`` and ``selfheal inject ...``: run the demo shop in
the background, drive load through it, and break it on command.

Thin: everything real lives in ``selfheal.testbed`` (imported lazily, so the
rest of the CLI starts fast). Errors are one line and a non-zero exit.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

_RUN_DIR_HELP = "Run dir of the shop (default $SELFHEAL_TESTBED_DIR or ./runs/testbed)."


def _run_dir(value: str | None) -> str:
    from selfheal.testbed.shop import default_run_dir

    return value or default_run_dir()


def _client(run_dir: str | None) -> Any:
    from selfheal.testbed.client import ControlClient
    from selfheal.testbed.shop import ShopState

    directory = _run_dir(run_dir)
    state = ShopState.read(directory)
    if state is None:
        raise click.ClickException(
            f"the testbed is not up in {directory} (start it with `selfheal testbed up`)"
        )
    return ControlClient(state.control_url)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from selfheal.testbed.client import ControlError
    from selfheal.testbed.errors import TestbedError

    try:
        return fn(*args, **kwargs)
    except (ControlError, TestbedError) as exc:
        raise click.ClickException(str(exc)) from None


def _parse_assignments(items: tuple[str, ...], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=what)
        out[key.strip()] = _scalar(value.strip())
    return out


def _scalar(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


@click.group("testbed")
def testbed() -> None:
    """The demo shop: real microservices as local processes, load and faults."""


@testbed.command("up")
@click.option("--run-dir", default=None, help=_RUN_DIR_HELP)
@click.option(
    "--topology",
    default=None,
    help="Topology file or shipped name (default: the shop; format in docs/topology.md).",
)
@click.option(
    "--otlp-endpoint",
    default=None,
    help="OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces",
)
@click.option(
    "--replicas",
    "replicas",
    multiple=True,
    metavar="SVC=N",
    help="Replica count override (repeatable).",
)
@click.option(
    "--timeout",
    "timeout_seconds",
    default=60.0,
    show_default=True,
    help="Seconds to wait for readiness.",
)
def up(
    run_dir: str | None,
    topology: str | None,
    otlp_endpoint: str | None,
    replicas: tuple[str, ...],
    timeout_seconds: float,
) -> None:
    """Start the shop in the background; return once every instance is ready."""
    from selfheal.testbed.client import ControlClient
    from selfheal.testbed.shop import start_detached
    from selfheal.testbed.topology_file import load_topology, resolve_topology

    path = _call(resolve_topology, topology)
    names = _call(load_topology, path).names
    counts = _parse_assignments(replicas, "--replicas")
    for name, n in counts.items():
        if name not in names:
            raise click.ClickException(f"unknown service {name!r}; known: {', '.join(names)}")
        if not isinstance(n, int) or n < 0:
            raise click.ClickException(f"replicas for {name} must be an integer >= 0")
    started = time.monotonic()
    state = _call(start_detached, _run_dir(run_dir), otlp_endpoint, counts, timeout_seconds, path)
    status = _call(ControlClient(state.control_url).status)
    instances = sum(len(s["instances"]) for s in status["services"])
    entry = next(s for s in status["services"] if s.get("role") == "entry")
    click.echo(
        f"shop up in {time.monotonic() - started:.1f}s: {len(status['services'])} services, "
        f"{instances} instances\ncontrol:  {state.control_url}\n"
        f"entry:    {entry['name']} {entry['lb_url']}\nrun dir:  {state.run_dir}"
    )


@testbed.command("down")
@click.option("--run-dir", default=None, help=_RUN_DIR_HELP)
def down(run_dir: str | None) -> None:
    """Stop the shop; verify that no process of it is left."""
    from selfheal.testbed.shop import stop_detached

    pids = _call(stop_detached, _run_dir(run_dir))
    click.echo(f"shop down: {len(pids)} processes stopped, none left")


@testbed.command("status")
@click.option("--run-dir", default=None, help=_RUN_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print GET /platform/status as JSON.")
def status(run_dir: str | None, as_json: bool) -> None:
    """Services, versions, config revisions and instance health."""
    client = _client(run_dir)
    data = _call(client.status)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for svc in data["services"]:
        deps = ", ".join(f"{k}→{v}" for k, v in svc["dependencies"].items())
        click.echo(
            f"{svc['name']:<12} {svc.get('role', ''):<8} {svc['version']}  "
            f"config r{svc['config_revision']}  lb {svc['lb_url']}"
            + (f"  calls {deps}" if deps else "")
        )
        for inst in svc["instances"]:
            flags = "healthy" if inst["healthy"] else "UNHEALTHY"
            flags += "" if inst["ready"] else " not-ready"
            flags += " drained" if inst["drained"] else ""
            click.echo(
                f"    {inst['id']:<12} pid {inst['pid'] or '-':<7} {inst['url']:<24} {flags}"
            )


@testbed.command("load")
@click.option("--run-dir", default=None, help=_RUN_DIR_HELP)
@click.option("--rate", default=10.0, show_default=True, help="Journeys per second.")
@click.option("--duration", default=30.0, show_default=True, help="Seconds to run.")
@click.option(
    "--every", "report_every", default=5.0, show_default=True, help="Seconds between live reports."
)
@click.option("--json", "as_json", is_flag=True, help="Print the final stats as JSON only.")
def load(
    run_dir: str | None, rate: float, duration: float, report_every: float, as_json: bool
) -> None:
    """Drive shopper journeys through the entry service; print success and latency."""
    from selfheal.testbed.load import LoadGenerator, LoadPlan, LoadStats
    from selfheal.testbed.shop import ShopState
    from selfheal.testbed.topology_file import find_topology

    if rate <= 0 or duration <= 0:
        raise click.ClickException("--rate and --duration must be > 0")
    client = _client(run_dir)
    state = ShopState.read(_run_dir(run_dir))
    plan = LoadPlan.of(_call(find_topology, state.topology if state and state.topology else None))
    entry = _call(client.service, plan.entry)["lb_url"]

    def line(stats: LoadStats, label: str) -> str:
        per = ", ".join(f"{k} {v.success_ratio:.1%}" for k, v in stats.journeys.items())
        return (
            f"{label}: {stats.overall.total} journeys, success {stats.success_ratio:.1%} "
            f"({per}, payment {stats.payment.success_ratio:.1%}) "
            f"p50 {stats.latency_p50_ms:.0f} ms p99 {stats.latency_p99_ms:.0f} ms"
        )

    generator = LoadGenerator(entry, rate=rate, plan=plan).start()
    try:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            time.sleep(max(0.0, min(report_every, end - time.monotonic())))
            if not as_json and time.monotonic() < end:
                click.echo(line(generator.stats(report_every), f"last {report_every:.0f}s"))
    finally:
        generator.stop()
    final = generator.stats()
    if as_json:
        click.echo(json.dumps(final.to_dict(), indent=2))
    else:
        click.echo(line(final, "total"))
        if final.errors:
            click.echo("errors: " + ", ".join(f"{k} ×{v}" for k, v in final.errors.items()))


class _InjectGroup(click.Group):
    """``inject FAULT ...`` with one sub-command per fault, plus stop and list."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from selfheal.testbed.faults import FAULTS

        return ["list", "stop", *FAULTS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from selfheal.testbed.faults import CATALOGUE

        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        if cmd_name in CATALOGUE:
            return _fault_command(cmd_name)
        return None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        from selfheal.testbed.faults import FAULTS

        name = args[0] if args else ""
        if self.get_command(ctx, name) is None and not ctx.resilient_parsing:
            raise click.UsageError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}", ctx)
        return super().resolve_command(ctx, args)


@click.group("inject", cls=_InjectGroup)
def inject() -> None:
    """Break the shop: `inject FAULT --service NAME ...`, `inject stop`, `inject list`."""


def _fault_command(name: str) -> click.Command:
    from selfheal.testbed.faults import CATALOGUE

    info = CATALOGUE[name]

    @click.command(name, help=f"{info.symptom}. Fix: {info.remediation}. Params: {info.params}.")
    @click.option("--service", required=True, help="Target service.")
    @click.option(
        "--instance", default=None, help="Target instance id (default: all of the service)."
    )
    @click.option(
        "--param",
        "params",
        multiple=True,
        metavar="KEY=VALUE",
        help="Fault parameter (repeatable).",
    )
    @click.option(
        "--duration", type=float, default=None, help="Seconds until the fault stops by itself."
    )
    @click.option("--run-dir", default=None, help=_RUN_DIR_HELP)
    @click.option("--json", "as_json", is_flag=True, help="Print the fault record as JSON.")
    def command(
        service: str,
        instance: str | None,
        params: tuple[str, ...],
        duration: float | None,
        run_dir: str | None,
        as_json: bool,
    ) -> None:
        parsed = _parse_assignments(params, "--param")
        if duration is not None and duration <= 0:
            raise click.ClickException("--duration must be > 0 seconds")
        client = _client(run_dir)
        fault = _call(client.inject, name, service, instance, parsed, duration)
        if as_json:
            click.echo(json.dumps(fault, indent=2))
            return
        target = service + (f"/{instance}" if instance else "")
        until = f", stops in {duration:g}s" if duration else ""
        click.echo(f"injected {fault['id']}: {name} on {target}{until}")
        click.echo(f"  symptom: {fault['symptom']}\n  fix:     {fault['remediation']}")

    return command


@inject.command("stop")
@click.argument("fault_id", required=False)
@click.option("--all", "stop_all", is_flag=True, help="Stop every fault.")
@click.option("--run-dir", default=None, help=_RUN_DIR_HELP)
def stop(fault_id: str | None, stop_all: bool, run_dir: str | None) -> None:
    """Stop (undo) one fault, or all of them."""
    if bool(fault_id) == stop_all:
        raise click.UsageError("give either a FAULT_ID or --all")
    client = _client(run_dir)
    if stop_all:
        stopped = _call(client.stop_all_faults)["stopped"]
        click.echo(
            f"stopped {len(stopped)} fault(s)" + (f": {', '.join(stopped)}" if stopped else "")
        )
    else:
        fault = _call(client.stop_fault, fault_id)
        click.echo(f"stopped {fault['id']} ({fault['fault']} on {fault['service']})")


@inject.command("list")
@click.option("--run-dir", default=None, help=_RUN_DIR_HELP)
@click.option("--json", "as_json", is_flag=True)
def list_faults(run_dir: str | None, as_json: bool) -> None:
    """Faults injected so far and whether each is still active."""
    faults = _call(_client(run_dir).faults)
    if as_json:
        click.echo(json.dumps(faults, indent=2))
        return
    if not faults:
        click.echo("no faults")
    for f in faults:
        target = f["service"] + (f"/{f['instance']}" if f["instance"] else "")
        state = "ACTIVE" if f["active"] else "inactive"
        click.echo(f"{f['id']:<6} {f['fault']:<18} {target:<16} {state}")


COMMANDS: list[click.Command] = [testbed, inject]
