from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from selfheal.core.types import SeriesKey
from selfheal.monitoring.exposition import SeriesParser, merge_labels, parse_exposition


def _registry_text() -> str:
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "r", ["route", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "l", ["route"], registry=registry)
    Gauge("http_requests_in_flight", "g", registry=registry).set(3)
    requests.labels("/a", "200").inc(5)
    requests.labels('/we"ird\\path', "500").inc()
    latency.labels("/a").observe(0.2)
    return generate_latest(registry).decode()


def test_reference_parser_reads_real_exposition_and_drops_created() -> None:
    result = parse_exposition(_registry_text())
    assert result.ok
    names = {s.name for s in result.samples}
    assert "http_requests_total" in names
    assert "http_request_duration_seconds_bucket" in names
    assert not any(n.endswith("_created") for n in names)
    ok = [s for s in result.samples if s.labels == (("route", "/a"), ("status", "200"))]
    assert ok[0].value == 5.0


def test_malformed_line_is_an_error_value_naming_the_line() -> None:
    result = parse_exposition('good 1\nbad{a="x" 2\n')
    assert not result.ok
    assert result.samples == ()
    assert result.error is not None
    assert result.error.line_number == 2
    assert "line 2" in str(result.error)


def test_non_numeric_value_and_garbage_are_errors_not_crashes() -> None:
    for body in ["m abc\n", "m{a=b} 1\n", "{} 1\n", "\x00\x01 junk {{{\n"]:
        assert not parse_exposition(body).ok, body
        pairs, error = SeriesParser().parse(body)
        assert pairs == [] and error is not None, body
    # stricter than prometheus_client, which reads "2 3" as a timestamp
    pairs, error = SeriesParser().parse("m 1 2 3\n")
    assert pairs == [] and error is not None


def test_cached_parser_matches_reference_on_real_exposition() -> None:
    text = _registry_text()
    target = {"service": "cart", "instance_id": "cart-0"}
    reference = {
        merge_labels(s.name, dict(s.labels), target): s.value
        for s in parse_exposition(text).samples
    }
    parser = SeriesParser(target)
    for _ in range(2):  # cold cache, then warm cache
        pairs, error = parser.parse(text)
        assert error is None
        assert dict(pairs) == reference


def test_target_label_clash_is_kept_as_exported_label() -> None:
    pairs, error = SeriesParser({"service": "cart"}).parse('m{service="inner"} 1\n')
    assert error is None
    assert pairs[0][0] == SeriesKey.of("m", {"service": "cart", "exported_service": "inner"})


def test_special_values_and_timestamps() -> None:
    pairs, error = SeriesParser().parse("a NaN\nb +Inf\nc -Inf 1700000000000\n")
    assert error is None
    values = dict((k.name, v) for k, v in pairs)
    assert math.isnan(values["a"]) and values["b"] == math.inf and values["c"] == -math.inf


def test_warm_cache_still_rejects_a_bad_value() -> None:
    parser = SeriesParser()
    assert parser.parse('m{a="1"} 1\n')[1] is None
    pairs, error = parser.parse('m{a="1"} oops\n')
    assert pairs == [] and error is not None and error.line_number == 1


label_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b_total", "c_bucket"]),
            st.dictionaries(st.sampled_from(["x", "le", "route"]), label_values, max_size=3),
            st.floats(allow_nan=False, width=64),
        ),
        max_size=8,
        unique_by=lambda t: (t[0], tuple(sorted(t[1].items()))),
    )
)
def test_cached_parser_agrees_with_reference(
    rows: list[tuple[str, dict[str, str], float]],
) -> None:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    lines = []
    for name, labels, value in rows:
        inner = ",".join(f'{k}="{esc(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{inner}}} {value!r}" if labels else f"{name} {value!r}")
    text = "\n".join(lines) + "\n"
    reference = parse_exposition(text)
    pairs, error = SeriesParser().parse(text)
    assert (error is None) == reference.ok
    if reference.ok:
        assert dict(pairs) == {SeriesKey(s.name, s.labels): s.value for s in reference.samples}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = parse_exposition(text)
    assert result.ok or result.error is not None
    pairs, error = SeriesParser({"service": "s"}).parse(text)
    assert error is not None or all(isinstance(v, float) for _, v in pairs)
