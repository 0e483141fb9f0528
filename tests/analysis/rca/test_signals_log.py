from __future__ import annotations

import networkx as nx

from selfheal.analysis.rca.inputs import LogRecord, RCAInput
from selfheal.analysis.rca.logs import mask
from selfheal.analysis.rca.signals_log import log_templates


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
    assert any("stopped" in line for line in out.evidence["route"])


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
