"""``selfheal demo``: the shop, its load, the loop, a fault scenario, and the verdict.

Starts the testbed shop of a topology (real processes; default the shipped shop)
and its load generator, builds the loop against it exactly as ``selfheal run``
would (discovery URL, local executor over the platform API), plays the scenario
(faults injected through the testbed's control API at their times), and lets
the judge (``cli/judge.py``) decide each fault from outside: detected, the cause
acted on, the actions and whether their targets were right, recovered, healed.
With ``record_rca`` each fault's telemetry is also written as a case of an RCA
dataset once its window is over (``cli/record_rca.py``).
Actions taken while no fault was active are counted as false actions; a soak
plays no fault at all, so every action is one. Only the command line may import
the testbed.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from selfheal.cli.judge import FaultRecord, Judge
from selfheal.cli.scenario import DEFAULT_SCENARIO, ScenarioStep, load_scenario
from selfheal.core.config import Config, parse_config

FAULT_FREE_SECONDS = 60.0
END_AFTER_LAST_FAULT_SECONDS = 40.0

__all__ = [
    "DEFAULT_SCENARIO",
    "FaultRecord",
    "Judge",
    "ScenarioStep",
    "demo_config",
    "free_port",
    "load_scenario",
    "run_demo",
]


def demo_config(
    control_url: str,
    run_dir: str,
    api_port: int = 0,
    otlp_port: int | None = None,
    api_token: str | None = None,
    prometheus_url: str | None = None,
    indicators_preset: str = "native",
) -> Config:
    """The demo's settings. ``api_token``: the dashboard's admin token (default: a fresh
    random one, printed with the dashboard's URL). ``prometheus_url``: read the indicators
    through this Prometheus (which scrapes the shop every second) instead of scraping.
    ``indicators_preset``: the metric convention the shop's instances emit (its
    topology's ``metrics``)."""
    scrape: dict[str, Any] = {"interval_seconds": 1.0, "timeout_seconds": 0.8}
    metrics: dict[str, Any] = {"source": "embedded"}
    if prometheus_url:
        metrics = {"source": "prometheus", "prometheus": {"url": prometheus_url}}
    else:
        scrape["discovery_url"] = control_url + "/platform/targets"
    return parse_config(
        {
            "indicators_preset": indicators_preset,
            "scrape": scrape,
            "metrics": metrics,
            "loop": {"cycle_seconds": 1.0, "max_concurrent_actions": 2},
            # Faults come every 18 s on purpose: count a storm over 30 s, not 2 minutes.
            "guards": {
                "cooldown_seconds": 10.0,
                "budget_actions": 40,
                "storm_window_seconds": 30.0,
            },
            # The demo runs unattended, so no human is asked: its riskiest action, a failover
            # of payment (criticality 0.9), scores 0.88 (decision/risk.py), below this level.
            # The shipped default (0.7) would ask for it; tests/e2e/test_approval.py shows that.
            "approval": {"risk_level": 0.95},
            "correlation": {"window_seconds": 30.0, "resolve_after_seconds": 8.0},
            "store": {"url": f"sqlite:///{run_dir}/selfheal.db"},
            "api": {
                "port": api_port,
                "tokens": [
                    {
                        "name": "demo",
                        "role": "admin",
                        "token": api_token or secrets.token_urlsafe(32),
                    }
                ],
            },
            "executor": {"type": "local", "local": {"control_url": control_url}},
            "otlp": {"enabled": otlp_port is not None, "port": otlp_port or 0},
            "logs": {"discovery_url": control_url + "/platform/logs"},
        },
        "demo configuration",
    )


def free_port() -> int:
    """A port nothing listens on now, for the loop's OTLP receiver: the shop's
    instances are told where to send spans before the loop is built."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_demo(
    scenario: tuple[ScenarioStep, ...],
    console: Any,
    json_summary: str | None = None,
    api_port: int = 0,
    traces: bool = False,
    topology: Any = None,
    soak_seconds: float | None = None,
    record_rca: str | None = None,
    metrics_source: str = "embedded",
) -> dict[str, Any]:
    """Play ``scenario`` (or, with ``soak_seconds``, no fault for that long) on the
    shop of ``topology`` (default: the shipped shop); returns the JSON summary.
    ``record_rca``: a folder to record each fault into as an RCA case. With
    ``metrics_source="prometheus"`` a real Prometheus server scrapes the shop (HTTP
    service discovery of the platform's targets, every second) and the loop reads the
    indicators only through its query API (``ServerMissing`` without the binary)."""
    from selfheal.cli.prometheus_server import PrometheusServer, discovery_scrape_config
    from selfheal.cli.record_rca import RcaRecorder
    from selfheal.loop.wiring import build
    from selfheal.testbed.load import LoadGenerator, LoadPlan
    from selfheal.testbed.shop import Shop
    from selfheal.testbed.topology_file import find_topology

    topology = topology if topology is not None else find_topology()
    if soak_seconds is not None:
        scenario = ()
    run_dir = tempfile.mkdtemp(prefix="selfheal-demo-")
    console.print(
        f"[bold]selfheal demo[/] — starting the {topology.name} shop in {run_dir} "
        f"({topology.metrics} metrics) …"
    )
    otlp_port = free_port() if traces else None
    endpoint = f"http://127.0.0.1:{otlp_port}/v1/traces" if otlp_port else None
    prometheus = None
    if metrics_source == "prometheus":
        prometheus = PrometheusServer(Path(run_dir) / "prometheus", {})  # the binary, first
    shop = Shop.start(run_dir, otlp_endpoint=endpoint, topology=topology)
    if prometheus is not None:
        prometheus.config = discovery_scrape_config(shop.control_url + "/platform/targets", 1.0)
        try:
            prometheus.start()
        except Exception:
            shop.stop()
            raise
        console.print(f"[bold]Prometheus[/] {prometheus.url} scrapes the shop; the loop reads it")
    load = LoadGenerator(shop.entry_url, rate=8.0, seed=7, plan=LoadPlan.of(topology)).start()
    stop = threading.Event()
    t0 = time.time()
    judge = Judge(shop.control_url, load, t0, topology)
    runtime = None
    recorder: RcaRecorder | None = None
    server = None
    watchers: list[threading.Thread] = []
    failed: list[FaultRecord] = []
    client = httpx.Client(timeout=10.0)
    try:
        cfg = demo_config(
            shop.control_url,
            run_dir,
            api_port,
            otlp_port,
            prometheus_url=prometheus.url if prometheus is not None else None,
            indicators_preset=topology.metrics,
        )
        runtime = build(cfg, on_event=judge.on_event)
        if record_rca:
            recorder = RcaRecorder(Path(record_rca), topology.name, runtime)
        from selfheal.cli.loop import serve

        try:
            server = serve(runtime, cfg.api.host, cfg.api.port)
        except OSError:
            server = serve(runtime, cfg.api.host, 0)
        token = cfg.api.tokens[0].token
        secret = token.get_secret_value() if token is not None else ""
        console.print(f"[bold]dashboard and API: {server.url}/#token={secret}[/]")
        runtime.engine.start()
        fault_free_end = t0 + (scenario[0].at_seconds if scenario else FAULT_FREE_SECONDS)
        if soak_seconds is not None:
            end = t0 + soak_seconds
        else:
            end = t0 + (scenario[-1].at_seconds if scenario else 0) + END_AFTER_LAST_FAULT_SECONDS
        pending = list(scenario)
        shown = 0
        last_status = 0.0
        while time.time() < end and not stop.is_set():
            now = time.time()
            if now >= fault_free_end and not judge.baseline:
                judge.set_baseline(load.stats(max(5.0, now - t0 - 10)))
            while pending and now - t0 >= pending[0].at_seconds:
                step = pending.pop(0)
                record = FaultRecord(step)
                body = {
                    "fault": step.fault,
                    "service": step.service,
                    "instance": step.instance,
                    "params": step.params,
                    "duration": step.duration,
                }
                with judge._lock:
                    # A fault's window stays open until it recovers (faults may overlap; the
                    # judge tells them apart by service); it opens before the request, since
                    # a deploy-type fault acts while it runs.
                    record.injected_at = time.time()
                    judge.records.append(record)
                response = client.post(f"{shop.control_url}/faults", json=body)
                if response.status_code >= 400:
                    record.error = response.json().get("error", response.text)
                    console.print(f"[red]could not inject {step.fault}: {record.error}[/]")
                    with judge._lock:
                        judge.records.remove(record)
                    failed.append(record)
                    continue
                record.fault_id = str(response.json().get("id", ""))
                if step.duration:
                    record.expires_at = record.injected_at + step.duration
                where = step.service + (f"/{step.instance}" if step.instance else "")
                console.print(f"[yellow]{now - t0:6.1f}s inject {step.fault} on {where}[/]")
                w = threading.Thread(target=judge.watch, args=(record, stop), daemon=True)
                w.start()
                watchers.append(w)
            for line in judge.log[shown:]:
                console.print(line)
            shown = len(judge.log)
            if now - last_status >= 10:
                stats = load.stats(10.0)
                console.print(
                    f"[dim]{now - t0:6.1f}s shop success {stats.success_ratio:.2%} "
                    f"p99 {stats.latency_p99_ms:.0f} ms; incidents open "
                    f"{len(runtime.engine.correlator.open_incidents)}[/]"
                )
                last_status = now
            recovered = all(r.recovered_at is not None for r in judge.records)
            linger = now + 5.0
            if recorder is not None:
                with judge._lock:
                    records = list(judge.records)
                recorder.poll(records, now)
                linger = max(linger, recorder.pending_until(records))  # let windows close
            if not pending and judge.records and recovered:
                end = min(end, linger)
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("[red]interrupted — shutting down[/]")
    finally:
        stop.set()
        for line in judge.log[shown if "shown" in locals() else 0 :]:
            console.print(line)
        if runtime is not None:
            runtime.engine.stop()
        if recorder is not None:
            recorder.close(list(judge.records), time.time())
            console.print(f"recorded {recorder.written} RCA cases to {record_rca}")
            for problem in recorder.errors:
                console.print(f"[red]not recorded: {problem}[/]")
        if server is not None:
            server.stop()
        with contextlib.suppress(httpx.HTTPError):
            client.delete(f"{shop.control_url}/faults")
        client.close()
        load.stop()
        if runtime is not None:
            runtime.close()
        if prometheus is not None:
            prometheus.stop()
        shop.stop()
        judge.close()
    first = judge.records[0].injected_at if judge.records else None
    fault_free = (first or time.time()) - t0
    summary = {
        "scenarios": [r.summary() for r in judge.records],
        "fault_free_seconds": round(fault_free or 0.0, 2),
        "false_actions": judge.false_actions,
        "wrong_target_actions": sum(r.wrong_target_actions for r in judge.records),
        "undetected": sum(not r.detected for r in judge.records),
        "not_injected": [
            {"fault": r.step.fault, "service": r.step.service, "error": r.error} for r in failed
        ],
        "topology": topology.name,
        "metrics_source": metrics_source,
    }
    _table(console, judge.records)
    _targets(console, judge.records, judge.false_actions)
    if json_summary:
        import json

        Path(json_summary).write_text(json.dumps(summary, indent=2))
        console.print(f"summary written to {json_summary}")
    return summary


def _table(console: Any, records: list[FaultRecord]) -> None:
    from rich.table import Table

    table = Table(title="selfheal demo — outcome per fault")
    for col in (
        "fault",
        "target",
        "detected after",
        "root cause",
        "actions",
        "recovered after",
        "healed",
    ):
        table.add_column(col)
    for r in records:
        inj = r.injected_at or 0.0
        where = r.step.service + (f"/{r.step.instance}" if r.step.instance else "")
        table.add_row(
            r.step.fault,
            where,
            f"{r.detected_at - inj:.1f} s" if r.detected_at else "—",
            f"{r.root_cause} ({r.failure_type})" if r.root_cause else "—",
            ", ".join(f"{a['action']}({a['target']}) {a['status']}" for a in r.actions) or "—",
            f"{r.recovered_at - inj:.1f} s" if r.recovered_at else "—",
            "[green]yes[/]" if r.healed else "[red]no[/]",
        )
    console.print(table)


def _targets(console: Any, records: list[FaultRecord], false_actions: int) -> None:
    ttd = [r.detected_at - r.injected_at for r in records if r.detected_at and r.injected_at]
    ttr = [r.recovered_at - r.injected_at for r in records if r.recovered_at and r.injected_at]
    healed = sum(r.healed for r in records)
    right = sum(r.root_cause == r.step.service for r in records)
    wrong = sum(r.wrong_target_actions for r in records)
    undetected = sum(not r.detected for r in records)
    console.print(
        f"healed {healed}/{len(records)} · root cause right {right}/{len(records)} · "
        f"false actions {false_actions} · wrong-target actions {wrong} · "
        f"undetected {undetected} · median time to detect "
        f"{statistics.median(ttd):.1f} s · median time to recover {statistics.median(ttr):.1f} s"
        if ttd and ttr
        else f"healed {healed}/{len(records)} · false actions {false_actions} · "
        f"wrong-target actions {wrong} · undetected {undetected}"
    )
