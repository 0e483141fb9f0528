"""Property-based fuzzing (hypothesis) of every parser of outside input, bounded for CI.

Each test builds inputs shaped like the real thing — exposition lines, OTLP documents,
log lines, configuration, playbook and scenario trees with the real keys and hostile
values — plus raw bytes, and hands them to the same targets the coverage-guided
campaign runs (``targets.py``): the parser never raises anything but its documented
error, a rejection is one line, and a rejected input leaves nothing behind.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from selfheal.core.config import Config

from . import targets
from .seeds import seeds

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE_TEXT = st.sampled_from(
    ["", " ", "\n", "\x00", "\u2028", "é", "💥", "${HOME}", "{", "[", "*", "&a", "!!python/name:os.system",
     "1e999", "-0", "NaN", ".inf", "~", "null", "yes", "0x10", "1_000", "2001-12-14", "a" * 300]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    HOSTILE_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), HOSTILE_TEXT), inner, max_size=4),
    ),
    max_leaves=12,
)


def _keys(model: type, depth: int = 0) -> list[str]:
    names = list(model.model_fields)  # type: ignore[attr-defined]
    for field in model.model_fields.values():  # type: ignore[attr-defined]
        ann = field.annotation
        if depth < 2 and isinstance(ann, type) and hasattr(ann, "model_fields"):
            names += _keys(ann, depth + 1)
    return names


CONFIG_KEYS = sorted(set(_keys(Config)))


def tree(keys: list[str]) -> st.SearchStrategy[Any]:
    """Mappings over the real key names, nested, with hostile leaves."""
    key = st.one_of(st.sampled_from(keys), HOSTILE_TEXT)
    return st.recursive(
        st.dictionaries(key, VALUES, max_size=4),
        lambda inner: st.dictionaries(
            key, st.one_of(inner, st.lists(inner, max_size=3), VALUES), max_size=5
        ),
        max_leaves=20,
    )


def as_yaml(data: Any) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")


def mutated(target: str) -> st.SearchStrategy[bytes]:
    """A seed of ``target`` with a few bytes overwritten, inserted or cut."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds(target))))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            op = draw(st.sampled_from(["set", "insert", "cut"]))
            chunk = draw(st.binary(min_size=1, max_size=8))
            if op == "set" and at < len(data):
                data[at : at + len(chunk)] = chunk
            elif op == "insert":
                data[at:at] = chunk
            else:
                del data[at : at + len(chunk)]
        return bytes(data)

    return build()


@FAST
@given(st.one_of(st.binary(max_size=300), mutated("exposition")))
def test_exposition_bodies(data: bytes) -> None:
    targets.exposition(data)


NAME = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
LABEL_VALUE = st.text(max_size=10).map(lambda t: json.dumps(t)[1:-1])
NUMBER = st.sampled_from(
    ["1", "0.5", "-2e-3", "NaN", "+Inf", "-Inf", "1e309", "0x1", "1_0", "", "one"]
)


def _line(name: str, labels: list[tuple[str, str]], value: str, stamp: str) -> str:
    pairs = ",".join(f'{k}="{v}"' for k, v in labels)
    return f"{name}{{{pairs}}} {value}{stamp}"


LINE = st.builds(
    _line,
    NAME,
    st.lists(st.tuples(NAME, LABEL_VALUE), max_size=3),
    NUMBER,
    st.sampled_from(["", " 1700000000000", " x"]),
)


@FAST
@given(
    st.lists(
        st.one_of(LINE, st.sampled_from(["# TYPE a counter", "# HELP a x", "#", ""])), max_size=8
    )
)
def test_exposition_lines(lines: list[str]) -> None:
    targets.exposition("\n".join(lines).encode())


OTLP_SPAN = st.fixed_dictionaries(
    {},
    optional={
        "traceId": st.one_of(st.text(max_size=34), VALUES),
        "spanId": st.one_of(st.text(alphabet="0123456789abcdefg", max_size=18), VALUES),
        "parentSpanId": VALUES,
        "name": VALUES,
        "kind": st.one_of(st.integers(-3, 9), VALUES),
        "startTimeUnixNano": st.one_of(st.integers(-(2**65), 2**65).map(str), VALUES),
        "endTimeUnixNano": VALUES,
        "attributes": st.lists(st.fixed_dictionaries({"key": VALUES, "value": VALUES}), max_size=3),
        "status": st.one_of(st.fixed_dictionaries({"code": st.integers(-1, 3)}), VALUES),
        "links": st.one_of(st.lists(VALUES, max_size=2), VALUES),
    },
)
OTLP_DOCUMENT = st.fixed_dictionaries(
    {
        "resourceSpans": st.lists(
            st.fixed_dictionaries(
                {
                    "resource": st.one_of(
                        st.fixed_dictionaries(
                            {
                                "attributes": st.lists(
                                    st.fixed_dictionaries({"key": VALUES, "value": VALUES}),
                                    max_size=3,
                                )
                            }
                        ),
                        VALUES,
                    ),
                    "scopeSpans": st.lists(
                        st.fixed_dictionaries({"spans": st.lists(OTLP_SPAN, max_size=3)}),
                        max_size=2,
                    ),
                }
            ),
            max_size=2,
        )
    }
)


@FAST
@given(
    st.one_of(
        st.tuples(st.integers(0, 15), OTLP_DOCUMENT.map(lambda d: json.dumps(d).encode())),
        st.tuples(st.integers(0, 15), st.binary(max_size=300)),
    ).map(lambda t: bytes([t[0]]) + t[1])
    | mutated("otlp")
)
@example(b"\x01" + b"[" * 100_000)  # found by reading: json.loads raised RecursionError
@example(b"\x01" + b'{"resourceSpans": [' * 900 + b"1" + b"]}" * 900)
def test_otlp_exports(data: bytes) -> None:
    targets.otlp(data)


LOG_OBJECT = st.dictionaries(
    st.sampled_from(
        [
            "ts",
            "timestamp",
            "service",
            "instance_id",
            "level",
            "severity",
            "msg",
            "message",
            "span_id",
            "spanId",
        ]
    ),
    VALUES,
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            LOG_OBJECT.map(lambda d: json.dumps(d, allow_nan=True)),
            st.text(max_size=80),
            st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
        ),
        max_size=6,
    ).map(lambda lines: "\r\n".join(lines).encode("utf-8", "surrogatepass"))
    | mutated("logs")
)
def test_log_lines(data: bytes) -> None:
    targets.logs(data)


@FAST
@given(st.one_of(tree(CONFIG_KEYS).map(as_yaml), mutated("config"), st.binary(max_size=200)))
@example(b"[" * 5000)  # PyYAML recursed until RecursionError
def test_configuration_files(data: bytes) -> None:
    targets.config(data)


PLAYBOOK_KEYS = [
    "version", "prior_weight", "strategies", "name", "failure_types", "ladder", "kind", "target",
    "instance", "params", "timeout_seconds", "description", "indicators", "prerequisites",
    "priority", "success_probability", "expected_duration_seconds", "change_window_seconds",
    "rollback", "RestartService", "CodeBug", "instance_known",
]  # fmt: skip


@FAST
@given(st.one_of(tree(PLAYBOOK_KEYS).map(as_yaml), mutated("playbook")))
@example(b"[" * 5000)  # PyYAML recursed until RecursionError
def test_playbooks(data: bytes) -> None:
    targets.playbook(data)


SCENARIO_STEP = st.dictionaries(
    st.one_of(
        st.sampled_from(["at_seconds", "fault", "service", "instance", "params", "duration"]),
        HOSTILE_TEXT,
    ),
    VALUES,
    max_size=6,
)


@FAST
@given(
    st.one_of(
        st.lists(SCENARIO_STEP, max_size=4).map(as_yaml), mutated("scenario"), VALUES.map(as_yaml)
    )
)
@example(b"[" * 5000)  # PyYAML recursed until RecursionError
def test_scenarios(data: bytes) -> None:
    targets.scenario(data)
