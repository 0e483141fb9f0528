from __future__ import annotations

import pytest
from tests.analysis.rca.shop import shop_input

from selfheal.analysis.rca import PastIncident, RCAInput, rank
from selfheal.analysis.rca.signals_history import cosine, incident_signature, past_incidents
from selfheal.core.types import EvidenceKind, FailureType


def test_a_recurring_incident_matches_its_past_root() -> None:
    faulty = {"payment": {"error_ratio": 0.5}, "checkout": {"error_ratio": 0.4}}
    data = shop_input(faulty)
    past = PastIncident(
        incident_signature(shop_input(faulty, seed=1)), "payment", FailureType.CODE_BUG
    )
    other = PastIncident({"cache:latency_p99_seconds": 1.0}, "cache")
    with_history = RCAInput(
        data.start, data.end, data.graph, data.metrics, past_incidents=(past, other)
    )
    out = past_incidents(with_history)
    assert out.scores.get("payment", 0.0) > 0.9
    assert "cache" not in out.scores
    assert any(e.kind is EvidenceKind.HISTORY for e in rank(with_history).causes[0].evidence)


def test_without_past_incidents_history_says_nothing() -> None:
    assert past_incidents(shop_input({"payment": {"error_ratio": 0.5}})).scores == {}


def test_a_past_root_silent_now_needs_a_near_identical_picture() -> None:
    # payment fails now and shipping is quiet; a past shipping incident that shares the
    # downstream symptoms (similarity about 0.7) does not bring shipping back
    data = shop_input({"payment": {"error_ratio": 0.5}, "checkout": {"error_ratio": 0.4}})
    now = incident_signature(data)
    assert not any(k.startswith("shipping:") or k.endswith(":shipping") for k in now)
    top = max(now.values())
    partial = dict(now) | {"shipping:latency_p99_seconds": top, "shipping:cpu_cores": top}
    assert 0.5 < cosine(now, partial) < 0.9
    lookalike = PastIncident(partial, "shipping", FailureType.CODE_BUG)
    with_history = RCAInput(
        data.start, data.end, data.graph, data.metrics, past_incidents=(lookalike,)
    )
    assert past_incidents(with_history).scores == {}
    # the same picture again (a root that never shows itself, like a corrupt cache) counts
    same = PastIncident(dict(now), "shipping", FailureType.DATA_CORRUPTION)
    again = RCAInput(data.start, data.end, data.graph, data.metrics, past_incidents=(same,))
    assert past_incidents(again).scores == {"shipping": pytest.approx(1.0)}
