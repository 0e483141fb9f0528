"""Bounded in-memory window store: the recent history of every series.

Everything the monitoring layer observes lands here as :class:`Sample` values
(the scraper's raw series, the indicators derived from them, log signals);
analysis reads windows back out. Memory is bounded twice: each series is a
numpy ring buffer of at most ``max_points_per_series`` points (the oldest point
is overwritten), and the store holds at most ``max_series`` series (a new
series beyond that either evicts the least recently written series or is
refused, counted in ``refused_series_total``).

A NaN value is a staleness marker (as in Prometheus): the scraper writes one
when a series vanished or its target went down. Windows return it like any
other point; :func:`is_stale` tells it apart.

Memory is at most ``16 bytes × max_points_per_series × max_series`` for the
points (defaults: 600 points — 10 min at a 1 s scrape — and 20 000 series, so
≤ 192 MB, reached only if every series lives that long; rings start at 16
points and double as they fill).

All methods are thread-safe (one lock; every operation is O(1) or a numpy
slice). This module does no I/O.

>>> from selfheal.core.types import Sample, SeriesKey
>>> store = WindowStore(max_points_per_series=3)
>>> key = SeriesKey.of("up", {"service": "orders"})
>>> store.append_many([Sample(key, t, float(t)) for t in range(5)])
5
>>> ts, values = store.window(key, since=0)
>>> values.tolist()
[2.0, 3.0, 4.0]
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt

from selfheal.core.types import Sample, SeriesKey

FloatArray = npt.NDArray[np.float64]
OnFull = Literal["evict_oldest", "refuse"]


def is_stale(value: float) -> bool:
    """True for the staleness marker (NaN)."""
    return math.isnan(value)


def _between(
    t: list[float], v: list[float], since: float, until: float
) -> tuple[list[float], list[float]]:
    """The points of ordered ``t``/``v`` within ``[since, until]``."""
    lo, hi = 0, len(t)
    while lo < hi and t[lo] < since:
        lo += 1
    while hi > lo and t[hi - 1] > until:
        hi -= 1
    return t[lo:hi], v[lo:hi]


class _Ring:
    """One series' points, oldest first once unrolled. Grows by doubling up to
    ``capacity`` so that short-lived series stay small."""

    __slots__ = ("capacity", "count", "dropped", "head", "labels", "ts", "values")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        size = min(capacity, 16)
        self.ts: FloatArray = np.empty(size, dtype=np.float64)
        self.values: FloatArray = np.empty(size, dtype=np.float64)
        self.head = 0  # index of the next write
        self.count = 0
        self.dropped = False  # an old point was overwritten
        self.labels: dict[str, str] | None = None  # label dict, built on first scan

    def last_ts(self) -> float:
        return float(self.ts[self.head - 1]) if self.count else -math.inf

    def push(self, ts: float, value: float) -> None:
        size = self.ts.shape[0]
        if self.count == size and size < self.capacity:
            # while growing, a full buffer was never overwritten: data is in order
            new = min(self.capacity, size * 2)
            self.ts = np.resize(self.ts, new)
            self.values = np.resize(self.values, new)
            self.head = size  # the write position wrapped to 0; continue after the old end
            size = new
        self.ts[self.head] = ts
        self.values[self.head] = value
        self.head = (self.head + 1) % size
        if self.count < size:
            self.count += 1
        else:
            self.dropped = True

    def since(self, since: float) -> tuple[FloatArray, FloatArray]:
        """Points with ``ts >= since``, oldest first; views where possible. A recent
        ``since`` touches only the newest segment (no concatenation)."""
        size = self.ts.shape[0]
        if self.count < size or self.head == 0:
            n = self.count
            lo = int(np.searchsorted(self.ts[:n], since, side="left"))
            return self.ts[lo:n], self.values[lo:n]
        newer_ts = self.ts[: self.head]
        if since >= newer_ts[0]:
            lo = int(np.searchsorted(newer_ts, since, side="left"))
            return newer_ts[lo:], self.values[lo : self.head]
        older_ts = self.ts[self.head :]
        lo = self.head + int(np.searchsorted(older_ts, since, side="left"))
        return (
            np.concatenate((self.ts[lo:], newer_ts)),
            np.concatenate((self.values[lo:], self.values[: self.head])),
        )

    def recent(self, since: float, until: float) -> tuple[list[float], list[float]]:
        """Points in ``[since, until]`` as lists, found by walking back from the
        newest point: a short window costs a few element reads, no numpy call."""
        size = self.ts.shape[0]
        ts, values = self.ts, self.values
        head = self.head
        if size <= 16 and self.count == size:
            # a small full ring (the loop's raw series): two list copies and a rotation
            # beat reading its points one by one
            t, v = ts.tolist(), values.tolist()
            if head:
                t = t[head:] + t[:head]
                v = v[head:] + v[:head]
            return _between(t, v, since, until)
        # fast path: the newest few points (contiguous before head) reach back past
        # `since`; index head-k-1 may be -1, the last slot, which precedes slot 0
        # exactly when the ring has wrapped
        k = min(8, head)
        if k and (k == self.count or float(ts[head - k - 1]) < since):
            return _between(
                ts[head - k : head].tolist(), values[head - k : head].tolist(), since, until
            )
        i = head
        t = []
        v = []
        for _ in range(self.count):
            i = i - 1 if i > 0 else size - 1
            x = float(ts[i])
            if x < since:
                break
            if x <= until:
                t.append(x)
                v.append(float(values[i]))
        t.reverse()
        v.reverse()
        return t, v

    def first_ts(self) -> float:
        if not self.count:
            return math.inf
        return float(self.ts[0] if self.count < self.ts.shape[0] else self.ts[self.head])

    def ordered(self) -> tuple[FloatArray, FloatArray]:
        size = self.ts.shape[0]
        if self.count < size:
            return self.ts[: self.count], self.values[: self.count]
        if self.head == 0:
            return self.ts, self.values
        return (
            np.concatenate((self.ts[self.head :], self.ts[: self.head])),
            np.concatenate((self.values[self.head :], self.values[: self.head])),
        )


class WindowStore:
    """Ring buffers per series, bounded in points per series and in series."""

    def __init__(
        self,
        max_points_per_series: int = 600,
        max_series: int = 20_000,
        on_full: OnFull = "evict_oldest",
    ) -> None:
        if max_points_per_series < 1:
            raise ValueError(f"max_points_per_series must be >= 1, got {max_points_per_series}")
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series}")
        if on_full not in ("evict_oldest", "refuse"):
            raise ValueError(f"on_full must be 'evict_oldest' or 'refuse', got {on_full!r}")
        self.max_points_per_series = max_points_per_series
        self.max_series = max_series
        self.on_full: OnFull = on_full
        self._series: OrderedDict[SeriesKey, _Ring] = OrderedDict()  # least recently written first
        self._by_name: dict[str, dict[SeriesKey, _Ring]] = {}
        self._lock = threading.Lock()
        self.evicted_series_total = 0
        self.refused_series_total = 0
        self.refused_samples_total = 0
        self.out_of_order_samples_total = 0

    # -- writing -----------------------------------------------------------------------
    def _append_locked(self, sample: Sample) -> bool:
        key = sample.series
        ring = self._series.get(key)
        if ring is None:
            if len(self._series) >= self.max_series:
                if self.on_full == "refuse":
                    self.refused_series_total += 1
                    self.refused_samples_total += 1
                    return False
                old, _ = self._series.popitem(last=False)
                self._forget_name(old)
                self.evicted_series_total += 1
            ring = _Ring(self.max_points_per_series)
            self._series[key] = ring
            self._by_name.setdefault(key.name, {})[key] = ring
        else:
            if sample.timestamp <= ring.last_ts():
                # Prometheus rejects out-of-order and duplicate timestamps too
                self.out_of_order_samples_total += 1
                return False
            self._series.move_to_end(key)
        ring.push(sample.timestamp, sample.value)
        return True

    def _forget_name(self, key: SeriesKey) -> None:
        keys = self._by_name.get(key.name)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_name[key.name]

    def append(self, sample: Sample) -> bool:
        """Store one sample; False if refused (store full, or not newer than the last point)."""
        with self._lock:
            return self._append_locked(sample)

    def append_many(self, samples: Iterable[Sample]) -> int:
        """Store many samples under one lock; returns how many were stored."""
        with self._lock:
            return sum(1 for s in samples if self._append_locked(s))

    def remove(self, key: SeriesKey) -> bool:
        """Drop a series and its points."""
        with self._lock:
            if self._series.pop(key, None) is None:
                return False
            self._forget_name(key)
            return True

    # -- reading -----------------------------------------------------------------------
    def window(
        self, key: SeriesKey, since: float, until: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Timestamps and values of ``key`` with ``since <= ts`` (and ``ts <= until``),
        oldest first; copies, safe to keep. Empty arrays for an unknown series."""
        with self._lock:
            ring = self._series.get(key)
            if ring is None:
                return np.empty(0), np.empty(0)
            ts, values = ring.since(since)
            if until is not None:
                hi = int(np.searchsorted(ts, until, side="right"))
                ts, values = ts[:hi], values[:hi]
            return ts.copy(), values.copy()

    def window_lists(
        self, key: SeriesKey, since: float, until: float | None = None
    ) -> tuple[list[float], list[float]]:
        """Like :meth:`window`, as Python lists: cheaper for the few points of a
        short window that are then read one by one."""
        with self._lock:
            ring = self._series.get(key)
            if ring is None:
                return [], []
            ts, values = ring.since(since)
            t, v = ts.tolist(), values.tolist()
        if until is not None:
            while t and t[-1] > until:
                t.pop()
                v.pop()
        return t, v

    def scan(
        self, name: str, since: float, until: float = math.inf
    ) -> list[tuple[SeriesKey, dict[str, str], list[float], list[float]]]:
        """Every series named ``name`` with its labels (as a dict, kept from one
        call to the next: do not modify) and its points in ``[since, until]``,
        under one lock. Made for short windows read every cycle."""
        out = []
        with self._lock:
            for key, ring in self._by_name.get(name, {}).items():
                labels = ring.labels
                if labels is None:
                    labels = ring.labels = dict(key.labels)
                t, v = ring.recent(since, until)
                out.append((key, labels, t, v))
        return out

    def scan_latest(
        self, name: str, until: float = math.inf
    ) -> list[tuple[SeriesKey, dict[str, str], float, float]]:
        """Every series named ``name`` with its labels and newest point (time, value)
        at or before ``until`` (series with no such point are left out)."""
        out = []
        with self._lock:
            for key, ring in self._by_name.get(name, {}).items():
                if not ring.count:
                    continue
                labels = ring.labels
                if labels is None:
                    labels = ring.labels = dict(key.labels)
                i = ring.head - 1
                ts = float(ring.ts[i])
                if ts <= until:
                    out.append((key, labels, ts, float(ring.values[i])))
                    continue
                t, v = ring.recent(-math.inf, until)  # evaluating in the past: walk back
                if t:
                    out.append((key, labels, t[-1], v[-1]))
        return out

    def latest(self, key: SeriesKey) -> Sample | None:
        """The newest sample of ``key`` (its value may be the NaN staleness marker)."""
        with self._lock:
            ring = self._series.get(key)
            if ring is None or ring.count == 0:
                return None
            i = ring.head - 1
            return Sample(key, float(ring.ts[i]), float(ring.values[i]))

    def first_timestamp(self, key: SeriesKey) -> float | None:
        """Timestamp of the oldest point still held for ``key``."""
        with self._lock:
            ring = self._series.get(key)
            return None if ring is None or ring.count == 0 else ring.first_ts()

    def has_wrapped(self, key: SeriesKey) -> bool:
        """True once ``key`` has lost points to the ring bound (its history is cut)."""
        with self._lock:
            ring = self._series.get(key)
            return ring is not None and ring.dropped

    def select(self, name: str, **label_equals: str) -> list[SeriesKey]:
        """Series named ``name`` whose labels include every ``label=value`` given,
        sorted for determinism."""
        with self._lock:
            keys = list(self._by_name.get(name, ()))
        if label_equals:
            wanted = label_equals.items()
            keys = [k for k in keys if all(k.label(lk) == lv for lk, lv in wanted)]
        keys.sort(key=lambda k: k.labels)
        return keys

    def names(self) -> list[str]:
        """Every series name held, sorted."""
        with self._lock:
            return sorted(self._by_name)

    def keys(self) -> list[SeriesKey]:
        with self._lock:
            return list(self._series)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._series

    def __len__(self) -> int:
        with self._lock:
            return len(self._series)

    @property
    def points(self) -> int:
        """Points currently held over all series."""
        with self._lock:
            return sum(r.count for r in self._series.values())
