"""Cost of the whole monitoring layer while watching the real demo shop.

A child process runs the demo shop (``selfheal.testbed.Shop``) and its load
generator; this process runs everything the loop runs to watch it — the
embedded scraper on HTTP service discovery (1 s interval), the indicator table
once per second, the log tailer over every instance's log file (via
``/platform/logs``) into the log window once per second, and the OTLP receiver
the shop exports its traces to, with the service graph — and reports this
process's CPU (percent of one core) and RSS.

    python bench/monitoring_shop_cost.py --seconds 30 --rate 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import sys, time
from selfheal.testbed import Shop
from selfheal.testbed.load import LoadGenerator
shop = Shop.start(sys.argv[1], otlp_endpoint=sys.argv[2])
with LoadGenerator(shop.frontend_url, rate=float(sys.argv[3]), seed=1):
    print(shop.control_url, flush=True)
    sys.stdin.read()
shop.stop()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="shop journeys per second")
    parser.add_argument(
        "--only", choices=["all", "metrics", "logs", "traces"], default="all",
        help="run one collector alone, to see what each costs",
    )  # fmt: skip
    args = parser.parse_args()

    import psutil

    from selfheal.core.clock import SystemClock
    from selfheal.monitoring import (
        HttpLogDiscovery,
        HttpServiceDiscovery,
        IndicatorSet,
        LogTailer,
        LogWindow,
        OtlpReceiver,
        Scraper,
        ServiceGraph,
        WindowStore,
        window_seconds,
    )

    clock = SystemClock()
    graph = ServiceGraph(clock)
    use = {"metrics", "logs", "traces"} if args.only == "all" else {args.only}
    with OtlpReceiver(graph) as receiver, tempfile.TemporaryDirectory() as run_dir:
        # without traces the shop still exports, to a port nobody listens on
        endpoint = receiver.endpoint if "traces" in use else "http://127.0.0.1:9/v1/traces"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, run_dir, endpoint, str(args.rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            control = child.stdout.readline().strip()
            store = WindowStore()
            sd = HttpServiceDiscovery(
                f"{control}/platform/targets", refresh_seconds=10, interval_seconds=1.0,
                timeout_seconds=0.8,
            )  # fmt: skip
            scraper = Scraper(store, discovery=[sd], clock=clock)
            logs = LogTailer(discovery=HttpLogDiscovery(f"{control}/platform/logs"))
            log_window = LogWindow()
            table = IndicatorSet(window_seconds=window_seconds(1.0))
            if "metrics" in use:
                scraper.start()
            for _ in range(5):  # warm up: caches, windows
                if "logs" in use:
                    log_window.add(logs.poll(), clock.now())
                table.evaluate(store, clock.now())
                time.sleep(1.0)
            samples = []
            me = psutil.Process(os.getpid())
            cpu0, wall0 = time.process_time(), time.perf_counter()
            lines = 0
            while time.perf_counter() - wall0 < args.seconds:
                t = time.perf_counter()
                if "logs" in use:
                    lines += log_window.add(logs.poll(), clock.now())
                if "metrics" in use:
                    samples, _ = table.evaluate(store, clock.now())
                if "traces" in use:
                    graph.edges()
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            scraper.close()
            logs.close()
            print(
                json.dumps(
                    {
                        "targets": len(scraper.targets()),
                        "targets_up": sum(h.up for h in scraper.health()),
                        "series_in_store": len(store),
                        "indicator_samples_per_cycle": len(samples),
                        "log_lines_per_second": round(lines / wall, 1),
                        "spans_per_second": round(receiver.spans_total / (wall + 5), 1),
                        "graph_edges": len(graph.edges()),
                        "collectors": sorted(use),
                        "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
                        "rss_mb": round(me.memory_info().rss / 2**20, 1),
                        "seconds": round(wall, 1),
                    },
                    indent=2,
                )
            )
        finally:
            if child.stdin:
                child.stdin.close()
            child.wait(60)


if __name__ == "__main__":
    main()
