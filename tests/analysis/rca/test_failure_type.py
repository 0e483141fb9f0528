from __future__ import annotations

import pytest

from selfheal.analysis.rca.failure_type import infer_failure_type
from selfheal.core.types import FailureType


@pytest.mark.parametrize(
    ("indicator", "evidence", "leaf", "service", "expected"),
    [
        ("cpu_cores", (), False, "cart", FailureType.RESOURCE_EXHAUSTION),
        (
            "latency_p99_seconds",
            ("metric memory_bytes moved up 9.0 robust deviations",),
            False,
            "cart",
            FailureType.RESOURCE_EXHAUSTION,
        ),
        ("network_latency", (), False, "cart", FailureType.NETWORK_FAILURE),
        ("error_ratio", (), False, "payment", FailureType.CODE_BUG),
        (
            "log:error_template",
            ("log error template surged (9x): ERROR null",),
            False,
            "pay",
            FailureType.CODE_BUG,
        ),
        (
            "log:error_template",
            ("log error template surged (3x): invalid config value",),
            False,
            "pay",
            FailureType.CONFIGURATION_ERROR,
        ),
        ("latency_p99_seconds", (), True, "bank_remote", FailureType.EXTERNAL_DEPENDENCY),
        (
            "error_ratio",
            ("log error template surged (2x): checksum mismatch",),
            False,
            "db",
            FailureType.DATA_CORRUPTION,
        ),
        (
            "trace:skipped_step",
            ("trace pattern PlaceOrder -> EmptyUserCart: in 100% of spans before, 29% during",),
            False,
            "checkout",
            FailureType.CODE_BUG,
        ),
        (
            # CPU that falls when requests return early is a consequence, not exhaustion
            "log:error_template",
            (
                "metric cpu_cores on contacts-0 moved down 3.7 robust deviations",
                "log error template surged (20x): ERROR No contacts found",
            ),
            False,
            "contacts",
            FailureType.CODE_BUG,
        ),
        (None, (), False, "x", FailureType.UNKNOWN),
    ],
)
def test_failure_type_follows_the_evidence(indicator, evidence, leaf, service, expected) -> None:
    assert infer_failure_type(service, indicator, evidence, leaf) is expected
