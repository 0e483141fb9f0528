from __future__ import annotations

from selfheal.analysis.rca.datasets.labels import accuracy_at_k
from selfheal.analysis.rca.datasets.nezha import service_of_pod


def test_service_is_the_pod_name_without_its_hashes() -> None:
    assert service_of_pod("ts-basic-service-5dc8d4f9fd-46997") == "ts-basic-service"
    assert service_of_pod("checkoutservice-578fcf4766-9csqn") == "checkoutservice"


def test_accuracy_at_k() -> None:
    scores = accuracy_at_k({"a": ["x", "y"], "b": ["y", "z", "q", "r", "x"]}, {"a": "x", "b": "x"})
    assert scores["AC@1"] == 0.5
    assert scores["AC@3"] == 0.5
    assert scores["AC@5"] == 1.0
    assert scores["Avg@5"] == (0.5 + 0.5 + 0.5 + 0.5 + 1.0) / 5
