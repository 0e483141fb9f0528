"""What following traces costs the loop: keeping spans, and one diagnosis over them.

The OTLP receiver hands every span to the loop's span window (on the receiver's
threads); a diagnosis reads the window once (``RankerAdapter.rank``: trace
patterns + trace edges over up to ``max_spans`` spans). This script times both
on synthetic traffic shaped like the demo shop (a frontend calling four
services through client spans, one of which calls a fifth).

    python bench/loop_span_cost.py [--rps 100] [--seconds 90]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import networkx as nx

from selfheal.core.clock import FakeClock
from selfheal.core.telemetry import KIND_CLIENT, KIND_SERVER, SpanRecord
from selfheal.core.types import Anomaly, Incident
from selfheal.loop.stages import RankerAdapter
from selfheal.monitoring.span_window import SpanWindow
from selfheal.monitoring.window_store import WindowStore

CALLS = {"frontend": ("cart", "catalog", "currency", "checkout"), "checkout": ("payment",)}


def request(i: int, at: float) -> list[SpanRecord]:
    out: list[SpanRecord] = []

    def serve(service: str, span_id: str, parent: str | None) -> None:
        out.append(
            SpanRecord(
                span_id, parent, service, f"{service} /", at, KIND_SERVER, 0.02, False, service
            )
        )
        for callee in CALLS.get(service, ()):
            client = f"{span_id}>{callee}"
            out.append(
                SpanRecord(
                    client,
                    span_id,
                    service,
                    f"call {callee}",
                    at,
                    KIND_CLIENT,
                    0.005,
                    False,
                    service,
                )
            )
            serve(callee, f"{client}/s", client)

    serve("frontend", f"r{i}", None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=90.0, help="traffic before the diagnosis")
    args = parser.parse_args()
    start = 1_000_000.0
    window = SpanWindow(FakeClock(start))
    n = int(args.rps * args.seconds)
    batches = [request(i, start - args.seconds + i / args.rps) for i in range(n)]
    began = time.perf_counter()
    for b in batches:
        window.add(b)
    add_s = time.perf_counter() - began
    # the memory a full window holds, records included (the receiver decodes each batch
    # and the window keeps its records), on a second one: tracing slows adds
    tracemalloc.start()
    again = SpanWindow(FakeClock(start))
    for i in range(n):
        again.add(request(i, start - args.seconds + i / args.rps))
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del again
    spans = sum(len(b) for b in batches)
    anomaly = Anomaly("frontend", start - 30.0, 0.9, "rule:latency>0.5", indicator="latency_p99")
    incident = Incident("inc", start - 30.0, (anomaly,), frozenset({"frontend"}))
    graph = nx.DiGraph([(a, b) for a, bs in CALLS.items() for b in bs])
    ranker = RankerAdapter(WindowStore(), spans=window)
    times = []
    for _ in range(4):
        began = time.perf_counter()
        ranker.rank(incident, graph, start)
        times.append(time.perf_counter() - began)
    print(
        f"spans received: {spans} ({spans / args.seconds:.0f}/s), kept: {len(window)}"
        f" holding {held / 1e6:.1f} MB"
    )
    print(
        f"span window add: {add_s / spans * 1e6:.1f} us per span ({spans / args.seconds * add_s / spans:.1%} of a core at this rate)"
    )
    print(
        f"one diagnosis over the window (max {ranker.max_spans} spans): {times[0]:.3f} s the first time"
        f" (imports), then best {min(times[1:]):.3f} s, worst {max(times[1:]):.3f} s"
    )


if __name__ == "__main__":
    main()
