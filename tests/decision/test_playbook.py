from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.core.errors import ConfigError
from selfheal.core.types import ActionKind, FailureType
from selfheal.decision.playbook import Playbook

MINIMAL = """
strategies:
  - name: s1
    failure_types: [CodeBug]
    ladder:
      - {kind: RestartService}
"""


def test_default_playbook_covers_every_failure_type() -> None:
    pb = Playbook.default()
    for ftype in FailureType:
        assert pb.candidates(ftype), f"no strategy for {ftype.value}"


def test_default_playbook_uses_all_eight_actions() -> None:
    kinds = {a.kind for s in Playbook.default().strategies() for a in s.ladder}
    assert kinds == set(ActionKind)


def test_every_default_strategy_has_a_rollback_plan_and_probability() -> None:
    for e in Playbook.default().entries:
        assert e.rollback, e.name
        assert 0 < e.strategy.success_probability <= 1
        assert e.strategy.expected_duration_seconds > 0


def test_invalid_key_error_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pb.yaml"
    path.write_text(MINIMAL.replace("{kind: RestartService}", "{kind: Reboot}"))
    with pytest.raises(ConfigError) as err:
        Playbook.load(path)
    assert str(path) in str(err.value)
    assert "strategies.0.ladder.0.kind" in str(err.value)


def test_unknown_field_is_rejected_with_its_name() -> None:
    with pytest.raises(ConfigError, match=r"strategies\.0\.retries"):
        Playbook.from_yaml(MINIMAL.replace("name: s1", "name: s1\n    retries: 3"), "x.yaml")


def test_unknown_prerequisite_is_rejected() -> None:
    text = MINIMAL.replace("name: s1", "name: s1\n    prerequisites: [full_moon]")
    with pytest.raises(ConfigError, match="full_moon"):
        Playbook.from_yaml(text)


def test_broken_yaml_names_the_file() -> None:
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        Playbook.from_yaml("strategies: [", "bad.yaml")


def test_duplicate_names_are_rejected() -> None:
    text = MINIMAL + MINIMAL.split("strategies:\n", 1)[1]
    with pytest.raises(ConfigError, match="duplicate"):
        Playbook.from_yaml(text)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Playbook.load(tmp_path / "nope.yaml")


def test_success_probability_is_a_beta_posterior() -> None:
    pb = Playbook.from_yaml(MINIMAL.replace("name: s1", "name: s1\n    success_probability: 0.5"))
    assert pb.success_probability("s1") == 0.5
    assert pb.record_outcome("s1", True) == pytest.approx((0.5 * 4 + 1) / 5)
    pb.record_outcome("s1", False)
    assert pb.success_probability("s1") == pytest.approx((0.5 * 4 + 1) / 6)
    assert pb.strategies()[0].success_probability == pytest.approx(3 / 6)


def test_saved_outcomes_are_restored_and_unknown_names_reported() -> None:
    pb = Playbook.from_yaml(MINIMAL.replace("name: s1", "name: s1\n    success_probability: 0.5"))
    assert pb.restore_outcomes({"s1": (1, 1), "gone": (3, 0)}) == ("gone",)
    assert pb.outcomes("s1") == (1, 1)
    assert pb.success_probability("s1") == pytest.approx((0.5 * 4 + 1) / 6)
    with pytest.raises(ValueError, match="negative"):
        pb.restore_outcomes({"s1": (-1, 0)})


def test_recording_an_unknown_strategy_fails() -> None:
    with pytest.raises(KeyError):
        Playbook.from_yaml(MINIMAL).record_outcome("nope", True)


def test_override_replaces_same_named_strategies() -> None:
    base = Playbook.default()
    mine = Playbook.from_yaml(MINIMAL.replace("name: s1", "name: clear-corrupt-cache"))
    merged = base.overridden_by(mine)
    assert len(merged.entries) == len(base.entries)
    assert merged.entry("clear-corrupt-cache").failure_types == {FailureType.CODE_BUG}


def test_indicators_match_whole_words() -> None:
    pb = Playbook.default()
    dead = pb.entry("restart-dead-instance")
    assert dead.matches_indicator("up")
    assert dead.matches_indicator("instance_down")
    assert not dead.matches_indicator("upstream_error_ratio")
    assert pb.entry("relieve-pool-exhaustion").matches_indicator("pool_connections_in_use")
    assert pb.entry("restart-exhausted-instance").matches_indicator(None)
