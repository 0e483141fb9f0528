"""A small synthetic campaign recording, made with the loop's own windows.

Three services, ``gateway -> ledger -> vault``, observed at one sample per second;
at ``inject`` a fault on one service makes it fail half its requests and log errors,
and its callers see the failures of their calls (as callers do). The windows
(indicator history, log window, span window) are filled as the loop fills them and
written with the recorder's writer, so the tests read real files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfheal.bench.rca.campaign_record import RecordedFault, write_case
from selfheal.core import indicators as ind
from selfheal.core.clock import FakeClock
from selfheal.core.telemetry import KIND_CLIENT, KIND_SERVER, SpanRecord
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.log_tailer import LogSource, RawLine
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.span_window import SpanWindow
from selfheal.monitoring.window_store import WindowStore

SERVICES = ("gateway", "ledger", "vault")
EDGES = (("gateway", "ledger"), ("ledger", "vault"))
T0 = 1_700_000_000.0
BEFORE, AFTER = 200, 40


@dataclass
class Windows:
    history: WindowStore
    logs: LogWindow
    spans: SpanWindow


def _callers(service: str) -> list[str]:
    return [u for u, v in EDGES if v == service]


def fill(faulty: str, inject: float, seed: int = 0) -> Windows:
    """The loop's windows over ``[inject - BEFORE, inject + AFTER]`` with a fault on
    ``faulty`` from ``inject``."""
    rng = np.random.default_rng(seed)
    history = WindowStore()
    logs = LogWindow()
    clock = FakeClock(inject - BEFORE)
    spans = SpanWindow(clock)
    span_seq = 0
    for k in range(-BEFORE, AFTER + 1):
        t = inject + k
        clock.advance(t - clock.now())
        broken = k >= 0
        samples = []
        lines = []
        batch = []
        for s in SERVICES:
            bad = broken and s == faulty
            err = (0.5 if bad else 0.0) + abs(rng.normal(0, 0.003))
            lat = (0.4 if bad else 0.05) + abs(rng.normal(0, 0.002))
            labels = {"service": s}
            samples.append(Sample(SeriesKey.of(ind.ERROR_RATIO, labels), t, err))
            samples.append(Sample(SeriesKey.of(ind.LATENCY_P99, labels), t, lat))
            samples.append(
                Sample(SeriesKey.of(ind.CPU, {"service": s, "instance": f"{s}-0"}), t, 0.1)
            )
            for caller in _callers(s):
                edge = {"service": caller, "target": s}
                up = (0.5 if bad else 0.0) + abs(rng.normal(0, 0.003))
                samples.append(Sample(SeriesKey.of(ind.UPSTREAM_ERROR_RATIO, edge), t, up))
            message = "ERROR write refused code=503" if bad else f"served request {k % 7}"
            line = json.dumps({"ts": t + 0.1, "service": s, "msg": message})
            lines.append(RawLine(LogSource(f"/logs/{s}.log", s, f"{s}-0"), line))
        samples.append(Sample(SeriesKey.of(ind.ORDER_SUCCESS, {"service": "gateway"}), t, 1.0))
        history.append_many(samples)
        logs.add(lines, t)
        for u, v in EDGES:
            span_seq += 1
            failed = broken and v == faulty
            root = SpanRecord(f"r{span_seq}", None, u, "handle", t, KIND_SERVER, 0.06)
            client = SpanRecord(
                f"c{span_seq}", root.span_id, u, f"call {v}", t + 0.001, KIND_CLIENT, 0.05, failed
            )
            server = SpanRecord(
                f"s{span_seq}", client.span_id, v, "serve", t + 0.002, KIND_SERVER, 0.04, failed
            )
            batch += [root, client, server]
        spans.add(batch)
    return Windows(history, logs, spans)


def record(
    root: Path,
    faults: list[tuple[str, str]],
    topology: str = "trio",
) -> list[RecordedFault]:
    """One recording under ``root``: a case per ``(service, fault type)``, each its own run
    of the windows; returns what was recorded."""
    written = []
    for i, (service, kind) in enumerate(faults, start=1):
        inject = T0 + 1000.0 * i
        windows = fill(service, inject, seed=i)
        fault = RecordedFault(
            case_id=f"c{i:03d}",
            topology=topology,
            inject_ts=inject,
            end_ts=inject + AFTER,
            service=service,
            fault=kind,
            params=json.dumps({"rate": 0.5}),
            # the live loop right on the odd cases, wrong on the even ones
            loop_root_cause=service if i % 2 else next(s for s in SERVICES if s != service),
        )
        write_case(root, fault, windows.history, windows.logs, windows.spans, EDGES)
        written.append(fault)
    return written
