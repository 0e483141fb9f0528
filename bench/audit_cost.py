"""Audit trail throughput on SQLite: appends per second and verification time.

python bench/audit_cost.py --entries 2000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from selfheal.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'audit.db'}")
        payload = {"incident": "inc-1", "action": {"kind": "RestartService", "target": "cart"},
                   "risk": 0.3, "evidence": ["error_ratio 0.4 > 0.05"] * 3}  # fmt: skip
        started = time.perf_counter()
        for i in range(args.entries):
            store.audit.append("action", {**payload, "i": i}, at=float(i))
        append_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = store.audit.verify()
        verify_seconds = time.perf_counter() - started
        store.close()
    print(json.dumps({
        "entries": args.entries,
        "appends_per_second": round(args.entries / append_seconds),
        "append_ms_mean": round(append_seconds / args.entries * 1e3, 3),
        "verify_seconds": round(verify_seconds, 3),
        "verified": result.ok,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
