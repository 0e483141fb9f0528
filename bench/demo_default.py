"""The demo's targets on the default scenario: healed, right cause, false actions, TTD, TTR.

Runs ``selfheal demo --json-summary`` (the default scenario: 60 s fault-free, then every
testbed fault once) in a subprocess, or reads a summary it wrote before, and prints one
line per fault and the target checks of issue 3.

    python bench/demo_default.py [--summary bench/out/demo_summary.json] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

SCRAPE_INTERVAL_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", default="bench/out/demo_summary.json")
    parser.add_argument("--reuse", action="store_true", help="read the summary, do not run")
    args = parser.parse_args()
    path = Path(args.summary)
    if not args.reuse:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "selfheal.cli.main", "demo", "--json-summary", str(path)],
            check=True,
            timeout=900,
        )
    data = json.loads(path.read_text())
    rows = data["scenarios"]
    print(
        f"{'fault':<18} {'service':<10} {'detect s':>8} {'recover s':>9} {'cause':<10} healed actions"
    )
    ttd, ttr = [], []
    for r in rows:
        inj = r["injected_at"]
        d = r["detected_at"] - inj if r["detected_at"] else None
        rec = r["recovered_at"] - inj if r["recovered_at"] else None
        if d is not None:
            ttd.append(d)
        if rec is not None:
            ttr.append(rec)
        acts = ", ".join(f"{a['action']}({a['target']}):{a['status']}" for a in r["actions"])
        print(
            f"{r['fault']:<18} {r['service']:<10} {d if d is None else round(d, 1)!s:>8} "
            f"{rec if rec is None else round(rec, 1)!s:>9} {r['root_cause']!s:<10} "
            f"{'yes' if r['healed'] else 'NO '}    {acts}"
        )
    healed = sum(r["healed"] for r in rows)
    right = sum(r["root_cause"] == r["service"] for r in rows)
    print()
    print(f"healed: {healed}/{len(rows)} (target: all)")
    print(f"right root-cause service first: {right}/{len(rows)} (target: all)")
    print(f"false actions: {data['false_actions']} (target: 0)")
    print(f"fault-free seconds before the first fault: {data['fault_free_seconds']}")
    if ttd:
        m = statistics.median(ttd)
        print(
            f"median time to detect: {m:.1f} s = {m / SCRAPE_INTERVAL_SECONDS:.1f} scrape intervals (target <= 2)"
        )
    if ttr:
        print(
            f"median time to recover: {statistics.median(ttr):.1f} s over {len(ttr)} recovered (target <= 30 s)"
        )


if __name__ == "__main__":
    main()
