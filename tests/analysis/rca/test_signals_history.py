from __future__ import annotations

from tests.analysis.rca.shop import shop_input

from selfheal.analysis.rca import PastIncident, RCAInput, rank
from selfheal.analysis.rca.signals_history import incident_signature, past_incidents
from selfheal.core.types import FailureType


def test_a_recurring_incident_matches_its_past_root() -> None:
    faulty = {"payment": {"error_ratio": 0.5}, "checkout": {"error_ratio": 0.4}}
    data = shop_input(faulty)
    past = PastIncident(
        incident_signature(shop_input(faulty, seed=1)), "payment", FailureType.CODE_BUG
    )
    other = PastIncident({"cache:latency_p99": 1.0}, "cache")
    with_history = RCAInput(
        data.start, data.end, data.graph, data.metrics, past_incidents=(past, other)
    )
    out = past_incidents(with_history)
    assert out.scores.get("payment", 0.0) > 0.9
    assert "cache" not in out.scores
    assert any("history" in e for e in rank(with_history).causes[0].evidence)


def test_without_past_incidents_history_says_nothing() -> None:
    assert past_incidents(shop_input({"payment": {"error_ratio": 0.5}})).scores == {}


def test_a_past_incident_whose_root_is_silent_now_says_nothing() -> None:
    # shipping's outage looked like this at the entry service; now payment fails and
    # shipping is quiet: the shared downstream symptoms alone do not bring it back
    data = shop_input({"payment": {"error_ratio": 0.5}, "checkout": {"error_ratio": 0.4}})
    now = incident_signature(data)
    assert not any(k.startswith("shipping:") or k.endswith(":shipping") for k in now)
    lookalike = PastIncident(dict(now), "shipping", FailureType.CODE_BUG)  # similarity 1.0
    with_history = RCAInput(
        data.start, data.end, data.graph, data.metrics, past_incidents=(lookalike,)
    )
    assert past_incidents(with_history).scores == {}
