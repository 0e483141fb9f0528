"""Stored forms of the loop's values read back unchanged (restart recovery needs it)."""

from __future__ import annotations

import math

from selfheal.core.types import (
    Anomaly,
    Cause,
    Evidence,
    EvidenceKind,
    FailureType,
    Impact,
    Incident,
    IncidentStatus,
    SeriesKey,
    SignalKind,
)
from selfheal.loop import serialize as ser


def test_series_key_round_trips_through_its_text_form() -> None:
    key = SeriesKey.of("error_ratio", {"service": "cart", "instance": "cart-0", "x": 'a"b'})
    assert ser.series_from(str(SeriesKey.of("up"))) == SeriesKey.of("up")
    plain = SeriesKey.of("error_ratio", {"service": "cart", "instance": "cart-0"})
    assert ser.series_from(str(plain)) == plain
    assert ser.series_from(str(key)).label("service") == "cart"


def test_incident_round_trips_through_its_json_form() -> None:
    anomaly = Anomaly(
        "cart",
        12.5,
        0.9,
        "rule:error_ratio",
        SignalKind.METRIC,
        "error_ratio",
        0.4,
        "cart-0",
        SeriesKey.of("error_ratio", {"service": "cart", "instance": "cart-0"}),
        "above 5%",
    )
    seen = (
        Evidence(EvidenceKind.METRIC, "metric error_ratio moved up", "error_ratio", rising=True),
        Evidence(EvidenceKind.LOG_ERRORS, "log error template surged", text="ERROR <*> failed"),
        Evidence(EvidenceKind.HISTORY, "history", failure_type=FailureType.CODE_BUG),
    )
    cause = Cause("cart", 0.8, FailureType.CODE_BUG, "cart-0", "error_ratio", seen, ("cart",))
    inc = Incident(
        "inc-1",
        10.0,
        (anomaly, Anomaly("cache", 11.0, 0.2, "ewma")),
        frozenset({"cart", "cache"}),
        (cause,),
        Impact(("cart",), {"order_success_ratio": 0.5}, 0.3),
        IncidentStatus.REMEDIATING,
        13.0,
    )
    back = ser.incident_from(ser.incident(inc))
    assert ser.incident(inc)["causes"][0]["evidence"][0] == "metric error_ratio moved up"
    assert back.anomalies[0] == anomaly
    assert math.isnan(back.anomalies[1].value)
    assert back.causes == inc.causes and back.impact == inc.impact
    assert (back.id, back.status, back.services, back.updated_at) == (
        inc.id,
        inc.status,
        inc.services,
        inc.updated_at,
    )


def test_a_cause_stored_before_findings_existed_reads_back_with_its_notes() -> None:
    old = {"service": "cart", "confidence": 0.9, "evidence": ["metric x moved up"]}
    (note,) = ser.cause_from(old).evidence
    assert (note.kind, note.note) == (EvidenceKind.FACT, "metric x moved up")
