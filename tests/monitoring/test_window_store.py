from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.window_store import WindowStore, is_stale

K = SeriesKey.of("http_requests_total", {"service": "cart", "instance_id": "cart-0"})


def test_window_returns_points_since_in_order() -> None:
    store = WindowStore()
    store.append_many(Sample(K, float(t), t * 2.0) for t in range(10))
    ts, values = store.window(K, since=6)
    assert ts.tolist() == [6, 7, 8, 9]
    assert values.tolist() == [12, 14, 16, 18]
    ts, _ = store.window(K, since=2, until=4)
    assert ts.tolist() == [2, 3, 4]


def test_ring_keeps_only_the_newest_points() -> None:
    store = WindowStore(max_points_per_series=50)
    store.append_many(Sample(K, float(t), float(t)) for t in range(1000))
    ts, values = store.window(K, since=0)
    assert ts.tolist() == list(range(950, 1000))
    assert store.points == 50


@given(st.integers(1, 70), st.integers(0, 300), st.integers(-1, 301), st.integers(-1, 301))
def test_ring_unrolls_correctly_for_any_capacity_and_length(
    capacity: int, n: int, since: int, until: int
) -> None:
    store = WindowStore(max_points_per_series=capacity)
    store.append_many(Sample(K, float(t), float(t)) for t in range(n))
    ts, values = store.window(K, since=-1)
    expected = list(range(max(0, n - capacity), n))
    assert ts.tolist() == expected and values.tolist() == expected
    ts, values = store.window(K, since=since, until=until)
    expected = [t for t in expected if since <= t <= until]
    assert ts.tolist() == expected and values.tolist() == expected
    first = store.first_timestamp(K)
    assert first == (None if n == 0 else float(max(0, n - capacity)))
    assert store.has_wrapped(K) == (n > capacity)
    latest = store.latest(K)
    assert (latest is None) if n == 0 else (latest is not None and latest.value == n - 1)


def test_out_of_order_and_duplicate_timestamps_are_refused() -> None:
    store = WindowStore()
    assert store.append(Sample(K, 5.0, 1.0))
    assert not store.append(Sample(K, 5.0, 2.0))
    assert not store.append(Sample(K, 4.0, 2.0))
    assert store.out_of_order_samples_total == 2
    assert store.window(K, 0)[1].tolist() == [1.0]


def test_max_series_evicts_least_recently_written() -> None:
    store = WindowStore(max_series=3)
    keys = [SeriesKey.of("m", {"i": str(i)}) for i in range(4)]
    for t, k in enumerate(keys[:3]):
        store.append(Sample(k, float(t), 1.0))
    store.append(Sample(keys[0], 10.0, 1.0))  # keys[1] is now the least recent
    store.append(Sample(keys[3], 11.0, 1.0))
    assert keys[1] not in store and keys[0] in store and keys[3] in store
    assert store.evicted_series_total == 1
    assert store.select("m") == sorted([keys[0], keys[2], keys[3]], key=lambda k: k.labels)


def test_max_series_refuse_policy_counts_refusals() -> None:
    store = WindowStore(max_series=2, on_full="refuse")
    keys = [SeriesKey.of("m", {"i": str(i)}) for i in range(3)]
    assert store.append(Sample(keys[0], 1.0, 1.0))
    assert store.append(Sample(keys[1], 1.0, 1.0))
    assert not store.append(Sample(keys[2], 1.0, 1.0))
    assert store.refused_series_total == 1 and len(store) == 2
    assert store.append(Sample(keys[0], 2.0, 1.0))  # existing series still accepted


def test_select_filters_on_label_equality() -> None:
    store = WindowStore()
    a = SeriesKey.of("m", {"service": "cart", "status": "500"})
    b = SeriesKey.of("m", {"service": "cart", "status": "200"})
    c = SeriesKey.of("m", {"service": "bank", "status": "500"})
    for k in (a, b, c):
        store.append(Sample(k, 1.0, 1.0))
    assert store.select("m", service="cart") == [b, a]
    assert store.select("m", status="500", service="bank") == [c]
    assert store.select("other") == []


def test_stale_marker_is_kept_and_recognised() -> None:
    store = WindowStore()
    store.append(Sample(K, 1.0, 3.0))
    store.append(Sample(K, 2.0, math.nan))
    latest = store.latest(K)
    assert latest is not None and is_stale(latest.value)


def test_unknown_series_gives_empty_window() -> None:
    ts, values = WindowStore().window(K, since=0)
    assert ts.size == 0 and values.size == 0


def test_bad_bounds_are_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="max_points_per_series"):
        WindowStore(max_points_per_series=0)
    with pytest.raises(ValueError, match="on_full"):
        WindowStore(on_full="drop")  # type: ignore[arg-type]


def test_concurrent_writers_and_readers() -> None:
    store = WindowStore(max_points_per_series=100, max_series=64)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for t in range(500):
                store.append_many(
                    Sample(SeriesKey.of("m", {"w": str(w), "s": str(s)}), float(t), float(t))
                    for s in range(8)
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(300):
                for k in store.select("m"):
                    ts, _ = store.window(k, 0)
                    assert np.all(np.diff(ts) > 0)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store) == 32 and store.points == 32 * 100


@given(st.integers(1, 40), st.integers(0, 120), st.floats(-2, 125), st.floats(-2, 125))
def test_scan_agrees_with_window(capacity: int, n: int, since: float, until: float) -> None:
    store = WindowStore(max_points_per_series=capacity)
    store.append_many(Sample(K, float(t), float(t) * 2) for t in range(n))
    expected_ts, expected_values = store.window(K, since=since, until=until)
    ((key, labels, ts, values),) = store.scan(K.name, since, until) or [(K, {}, [], [])]
    assert ts == expected_ts.tolist() and values == expected_values.tolist()
    if n:
        assert key == K and labels == dict(K.labels)
        ((_, _, last_t, last_v),) = store.scan_latest(K.name)
        assert (last_t, last_v) == (n - 1, (n - 1) * 2)


def test_series_keys_hash_once_and_survive_pickling() -> None:
    import pickle

    key = SeriesKey.of("m", {"service": "cart", "status": "500"})
    assert hash(key) == hash(("m", key.labels))
    clone = pickle.loads(pickle.dumps(key))
    store = WindowStore()
    store.append(Sample(key, 1.0, 2.0))
    assert clone == key and hash(clone) == hash(key) and clone in store
