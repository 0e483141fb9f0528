"""Cost of the monitoring layer while watching a shop-sized fleet.

Starts a child process that serves N shop-like /metrics endpoints (the metric
names and buckets of docs/local-platform-api.md, plus prometheus_client's
process, GC and platform collectors, counters moving at ~50 requests/s per
instance), then in this process runs the embedded scraper on its background
thread (1 s interval) and the indicator table (IndicatorSet, the path the loop
runs) once per second, and reports
this process's CPU (percent of one core; first the scraper alone, then scraper
plus indicators) and RSS. Also times one body through
the cached parser and through prometheus_client's parser.

    python bench/monitoring_cost.py --targets 16 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SERVER = r"""
import random, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, GCCollector,
    PlatformCollector, ProcessCollector, generate_latest)
B = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
def make():
    r = CollectorRegistry()
    ProcessCollector(registry=r); GCCollector(registry=r); PlatformCollector(registry=r)
    m = dict(
        req=Counter("http_requests", "r", ["route", "method", "status"], registry=r),
        dur=Histogram("http_request_duration_seconds", "d", ["route"], buckets=B, registry=r),
        infl=Gauge("http_requests_in_flight", "i", registry=r),
        up=Counter("upstream_requests", "u", ["target", "status"], registry=r),
        updur=Histogram("upstream_request_duration_seconds", "u", ["target"], buckets=B, registry=r),
        inuse=Gauge("pool_connections_in_use", "p", registry=r),
        pmax=Gauge("pool_connections_max", "p", registry=r),
        pto=Counter("pool_wait_timeouts", "p", registry=r),
        info=Gauge("app_info", "a", ["version"], registry=r),
        orders=Counter("orders", "o", registry=r), ofail=Counter("orders_failed", "o", registry=r),
    )
    m["info"].labels("v1").set(1); m["pmax"].set(10)
    return r, m
fleet = [make() for _ in range(int(sys.argv[1]))]
def traffic():
    while True:
        for r, m in fleet:
            for _ in range(5):
                route = random.choice(["/", "/cart", "/checkout", "/products", "/health"])
                m["req"].labels(route, "GET", random.choice(["200"] * 20 + ["500"])).inc()
                m["dur"].labels(route).observe(random.expovariate(30))
                t = random.choice(["cart", "payment"])
                m["up"].labels(t, random.choice(["200"] * 30 + ["error"])).inc()
                m["updur"].labels(t).observe(random.expovariate(40))
            m["orders"].inc(); m["inuse"].set(random.randint(0, 10))
        time.sleep(0.1)
threading.Thread(target=traffic, daemon=True).start()
ports = []
for r, _ in fleet:
    class H(BaseHTTPRequestHandler):
        reg = r
        def do_GET(self):
            body = generate_latest(self.reg)
            self.send_response(200); self.send_header("Content-Length", str(len(body)))
            self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    s = ThreadingHTTPServer(("127.0.0.1", 0), H); s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
    ports.append(s.server_address[1])
print(" ".join(map(str, ports)), flush=True)
sys.stdin.read()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()

    import httpx
    import psutil

    from selfheal.core.clock import SystemClock
    from selfheal.monitoring.exposition import SeriesParser, parse_exposition
    from selfheal.monitoring.indicators import IndicatorSet, window_seconds
    from selfheal.monitoring.scraper import Scraper, ScrapeTarget
    from selfheal.monitoring.window_store import WindowStore

    child = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.targets)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ports = [int(p) for p in child.stdout.readline().split()]
        targets = [
            ScrapeTarget(
                f"http://127.0.0.1:{port}/metrics",
                {"service": f"svc{i // 2}", "instance_id": f"svc{i // 2}-{i % 2}"},
                1.0,
                0.8,
            )
            for i, port in enumerate(ports)
        ]
        time.sleep(1.0)
        body = httpx.get(targets[0].url).text
        cached = SeriesParser({"service": "x"})
        cached.parse(body)
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            cached.parse(body)
        cached_ms = (time.perf_counter() - t0) / n * 1e3
        t0 = time.perf_counter()
        for _ in range(20):
            parse_exposition(body)
        reference_ms = (time.perf_counter() - t0) / 20 * 1e3

        clock = SystemClock()
        store = WindowStore()
        table = IndicatorSet(window_seconds=window_seconds(1.0))
        scraper = Scraper(store, targets=targets, clock=clock)
        me = psutil.Process(os.getpid())
        scraper.start()
        time.sleep(3.0)  # warm caches and windows
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(args.seconds / 2)  # the scraper alone
        scraper_only = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        indicator_ms: list[float] = []
        deadline = wall0 + args.seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            samples, _ = table.evaluate(store, clock.now())
            indicator_ms.append((time.perf_counter() - t) * 1e3)
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        scraper.close()
        health = scraper.health()
        result = {
            "targets": len(targets),
            "body_lines": body.count("\n"),
            "series_in_store": len(store),
            "indicator_samples_per_cycle": len(samples),
            "scrapes": scraper.scrapes_total,
            "scrape_failures": scraper.scrape_failures_total,
            "targets_up": sum(h.up for h in health),
            "cpu_percent_of_one_core_scraper_only": round(100 * scraper_only, 2),
            "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
            "rss_mb": round(me.memory_info().rss / 2**20, 1),
            "indicator_cycle_ms_median": round(sorted(indicator_ms)[len(indicator_ms) // 2], 2),
            "parse_ms_cached": round(cached_ms, 3),
            "parse_ms_prometheus_client": round(reference_ms, 3),
            "seconds": round(wall, 1),
        }
        print(json.dumps(result, indent=2))
    finally:
        if child.stdin:
            child.stdin.close()
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    main()
