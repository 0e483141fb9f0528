"""The loop's CPU and memory with Prometheus as its metrics source beside the embedded one,
in one run over one shop.

Starts the demo shop with its load (8 journeys/s, as the demo), a real Prometheus
scraping it every second (HTTP service discovery of the platform's targets, as
``selfheal demo --metrics-source prometheus``), and two ``selfheal run`` processes with the
demo's settings (1 s cycles, the default detector, the log tailer), in dry-run so that
neither acts, and with the trace receiver off (each serves its API, read at the end for
its cycles, series and source health):

- ``embedded``: scrapes the shop itself and evaluates the indicator table in-process;
- ``prometheus``: evaluates the same table through Prometheus's ``/api/v1/query``.

After ``--warmup`` seconds it measures each process for ``--seconds``: CPU seconds used
(user + system, ``/proc/PID/stat``) per wall second, resident memory at the end and its
peak (``VmRSS``, ``VmHWM``). Prometheus's own CPU and memory are measured beside them: with Prometheus as the source, the scraping moves there.

    python bench/metrics_source_cost.py --seconds 30 --warmup 15 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from selfheal.cli.prometheus_server import PrometheusServer, discovery_scrape_config
from selfheal.testbed.load import LoadGenerator, LoadPlan
from selfheal.testbed.shop import Shop
from selfheal.testbed.topology_file import find_topology

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def memory_mb(pid: int) -> tuple[float, float]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    kb = lambda key: int(status[key].split()[0]) / 1024  # noqa: E731
    return kb("VmRSS"), kb("VmHWM")


def loop_status(log: Path) -> dict[str, Any]:
    """Cycles, series and source health from the loop's ``/status`` (its URL is in its log)."""
    import httpx

    for line in log.read_text().splitlines():
        if line.startswith("API and dashboard on "):
            status = httpx.get(line.split()[-1] + "/status", timeout=5).json()
            source = status.get("metrics_source") or {}
            return {
                "cycles": status["cycles"],
                "series": status["series"],
                "source_ok": source.get("ok"),
                "source_failures": source.get("failures_total"),
            }
    return {}


def loop_config(run_dir: Path, name: str, control_url: str, prometheus_url: str | None) -> Path:
    config: dict[str, Any] = {
        "scrape": {"interval_seconds": 1.0, "timeout_seconds": 0.8},
        "loop": {"cycle_seconds": 1.0},
        "dry_run": True,
        "store": {"url": f"sqlite:///{run_dir}/{name}.db"},
        "api": {"port": 0},
        "otlp": {"enabled": False},
        "executor": {"type": "local", "local": {"control_url": control_url}},
        "logs": {"discovery_url": control_url + "/platform/logs"},
    }
    if prometheus_url:
        config["metrics"] = {"source": "prometheus", "prometheus": {"url": prometheus_url}}
    else:
        config["scrape"]["discovery_url"] = control_url + "/platform/targets"
    path = run_dir / f"{name}.yaml"
    path.write_text(json.dumps(config))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="selfheal-source-cost-"))
    topology = find_topology()
    shop = Shop.start(str(run_dir / "shop"), topology=topology)
    load = LoadGenerator(shop.entry_url, rate=8.0, seed=7, plan=LoadPlan.of(topology)).start()
    prometheus = PrometheusServer(
        run_dir / "prometheus",
        discovery_scrape_config(shop.control_url + "/platform/targets", 1.0),
    )
    loops: dict[str, subprocess.Popen[bytes]] = {}
    try:
        prometheus.start()
        for name, url in (("embedded", None), ("prometheus", prometheus.url)):
            config = loop_config(run_dir, name, shop.control_url, url)
            log = (run_dir / f"{name}.log").open("wb")
            loops[name] = subprocess.Popen(
                [sys.executable, "-m", "selfheal.cli.main", "run", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        time.sleep(args.warmup)
        pids = {name: p.pid for name, p in loops.items()}
        assert prometheus.process is not None
        pids["prometheus server"] = prometheus.process.pid
        for name, p in loops.items():
            if p.poll() is not None:
                raise SystemExit(f"the {name} loop exited: see {run_dir / (name + '.log')}")
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        began = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - began
        results: dict[str, dict[str, Any]] = {}
        for name, pid in pids.items():
            rss, peak = memory_mb(pid)
            results[name] = {
                "cpu_cores": round((cpu_seconds(pid) - before[name]) / wall, 4),
                "rss_mb": round(rss, 1),
                "peak_rss_mb": round(peak, 1),
            }
        for name in loops:
            results[name].update(loop_status(run_dir / f"{name}.log"))
        stats = load.stats(args.seconds)
    finally:
        for p in loops.values():
            p.terminate()
        for p in loops.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        prometheus.stop()
        load.stop()
        shop.stop()
    print(f"over {wall:.1f} s after {args.warmup:g} s of warm-up; shop success "
          f"{stats.success_ratio:.2%} at 8 journeys/s")  # fmt: skip
    print(f"{'process':<18} {'CPU (cores)':>11} {'RSS MB':>7} {'peak RSS MB':>11}  loop")
    for name, r in results.items():
        about = ""
        if "cycles" in r:
            about = (
                f"{r['cycles']} cycles, {r['series']} series, source ok {r['source_ok']} "
                f"({r['source_failures']} failed cycles)"
            )
        print(
            f"{name:<18} {r['cpu_cores']:>11.3f} {r['rss_mb']:>7.1f} {r['peak_rss_mb']:>11.1f}"
            f"  {about}"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"seconds": wall, "results": results}, indent=2))


if __name__ == "__main__":
    main()
