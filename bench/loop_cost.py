"""The loop's own cost while it watches the healthy shop: CPU share of one core and memory.

The shop and its load generator run in a child process (their cost is not the loop's);
this process runs only the loop, configured as the demo configures it (1 s scrapes and
cycles, the API on a free port). After a warm-up it measures this process's CPU time and
resident memory over a fixed window.

    python bench/loop_cost.py [--warmup 30] [--seconds 60] [--no-logs] [--traces]

``--no-logs`` leaves the shop's log files alone, to see what following them costs;
``--traces`` has the shop's instances send OTLP spans to the loop's receiver (as
``selfheal demo --traces`` does), to see what receiving them costs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time

import psutil


def _shop(queue: mp.Queue, stop: mp.Event, run_dir: str, otlp: str | None) -> None:  # type: ignore[type-arg]
    from selfheal.testbed.load import LoadGenerator
    from selfheal.testbed.shop import Shop

    shop = Shop.start(run_dir, otlp_endpoint=otlp)
    load = LoadGenerator(shop.frontend_url, rate=8.0, seed=1).start()
    queue.put(shop.control_url)
    stop.wait()
    load.stop()
    shop.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-logs", action="store_true", help="do not tail the shop's logs")
    parser.add_argument("--traces", action="store_true", help="receive the shop's OTLP spans")
    args = parser.parse_args()

    from selfheal.cli.demo import demo_config, free_port
    from selfheal.cli.loop import serve
    from selfheal.loop.wiring import build

    run_dir = tempfile.mkdtemp(prefix="selfheal-cost-")
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    stop = ctx.Event()
    otlp_port = free_port() if args.traces else None
    endpoint = f"http://127.0.0.1:{otlp_port}/v1/traces" if otlp_port else None
    child = ctx.Process(target=_shop, args=(queue, stop, run_dir, endpoint), daemon=True)
    child.start()
    control_url = queue.get(timeout=120)
    config = demo_config(control_url, run_dir, otlp_port=otlp_port)
    if args.no_logs:
        config = config.model_copy(update={"logs": type(config.logs)()})
    runtime = build(config)
    server = serve(runtime, "127.0.0.1", 0)
    me = psutil.Process()
    try:
        runtime.engine.start()
        time.sleep(args.warmup)
        cpu0 = sum(me.cpu_times()[:2])
        t0 = time.monotonic()
        peak = 0
        while time.monotonic() - t0 < args.seconds:
            peak = max(peak, me.memory_info().rss)
            time.sleep(1.0)
        cpu = sum(me.cpu_times()[:2]) - cpu0
        wall = time.monotonic() - t0
        status = runtime.engine.status()
        spans = getattr(runtime.engine.ranker, "spans", None)
        print(f"loop CPU: {cpu / wall:.1%} of one core over {wall:.0f} s (target < 10%)")
        print(f"loop memory: peak RSS {peak / 1e6:.0f} MB (target < 300 MB)")
        print(
            f"cycles {status['cycles']}, series followed {status['series']}, "
            f"incidents opened while healthy: {len(runtime.store.incidents.list())}, "
            f"log lines read {runtime.engine.collector.log_window.lines_total}, "  # type: ignore[attr-defined]
            f"spans kept {len(spans) if spans is not None else 0}"
        )
    finally:
        server.stop()
        runtime.close()
        stop.set()
        child.join(30)


if __name__ == "__main__":
    main()
