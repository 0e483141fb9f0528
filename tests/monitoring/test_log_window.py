"""The log window keeps recent lines in time order, bounded by age and count."""

from __future__ import annotations

import json

import pytest

from selfheal.monitoring.log_tailer import LogSource, RawLine
from selfheal.monitoring.log_window import LogWindow

SRC = LogSource("/var/log/cart.log", "cart", "cart-0")


def line(ts: float, msg: str, level: str = "INFO") -> RawLine:
    return RawLine(SRC, json.dumps({"ts": ts, "level": level, "service": "cart", "msg": msg}))


def test_lines_are_parsed_and_read_back_by_time() -> None:
    window = LogWindow()
    window.add([line(10.0, "a"), line(11.0, "b", "ERROR"), line(12.0, "c")], now=12.0)
    got = window.between(10.5, 12.0)
    assert [(r.message, r.level, r.service) for r in got] == [
        ("b", "ERROR", "cart"),
        ("c", "INFO", "cart"),
    ]
    assert [r.message for r in window.between(0, 100, limit=1)] == ["c"]


def test_old_lines_and_excess_lines_are_dropped() -> None:
    window = LogWindow(keep_seconds=5.0, max_lines=3)
    window.add([line(float(t), str(t)) for t in range(10)], now=9.0)
    assert [r.message for r in window.between(0, 100)] == ["7", "8", "9"]
    window.add([line(20.0, "late")], now=20.0)
    assert [r.message for r in window.between(0, 100)] == ["late"]
    assert window.lines_total == 11


def test_a_line_read_late_keeps_the_window_ordered() -> None:
    window = LogWindow()
    window.add([line(10.0, "new"), line(8.0, "older file")], now=10.0)
    assert [r.timestamp for r in window.between(0, 100)] == [10.0, 10.0]


def test_plain_text_lines_take_their_labels_from_the_source() -> None:
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
