"""The log window keeps recent lines in read order, bounded by age and count."""

from __future__ import annotations

import json

import pytest

from selfheal.monitoring.log_tailer import LogSource, RawLine
from selfheal.monitoring.log_window import LogWindow

SRC = LogSource("/var/log/cart.log", "cart", "cart-0")


def line(ts: float, msg: str, level: str = "INFO") -> RawLine:
    return RawLine(SRC, json.dumps({"ts": ts, "level": level, "service": "cart", "msg": msg}))


def test_lines_are_selected_by_read_time_and_parsed_when_read_back() -> None:
    window = LogWindow()
    window.add([line(9.9, "a")], now=10.0)
    window.add([line(10.8, "b", "ERROR"), line(10.9, "c")], now=11.0)
    got = window.between(10.5, 11.0)
    assert [(r.message, r.level, r.service, r.timestamp) for r in got] == [
        ("b", "ERROR", "cart", 10.8),
        ("c", "INFO", "cart", 10.9),
    ]
    assert [r.message for r in window.between(0, 100, limit=1)] == ["c"]


def test_old_lines_and_excess_lines_are_dropped() -> None:
    window = LogWindow(keep_seconds=5.0, max_lines=3)
    for t in range(10):
        window.add([line(float(t), str(t))], now=float(t))
    assert [r.message for r in window.between(0, 100)] == ["7", "8", "9"]
    window.add([line(20.0, "late")], now=20.0)
    assert [r.message for r in window.between(0, 100)] == ["late"]
    assert window.lines_total == 11


def test_a_clock_step_back_keeps_the_window_ordered() -> None:
    window = LogWindow()
    window.add([line(10.0, "first")], now=10.0)
    window.add([line(8.0, "second")], now=8.0)
    assert [r.message for r in window.between(9.5, 10.0)] == ["first", "second"]


def test_plain_text_lines_take_their_labels_and_time_from_the_source_and_read() -> None:
    window = LogWindow()
    window.add([RawLine(SRC, "ERROR boom")], now=3.0)
    (record,) = window.between(0, 10)
    assert (record.service, record.instance, record.level, record.timestamp) == (
        "cart",
        "cart-0",
        "ERROR",
        3.0,
    )


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        LogWindow(keep_seconds=0)
