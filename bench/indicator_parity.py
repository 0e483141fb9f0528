"""The indicator path against the old live derivation, on the same scrapes of the real shop.

Starts the demo shop and its load (8 journeys/s), scrapes it every second with the
embedded scraper, and each second derives the indicators twice or more from the same
raw window store: with the loop's ``IndicatorSet`` at one or more ranges (``--ranges``,
in scrape intervals) and with the old ``loop/live_indicators.py`` read from git a2b2308.
Each derivation feeds its own ``LiveDetection`` with the default rules (no statistical
detector, 20 samples of warm-up). Then it injects the demo's twelve faults one by one
(each for ``--fault-seconds``, then stopped by the testbed and ``--pause`` s to recover)
and prints, per fault and derivation, the seconds from injection to the first rule
anomaly, and the rule anomalies outside any fault (false alarms). Same data, same
cycles: what differs is only the derivation.

    python bench/indicator_parity.py [--ranges 4 3] [--fault-seconds 15] [--pause 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_cycle import indicators_of  # noqa: E402
from selfheal.analysis.rules import DEFAULT_RULES, LiveDetection  # noqa: E402
from selfheal.cli.demo import DEFAULT_SCENARIO  # noqa: E402
from selfheal.core.clock import SystemClock  # noqa: E402
from selfheal.monitoring.indicators import IndicatorSet  # noqa: E402
from selfheal.monitoring.scraper import HttpServiceDiscovery, Scraper  # noqa: E402
from selfheal.monitoring.window_store import WindowStore  # noqa: E402
from selfheal.testbed import ControlClient, Shop  # noqa: E402
from selfheal.testbed.load import LoadGenerator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ranges", type=float, nargs="+", default=[4.0, 3.0])
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--fault-seconds", type=float, default=15.0)
    parser.add_argument("--pause", type=float, default=20.0)
    args = parser.parse_args()

    derive: dict[str, Any] = {"old": indicators_of("live-old", 1.0)}
    for r in args.ranges:
        table = IndicatorSet(window_seconds=r)
        derive[f"new-{r:g}"] = lambda raw, at, t=table: t.evaluate(raw, at)[0]
    detection = {
        name: LiveDetection(DEFAULT_RULES, detector_factory=None, warmup_samples=20)
        for name in derive
    }
    clock = SystemClock()
    raw = WindowStore(max_points_per_series=12)
    with tempfile.TemporaryDirectory() as run_dir:
        shop = Shop.start(run_dir)
        load = LoadGenerator(shop.frontend_url, rate=8.0, seed=1).start()
        sd = HttpServiceDiscovery(
            f"{shop.control_url}/platform/targets", refresh_seconds=5, interval_seconds=1.0,
            timeout_seconds=0.8,
        )  # fmt: skip
        scraper = Scraper(raw, discovery=[sd], clock=clock)
        events: list[tuple[float, str, str, str, str]] = []  # (t, derivation, service, ind, rule)
        windows: list[tuple[str, str, float, float]] = []

        def cycle() -> None:
            scraper.scrape_once()
            at = clock.now()
            for name, f in derive.items():
                for a in detection[name].observe(f(raw, at)):
                    events.append((at, name, a.service, a.indicator, a.detector))

        def run_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                started = time.monotonic()
                cycle()
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

        try:
            run_for(args.warmup)
            with ControlClient(shop.control_url) as control:
                for step in DEFAULT_SCENARIO:
                    at = clock.now()
                    control.inject(
                        step.fault, step.service, step.instance, dict(step.params),
                        duration=args.fault_seconds,
                    )  # fmt: skip
                    run_for(args.fault_seconds)
                    control.stop_all_faults()
                    windows.append((step.fault, step.service, at, clock.now()))
                    run_for(args.pause)
        finally:
            scraper.close()
            load.stop()
            shop.stop()

    warm_until = min(w[2] for w in windows) - 5.0
    rows = []
    for fault, service, start, end in windows:
        row: dict[str, Any] = {"fault": fault, "service": service}
        for name in derive:
            first = [
                (t - start, svc, ind)
                for t, n, svc, ind, _ in events
                if n == name and start <= t <= end + 2.0
            ]
            row[name] = round(first[0][0], 1) if first else None
            row[name + ":first"] = f"{first[0][1]}:{first[0][2]}" if first else None
        rows.append(row)
    recovery = 15.0  # after a fault stops, its symptoms may take this long to clear
    false_alarms: dict[str, Counter[str]] = {name: Counter() for name in derive}
    for t, name, svc, ind, _ in events:
        busy = any(s <= t <= e + recovery for _, _, s, e in windows)
        if t >= warm_until and not busy:
            false_alarms[name][f"{svc}:{ind}"] += 1
    print(json.dumps({"faults": rows, "false_alarms": false_alarms}, indent=1))
    names = list(derive)
    print(f"{'fault':<18} {'service':<10} " + " ".join(f"{n:>9}" for n in names))
    for r in rows:
        cells = " ".join(f"{r[n] if r[n] is not None else '-':>9}" for n in names)
        print(f"{r['fault']:<18} {r['service']:<10} {cells}")
    print("false alarms: " + ", ".join(f"{n} {sum(c.values())}" for n, c in false_alarms.items()))


if __name__ == "__main__":
    main()
