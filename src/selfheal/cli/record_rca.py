"""``selfheal demo --record-rca DIR``: each injected fault becomes a case of an RCA dataset.

The demo polls the recorder every turn of its own loop (never the loop's cycle). A
fault's window runs from its injection to the earliest of: ``MAX_AFTER_SECONDS``
after it, its recovery or expiry (but at least ``MIN_AFTER_SECONDS`` after it, so a
quick heal still leaves some evidence), and the demo's end. ``SETTLE_SECONDS`` after
the window closes (the last scrape and log poll have landed), the recorder snapshots
the call graph and hands the case to its writer thread, which copies the runtime's
windows (indicator history, log lines, spans) into the dataset
(``selfheal.bench.rca.campaign_record``). Layout: ``docs/campaign-dataset.md``.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from pathlib import Path
from typing import Any

from selfheal.bench.rca.campaign import CASES_FILE
from selfheal.bench.rca.campaign_record import RecordedFault, write_case
from selfheal.cli.judge import FaultRecord

MAX_AFTER_SECONDS = 60.0
MIN_AFTER_SECONDS = 20.0
SETTLE_SECONDS = 2.0


def window_end(record: FaultRecord) -> float:
    """When a fault's recorded window closes, from what is known of it now."""
    inj = record.injected_at or 0.0
    known = [t for t in (record.recovered_at, record.expires_at) if t is not None]
    end = min(known) if known else math.inf
    return min(inj + MAX_AFTER_SECONDS, max(inj + MIN_AFTER_SECONDS, end))


def _fault_end(record: FaultRecord) -> float:
    known = [t for t in (record.recovered_at, record.expires_at) if t is not None]
    return min(known) if known else math.inf


class RcaRecorder:
    """Writes one case per fault of ``records`` once its window is over."""

    def __init__(self, root: Path, topology: str, runtime: Any) -> None:
        if (root / CASES_FILE).exists():
            raise FileExistsError(
                f"{root} already holds a recording ({CASES_FILE}); give a new or empty folder"
            )
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.topology = topology
        self.runtime = runtime
        self.queued = 0  # cases handed to the writer
        self.written = 0
        self.errors: list[str] = []
        self._ids: dict[int, str] = {}
        self._seen: list[FaultRecord] = []  # keeps each record alive, so its id() stays its own
        self._done: set[int] = set()
        self._queue: queue.Queue[RecordedFault | None] = queue.Queue()
        self._edges: dict[str, list[tuple[str, str]]] = {}
        self._thread = threading.Thread(target=self._work, name="rca-recorder", daemon=True)
        self._thread.start()

    def _case_id(self, record: FaultRecord) -> str:
        key = id(record)
        if key not in self._ids:
            self._seen.append(record)
            self._ids[key] = f"c{len(self._ids) + 1:03d}"
        return self._ids[key]

    def pending_until(self, records: list[FaultRecord]) -> float:
        """When the last unrecorded fault's window (as known now) is due; 0 when none is."""
        due = [
            window_end(r) + SETTLE_SECONDS
            for r in records
            if r.injected_at is not None and id(r) not in self._done
        ]
        return max(due, default=0.0)

    def poll(self, records: list[FaultRecord], now: float, final: bool = False) -> None:
        """Queue every fault whose window is over (with ``final``, every one, cut at ``now``)."""
        for record in records:
            self._case_id(record)  # ids in injection order
        for record in records:
            if record.injected_at is None or id(record) in self._done:
                continue
            end = window_end(record)
            if not final and now < end + SETTLE_SECONDS:
                continue
            self._done.add(id(record))
            self.queued += 1
            self._queue.put(self._fault(record, records, min(end, now)))

    def _fault(self, record: FaultRecord, records: list[FaultRecord], end: float) -> RecordedFault:
        inj = record.injected_at or 0.0
        concurrent = sorted(
            f"{o.step.fault}@{o.step.service}"
            for o in records
            if o is not record
            and o.injected_at is not None
            and o.injected_at <= end
            and _fault_end(o) >= inj
        )
        case_id = self._case_id(record)
        self._edges[case_id] = self._graph_edges()
        return RecordedFault(
            case_id=case_id,
            topology=self.topology,
            inject_ts=inj,
            end_ts=max(end, inj),
            service=record.step.service,
            fault=record.step.fault,
            instance=record.step.instance or "",
            params=json.dumps(record.step.params or {}, sort_keys=True),
            concurrent=";".join(concurrent),
            loop_root_cause=record.root_cause or "",
        )

    def _graph_edges(self) -> list[tuple[str, str]]:
        graph = self.runtime.engine.view.graph
        for _ in range(3):  # the loop replaces the graph each cycle; a copy may race it
            try:
                return [(str(u), str(v)) for u, v in graph.edges]
            except RuntimeError:
                graph = self.runtime.engine.view.graph
        return []

    def _work(self) -> None:
        while True:
            fault = self._queue.get()
            if fault is None:
                return
            try:
                write_case(
                    self.root,
                    fault,
                    self.runtime.history,
                    self.runtime.log_window,
                    self.runtime.span_window,
                    self._edges.pop(fault.case_id, []),
                )
                self.written += 1
            except Exception as exc:  # a case lost must not stop the demo or the next case
                self.errors.append(f"case {fault.case_id}: {type(exc).__name__}: {exc}")

    def close(self, records: list[FaultRecord], now: float) -> None:
        """Record what is left (cut at ``now``) and wait for the writer."""
        self.poll(records, now, final=True)
        self._queue.put(None)
        self._thread.join()
