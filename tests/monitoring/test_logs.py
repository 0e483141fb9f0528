from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.core.clock import FakeClock
from selfheal.core.types import SeriesKey
from selfheal.monitoring.log_tailer import LogSource, LogTailer
from selfheal.monitoring.logs import LogMonitor, parse_line


def _json_line(msg: str, level: str = "INFO", service: str = "cart", **extra: object) -> str:
    record = {
        "ts": 123.5,
        "level": level,
        "service": service,
        "instance_id": f"{service}-0",
        "msg": msg,
    }
    record.update(extra)
    return json.dumps(record) + "\n"


def test_parse_json_line_fields() -> None:
    record = parse_line(_json_line("request served", route="/cart", status=200), None, now=9.0)
    assert (record.service, record.instance, record.level, record.message, record.timestamp) == (
        "cart", "cart-0", "INFO", "request served", 123.5,
    )  # fmt: skip


def test_a_line_names_the_span_it_was_written_in_when_it_says() -> None:
    line = _json_line("request served", span_id="00F067AA0BA902B7", trace_id="4bf9")
    assert parse_line(line, None, now=9.0).span_id == "00f067aa0ba902b7"
    assert parse_line(_json_line("request served"), None, now=9.0).span_id is None


def test_plain_text_and_broken_json_never_crash() -> None:
    source = LogSource("/x.log", "bank", "bank-0")
    for text in ["ERROR db down", "{not json", '{"msg": 5}', "[1, 2]", "", "\x00\x01"]:
        record = parse_line(text, source, now=7.0)
        assert record.service == "bank" or text.startswith("{")
        assert record.timestamp in (7.0,) or record.timestamp == 123.5
    assert parse_line("2024 ERR: boom", source, 0).level == "ERROR"
    assert parse_line("warn: slow", source, 0).level == "WARNING"
    assert parse_line("nothing special", None, 0).service == "unknown"


def test_tails_a_real_file_mines_templates_and_counts_errors(tmp_path: Path) -> None:
    log = tmp_path / "payment-0.log"
    log.touch()
    clock = FakeClock(1000.0)
    monitor = LogMonitor(
        LogTailer([str(tmp_path / "*.log")]), clock=clock, window_seconds=10, learn_seconds=5
    )
    assert monitor.poll() == []
    with open(log, "a", encoding="utf-8") as f:
        for i in range(3):
            f.write(_json_line(f"charge {i} accepted", service="payment"))
    events = monitor.poll()
    assert len(events) == 3
    assert len({e.template_id for e in events}) == 1  # numbers masked: one template
    assert not any(e.is_new for e in events)  # learning period
    clock.advance(6)
    with open(log, "a", encoding="utf-8") as f:
        for i in range(4):
            f.write(
                _json_line(f"bank timeout after {100 + i} ms", level="ERROR", service="payment")
            )
        f.write("Traceback: something plain went wrong\n")
    events = monitor.poll()
    # the plain line has no service of its own ("unknown"), whose learning just began
    assert [e.is_new for e in events] == [True, False, False, False, False]
    assert events[4].service == "unknown" and events[4].level == "INFO"
    assert events[0].template == "bank timeout after <NUM> ms"
    assert events[0].template_id.startswith("payment#") and events[0].is_error
    assert monitor.error_counts() == {"payment": 4, "unknown": 0}
    assert monitor.bursts() == {}
    monitor.burst_threshold = 4
    assert monitor.bursts() == {"payment": 4}
    samples = {s.series: s.value for s in monitor.indicators()}
    assert samples[SeriesKey.of("indicator:log_error_rate", {"service": "payment"})] == 0.4
    clock.advance(10.5)
    assert monitor.error_counts()["payment"] == 0
    monitor.close()


def test_plain_lines_take_service_from_the_source() -> None:
    monitor = LogMonitor(clock=FakeClock(0.0), learn_seconds=0)
    event = monitor.observe_text("ERROR connection refused", LogSource("/l", "cache", "cache-0"))
    assert (event.service, event.instance, event.level, event.is_new) == (
        "cache",
        "cache-0",
        "ERROR",
        True,
    )


def test_service_names_from_lines_are_bounded() -> None:
    monitor = LogMonitor(clock=FakeClock(0.0), max_services=3)
    for i in range(10):
        monitor.observe_text(_json_line("hello", service=f"svc{i}"))
    assert set(monitor.error_counts()) == {"svc0", "svc1", "svc2", "unknown"}


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_line_is_mined_without_raising(text: str) -> None:
    monitor = LogMonitor(clock=FakeClock(0.0))
    event = monitor.observe_text(text, LogSource("/l", "svc", None))
    assert event.template_id and isinstance(event.template, str)
    json_like = "{" + text
    assert monitor.observe_text(json_like).service
