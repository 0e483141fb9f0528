"""The YAML configuration: defaults, validation, errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic.fields import FieldInfo

from selfheal.core.config import Config, load_config, parse_config, parse_config_text
from selfheal.core.errors import ConfigError


def test_empty_file_gives_documented_defaults() -> None:
    cfg = parse_config_text("")
    assert cfg.rca.threshold == 0.7
    assert cfg.store.url == "sqlite:///selfheal.db"
    assert cfg.executor.type == "local"
    assert cfg.dry_run is False


def test_every_field_documents_itself() -> None:
    def walk(model: type) -> list[str]:
        missing = []
        for name, f in model.model_fields.items():  # type: ignore[attr-defined]
            ann = f.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                missing += walk(ann)
            elif not f.description:
                missing.append(f"{model.__name__}.{name}")
        return missing

    assert walk(Config) == []


def test_unknown_key_is_rejected_by_its_dotted_name() -> None:
    with pytest.raises(ConfigError, match=r"guards\.cooldown_secs: unknown key"):
        parse_config_text("guards:\n  cooldown_secs: 5\n")


def test_bad_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"rca\.threshold"):
        parse_config_text("rca:\n  threshold: 1.5\n")


def test_rule_without_condition_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"detection\.rules\.0"):
        parse_config_text("detection:\n  rules:\n    - indicator: error_ratio\n")


def test_webhook_executor_needs_url() -> None:
    with pytest.raises(ConfigError, match="webhook.url"):
        parse_config_text("executor:\n  type: webhook\n")


def test_invalid_yaml_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config_text("a: [")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_full_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "selfheal.yaml"
    path.write_text(
        "scrape:\n  discovery_url: http://127.0.0.1:1/platform/targets\n  interval_seconds: 1\n"
        "loop:\n  cycle_seconds: 1\n"
        "detection:\n  rules:\n    - {indicator: error_ratio, above: 0.1, for_samples: 2}\n"
        "executor:\n  type: local\n  local:\n    control_url: http://127.0.0.1:1\n"
        "api:\n  port: 0\n"
    )
    cfg = load_config(path)
    assert cfg.scrape.interval_seconds == 1
    assert cfg.detection.rules is not None and cfg.detection.rules[0].for_samples == 2
    assert cfg.executor.local.control_url == "http://127.0.0.1:1"


def _leaves(model: type, prefix: str = "") -> list[tuple[str, FieldInfo]]:
    out = []
    for name, f in model.model_fields.items():  # type: ignore[attr-defined]
        ann = f.annotation
        if isinstance(ann, type) and hasattr(ann, "model_fields"):
            out += _leaves(ann, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", f))
    return out


def test_readme_reference_is_the_config_model() -> None:
    """Each key's row in README's configuration table says the model's default and
    description, word for word."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(
        (m.group(1), (m.group(2), m.group(3)))
        for m in re.finditer(r"^\| `([a-z_.]+)` \| `([^`]*)` \| (.*) \|$", readme, re.M)
    )
    wrong = []
    for key, f in _leaves(Config):
        if f.default_factory is not None:
            default = "—"
        else:
            default = "none" if f.default is None else str(f.default)
        if rows.get(key) != (default, f.description):
            wrong.append(key)
    assert wrong == []


def test_guard_settings_come_from_the_guards_section() -> None:
    cfg = parse_config_text(
        "guards:\n"
        "  budget_actions: 4\n"
        "  blast_radius_floor_instances: 0\n"
        "  breaker_target_failures: 2\n"
        "  maintenance_windows:\n"
        "    - {start_seconds: 100, end_seconds: 160, every_seconds: 86400, services: [cart]}\n"
        "approval:\n  risk_level: 0.5\n"
    )
    g = cfg.guards
    assert (g.budget_actions, g.blast_radius_floor_instances, g.breaker_target_failures) == (
        4,
        0,
        2,
    )
    (window,) = g.maintenance_windows
    assert window.services == frozenset({"cart"}) and window.every_seconds == 86400
    assert cfg.approval.risk_level == 0.5
    assert parse_config_text("").guards.maintenance_windows == []


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("guards:\n  budget_actions: 0\n", r"guards\.budget_actions"),
        ("guards:\n  blast_radius_fraction: 1.5\n", r"guards\.blast_radius_fraction"),
        ("guards:\n  blast_radius_floor_instances: -1\n", r"guards\.blast_radius_floor_instances"),
        ("guards:\n  breaker_target_failures: 0\n", r"guards\.breaker_target_failures"),
        (
            "guards:\n  maintenance_windows:\n    - {start_seconds: 5, end_seconds: 1}\n",
            r"guards\.maintenance_windows\.0: .*end_seconds must be after start_seconds",
        ),
        (
            "guards:\n  maintenance_windows:\n"
            "    - {start_seconds: 0, end_seconds: 100, every_seconds: 50}\n",
            r"guards\.maintenance_windows\.0: .*every_seconds must be longer",
        ),
        (
            "guards:\n  maintenance_windows:\n    - {start_seconds: 0, end_seconds: 1, at: 2}\n",
            r"guards\.maintenance_windows\.0\.at: unknown key",
        ),
        ("approval:\n  risk_level: 2\n", r"approval\.risk_level"),
    ],
)
def test_a_bad_guard_setting_names_its_dotted_key(yaml_text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"selfheal\.yaml: .*{key}"):
        parse_config_text(yaml_text, "selfheal.yaml")


def test_api_tokens_are_validated_and_never_echoed() -> None:
    cfg = parse_config(
        {"api": {"tokens": [{"name": "ops", "role": "operator", "token": "s3cret-s3cret-s3cret"}]}}
    )
    (token,) = cfg.api.tokens
    assert token.role == "operator" and "s3cret" not in repr(cfg)
    with pytest.raises(ConfigError, match=r"api\.tokens\.0\.role") as bad_role:
        parse_config({"api": {"tokens": [{"name": "x", "role": "root", "token": "a" * 20}]}})
    with pytest.raises(ConfigError, match=r"api\.tokens\.0: token 'x' needs exactly one"):
        parse_config({"api": {"tokens": [{"name": "x", "role": "admin"}]}})
    with pytest.raises(ConfigError, match=r"api\.tokens\.0\.token: a token needs at least 16"):
        parse_config({"api": {"tokens": [{"name": "x", "role": "admin", "token": "tiny-secret"}]}})
    assert "a" * 20 not in str(bad_role.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "selfheal.example.com"])
def test_a_non_loopback_api_without_tokens_is_refused_naming_the_key(host: str) -> None:
    with pytest.raises(ConfigError, match=rf"^configuration: api\.host: {host} is not a loopback"):
        parse_config({"api": {"host": host}})
    token = {"name": "ops", "role": "admin", "token": "s3cret-s3cret-s3cret"}
    assert parse_config({"api": {"host": host, "tokens": [token]}}).api.host == host
    assert parse_config({"api": {"host": host, "enabled": False}}).api.host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert parse_config({"api": {"host": host}}).api.tokens == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scrape: [1, 2", r"^x\.yaml: not valid YAML at line 1, column 14: expected"),
        ("'unterminated", r"^x\.yaml: not valid YAML at line 1, column 14: found unexpected"),
        ("[" * 5000, r"^x\.yaml: not valid YAML: nested too deeply$"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            ),
            r"more than 100000 values \(aliases expanded\)",
        ),
        ("loop: {cycle_seconds: .nan}", r"loop\.cycle_seconds: Input should be a finite number"),
        ("scrape: {interval_seconds: .inf}", r"scrape\.interval_seconds: Input should be a finite"),
    ],
)
def test_a_broken_file_is_one_line_naming_where(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        parse_config_text(text, "x.yaml")
    assert "\n" not in str(refused.value)


def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"loop: {cycle_seconds: 1}  # caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 31\)"):
        load_config(path)
