"""CPU time of one indicator cycle over a shop-sized raw window store.

Fills a WindowStore with 16 instances' worth of the contract's series (1 712
series, 60 one-second points each) and times ``IndicatorSet.evaluate`` (the
indicator table through the embedded PromQL evaluator: the path the loop runs).
``bench/fleet_cycle.py`` measures a 20,000-series fleet with rules and detection.

    python bench/indicator_cost.py --cycles 20
"""

from __future__ import annotations

import argparse
import json
import random
import time

from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.indicators import IndicatorSet, window_seconds
from selfheal.monitoring.window_store import WindowStore

LE = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf")
PER_INSTANCE = (
    "process_cpu_seconds_total", "process_resident_memory_bytes", "up", "pool_connections_in_use",
    "pool_connections_max", "pool_wait_timeouts_total", "http_requests_in_flight", "orders_total",
    "orders_failed_total",
)  # fmt: skip


def fleet_keys(instances: int) -> list[SeriesKey]:
    keys = []
    for i in range(instances):
        base = {"service": f"s{i // 2}", "instance_id": f"s{i // 2}-{i % 2}", "instance": f"h:{i}"}
        for route in ("/", "/a", "/b", "/c", "/health"):
            for status in ("200", "500"):
                labels = {**base, "route": route, "method": "GET", "status": status}
                keys.append(SeriesKey.of("http_requests_total", labels))
            for le in LE:
                labels = {**base, "route": route, "le": le}
                keys.append(SeriesKey.of("http_request_duration_seconds_bucket", labels))
        for target in ("cart", "payment"):
            for status in ("200", "error"):
                labels = {**base, "target": target, "status": status}
                keys.append(SeriesKey.of("upstream_requests_total", labels))
            for le in LE:
                labels = {**base, "target": target, "le": le}
                keys.append(SeriesKey.of("upstream_request_duration_seconds_bucket", labels))
        keys.extend(SeriesKey.of(name, base) for name in PER_INSTANCE)
    return keys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--instances", type=int, default=16)
    args = parser.parse_args()
    keys = fleet_keys(args.instances)
    store = WindowStore()
    rng = random.Random(1)
    for t in range(60):
        store.append_many(Sample(k, float(t), t * 3 + rng.random()) for k in keys)
    table = IndicatorSet(window_seconds=window_seconds(1.0))
    table.evaluate(store, 59.0)
    cpu = time.process_time()
    for _ in range(args.cycles):
        samples, _ = table.evaluate(store, 59.0)
    per_cycle = (time.process_time() - cpu) / args.cycles
    print(json.dumps({"raw_series": len(keys), "indicator_samples": len(samples),
                      "cpu_ms_per_cycle": round(per_cycle * 1e3, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
