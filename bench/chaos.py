"""A fault campaign against the loop itself: two replicas, kill -9 the leader mid-action.

Starts a throw-away PostgreSQL (the shared store), the demo shop with its load, a
recording proxy in front of the shop's platform API, a scrape target that serves
garbage, and ``--replicas`` ``selfheal run`` processes with ``ha.enabled``. Then,
``--kills`` times: break one instance of the shop (a fault a restart heals), wait
for the leader to write its intent to act, wait a random 0-8 s (before, during or
after the platform call, during verification) and ``kill -9`` the leader; restart
it a moment later (it comes back as a standby); an episode where the loop took no
action to interrupt is run again, so the kills reach ``--kills``. Along the way the store is
restarted under the loop (``--store-restarts`` times, during an action) and the
platform API stops answering for a while (``--platform-stalls`` times). Prints one
JSON line:

    {"kills", "actions_started", "completed", "duplicated", "lost",
     "takeover_cycles_p50", ...}

- ``actions_started``: intents written; ``completed``: those whose outcome was
  recorded (by the replica that started them or by its successor);
- ``lost``: intents never completed, or closed as interrupted without a verdict;
- ``duplicated``: platform operations beyond the one each intent may cause (seen by
  the proxy), plus intents that repeat an action already taken for the same fault;
- ``takeover_cycles_p50``: median of (successor's lease − kill time) / cycle.

    python bench/chaos.py [--kills 50] [--replicas 2] [--seed 1] [--out bench/out/chaos.json]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text

from selfheal.store.db import normalize_url
from selfheal.testbed.postgres import ThrowawayPostgres

CYCLE_SECONDS = 1.0
LEASE_SECONDS = 3.0
SELFHEAL = [sys.executable, "-m", "selfheal.cli.main"]
# Faults on one instance that a restart of that instance heals, with the instances
# (service, instance id) of the default shop that have a sibling to keep serving.
FAULTS = ("crash", "errors", "hang")


class Proxy:
    """Forwards every request to the platform API; records the mutating ones; can stall
    (answer nothing for a while) to play a platform API that times out."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: list[tuple[float, str, str]] = []  # (time, method, path)
        self.stall_until = 0.0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _forward(self) -> None:
                wait = proxy.stall_until - time.time()
                if wait > 0:
                    time.sleep(wait)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command != "GET":
                    proxy.calls.append((time.time(), self.command, self.path))
                req = urllib.request.Request(
                    proxy.upstream + self.path, data=body, method=self.command
                )
                req.add_header("Content-Type", self.headers.get("Content-Type", "application/json"))
                try:
                    with urllib.request.urlopen(req, timeout=120) as resp:
                        status, payload = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                except OSError:
                    status, payload = 502, b'{"error": "upstream unreachable"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the caller gave up on a stalled answer, as it should

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def garbage_target() -> str:
    """A scrape target whose /metrics is random bytes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            payload = os.urandom(random.randint(1, 4096))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"127.0.0.1:{server.server_address[1]}"


class Replicas:
    """The ``selfheal run`` processes, by replica name."""

    def __init__(self, workdir: Path, config: dict[str, Any], count: int) -> None:
        self.workdir = workdir
        self.config = config
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for i in range(count):
            self.start(f"r{i}")

    def start(self, name: str) -> None:
        cfg = json.loads(json.dumps(self.config))
        cfg["ha"]["replica_name"] = name
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [*SELFHEAL, "run", "--config", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


class Store:
    """Reads the shared store directly (what the replicas wrote)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(normalize_url(url), pool_pre_ping=True)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        for _ in range(60):  # the store may be restarting
            try:
                with self.engine.connect() as conn:
                    return list(conn.execute(text(sql), params))
            except Exception:
                time.sleep(0.5)
        raise RuntimeError("the store stayed unreachable for 30 s")

    def lease(self) -> tuple[str, int] | None:
        found = self.rows("SELECT holder, epoch FROM leases WHERE name = 'selfheal'")
        return (str(found[0][0]), int(found[0][1])) if found else None

    def intents_since(self, at: float) -> list[Any]:
        return self.rows(
            "SELECT key, incident_id, action, created_at, completed_at, outcome FROM intents"
            " WHERE created_at >= :at ORDER BY created_at",
            at=at,
        )


def shop(*args: str, run_dir: Path) -> str:
    env = {**os.environ, "SELFHEAL_TESTBED_DIR": str(run_dir)}
    done = subprocess.run(
        [*SELFHEAL, *args], env=env, capture_output=True, text=True, timeout=180, check=True
    )
    return done.stdout


def instances(run_dir: Path) -> list[tuple[str, str]]:
    """(service, instance) of every instance with a sibling, not external."""
    status = json.loads(shop("testbed", "status", "--json", run_dir=run_dir))
    out = []
    for s in status["services"]:
        ids = [i["id"] for i in s["instances"]]
        if len(ids) >= 2 and not s.get("external"):
            out += [(s["name"], i) for i in ids]
    return out


def wait_for(predicate: Any, timeout: float, step: float = 0.2) -> Any:
    end = time.time() + timeout
    while time.time() < end:
        found = predicate()
        if found:
            return found
        time.sleep(step)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--store-restarts", type=int, default=3)
    parser.add_argument("--platform-stalls", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench/out/chaos.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="selfheal-chaos-"))
    run_dir = work / "shop"
    pg = ThrowawayPostgres().start()
    replicas: Replicas | None = None
    load: subprocess.Popen[bytes] | None = None
    try:
        up = shop("testbed", "up", run_dir=run_dir)
        control = next(line.split()[-1] for line in up.splitlines() if line.startswith("control:"))
        proxy = Proxy(control)
        env = {**os.environ, "SELFHEAL_TESTBED_DIR": str(run_dir)}
        load = subprocess.Popen(
            [
                *SELFHEAL,
                "testbed",
                "load",
                "--rate",
                "10",
                "--duration",
                "100000",
                "--every",
                "600",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        config = {
            "scrape": {
                "discovery_url": f"{proxy.url}/platform/targets",
                "targets": [garbage_target()],
                "interval_seconds": 1,
            },
            "loop": {"cycle_seconds": CYCLE_SECONDS},
            "executor": {"type": "local", "local": {"control_url": proxy.url}},
            "store": {"url": pg.url},
            "api": {"enabled": False},
            "otlp": {"enabled": False},
            "guards": {"budget_actions": 1000, "cooldown_seconds": 5},
            "ha": {"enabled": True, "lease_seconds": LEASE_SECONDS},
        }
        replicas = Replicas(work, config, args.replicas)
        store = Store(pg.url)
        wait_for(store.lease, 60)
        time.sleep(40)  # warm-up: every rule's baseline
        targets = instances(run_dir)
        takeovers: list[float] = []
        episodes: list[dict[str, Any]] = []
        kills = restarts = stalls = 0
        events = (
            ["kill"] * args.kills
            + ["store"] * args.store_restarts
            + ["stall"] * args.platform_stalls
        )
        rng.shuffle(events)
        retries = args.kills  # a kill that found no action to interrupt is tried again
        n = 0
        while n < len(events):
            event = events[n]
            n += 1
            service, instance = rng.choice(targets)
            fault = rng.choice(FAULTS)
            started = time.time()
            shop("inject", fault, "--service", service, "--instance", instance, run_dir=run_dir)
            intent = wait_for(lambda started=started: store.intents_since(started), 40)
            episode: dict[str, Any] = {
                "event": event, "fault": fault, "target": instance, "at": started,
                "acted": bool(intent),
            }  # fmt: skip
            if intent:
                time.sleep(rng.uniform(0.0, 8.0))
                if event == "kill":
                    lease = store.lease()
                    if lease is not None and lease[0] in replicas.procs:
                        killed_at = time.time()
                        replicas.kill(lease[0])
                        kills += 1
                        new = wait_for(
                            lambda lease=lease: (s := store.lease()) and s[1] > lease[1] and s,
                            30,
                            0.05,
                        )
                        if new:
                            takeovers.append((time.time() - killed_at) / CYCLE_SECONDS)
                        time.sleep(rng.uniform(0.5, 3.0))
                        replicas.start(lease[0])
                        episode["killed"] = lease[0]
                elif event == "store":
                    pg.restart()
                    restarts += 1
                else:
                    proxy.stall_until = time.time() + 12.0
                    stalls += 1
            # the fault ends (healed or not), then a quiet spell before the next one
            wait_for(lambda: not store.rows(
                "SELECT 1 FROM intents WHERE completed_at IS NULL"), 90, 1.0)  # fmt: skip
            shop("inject", "stop", "--all", run_dir=run_dir)
            episode["until"] = time.time()
            episodes.append(episode)
            if event == "kill" and "killed" not in episode and retries > 0:
                events.append("kill")
                retries -= 1
            print(f"[{n}/{len(events)}] {event} {fault} {instance}", flush=True)
            time.sleep(12)
        time.sleep(20)
        intents = store.intents_since(0.0)
        result = judge(intents, proxy.calls, episodes)
        result.update(
            kills=kills,
            store_restarts=restarts,
            platform_stalls=stalls,
            takeover_cycles_p50=round(statistics.median(takeovers), 2) if takeovers else None,
            takeover_cycles_max=round(max(takeovers), 2) if takeovers else None,
        )
        line = json.dumps(result)
        print(line)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(line + "\n")
    finally:
        if replicas is not None:
            replicas.stop_all()
        if load is not None and load.poll() is None:
            os.killpg(load.pid, signal.SIGTERM)
        try:
            shop("testbed", "down", run_dir=run_dir)
        except Exception as exc:  # still clean up the store
            print(f"testbed down failed: {exc}", file=sys.stderr)
        pg.stop()


def judge(
    intents: list[Any], calls: list[tuple[float, str, str]], episodes: list[Any]
) -> dict[str, Any]:
    """The counts of the module docstring, from the store's intents and the proxy's log."""
    started = len(intents)
    completed = sum(1 for i in intents if i.completed_at is not None and i.outcome != "interrupted")
    lost = started - completed
    duplicated = 0
    # a platform call per intent at most (its rollback is another path)
    for n, i in enumerate(intents):
        action = json.loads(i.action)
        path = operation_path(action)
        if path is None:
            continue
        until = next(
            (
                j.created_at
                for j in intents[n + 1 :]
                if operation_path(json.loads(j.action)) == path
            ),
            float("inf"),
        )
        seen = [c for c in calls if c[2] == path and i.created_at - 1.0 <= c[0] < until]
        duplicated += max(0, len(seen) - 1)
    # the same action twice for one fault
    for e in episodes:
        acts = [
            (
                json.loads(i.action)["kind"],
                json.loads(i.action)["target"],
                json.loads(i.action).get("instance"),
            )
            for i in intents
            if e["at"] <= i.created_at <= e.get("until", float("inf"))
        ]
        duplicated += len(acts) - len(set(acts))
    return {
        "actions_started": started,
        "completed": completed,
        "duplicated": duplicated,
        "lost": lost,
        "platform_calls": len(calls),
        "faults": len(episodes),
        "faults_acted_on": sum(1 for e in episodes if e["acted"]),
    }


def operation_path(action: dict[str, Any]) -> str | None:
    """The platform API path an action's execution calls (docs/local-platform-api.md)."""
    kind, target, instance = action.get("kind"), action.get("target"), action.get("instance")
    if kind == "RestartContainer" and instance:
        return f"/platform/services/{target}/instances/{instance}/restart"
    if kind == "RestartService":
        return f"/platform/services/{target}/restart"
    return None


if __name__ == "__main__":
    main()
