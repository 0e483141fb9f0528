"""Start-up time and memory at rest of the whole testbed shop.

Targets (issue 2): start-up under 10 s and the whole shop under 1 GB on a
2-core box. Measures, per run: seconds from ``Shop.start`` to every instance
ready; RSS / PSS / USS summed over every shop process (instances + their
launcher) plus the control process; then the same after a few seconds of load.
Also times the detached CLI path (``selfheal testbed up`` / ``down``).

    python bench/testbed_startup.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil

from selfheal.testbed import LoadGenerator, Shop

MB = 1024 * 1024


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP exports so the exporter runs as it would in the demo."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def _memory(pids: list[int]) -> dict[str, float]:
    rss = pss = uss = 0
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss += info.rss
        pss += info.pss
        uss += info.uss
    return {"rss_mb": rss / MB, "pss_mb": pss / MB, "uss_mb": uss / MB}


def one_run(otlp: str | None, load_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as run_dir:
        started = time.perf_counter()
        shop = Shop.start(run_dir, otlp_endpoint=otlp)
        startup = time.perf_counter() - started
        try:
            time.sleep(2.0)  # at rest
            pids = shop.pids()
            control = psutil.Process().memory_full_info()
            rest = _memory(pids)
            result: dict[str, Any] = {
                "startup_seconds": startup,
                "processes": len(pids),
                "at_rest": rest,
                "control_rss_mb": control.rss / MB,
                "control_pss_mb": control.pss / MB,
                "total_pss_mb": rest["pss_mb"] + control.pss / MB,
                "total_rss_mb": rest["rss_mb"] + control.rss / MB,
            }
            if load_seconds > 0:
                with LoadGenerator(shop.frontend_url, rate=20, seed=1) as load:
                    time.sleep(load_seconds)
                    stats = load.stats()
                result["after_load"] = _memory(shop.pids())
                result["load_success_ratio"] = stats.success_ratio
                result["load_p99_ms"] = stats.latency_p99_ms
            return result
        finally:
            shop.stop()


def cli_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="shop-bench-cli-") as run_dir:
        exe = [sys.executable, "-m", "selfheal.cli.main", "testbed"]
        started = time.perf_counter()
        subprocess.run([*exe, "up", "--run-dir", run_dir], check=True, capture_output=True)
        up = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([*exe, "down", "--run-dir", run_dir], check=True, capture_output=True)
        return {"cli_up_seconds": up, "cli_down_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--out", default="bench/out/testbed_startup.json")
    args = parser.parse_args()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{sink.server_address[1]}/v1/traces"
    runs = {
        "with_otlp": [one_run(otlp, args.load_seconds) for _ in range(args.runs)],
        "without_otlp": [one_run(None, 0.0) for _ in range(args.runs)],
    }
    cli = cli_run()
    sink.shutdown()
    summary: dict[str, Any] = {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "cli": cli}
    for name, results in runs.items():
        summary[name] = {
            "startup_seconds_median": statistics.median(r["startup_seconds"] for r in results),
            "startup_seconds_max": max(r["startup_seconds"] for r in results),
            "total_pss_mb_median": statistics.median(r["total_pss_mb"] for r in results),
            "total_rss_mb_median": statistics.median(r["total_rss_mb"] for r in results),
            "processes": results[0]["processes"],
            "runs": results,
        }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    w = summary["with_otlp"]
    print(f"load average at start: {summary['load_average']}")
    for name in ("with_otlp", "without_otlp"):
        s = summary[name]
        print(
            f"{name}: start-up median {s['startup_seconds_median']:.2f} s "
            f"(max {s['startup_seconds_max']:.2f} s); at rest PSS {s['total_pss_mb_median']:.0f} MB, "
            f"RSS {s['total_rss_mb_median']:.0f} MB over {s['processes']} shop processes + control"
        )
    last = w["runs"][-1]
    if "after_load" in last:
        print(
            f"after {args.load_seconds:.0f} s at 20 journeys/s: PSS "
            f"{last['after_load']['pss_mb']:.0f} MB (shop processes), success "
            f"{last['load_success_ratio']:.1%}, p99 {last['load_p99_ms']:.0f} ms"
        )
    print(f"CLI: testbed up {cli['cli_up_seconds']:.2f} s, down {cli['cli_down_seconds']:.2f} s")


if __name__ == "__main__":
    main()
