"""The embedded PromQL evaluator: selectors, functions, aggregations, vector matching,
staleness, the refused constructs, and that shared subexpressions are read once."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring import promql
from selfheal.monitoring.promql_binop import EvaluationError
from selfheal.monitoring.promql_eval import Compiler, Instant, PromQLError
from selfheal.monitoring.window_store import WindowStore


def put(store: WindowStore, name: str, labels: dict[str, str], points: list[tuple[float, float]]):
    store.append_many(Sample(SeriesKey.of(name, labels), t, v) for t, v in points)


def query(store: WindowStore, text: str, at: float = 10.0, lookback: float = 300.0) -> Any:
    return Instant(store, at, lookback).eval(Compiler().compile(text))


def by_labels(vector: list[Any]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(labels.items())): v for _, labels, v in vector}


def labels_of(vector: list[Any]) -> list[dict[str, str]]:
    return sorted((dict(labels) for _, labels, _ in vector), key=lambda d: sorted(d.items()))


@pytest.fixture
def shop() -> WindowStore:
    store = WindowStore()
    for service, instance, route, status, value in (
        ("cart", "cart-0", "/cart", "200", 5.0),
        ("cart", "cart-1", "/cart", "500", 2.0),
        ("cart", "cart-1", "/health", "200", 9.0),
        ("web", "web-0", "/", "200", 7.0),
    ):
        labels = {"service": service, "instance": instance, "route": route, "status": status}
        put(store, "requests", labels, [(10.0, value)])
    return store


# -- selectors ---------------------------------------------------------------------------
def test_equal_and_not_equal_matchers(shop: WindowStore) -> None:
    assert len(query(shop, 'requests{service="cart"}')) == 3
    assert labels_of(query(shop, 'requests{service!="cart"}')) == [
        {"instance": "web-0", "route": "/", "service": "web", "status": "200"}
    ]


def test_regex_matchers_are_anchored(shop: WindowStore) -> None:
    assert len(query(shop, 'requests{status=~"5.."}')) == 1
    assert len(query(shop, 'requests{status=~"5"}')) == 0  # not a substring search
    assert len(query(shop, 'requests{route!~"/health|/metrics"}')) == 3


def test_a_missing_label_matches_the_empty_string(shop: WindowStore) -> None:
    assert len(query(shop, 'requests{zone=""}')) == 4
    assert len(query(shop, 'requests{zone!=""}')) == 0


def test_selector_by_name_regex() -> None:
    store = WindowStore()
    put(store, "a_total", {"x": "1"}, [(10.0, 1.0)])
    put(store, "b_total", {"x": "1"}, [(10.0, 2.0)])
    put(store, "c_bytes", {"x": "1"}, [(10.0, 3.0)])
    found = query(store, '{__name__=~".*_total"}')
    assert sorted((name, v) for name, _, v in found) == [("a_total", 1.0), ("b_total", 2.0)]


def test_instant_selector_reads_the_newest_point_at_or_before_the_time() -> None:
    store = WindowStore()
    put(store, "g", {}, [(1.0, 1.0), (5.0, 5.0), (9.0, 9.0)])
    assert query(store, "g", at=6.0) == [("g", {}, 5.0)]
    assert query(store, "g", at=9.0) == [("g", {}, 9.0)]


def test_a_gauge_older_than_the_lookback_is_not_read() -> None:
    store = WindowStore()
    put(store, "g", {}, [(1.0, 1.0)])
    assert query(store, "g", at=10.0, lookback=5.0) == []
    assert query(store, "g", at=10.0, lookback=300.0) == [("g", {}, 1.0)]


def test_a_staleness_marker_ends_the_series() -> None:
    store = WindowStore()
    put(store, "g", {"i": "a"}, [(8.0, 3.0), (9.0, math.nan)])
    put(store, "g", {"i": "b"}, [(9.0, 4.0)])
    assert labels_of(query(store, "g")) == [{"i": "b"}]
    assert query(store, "g", at=8.5) == [("g", {"i": "a"}, 3.0)]


def test_range_selection_is_left_open_and_skips_staleness_markers() -> None:
    store = WindowStore()
    put(store, "c", {}, [(6.0, 100.0), (7.0, 1.0), (8.0, math.nan), (9.0, 3.0), (10.0, 4.0)])
    # (6, 10]: the point at 6 is out, the marker at 8 is no point
    assert query(store, "count_over_time(c[4s])") == [(None, {}, 3.0)]
    assert query(store, "sum_over_time(c[4s])") == [(None, {}, 8.0)]
    assert query(store, "last_over_time(c[4s])") == [("c", {}, 4.0)]


# -- functions ---------------------------------------------------------------------------
points = st.lists(
    st.tuples(st.floats(0.1, 30.0), st.floats(0.0, 1e6)), min_size=2, max_size=12
).map(lambda xs: sorted({round(t, 3): v for t, v in xs}.items()))


@settings(max_examples=60, deadline=None)
@given(points, st.sampled_from([5.0, 10.0, 20.0]))
def test_rate_increase_and_delta_are_promql_py_over_the_left_open_range(
    pts: list[tuple[float, float]], range_seconds: float
) -> None:
    store = WindowStore()
    put(store, "c_total", {"job": "a"}, pts)
    at = 30.0
    inside = [(t, v) for t, v in pts if at - range_seconds < t <= at]
    ts, vs = [t for t, _ in inside], [v for _, v in inside]
    start = at - range_seconds
    for fn, expected in (
        ("rate", promql.rate(ts, vs, start, at)),
        ("increase", promql.increase(ts, vs, start, at)),
        ("delta", promql.increase(ts, vs, start, at, is_counter=False)),
    ):
        got = query(store, f"{fn}(c_total[{range_seconds:g}s])", at=at)
        if len(inside) < 2 or math.isnan(expected):
            assert got == []
        else:
            assert got == [(None, {"job": "a"}, pytest.approx(expected))]


def test_rate_handles_a_counter_reset() -> None:
    store = WindowStore()
    put(store, "c", {}, [(7.0, 10.0), (8.0, 20.0), (9.0, 5.0), (10.0, 15.0)])
    # 10 + 5 + 10 = 25 over 3 s of points, extrapolated to the 4 s range (to 6 s, within 1.1
    # intervals of the first point, but never below the counter's zero at 7 - 3 * 10/25 = 5.8)
    assert query(store, "increase(c[4s])") == [(None, {}, pytest.approx(25 * 4 / 3))]


def test_histogram_quantile_groups_buckets_by_their_other_labels() -> None:
    store = WindowStore()
    for service, counts in (("a", (10.0, 30.0, 40.0)), ("b", (0.0, 0.0, 10.0))):
        for le, n in zip(("0.1", "0.5", "+Inf"), counts, strict=True):
            put(store, "h_bucket", {"service": service, "le": le}, [(10.0, n)])
    put(store, "h_bucket", {"service": "a", "le": "oops"}, [(10.0, 1e9)])  # ignored
    got = by_labels(query(store, "histogram_quantile(0.5, h_bucket)"))
    assert got[(("service", "a"),)] == pytest.approx(
        promql.histogram_quantile(0.5, [(0.1, 10.0), (0.5, 30.0), (math.inf, 40.0)])
    )
    assert got[(("service", "b"),)] == 0.5  # rank in +Inf: the last finite bound


def test_clamp_abs_and_friends_drop_the_name() -> None:
    store = WindowStore()
    put(store, "g", {"i": "a"}, [(10.0, -3.0)])
    put(store, "g", {"i": "b"}, [(10.0, 7.0)])
    assert by_labels(query(store, "clamp_min(g, 0)")) == {(("i", "a"),): 0.0, (("i", "b"),): 7.0}
    assert by_labels(query(store, "clamp_max(g, 5)")) == {(("i", "a"),): -3.0, (("i", "b"),): 5.0}
    assert by_labels(query(store, "clamp(g, -1, 1)")) == {(("i", "a"),): -1.0, (("i", "b"),): 1.0}
    assert query(store, "clamp(g, 2, 1)") == []
    assert {name for name, _, _ in query(store, "abs(g)")} == {None}
    assert by_labels(query(store, "abs(g)")) == {(("i", "a"),): 3.0, (("i", "b"),): 7.0}


def test_label_replace_sets_removes_or_keeps_and_keeps_the_name() -> None:
    store = WindowStore()
    put(store, "up", {"instance_id": "cart-0", "instance": "h:1"}, [(10.0, 1.0)])
    put(store, "up", {"instance": "h:2"}, [(10.0, 1.0)])
    got = query(store, 'label_replace(up, "instance", "$1", "instance_id", "(.+)")')
    assert sorted((n, labels["instance"]) for n, labels, _ in got) == [
        ("up", "cart-0"),
        ("up", "h:2"),  # no match: unchanged
    ]
    got = query(store, 'label_replace(up, "host", "${1}x", "instance", "h:(.*)")')
    assert sorted(labels["host"] for _, labels, _ in got) == ["1x", "2x"]
    got = query(store, 'label_replace(up, "instance", "", "instance", ".*")')
    assert all("instance" not in labels for _, labels, _ in got)


def test_vector_scalar_and_time() -> None:
    store = WindowStore()
    put(store, "g", {"i": "a"}, [(10.0, 4.0)])
    assert query(store, "vector(3)") == [(None, {}, 3.0)]
    assert query(store, "scalar(g) * 2") == 8.0
    assert query(store, "time()", at=12.5) == 12.5


# -- aggregations ------------------------------------------------------------------------
def test_aggregations_by_and_without(shop: WindowStore) -> None:
    assert by_labels(query(shop, "sum by (service) (requests)")) == {
        (("service", "cart"),): 16.0,
        (("service", "web"),): 7.0,
    }
    assert by_labels(query(shop, "sum without (instance, route, status) (requests)")) == {
        (("service", "cart"),): 16.0,
        (("service", "web"),): 7.0,
    }
    assert query(shop, "sum(requests)") == [(None, {}, 23.0)]
    cart = (("service", "cart"),)
    for op, expected in (
        ("min", 2.0),
        ("max", 9.0),
        ("avg", 16 / 3),
        ("count", 3.0),
        ("group", 1.0),
        ("stdvar", ((5 - 16 / 3) ** 2 + (2 - 16 / 3) ** 2 + (9 - 16 / 3) ** 2) / 3),
    ):
        got = by_labels(query(shop, f"{op} by (service) (requests)"))[cart]
        assert got == pytest.approx(expected), op
    assert by_labels(query(shop, "quantile by (service) (0.5, requests)"))[cart] == 5.0
    assert by_labels(query(shop, "stddev by (service) (requests)"))[cart] == pytest.approx(
        math.sqrt(((5 - 16 / 3) ** 2 + (2 - 16 / 3) ** 2 + (9 - 16 / 3) ** 2) / 3)
    )


def test_grouping_by_a_missing_label_groups_under_its_absence(shop: WindowStore) -> None:
    assert query(shop, "sum by (zone) (requests)") == [(None, {}, 23.0)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(-1e6, 1e6)), min_size=1, max_size=20))
def test_sum_by_equals_the_sum_of_each_group(rows: list[tuple[str, float]]) -> None:
    store = WindowStore()
    for i, (group, value) in enumerate(rows):
        put(store, "g", {"group": group, "i": str(i)}, [(10.0, value)])
    expected: dict[str, float] = {}
    for group, value in rows:
        expected[group] = expected.get(group, 0.0) + value
    got = {labels["group"]: v for _, labels, v in query(store, "sum by (group) (g)")}
    assert got == pytest.approx(expected)


# -- binary operators --------------------------------------------------------------------
@pytest.fixture
def pool() -> WindowStore:
    store = WindowStore()
    for inst, used, top in (("a", 4.0, 8.0), ("b", 8.0, 8.0), ("c", 1.0, 0.0)):
        put(store, "in_use", {"service": "s", "instance": inst}, [(10.0, used)])
        put(store, "max", {"service": "s", "instance": inst}, [(10.0, top)])
    put(store, "limit", {"service": "s"}, [(10.0, 2.0)])
    return store


def test_one_to_one_matching_on_all_labels(pool: WindowStore) -> None:
    assert by_labels(query(pool, "in_use / (max > 0)")) == {
        (("instance", "a"), ("service", "s")): 0.5,
        (("instance", "b"), ("service", "s")): 1.0,
    }


def test_division_by_zero_is_infinite_not_an_error(pool: WindowStore) -> None:
    got = by_labels(query(pool, "in_use / max"))
    assert got[(("instance", "c"), ("service", "s"))] == math.inf


def test_on_keeps_only_the_matching_labels(pool: WindowStore) -> None:
    got = query(pool, "sum by (service) (in_use) / on (service) sum by (service, zone) (max)")
    assert got == [(None, {"service": "s"}, 13 / 16)]


def test_group_left_keeps_the_many_side_and_copies_listed_labels() -> None:
    store = WindowStore()
    for inst, v in (("a", 2.0), ("b", 6.0)):
        put(store, "p99", {"service": "s", "instance": inst}, [(10.0, v)])
    put(store, "ref", {"service": "s", "team": "x"}, [(10.0, 2.0)])
    got = by_labels(query(store, "p99 / on (service) group_left (team) ref"))
    assert got == {
        (("instance", "a"), ("service", "s"), ("team", "x")): 1.0,
        (("instance", "b"), ("service", "s"), ("team", "x")): 3.0,
    }
    got = by_labels(query(store, "ref / on (service) group_right p99"))
    assert got == {
        (("instance", "a"), ("service", "s")): 1.0,
        (("instance", "b"), ("service", "s")): 1 / 3,
    }


def test_ambiguous_matches_fail_as_in_prometheus(pool: WindowStore) -> None:
    with pytest.raises(EvaluationError, match="many-to-many"):
        query(pool, "limit / on (service) in_use")  # the right side is not unique
    with pytest.raises(EvaluationError, match="group_left/group_right"):
        query(pool, "in_use / on (service) limit")  # one-to-one, but many on the left


def test_comparisons_filter_or_answer_with_bool(pool: WindowStore) -> None:
    assert labels_of(query(pool, "in_use > 3")) == [
        {"instance": "a", "service": "s"},
        {"instance": "b", "service": "s"},
    ]
    assert {name for name, _, _ in query(pool, "in_use > 3")} == {"in_use"}  # name kept
    got = by_labels(query(pool, "in_use > bool 3"))
    assert sorted(got.values()) == [0.0, 1.0, 1.0]
    # the scalar on the left: the vector element's value is kept
    assert sorted(v for _, _, v in query(pool, "3 < in_use")) == [4.0, 8.0]
    assert query(pool, "1 < bool 2") == 1.0


def test_and_or_unless(pool: WindowStore) -> None:
    full = "in_use >= 8"
    assert labels_of(query(pool, f"in_use and ({full})")) == [{"instance": "b", "service": "s"}]
    assert labels_of(query(pool, f"in_use unless ({full})")) == [
        {"instance": "a", "service": "s"},
        {"instance": "c", "service": "s"},
    ]
    got = query(pool, "limit or in_use")
    assert len(got) == 4
    got = query(pool, "limit or on (service) in_use")  # the right side matches on service
    assert got == [("limit", {"service": "s"}, 2.0)]
    assert labels_of(query(pool, "in_use and on (service) limit")) == labels_of(
        query(pool, "in_use")
    )


def test_a_ratio_that_is_zero_while_nothing_failed() -> None:
    store = WindowStore()
    put(store, "total", {"service": "s"}, [(10.0, 10.0)])
    got = query(store, "(failed or total * 0) / (total >= 5)")
    assert got == [(None, {"service": "s"}, 0.0)]


def test_unary_minus_and_scalar_arithmetic() -> None:
    store = WindowStore()
    put(store, "g", {"i": "a"}, [(10.0, 2.0)])
    assert query(store, "-g") == [(None, {"i": "a"}, -2.0)]
    assert query(store, "2 ^ 3 + 1") == 9.0
    assert query(store, "5 % 3") == 2.0
    assert query(store, "g * 0 + 1") == [(None, {"i": "a"}, 1.0)]


@settings(max_examples=40, deadline=None)
@given(st.sets(st.integers(0, 9)), st.sets(st.integers(0, 9)))
def test_set_operators_partition_the_left_side(left: set[int], right: set[int]) -> None:
    store = WindowStore()
    for i in left:
        put(store, "a", {"i": str(i)}, [(10.0, 1.0)])
    for i in right:
        put(store, "b", {"i": str(i)}, [(10.0, 2.0)])

    def ids(text: str) -> set[str]:
        return {labels["i"] for _, labels, _ in query(store, text)}

    assert ids("a and b") == {str(i) for i in left & right}
    assert ids("a unless b") == {str(i) for i in left - right}
    assert ids("a or b") == {str(i) for i in left | right}


# -- refused at compile time -------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("up offset 5m", "offset"),
        ("up @ 100", "offset and @"),
        ("rate(up[5m:1m])", "SubqueryExpr"),
        ("topk(2, up)", "topk"),
        ("predict_linear(up[5m], 60)", "predict_linear"),
        ('up{a="b" or c="d"}', "'or'"),
        ('up{a=~"("}', "regex"),
        ("sum(up", "unclosed"),
        ("up[5m]", "matrix"),
        ('label_replace(up, "1bad", "$1", "a", "(.*)")', "destination"),
    ],
)
def test_unsupported_or_invalid_expressions_are_refused_at_compile(text: str, message: str) -> None:
    with pytest.raises(PromQLError, match=message.replace("(", r"\(")):
        Compiler().compile(text)


# -- one read per subexpression ----------------------------------------------------------
class CountingStore(WindowStore):
    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def scan(self, name: str, since: float, until: float = math.inf) -> Any:
        self.scans += 1
        return super().scan(name, since, until)


def test_shared_subexpressions_are_evaluated_once_per_instant() -> None:
    store = CountingStore()
    put(store, "c_total", {"s": "a"}, [(8.0, 1.0), (9.0, 2.0), (10.0, 3.0)])
    compiler = Compiler()
    first = compiler.compile("sum(rate(c_total[4s]))")
    second = compiler.compile("sum(rate(c_total[4s])) / count(rate(c_total[4s]))")
    third = compiler.compile("sum(increase(c_total[4s]))")
    instant = Instant(store, 10.0)
    for q in (first, second, third):
        instant.eval(q)
    assert store.scans == 1  # one read of c_total over 4 s for all three
    assert instant.eval(second) == [(None, {}, pytest.approx(instant.eval(first)[0][2]))]


def test_new_values_are_read_every_cycle_though_label_work_is_kept() -> None:
    store = WindowStore()
    compiler = Compiler()
    q = compiler.compile('sum by (instance) (label_replace(g, "instance", "$1", "id", "(.+)"))')
    for t, value in ((1.0, 3.0), (2.0, 5.0), (3.0, 8.0)):
        put(store, "g", {"id": "x-0", "instance": "h:1"}, [(t, value)])
        assert Instant(store, t).eval(q) == [(None, {"instance": "x-0"}, value)]
