"""Pins the decision layer's public API: what the loop imports from ``selfheal.decision``."""

from __future__ import annotations

import doctest

import selfheal.decision
from selfheal.decision import guards
from selfheal.monitoring import changes

EXPECTED = {
    "PREREQUISITES",
    "Assessment",
    "BreakerState",
    "Decision",
    "GuardDecision",
    "Guards",
    "Planner",
    "Playbook",
    "PlaybookEntry",
    "Verdict",
    "assess",
    "dependency_pairs",
    "target_key",
}


def test_public_api_is_pinned() -> None:
    assert set(selfheal.decision.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(selfheal.decision, name) is not None


def test_docstring_examples_run() -> None:
    for module in (changes, guards):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
