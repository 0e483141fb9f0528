from __future__ import annotations

import networkx as nx

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.analysis.rca.logs import mask
from selfheal.analysis.rca.signals_log import log_templates
from selfheal.core.telemetry import LogRecord, SpanRecord
from selfheal.core.types import EvidenceKind


def _lines(service: str, text: str, n: int, t0: float) -> list[LogRecord]:
    return [LogRecord(t0 + i, service, text.format(i=i)) for i in range(n)]


def _input(before: list[LogRecord], during: list[LogRecord]) -> RCAInput:
    g = nx.DiGraph([("order", "route")])
    return RCAInput(100.0, 200.0, g, logs=tuple(during), baseline_logs=tuple(before))


def test_a_vanished_success_line_points_at_its_service() -> None:
    before = (
        _lines("route", "INFO RouteController received query for route {i}", 40, 0)
        + _lines("route", "DEBUG repository returned a full station list successfully", 40, 0)
        + _lines("order", "INFO order {i} created", 40, 0)
    )
    during = _lines("route", "INFO RouteController received query for route {i}", 40, 100) + _lines(
        "order", "INFO order {i} created", 40, 100
    )
    out = log_templates(_input(before, during))
    assert max(out.scores, key=out.scores.get) == "route"
    assert any("stopped" in e.note for e in out.evidence["route"])


def test_a_new_error_template_counts() -> None:
    before = _lines("route", "INFO query route {i} ok", 30, 0) + _lines(
        "order", "INFO order {i}", 30, 0
    )
    during = (
        _lines("route", "INFO query route {i} ok", 30, 100)
        + _lines("route", "ERROR route {i} not found", 20, 100)
        + _lines("order", "INFO order {i}", 30, 100)
    )
    out = log_templates(_input(before, during))
    assert max(out.scores, key=out.scores.get) == "route"
    assert out.indicator["route"] == "log:error_template"


def test_a_traffic_change_alone_is_not_a_fault() -> None:
    before = _lines("route", "INFO query route {i} ok", 20, 0)
    during = _lines("route", "INFO query route {i} ok", 60, 100)
    assert log_templates(_input(before, during)).scores.get("route", 0.0) == 0.0


def _late_input(before: list[LogRecord], during: list[LogRecord]) -> RCAInput:
    g = nx.DiGraph([("order", "route")])
    return RCAInput(1000.0, 1100.0, g, logs=tuple(during), baseline_logs=tuple(before))


def test_an_old_error_burst_that_stopped_long_ago_is_not_a_vanished_template() -> None:
    # errors at t=0..20 (a past incident's tail), none in the five minutes before the fault
    steady = _lines("order", "INFO order {i} created", 30, 0) + _lines(
        "order", "INFO order {i} created", 30, 900
    )
    burst = _lines("order", "ERROR no instances available for pricing {i}", 20, 0)
    during = _lines("order", "INFO order {i} created", 30, 1000)
    assert log_templates(_late_input(steady + burst, during)).scores.get("order", 0.0) == 0.0
    # the same errors logged right up to the fault, then stopping, still count
    lately = _lines("order", "ERROR no instances available for pricing {i}", 20, 900)
    out = log_templates(_late_input(steady + lately, during))
    assert out.scores.get("order", 0.0) > 0.0
    assert any("stopped" in e.note for e in out.evidence["order"])


def test_no_logs_means_no_opinion() -> None:
    assert log_templates(_input([], [])).scores == {}


def test_masking_makes_equal_events_equal() -> None:
    assert mask("order 12 for 9f8e7d6c-1111-2222-3333-444455556666") == mask(
        "order 7 for 0a0b0c0d-aaaa-bbbb-cccc-ddddeeeeffff"
    )


def test_an_error_surge_outweighs_an_equal_warning_surge() -> None:
    before = _lines("route", "INFO query route {i} ok", 30, 0) + _lines(
        "order", "INFO order {i} placed", 30, 0
    )
    during = (
        _lines("route", "INFO query route {i} ok", 30, 100)
        + _lines("route", "ERROR route lookup failed for id {i}", 20, 100)
        + _lines("order", "INFO order {i} placed", 30, 100)
        + _lines("order", "WARN order {i} seat list is empty, retry failed", 20, 100)
    )
    out = log_templates(_input(before, during))
    assert out.scores["route"] > out.scores["order"] > 0.0


def test_a_flood_of_one_template_does_not_make_the_others_look_vanished() -> None:
    # order's usual lines go on at the same rate; one debug template floods.
    usual = ("INFO order {i} created", "INFO order {i} paid", "INFO order {i} shipped")
    before = [r for text in usual for r in _lines("order", text, 20, 0)]
    during = [r for text in usual for r in _lines("order", text, 20, 100)]
    during += _lines("order", "DEBUG cache refresh pass {i}", 400, 100)
    before += _lines("route", "INFO query route {i} ok", 30, 0)
    during += _lines("route", "INFO query route {i} ok", 30, 100)
    out = log_templates(_input(before, during))
    assert out.scores.get("order", 0.0) == 0.0


def _traced(
    service: str, operation: str, texts: list[str], n: int, t0: float, tag: str
) -> tuple[list[SpanRecord], list[LogRecord]]:
    """``n`` spans of ``operation``, one a second from ``t0``, each writing ``texts``."""
    spans, lines = [], []
    for i in range(n):
        sid = f"{tag}{i}"
        spans.append(SpanRecord(sid, None, service, operation, t0 + i * 0.5))
        lines += [LogRecord(t0 + i * 0.5, service, text, span_id=sid) for text in texts]
    return spans, lines


def _mix(search: int, book: int, t0: float, tag: str, book_texts: list[str]) -> tuple:
    s1, l1 = _traced(
        "travel", "search", ["INFO search trips", "INFO found trips"], search, t0, tag + "s"
    )
    s2, l2 = _traced("travel", "book", book_texts, book, t0, tag + "b")
    o1, o2 = _traced("order", "create", ["INFO order created"], 40, t0, tag + "o")
    return s1 + s2 + o1, l1 + l2 + o2


def _traced_input(before: tuple, during: tuple, with_spans: bool = True) -> RCAInput:
    spans = tuple(before[0] + during[0]) if with_spans else ()
    strip = (
        (lambda r: r) if with_spans else (lambda r: LogRecord(r.timestamp, r.service, r.message))
    )
    return RCAInput(
        100.0,
        200.0,
        nx.DiGraph([("order", "travel")]),
        logs=tuple(map(strip, during[1])),
        baseline_logs=tuple(map(strip, before[1])),
        spans=spans,
    )


BOOK = ["INFO booking seat", "INFO seat booked"]


def test_a_shift_between_operations_is_no_fault_when_lines_are_counted_per_operation() -> None:
    # the request mix moves from searching to booking; each operation logs as before
    before, during = _mix(60, 20, 40.0, "a", BOOK), _mix(20, 60, 100.0, "b", BOOK)
    per_operation = log_templates(_traced_input(before, during))
    assert per_operation.scores.get("travel", 0.0) == 0.0
    # counted per service, the search lines look as if they had vanished
    per_service = log_templates(_traced_input(before, during, with_spans=False))
    assert per_service.scores.get("travel", 0.0) > 0.0


def test_an_operation_that_stops_writing_a_line_points_at_its_service() -> None:
    before = _mix(40, 40, 40.0, "a", BOOK)
    during = _mix(40, 40, 100.0, "b", BOOK[:1])  # booking returns before the seat is booked
    out = log_templates(_traced_input(before, during))
    assert max(out.scores, key=out.scores.get) == "travel"
    assert any(
        "seat booked" in e.text and e.kind is EvidenceKind.LOG_VANISHED
        for e in out.evidence["travel"]
    )


def test_spans_only_count_in_the_seconds_the_logs_cover() -> None:
    before = _mix(40, 40, 40.0, "a", BOOK)
    during = _mix(40, 40, 100.0, "b", BOOK[:1])  # booking stops writing "seat booked"
    data = _traced_input(before, during)
    # many booking spans from a stretch whose logs were not collected (no lines at all)
    silent = tuple(SpanRecord(f"x{i}", None, "travel", "book", i * 0.01) for i in range(3800))
    data = RCAInput(
        data.start,
        data.end,
        data.graph,
        logs=data.logs,
        baseline_logs=data.baseline_logs,
        spans=silent + data.spans,
    )
    out = log_templates(data)
    assert max(out.scores, key=out.scores.get) == "travel"
    assert any("seat booked" in e.text for e in out.evidence["travel"])
