"""The background control process behind ``selfheal testbed up``: starts the
shop, writes the state file, and runs until SIGTERM (``testbed down``) or
``POST /platform/shutdown``, then stops every instance it started.

Runs as ``python -m selfheal.testbed.daemon --run-dir DIR [--topology FILE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time

from selfheal.testbed.shop import STATE_FILE, Shop, ShopState
from selfheal.testbed.topology_file import load_topology, resolve_topology


def parse_replicas(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise ValueError(f"--replicas wants SERVICE=N, got {item!r}")
        out[name.strip()] = int(value)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the testbed shop in the background.")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--otlp-endpoint", default=None)
    parser.add_argument("--replicas", action="append", default=[])
    parser.add_argument("--topology", default=None, help="Topology file (default: the shop).")
    args = parser.parse_args(argv)
    run_dir = os.path.abspath(args.run_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        topology_file = resolve_topology(args.topology)
        shop = Shop.start(
            run_dir,
            otlp_endpoint=args.otlp_endpoint,
            replicas=parse_replicas(args.replicas),
            on_shutdown=stop.set,
            topology=load_topology(topology_file),
        )
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    ShopState(
        shop.control_url,
        os.getpid(),
        os.getpgid(0),
        run_dir,
        time.time(),
        str(topology_file.resolve()),
    ).write()
    print(f"shop up: control {shop.control_url}", flush=True)
    while not stop.wait(1.0):
        pass
    shop.stop()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(run_dir, STATE_FILE))
    print("shop stopped", flush=True)


if __name__ == "__main__":
    main()
