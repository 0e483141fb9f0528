"""Correlation of anomalies into incidents."""

from __future__ import annotations

import networkx as nx

from selfheal.analysis.correlation import Correlator
from selfheal.core.types import Anomaly

GRAPH = nx.DiGraph([("frontend", "checkout"), ("checkout", "payment"), ("payment", "bank")])


def anomaly(service: str, t: float, indicator: str = "error_ratio") -> Anomaly:
    return Anomaly(service=service, timestamp=t, score=0.9, detector="rule:x", indicator=indicator)


def test_connected_anomalies_within_window_form_one_incident() -> None:
    c = Correlator(window_seconds=60)
    c.add([anomaly("payment", 0)], 0, GRAPH)
    update = c.add([anomaly("checkout", 5), anomaly("frontend", 6)], 6, GRAPH)
    assert update.opened == ()
    (incident,) = c.open_incidents
    assert incident.services == {"payment", "checkout", "frontend"}


def test_disconnected_service_opens_its_own_incident() -> None:
    c = Correlator(window_seconds=60)
    c.add([anomaly("payment", 0)], 0, GRAPH)
    update = c.add([anomaly("shipping", 1)], 1, GRAPH)
    assert len(update.opened) == 1
    assert len(c.open_incidents) == 2


def test_anomaly_after_window_opens_a_new_incident() -> None:
    c = Correlator(window_seconds=10)
    c.add([anomaly("payment", 0)], 0, GRAPH)
    c.add([anomaly("checkout", 30)], 30, GRAPH)
    assert len(c.open_incidents) == 2


def test_duplicates_are_folded_not_appended() -> None:
    c = Correlator()
    c.add([anomaly("payment", 0)], 0, GRAPH)
    update = c.add([anomaly("payment", 1), anomaly("payment", 2)], 2, GRAPH)
    assert update.folded == 2
    (incident,) = c.open_incidents
    assert len(incident.anomalies) == 1
    assert c.last_seen(incident.id) == 2


def test_evidence_joins_but_never_opens() -> None:
    c = Correlator(opens=lambda a: a.detector.startswith("rule:"))
    evidence = Anomaly("payment", 0, 0.99, "ewma", indicator="cpu_cores")
    assert c.add([evidence], 0, GRAPH).opened == ()
    c.add([anomaly("payment", 1)], 1, GRAPH)
    c.add([Anomaly("payment", 2, 0.99, "ewma", indicator="cpu_cores")], 2, GRAPH)
    (incident,) = c.open_incidents
    assert {a.detector for a in incident.anomalies} == {"rule:x", "ewma"}


def test_escalated_incident_absorbs_its_repeats_but_not_new_problems() -> None:
    from dataclasses import replace

    from selfheal.core.types import IncidentStatus

    c = Correlator()
    c.add([anomaly("payment", 0)], 0, GRAPH)
    (incident,) = c.open_incidents
    c.update(replace(incident, status=IncidentStatus.ESCALATED))
    assert c.add([anomaly("payment", 1)], 1, GRAPH).folded == 1
    update = c.add([anomaly("checkout", 2)], 2, GRAPH)
    assert len(update.opened) == 1


def test_a_new_kind_of_symptom_on_an_escalated_incidents_service_is_a_new_incident() -> None:
    from dataclasses import replace

    from selfheal.core.types import IncidentStatus

    c = Correlator()
    c.add([anomaly("payment", 0)], 0, GRAPH)
    (escalated,) = c.open_incidents
    c.update(replace(escalated, status=IncidentStatus.ESCALATED))
    update = c.add([anomaly("payment", 3, "latency")], 3, GRAPH)
    (fresh,) = update.opened
    assert fresh.services == {"payment"} and fresh.anomalies[0].indicator == "latency"
    assert len(c.get(escalated.id).anomalies) == 1  # type: ignore[union-attr]


def test_a_symptom_that_went_quiet_and_came_back_after_escalation_is_a_new_incident() -> None:
    from dataclasses import replace

    from selfheal.core.types import IncidentStatus

    c = Correlator(continuing_seconds=3.0)
    c.add([anomaly("payment", 0)], 0, GRAPH)  # a flap, early in the incident
    (escalated,) = c.open_incidents
    c.update(replace(escalated, status=IncidentStatus.ESCALATED))
    # the same kind on the same service, 20 s later: a real failure, not the flap going on
    update = c.add([anomaly("payment", 20)], 20, GRAPH)
    (fresh,) = update.opened
    assert fresh.id != escalated.id
    # and while it continues (each cycle), it stays in the new incident, folded
    assert c.add([anomaly("payment", 21)], 21, GRAPH).folded == 1


def test_incident_under_remediation_keeps_its_scope() -> None:
    from dataclasses import replace

    from selfheal.core.types import IncidentStatus

    c = Correlator()
    c.add([anomaly("payment", 0)], 0, GRAPH)
    (incident,) = c.open_incidents
    c.update(replace(incident, status=IncidentStatus.REMEDIATING))
    assert c.add([anomaly("payment", 1, "latency")], 1, GRAPH).opened == ()
    assert len(c.add([anomaly("checkout", 2)], 2, GRAPH).opened) == 1


def test_a_split_moves_a_services_symptoms_into_an_incident_of_their_own() -> None:
    from dataclasses import replace

    from selfheal.core.types import IncidentStatus

    c = Correlator()
    c.add([anomaly("payment", 0, "latency"), anomaly("frontend", 1)], 1, GRAPH)
    (first,) = c.open_incidents
    new = c.split(first.id, frozenset({"payment"}), 2)
    assert new is not None and new.services == {"payment"} and new.opened_at == 0
    assert c.get(first.id).services == {"frontend"}
    # each keeps its own symptoms from now on: a repeat folds into the new incident
    c.update(replace(c.get(first.id), status=IncidentStatus.REMEDIATING))
    update = c.add([anomaly("payment", 3, "latency")], 3, GRAPH)
    assert update.opened == () and update.folded == 1
    assert len(c.get(new.id).anomalies) == 1 and len(c.get(first.id).anomalies) == 1
    # nothing is split off when it would leave a side empty
    assert c.split(new.id, frozenset({"payment"}), 4) is None
    assert c.split(first.id, frozenset({"shipping"}), 4) is None


def test_a_new_kind_of_symptom_beside_the_cause_under_remediation_is_a_new_incident() -> None:
    # checkout is being remediated; payment, which it calls, showed latency (an echo kind
    # it keeps absorbing). A CPU symptom on payment that starts now is a fault of its own:
    # a new incident, not a passenger on checkout's verification. The cause's own service
    # may show its fault in a new way (errors after latency) and stays in.
    from dataclasses import replace

    from selfheal.core.types import Cause, IncidentStatus

    c = Correlator()
    c.add([anomaly("checkout", 0, "latency"), anomaly("payment", 0, "latency")], 0, GRAPH)
    (incident,) = c.open_incidents
    c.update(replace(incident, status=IncidentStatus.REMEDIATING, causes=(Cause("checkout", 0.9),)))
    assert c.add([anomaly("payment", 1, "latency")], 1, GRAPH).folded == 1
    assert c.add([anomaly("checkout", 2, "error_ratio")], 2, GRAPH).opened == ()
    (fresh,) = c.add([anomaly("payment", 3, "cpu")], 3, GRAPH).opened
    assert fresh.services == {"payment"}
    held = c.get(incident.id)
    assert held is not None
    assert {(a.service, a.indicator) for a in held.anomalies} == {
        ("checkout", "latency"),
        ("payment", "latency"),
        ("checkout", "error_ratio"),
    }
