"""``selfheal demo``: the shop, its load, the loop, a fault scenario, and the verdict.

Starts the testbed shop (real processes) and its load generator, builds the loop
against it exactly as ``selfheal run`` would (discovery URL, local executor over
the platform API), plays the scenario (faults injected through the testbed's
control API at their times), and judges each fault from outside: when the loop
opened an incident (detected), which cause it acted on, which actions it took,
when the service's health and the shop's success rate came back to the
pre-fault level (recovered), and whether that was an action's doing before the
fault expired (healed). Actions taken while no fault was active are counted as
false actions. Only the command line may import the testbed.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfheal.core.config import Config, parse_config
from selfheal.core.errors import ConfigError
from selfheal.core.yaml_input import load_yaml, validation_problems

FAULT_FREE_SECONDS = 60.0


class ScenarioStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_seconds: float = Field(ge=0, description="Seconds after the demo started.")
    fault: str
    service: str
    instance: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    duration: float | None = Field(default=None, gt=0)


DEFAULT_SCENARIO: tuple[ScenarioStep, ...] = tuple(
    ScenarioStep(at_seconds=60 + 18 * i, **spec)  # type: ignore[arg-type]
    for i, spec in enumerate(
        [
            {"fault": "crash", "service": "cart", "instance": "cart-0"},
            {"fault": "bad_release", "service": "shipping"},
            {"fault": "dependency_outage", "service": "bank"},
            {"fault": "errors", "service": "catalog", "instance": "catalog-1"},
            {
                "fault": "bad_config",
                "service": "checkout",
                "params": {"mode": "timeout", "dependency": "inventory"},
            },
            {"fault": "hang", "service": "frontend", "instance": "frontend-1"},
            {"fault": "memory_leak", "service": "inventory", "params": {"rate_mb": 40}},
            {"fault": "cache_corruption", "service": "cache"},
            {
                "fault": "latency",
                "service": "catalog",
                "instance": "catalog-0",
                "params": {"delay_ms": 800},
            },
            {"fault": "pool_exhaustion", "service": "cart"},
            {"fault": "cpu_hog", "service": "shipping"},
            {
                "fault": "network_delay",
                "service": "checkout",
                "instance": "checkout-0",
                "params": {"to": "payment"},
            },
        ]
    )
)


def load_scenario(path: str | Path) -> tuple[ScenarioStep, ...]:
    p = Path(path)
    try:
        data = load_yaml(p.read_text(encoding="utf-8"), str(p))
    except FileNotFoundError:
        raise ConfigError(f"{p}: scenario file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the scenario: {exc}") from None
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{p}: a scenario is a non-empty YAML list of faults")
    steps = []
    for i, item in enumerate(data):
        try:
            steps.append(ScenarioStep.model_validate(item))
        except ValidationError as exc:
            raise ConfigError(f"{p}: [{i}].{validation_problems(exc)[0]}") from None
    return tuple(sorted(steps, key=lambda s: s.at_seconds))


@dataclass
class FaultRecord:
    step: ScenarioStep
    fault_id: str = ""
    injected_at: float | None = None
    expires_at: float | None = None
    detected_at: float | None = None
    root_cause: str | None = None
    failure_type: str | None = None
    actions: list[dict[str, str]] = field(default_factory=list)
    first_success_at: float | None = None
    recovered_at: float | None = None
    ended_at: float | None = None
    incidents: set[str] = field(default_factory=set)
    error: str = ""

    @property
    def healed(self) -> bool:
        if self.recovered_at is None or self.first_success_at is None:
            return False
        if self.first_success_at > self.recovered_at + 5.0:
            return False
        return self.expires_at is None or self.recovered_at < self.expires_at

    def summary(self) -> dict[str, Any]:
        return {
            "fault": self.step.fault,
            "service": self.step.service,
            "injected_at": self.injected_at,
            "detected_at": self.detected_at,
            "root_cause": self.root_cause,
            "failure_type": self.failure_type,
            "actions": self.actions,
            "recovered_at": self.recovered_at,
            "healed": self.healed,
        }


def demo_config(
    control_url: str,
    run_dir: str,
    api_port: int = 0,
    otlp_port: int | None = None,
    api_token: str | None = None,
) -> Config:
    """The demo's settings. ``api_token``: the dashboard's admin token (default: a fresh
    random one, printed with the dashboard's URL)."""
    return parse_config(
        {
            "scrape": {
                "discovery_url": control_url + "/platform/targets",
                "interval_seconds": 1.0,
                "timeout_seconds": 0.8,
            },
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


class Judge:
    """Attributes the loop's events to faults and measures recovery from outside."""

    def __init__(self, control_url: str, load: Any, t0: float) -> None:
        self.control_url = control_url
        self.load = load
        self.t0 = t0
        self.records: list[FaultRecord] = []
        self.false_actions = 0
        self.baseline_success = 1.0
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=3.0)
        self.log: list[str] = []
        self._by_incident: dict[str, FaultRecord] = {}

    def live(self, at: float) -> list[FaultRecord]:
        return [
            r
            for r in self.records
            if r.injected_at is not None
            and r.injected_at <= at
            and (r.ended_at is None or at <= r.ended_at)
            and (r.expires_at is None or at <= r.expires_at + 3.0)  # expired: not active
        ]

    def active(self, at: float) -> FaultRecord | None:
        live = self.live(at)
        return live[-1] if live else None

    def owner(self, at: float, incident: str, services: set[str]) -> FaultRecord | None:
        """The fault a step belongs to: among the faults active at ``at``, the one on a
        service the step names (the oldest not yet detected, else the newest), else the
        one its incident was credited to, else the latest (so overlapping faults are
        told apart)."""
        live = self.live(at)
        if not live:
            return None
        named = [r for r in live if r.step.service in services]
        if named:
            fresh = [r for r in named if r.detected_at is None]
            return fresh[0] if fresh else named[-1]
        credited = self._by_incident.get(incident)
        if credited is not None and credited in live:
            return credited
        return live[-1]

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        """Credit the loop's steps to the fault they belong to (see ``owner``)."""
        now = time.time()
        with self._lock:
            incident = str(payload.get("incident", ""))
            owner = self.owner(now, incident, _services_of(kind, payload))
            if owner is not None and incident and kind in ("incident_opened", "decision"):
                self._by_incident.setdefault(incident, owner)
            if kind == "incident_opened" and owner is not None:
                owner.incidents.add(incident)
                if owner.detected_at is None:
                    owner.detected_at = now
            elif kind == "decision" and owner is not None and owner.root_cause is None:
                cause = payload["inputs"]["cause"]
                owner.root_cause = cause["service"]
                owner.failure_type = cause["failure_type"]
                if owner.detected_at is None:  # the fault joined an incident already open
                    owner.detected_at = now
            elif kind == "action_started" and owner is None:
                self.false_actions += 1
            elif kind == "action_result" and owner is not None:
                action = payload["action"]
                target = action["target"] + (
                    f"/{action['instance']}" if action.get("instance") else ""
                )
                owner.actions.append(
                    {"action": action["kind"], "target": target, "status": payload["outcome"]}
                )
                if payload["outcome"] == "succeeded" and owner.first_success_at is None:
                    owner.first_success_at = now
            self.log.append(f"{now - self.t0:6.1f}s {kind} {_brief(payload)}")

    def service_healthy(self, service: str) -> bool:
        try:
            status = self._client.get(f"{self.control_url}/platform/status").json()
        except (httpx.HTTPError, ValueError):
            return False
        for s in status.get("services", []):
            if s["name"] == service:
                if s.get("external"):
                    # A third party is not ours to restore; routing around it (failover)
                    # is the remedy, so the shop's success rates alone tell recovery.
                    return True
                return all(i.get("healthy") and i.get("ready") for i in s.get("instances", []))
        return False

    def shop_ok(self) -> bool:
        stats = self.load.stats(4.0)
        if stats.overall.total < 3:
            return False
        return bool(
            stats.success_ratio >= self.baseline_success - 0.05
            and stats.payment.success_ratio >= min(0.95, self.baseline_success - 0.05)
        )

    def watch(self, record: FaultRecord, stop: threading.Event) -> None:
        """Poll until the fault's service and the shop are back (twice in a row)."""
        good = 0
        time.sleep(2.0)
        while not stop.is_set() and record.recovered_at is None:
            if record.first_success_at is not None or record.expires_at is not None:
                ok = self.service_healthy(record.step.service) and self.shop_ok()
                good = good + 1 if ok else 0
                if good >= 2:
                    record.recovered_at = time.time()
                    record.ended_at = record.recovered_at + 3.0  # verification may still finish
                    return
            stop.wait(1.0)

    def close(self) -> None:
        self._client.close()


def _services_of(kind: str, payload: dict[str, Any]) -> set[str]:
    """The services an engine event names: its signals', its cause's, its action's."""
    if kind == "incident_opened":
        return {str(s["service"]) for s in payload.get("signals", [])}
    if kind == "decision":
        return {str(payload["inputs"]["cause"]["service"])}
    action = payload.get("action")
    if isinstance(action, dict) and "target" in action:
        return {str(action["target"])}
    return set()


def _brief(payload: dict[str, Any]) -> str:
    if "action" in payload and isinstance(payload["action"], dict):
        return f"{payload['action'].get('describe', '')} {payload.get('outcome', '')}".strip()
    if "inputs" in payload:
        c = payload["inputs"]["cause"]
        return f"cause {c['service']} ({c['failure_type']}, {c['confidence']:.2f}) → {payload['strategy']}"
    if "reason" in payload:
        return str(payload["reason"])
    if "signals" in payload:
        return ", ".join(sorted({s["service"] + ":" + s["indicator"] for s in payload["signals"]}))[
            :80
        ]
    return str(payload.get("incident", ""))


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
) -> dict[str, Any]:
    from selfheal.loop.wiring import build
    from selfheal.testbed.load import LoadGenerator
    from selfheal.testbed.shop import Shop

    run_dir = tempfile.mkdtemp(prefix="selfheal-demo-")
    console.print(f"[bold]selfheal demo[/] — starting the shop in {run_dir} …")
    otlp_port = free_port() if traces else None
    endpoint = f"http://127.0.0.1:{otlp_port}/v1/traces" if otlp_port else None
    shop = Shop.start(run_dir, otlp_endpoint=endpoint)
    load = LoadGenerator(shop.frontend_url, rate=8.0, seed=7).start()
    stop = threading.Event()
    t0 = time.time()
    judge = Judge(shop.control_url, load, t0)
    runtime = None
    server = None
    watchers: list[threading.Thread] = []
    client = httpx.Client(timeout=10.0)
    try:
        cfg = demo_config(shop.control_url, run_dir, api_port, otlp_port)
        runtime = build(cfg, on_event=judge.on_event)
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
        end = t0 + (scenario[-1].at_seconds if scenario else 0) + 40.0
        pending = list(scenario)
        shown = 0
        last_status = 0.0
        while time.time() < end and not stop.is_set():
            now = time.time()
            if now >= fault_free_end and judge.baseline_success == 1.0 and not judge.records:
                judge.baseline_success = load.stats(max(5.0, now - t0 - 10)).success_ratio
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
            if not pending and all(r.recovered_at is not None for r in judge.records):
                end = min(end, now + 5.0)
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("[red]interrupted — shutting down[/]")
    finally:
        stop.set()
        for line in judge.log[shown if "shown" in locals() else 0 :]:
            console.print(line)
        if runtime is not None:
            runtime.engine.stop()
        if server is not None:
            server.stop()
        with contextlib.suppress(httpx.HTTPError):
            client.delete(f"{shop.control_url}/faults")
        client.close()
        load.stop()
        if runtime is not None:
            runtime.close()
        shop.stop()
        judge.close()
    first = judge.records[0].injected_at if judge.records else None
    fault_free = (first or time.time()) - t0
    summary = {
        "scenarios": [r.summary() for r in judge.records],
        "fault_free_seconds": round(fault_free or 0.0, 2),
        "false_actions": judge.false_actions,
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
    console.print(
        f"healed {healed}/{len(records)} · root cause right {right}/{len(records)} · "
        f"false actions {false_actions} · median time to detect "
        f"{statistics.median(ttd):.1f} s · median time to recover {statistics.median(ttr):.1f} s"
        if ttd and ttr
        else f"healed {healed}/{len(records)} · false actions {false_actions}"
    )
