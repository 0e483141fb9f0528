"""The log window keeps recent lines in read order, bounded by age and count, and
parses them into log records when they are read back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.monitoring.log_tailer import LogSource, RawLine
from selfheal.monitoring.log_window import LogWindow, parse_line

SRC = LogSource("/var/log/cart.log", "cart", "cart-0")


def line(ts: float, msg: str, level: str = "INFO") -> RawLine:
    return RawLine(SRC, json.dumps({"ts": ts, "level": level, "service": "cart", "msg": msg}))


def test_lines_are_selected_by_read_time_and_parsed_when_read_back() -> None:
    window = LogWindow()
    window.add([line(9.9, "a")], now=10.0)
    window.add([line(10.8, "b", "ERROR"), line(10.9, "c")], now=11.0)
    got = window.between(10.5, 11.0)
    assert [(r.message, r.service, r.timestamp) for r in got] == [
        ("b", "cart", 10.8),
        ("c", "cart", 10.9),
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
    assert (record.service, record.instance, record.message, record.timestamp) == (
        "cart",
        "cart-0",
        "ERROR boom",
        3.0,
    )


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        LogWindow(keep_seconds=0)


def _json_line(msg: str, service: str = "cart", **extra: object) -> str:
    record = {"ts": 123.5, "level": "INFO", "service": service, "instance_id": f"{service}-0"}
    return json.dumps({**record, "msg": msg, **extra}) + "\n"


def test_parse_json_line_fields() -> None:
    record = parse_line(_json_line("request served", route="/cart", status=200), None, now=9.0)
    assert (record.service, record.instance, record.message, record.timestamp) == (
        "cart", "cart-0", "request served", 123.5,
    )  # fmt: skip


def test_a_line_names_the_span_it_was_written_in_when_it_says() -> None:
    line = _json_line("request served", span_id="00F067AA0BA902B7", trace_id="4bf9")
    assert parse_line(line, None, now=9.0).span_id == "00f067aa0ba902b7"
    assert parse_line(_json_line("request served"), None, now=9.0).span_id is None


def test_plain_text_and_broken_json_never_crash() -> None:
    source = LogSource("/x.log", "bank", "bank-0")
    for text in ["ERROR db down", "{not json", '{"msg": 5}', "[1, 2]", "", "\x00\x01"]:
        record = parse_line(text, source, now=7.0)
        assert (record.service, record.timestamp, record.message) == ("bank", 7.0, text.strip())
    assert parse_line("nothing special", None, 0).service == "unknown"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_line_parses_without_raising(text: str) -> None:
    record = parse_line(text, LogSource("/l", "svc", None), now=1.0)
    assert record.service and isinstance(record.message, str)
    assert isinstance(parse_line("{" + text, None, now=1.0).message, str)
