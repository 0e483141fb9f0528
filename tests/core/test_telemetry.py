"""The telemetry records monitoring makes and the root-cause analysis reads."""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pytest

import selfheal.analysis.rca
import selfheal.core.telemetry
from selfheal.core.telemetry import CallSample, LogRecord, SpanRecord


def test_call_sample_arrays_must_match() -> None:
    with pytest.raises(ValueError, match="a->b"):
        CallSample("a", "b", np.array([1.0]), np.array([0.1, 0.2]), np.array([0.0]))
    with pytest.raises(ValueError, match="server latency"):
        CallSample("a", "b", [1.0], [0.1], [0.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="one-dimensional"):
        CallSample("a", "b", [[1.0]], [[0.1]], [[0.0]])


def test_records_are_frozen() -> None:
    record = LogRecord(1.0, "cart", "served")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.message = "changed"  # type: ignore[misc]


def test_the_rca_reads_the_same_records_monitoring_makes() -> None:
    assert selfheal.analysis.rca.LogRecord is LogRecord
    assert selfheal.analysis.rca.SpanRecord is SpanRecord
    assert selfheal.analysis.rca.CallSample is CallSample


def test_docstring_example_runs() -> None:
    result = doctest.testmod(selfheal.core.telemetry)
    assert result.attempted > 0 and result.failed == 0
