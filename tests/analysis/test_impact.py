"""Impact of an incident on services and business metrics."""

from __future__ import annotations

from selfheal.analysis.impact import assess
from selfheal.core.types import Anomaly


def test_business_drop_sets_severity() -> None:
    anomalies = [Anomaly("payment", 0, 0.8, "rule:x", indicator="error_ratio")]
    impact = assess(
        anomalies, {"order_success_ratio": (0.6, 1.0), "payment_success_ratio": (1.0, 1.0)}
    )
    assert impact.services == ("payment",)
    assert impact.business == {"order_success_ratio": 0.4}
    assert impact.severity == 0.4


def test_no_anomalies_no_impact() -> None:
    assert assess([], {}).severity == 0.0
