"""Alertmanager notifications as indicator samples: mapping, folding, resolution."""

from __future__ import annotations

import pytest

from selfheal.analysis.failure_type import classify
from selfheal.analysis.rules import LiveDetection
from selfheal.core import indicators as ind
from selfheal.core.types import Cause, FailureType
from selfheal.monitoring.alertmanager import AlertInbox, AlertPayloadError


def note(*alerts: dict[str, object], status: str = "firing") -> dict[str, object]:
    return {"version": "4", "status": status, "receiver": "selfheal", "alerts": list(alerts)}


def alert(status: str = "firing", fingerprint: str = "f1", **labels: str) -> dict[str, object]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", **labels},
        "annotations": {"summary": "errors"},
        "startsAt": "2026-12-03T20:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def test_a_firing_alert_is_an_indicator_sample_of_its_service_and_instance() -> None:
    inbox = AlertInbox()
    got = inbox.receive(note(alert(job="orders", instance="orders-1:8080")), now=10.0)
    assert (got.firing, got.new, got.refused) == (1, 1, 0)
    (sample,) = inbox.samples(now=11.0)
    assert sample.series.name == ind.ALERT_FIRING and sample.value == 1.0
    assert sample.series.label("service") == "orders"
    assert sample.series.label("instance") == "orders-1:8080"


def test_repeats_and_an_ha_pairs_second_copy_fold_into_one_alert() -> None:
    inbox = AlertInbox()
    for t in (10.0, 10.1, 40.0):  # both members of the pair, then a repeat notification
        inbox.receive(note(alert(service="orders")), now=t)
    assert inbox.firing == 1 and len(inbox.samples(now=41.0)) == 1
    # without Alertmanager's fingerprint the labels identify it
    inbox.receive(note(alert(fingerprint="", service="orders")), now=42.0)
    inbox.receive(note(alert(fingerprint="", service="orders")), now=43.0)
    assert inbox.firing == 2


def test_a_resolved_alert_reads_zero_for_a_while_then_stops() -> None:
    inbox = AlertInbox(resolved_hold_seconds=30.0)
    inbox.receive(note(alert(service="orders")), now=10.0)
    got = inbox.receive(note(alert("resolved", service="orders"), status="resolved"), now=20.0)
    assert got.resolved == 1 and inbox.firing == 0
    assert [s.value for s in inbox.samples(now=25.0)] == [0.0]
    assert inbox.samples(now=60.0) == []


def test_an_alert_naming_no_service_is_refused_not_guessed() -> None:
    inbox = AlertInbox(service_labels=("service",))
    got = inbox.receive(note(alert(job="orders")), now=10.0)
    assert (got.firing, got.refused) == (0, 1) and inbox.samples(now=11.0) == []


@pytest.mark.parametrize(
    "body",
    [None, [], {"alerts": "x"}, {"alerts": [{"status": "odd", "labels": {}}]}, {"version": "4"}],
)
def test_a_body_that_is_no_notification_is_refused_and_changes_nothing(body: object) -> None:
    inbox = AlertInbox()
    inbox.receive(note(alert(service="orders")), now=1.0)
    with pytest.raises(AlertPayloadError, match="not an Alertmanager notification"):
        inbox.receive(body, now=2.0)
    assert inbox.firing == 1


def test_the_default_rule_opens_on_the_first_firing_sample_and_the_label_types_it() -> None:
    inbox = AlertInbox()
    labels = {"service": "orders", "failure_type": "ResourceExhaustion"}
    inbox.receive(note(alert(**labels)), now=1.0)
    (anomaly,) = LiveDetection(detector_factory=None).observe(inbox.samples(now=2.0))
    assert anomaly.detector.startswith("rule:") and anomaly.service == "orders"
    found = classify(Cause("orders", 0.9), [anomaly])
    assert found.failure_type is FailureType.RESOURCE_EXHAUSTION
