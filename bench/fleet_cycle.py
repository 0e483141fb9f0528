"""One loop cycle of indicators + rules + detection over a fleet of ~20,000 series.

A synthetic fleet of ``--services`` × ``--instances`` targets (default 25 × 4 = 100),
each exposing the contract's metrics of ``docs/local-platform-api.md`` through
prometheus_client registries (8 routes with two status codes, latency histograms, 3
dependencies, pool, process and GC collectors: 199 series per target; with the
scraper's ``up`` / ``scrape_*`` series 20,200 in all). The embedded scraper scrapes
them over an in-memory HTTP transport into the raw window store as the loop wires it;
traffic moves between scrapes, and a few instances are slower than their peers. Each
cycle then runs, timed on one core (the process is pinned to CPU 0):

- ``--impl new``: ``IndicatorSet.evaluate`` (the indicator table through the embedded
  PromQL evaluator, and the call graph), then ``LiveDetection.observe`` with the default
  rules and the default detector, as ``loop/wiring.py`` builds them;
- ``--impl live-old``: the loop's derivation before issue 11
  (``loop/live_indicators.py`` at a2b2308, read from git), then the same detection;
- ``--impl engine-old``: ``monitoring/indicators.py``'s ``IndicatorEngine`` at a2b2308
  (what the indicator benches timed then), then the same detection.

It prints seconds per cycle (median and max over the cycles after the warm-up of the
detection; CPU time of this process), the samples per cycle, the process's peak RSS
and the peak of Python allocations during one cycle (tracemalloc, measured on a
separate cycle since tracing slows the code down). ``IndicatorSet.evaluate`` pauses
the cyclic garbage collector while it runs; ``--pause-gc`` does the same around the
old derivations, to compare the algorithms alone.

    python bench/fleet_cycle.py --impl new --cycles 30
    python bench/fleet_cycle.py --impl live-old --cycles 30 [--pause-gc]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from selfheal.analysis.detection import default_detector
from selfheal.analysis.rules import DEFAULT_RULES, LiveDetection
from selfheal.core.clock import FakeClock
from selfheal.core.types import Sample
from selfheal.loop.wiring import RAW_MAX_SERIES, RAW_POINTS_PER_SERIES
from selfheal.monitoring.indicators import IndicatorSet, window_seconds
from selfheal.monitoring.scraper import Scraper, ScrapeTarget
from selfheal.monitoring.window_store import WindowStore

OLD_COMMIT = "a2b2308"
ROUTES = ("/", "/a", "/b", "/c", "/d", "/e", "/f", "/health")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Target:
    """One instance's registry and its traffic."""

    def __init__(self, service: str, index: int, deps: list[str], rng: random.Random) -> None:
        self.rng = rng
        self.slow = index == 0 and service.endswith(("3", "7"))  # a few slow instances
        r = self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=r)
        gc_collector.GCCollector(registry=r)
        platform_collector.PlatformCollector(registry=r)
        self.requests = Counter("http_requests", "", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "http_request_duration_seconds", "", ["route"], buckets=BUCKETS, registry=r
        )
        self.calls = Counter("upstream_requests", "", ["target", "status"], registry=r)
        self.call_latency = Histogram(
            "upstream_request_duration_seconds", "", ["target"], buckets=BUCKETS, registry=r
        )
        Gauge("http_requests_in_flight", "", registry=r).set(2)
        self.in_use = Gauge("pool_connections_in_use", "", registry=r)
        Gauge("pool_connections_max", "", registry=r).set(16)
        Counter("pool_wait_timeouts", "", registry=r)
        Gauge("app_info", "", ["version"], registry=r).labels("v1").set(1)
        self.orders = Counter("orders", "", registry=r)
        self.orders_failed = Counter("orders_failed", "", registry=r)
        self.deps = deps
        for route in ROUTES:  # every series exists from the first scrape
            for status in ("200", "500"):
                self.requests.labels(route, "GET", status)
            self.latency.labels(route)
        for dep in deps:
            for status in ("200", "error"):
                self.calls.labels(dep, status)
            self.call_latency.labels(dep)

    def traffic(self) -> None:
        rng = self.rng
        for _ in range(40):
            route = rng.choice(ROUTES)
            self.requests.labels(route, "GET", "500" if rng.random() < 0.01 else "200").inc()
            scale = 0.8 if self.slow else 0.03
            self.latency.labels(route).observe(rng.expovariate(1 / scale))
        for dep in self.deps:
            for _ in range(10):
                self.calls.labels(dep, "error" if rng.random() < 0.005 else "200").inc()
                self.call_latency.labels(dep).observe(rng.expovariate(40))
        self.in_use.set(rng.randint(0, 8))
        self.orders.inc(3)
        if rng.random() < 0.05:
            self.orders_failed.inc()


def fleet(services: int, instances: int) -> tuple[list[ScrapeTarget], dict[str, Target]]:
    rng = random.Random(7)
    names = [f"svc{i}" for i in range(services)]
    targets, by_host = [], {}
    for s, name in enumerate(names):
        deps = [names[(s + k) % services] for k in (1, 2, 3)]
        for i in range(instances):
            host = f"{name}-{i}.fleet:9100"
            by_host[host] = Target(name, i, deps, rng)
            labels = {"service": name, "instance_id": f"{name}-{i}"}
            targets.append(ScrapeTarget(f"http://{host}/metrics", labels, 1.0, 1.0))
    return targets, by_host


def _module_at(commit: str, path: str, name: str, replace: dict[str, str]) -> Any:
    """A module of the package as it was at ``commit`` (read from git)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    for old, new in replace.items():
        source = source.replace(old, new)
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def indicators_of(impl: str, interval: float) -> Callable[[WindowStore, float], list[Sample]]:
    if impl == "new":
        table = IndicatorSet(window_seconds=window_seconds(interval))
        return lambda raw, at: table.evaluate(raw, at)[0]
    # the math module as it was then (its raw_increase is gone since)
    _module_at(OLD_COMMIT, "src/selfheal/monitoring/promql.py", "_old_promql", {})
    if impl == "live-old":
        old = _module_at(
            OLD_COMMIT,
            "src/selfheal/loop/live_indicators.py",
            "_old_live_indicators",
            {"from selfheal.monitoring import promql": "import _old_promql as promql"},
        )
        deriver = old.IndicatorDeriver()
        return lambda raw, at: deriver.derive(raw, at)[0]  # type: ignore[no-any-return]
    old = _module_at(
        OLD_COMMIT,
        "src/selfheal/monitoring/indicators.py",
        "_old_indicator_engine",
        {"from selfheal.monitoring.promql import": "from _old_promql import"},
    )
    engines: dict[int, Any] = {}

    def compute(raw: WindowStore, at: float) -> list[Sample]:
        engine = engines.get(id(raw))
        if engine is None:
            settings = old.IndicatorSettings(prefix="", instance_label="instance")
            engine = engines[id(raw)] = old.IndicatorEngine(raw, settings, WindowStore())
        return engine.compute(at)  # type: ignore[no-any-return]

    return compute


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=("new", "live-old", "engine-old"), default="new")
    parser.add_argument("--services", type=int, default=25)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0, help="scrape interval, seconds")
    parser.add_argument("--warmup", type=int, default=21, help="cycles before timing starts")
    parser.add_argument(
        "--pause-gc",
        action="store_true",
        help="pause the cyclic garbage collector around the old derivations too (the new "
        "path always pauses it while it evaluates)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})

    targets, by_host = fleet(args.services, args.instances)

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=generate_latest(by_host[request.url.netloc.decode()].registry)
        )

    clock = FakeClock(1_000_000.0)
    raw = WindowStore(max_points_per_series=RAW_POINTS_PER_SERIES, max_series=RAW_MAX_SERIES)
    client = httpx.Client(transport=httpx.MockTransport(serve))
    scraper = Scraper(raw, targets=targets, clock=clock, client=client, max_workers=1)
    indicators = indicators_of(args.impl, args.interval)
    if args.pause_gc and args.impl != "new":
        unpaused = indicators

        def indicators(raw: WindowStore, at: float) -> list[Sample]:
            gc.disable()
            try:
                return unpaused(raw, at)
            finally:
                gc.enable()

    detection = LiveDetection(
        DEFAULT_RULES,
        detector_factory=default_detector,
        detector_name="detector:default",
        detector_threshold=0.99,
        warmup_samples=20,
    )

    def scrape() -> float:
        for t in by_host.values():
            t.traffic()
        started = time.process_time()
        scraper.scrape_once()
        spent = time.process_time() - started
        clock.advance(0.05)  # the cycle evaluates right after its scrape
        return spent

    def cycle() -> tuple[float, float, int]:
        at = clock.now()
        started = time.process_time()
        samples = indicators(raw, at)
        evaluated = time.process_time()
        detection.observe(samples)
        done = time.process_time()
        clock.advance(args.interval - 0.05)
        return evaluated - started, done - started, len(samples)

    scrape_s, eval_s, total_s, counts = [], [], [], []
    for i in range(args.warmup + args.cycles):
        spent = scrape()
        evaluated, total, n = cycle()
        if i >= args.warmup:
            scrape_s.append(spent)
            eval_s.append(evaluated)
            total_s.append(total)
            counts.append(n)
    scrape()
    tracemalloc.start()
    cycle()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    scraper.close()
    client.close()
    print(
        json.dumps(
            {
                "impl": args.impl,
                "gc_paused_around_indicators": args.impl == "new" or args.pause_gc,
                "targets": len(targets),
                "raw_series": len(raw),
                "scrape_interval_seconds": args.interval,
                "indicator_samples_per_cycle": statistics.median(counts),
                "cycle_seconds_median": round(statistics.median(total_s), 4),
                "cycle_seconds_max": round(max(total_s), 4),
                "indicators_seconds_median": round(statistics.median(eval_s), 4),
                "detection_seconds_median": round(
                    statistics.median(t - e for t, e in zip(total_s, eval_s, strict=True)), 4
                ),
                "scrape_seconds_median": round(statistics.median(scrape_s), 4),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "cycle_traced_peak_mb": round(traced_peak / 2**20, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
