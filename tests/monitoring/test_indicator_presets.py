"""The OpenTelemetry preset of the indicator table gives the native table's values.

The same traffic is exposed twice — under the native names (``http_requests_total``,
``upstream_requests_total``, ...) and under OpenTelemetry's HTTP semantic conventions
as exported to Prometheus (``http_server_request_duration_seconds``,
``http_client_request_duration_seconds``) — scraped by the real scraper and parser,
and evaluated by ``IndicatorSet`` with each preset: every indicator sample and the
call graph must agree. The OpenTelemetry side is named two ways: by ``job`` /
``instance`` target labels (the OpenTelemetry → Prometheus compatibility rules, with
a service namespace), and by ``service_name`` / ``service_instance_id`` labels on the
series of one collector target (an exporter's resource-to-label conversion)."""

from __future__ import annotations

import typing
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from selfheal.core import indicators as ind
from selfheal.core.clock import FakeClock
from selfheal.core.config import Config, parse_config_text
from selfheal.core.errors import ConfigError
from selfheal.monitoring.indicator_otel import OPENTELEMETRY_TABLE
from selfheal.monitoring.indicator_table import DEFAULT_INDICATORS, NATIVE_TABLE
from selfheal.monitoring.indicators import PRESETS, IndicatorSet, window_seconds
from selfheal.monitoring.scraper import Scraper, ScrapeTarget
from selfheal.monitoring.window_store import WindowStore

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
OTEL_CALL_LABELS = ["server_address", "server_port", "http_request_method",
                    "http_response_status_code", "error_type"]  # fmt: skip
OTEL_SERVER_LABELS = ["http_route", "http_request_method", "http_response_status_code",
                      "error_type"]  # fmt: skip


@dataclass(frozen=True)
class Call:
    target: str
    ok: int  # 200s per second
    errors: int = 0  # 503s per second
    timeouts: int = 0  # no answer per second
    not_found: int = 0  # 404s per second: the callee answered, not a failure
    seconds: float = 0.02


@dataclass
class Instance:
    """One instance's traffic, exposed under both conventions."""

    service: str
    instance: str
    served: int = 0
    failed: int = 0
    not_found: int = 0
    latency: float = 0.02
    calls: tuple[Call, ...] = ()
    cpu: float = 0.1
    pool: tuple[float, float] = (2.0, 16.0)
    business: tuple[str, int, int] | None = None
    fqdn: bool = False  # the OpenTelemetry side names callees by a cluster DNS name

    def __post_init__(self) -> None:
        n = self.native = CollectorRegistry()
        self.requests = Counter("http_requests", "", ["route", "method", "status"], registry=n)
        self.durations = Histogram(
            "http_request_duration_seconds", "", ["route"], buckets=BUCKETS, registry=n
        )
        self.upstream = Counter("upstream_requests", "", ["target", "status"], registry=n)
        self.upstream_s = Histogram(
            "upstream_request_duration_seconds", "", ["target"], buckets=BUCKETS, registry=n
        )
        o = self.otel = CollectorRegistry()
        self.resource: dict[str, str] = {}
        self.server = Histogram(
            "http_server_request_duration_seconds", "", OTEL_SERVER_LABELS,
            buckets=BUCKETS, registry=o,
        )  # fmt: skip
        self.client = Histogram(
            "http_client_request_duration_seconds", "", OTEL_CALL_LABELS,
            buckets=BUCKETS, registry=o,
        )  # fmt: skip
        self.cpu_total: list[Counter] = []
        self.timeouts: list[Counter] = []
        self.business_counters: list[tuple[Counter, Counter]] = []
        for r in (n, o):
            self.cpu_total.append(Counter("process_cpu_seconds", "", registry=r))
            Gauge("process_resident_memory_bytes", "", registry=r).set(100e6)
            Gauge("pool_connections_in_use", "", registry=r).set(self.pool[0])
            Gauge("pool_connections_max", "", registry=r).set(self.pool[1])
            self.timeouts.append(Counter("pool_wait_timeouts", "", registry=r))
            if self.business is not None:
                prefix = self.business[0]
                self.business_counters.append(
                    (Counter(prefix, "", registry=r), Counter(f"{prefix}_failed", "", registry=r))
                )

    def _serve(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, "GET", str(status)).inc()
        if route not in ("/health", "/metrics"):  # the native histogram leaves probes out
            self.durations.labels(route).observe(seconds)
        error = str(status) if status >= 500 else ""
        self.server.labels(route, "GET", str(status), error).observe(seconds)

    def _call(self, c: Call, status: int | None, error: str = "") -> None:
        self.upstream.labels(c.target, "error" if status is None else str(status)).inc()
        self.upstream_s.labels(c.target).observe(c.seconds)
        address = f"{c.target}.shop.svc.cluster.local" if self.fqdn else c.target
        code = "" if status is None else str(status)
        self.client.labels(address, "8080", "POST", code, error).observe(c.seconds)

    def second(self) -> None:
        """One second of traffic, recorded under both conventions."""
        for _ in range(self.served):
            self._serve("/items", 200, self.latency)
        for _ in range(self.failed):
            self._serve("/items", 500, self.latency)
        for _ in range(self.not_found):
            self._serve("/items/{id}", 404, 0.003)
        for _ in range(20):
            self._serve("/health", 500, 0.001)  # probes are not traffic
        for c in self.calls:
            for _ in range(c.ok):
                self._call(c, 200)
            for _ in range(c.errors):
                self._call(c, 503, "503")
            for _ in range(c.timeouts):
                self._call(c, None, "timeout")
            for _ in range(c.not_found):
                self._call(c, 404, "404")
        # a call to an IP address names no service: the OpenTelemetry preset leaves it out
        self.client.labels("10.0.0.7", "443", "GET", "200", "").observe(0.01)
        for counter in self.cpu_total:
            counter.inc(self.cpu)
        for counter in self.timeouts:
            counter.inc(0.5 if self.service == "checkout" else 0.0)
        if self.business is not None:
            for total, failed in self.business_counters:
                total.inc(self.business[1])
                failed.inc(self.business[2])


def shop() -> list[Instance]:
    return [
        Instance("frontend", "frontend-0", served=20, not_found=3,
                 calls=(Call("checkout", 12, seconds=0.03),)),
        Instance("frontend", "frontend-1", served=20, calls=(Call("checkout", 12, seconds=0.03),)),
        Instance("checkout", "checkout-0", served=10, failed=2, latency=0.8, cpu=0.6,
                 pool=(16.0, 16.0), calls=(Call("payment", 4, 1, 1, 2, seconds=0.4),),
                 business=("orders", 4, 0), fqdn=True),
        Instance("checkout", "checkout-1", served=10, calls=(Call("payment", 5, not_found=1),),
                 business=("orders", 4, 0)),
        Instance("payment", "payment-0", served=5, failed=1,
                 calls=(Call("bank", 5, timeouts=1, seconds=0.015),),
                 business=("payments", 5, 1)),
    ]  # fmt: skip


def _with_resource(body: bytes, instance: Instance) -> bytes:
    """The instance's OpenTelemetry series as a collector exposes them: its resource's
    ``service.name`` and ``service.instance.id`` as labels on every sample."""
    extra = f'service_name="{instance.service}",service_instance_id="{instance.instance}"'
    lines = []
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, brace, rest = line.partition("{")
            if brace:
                line = f"{name}{{{extra},{rest}"
            else:
                metric, _, value = line.partition(" ")
                line = f"{metric}{{{extra}}} {value}"
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


def scrape(style: str, interval: float = 1.0, scrapes: int = 6) -> tuple[WindowStore, float]:
    """Scrape the shop's traffic under ``style``: ``native``, ``job`` (one target per
    instance, named by ``job``/``instance`` target labels) or ``collector`` (one target
    exposing every instance's series with ``service_name``/``service_instance_id``)."""
    instances = shop()
    by_host = {f"{i.instance}:9100": i for i in instances}

    def serve(request: httpx.Request) -> httpx.Response:
        host = request.url.netloc.decode()
        if style == "collector":
            body = b"".join(_with_resource(generate_latest(i.otel), i) for i in instances)
            # one body: the families of every instance merged (same TYPE lines once)
            return httpx.Response(200, content=_merge_families(body))
        found = by_host[host]
        return httpx.Response(200, content=generate_latest(found.native if style == "native"
                                                            else found.otel))  # fmt: skip

    if style == "collector":
        targets = [ScrapeTarget("http://collector:8889/metrics", {"job": "otel-collector"})]
    elif style == "job":
        targets = [
            ScrapeTarget(
                f"http://{h}/metrics", {"job": f"shop/{i.service}", "instance": i.instance}
            )
            for h, i in by_host.items()
        ]
    else:
        targets = [
            ScrapeTarget(f"http://{h}/metrics", {"service": i.service, "instance_id": i.instance})
            for h, i in by_host.items()
        ]
    clock = FakeClock(1000.0)
    store = WindowStore(max_points_per_series=8)
    with (
        httpx.Client(transport=httpx.MockTransport(serve)) as client,
        Scraper(store, targets=targets, clock=clock, client=client, max_workers=1) as scraper,
    ):
        for _ in range(scrapes):
            for i in instances:
                i.second()
            scraper.scrape_once()
            clock.advance(interval)
    return store, clock.now() - interval + 0.05


def _merge_families(body: bytes) -> bytes:
    """Several expositions as one: each family's samples under its first HELP/TYPE."""
    families: dict[str, list[str]] = {}
    current = ""
    for line in body.decode().splitlines():
        if line.startswith("# HELP "):
            current = line.split()[2]
            families.setdefault(current, [line])
        elif line.startswith("# TYPE "):
            if len(families[current]) == 1:
                families[current].append(line)
        elif line:
            families[current].append(line)
    return ("\n".join(line for lines in families.values() for line in lines) + "\n").encode()


def evaluate(style: str) -> tuple[dict[str, float], list[tuple[str, str]]]:
    store, at = scrape(style)
    preset = "native" if style == "native" else "opentelemetry"
    samples, graph = IndicatorSet(window_seconds=window_seconds(1.0), preset=preset).evaluate(
        store, at
    )
    return {str(s.series): s.value for s in samples}, sorted(graph.edges)


@pytest.fixture(scope="module")
def native() -> tuple[dict[str, float], list[tuple[str, str]]]:
    return evaluate("native")


@pytest.mark.parametrize("style", ["job", "collector"])
def test_the_opentelemetry_preset_gives_the_native_values(
    style: str, native: tuple[dict[str, float], list[tuple[str, str]]]
) -> None:
    values, edges = native
    otel, otel_edges = evaluate(style)
    if style == "collector":  # one scrape target: its `up` is the collector's, not a service's
        values = {k: v for k, v in values.items() if not k.startswith(f"{ind.UP}{{")}
        assert otel.pop(f'{ind.UP}{{instance="collector:8889",service="otel-collector"}}') == 1.0
    assert sorted(otel) == sorted(values)
    assert otel == pytest.approx(values, rel=1e-9)
    assert otel_edges == edges == [
        ("checkout", "payment"), ("frontend", "checkout"), ("payment", "bank")
    ]  # fmt: skip


def test_the_compared_values_exercise_what_differs(
    native: tuple[dict[str, float], list[tuple[str, str]]],
) -> None:
    """The comparison is not vacuous: failures, 4xx and timeouts, slow instances and
    every indicator of the table are in it."""
    values, _ = native
    assert {k.split("{")[0] for k in values} == {d.name for d in DEFAULT_INDICATORS}
    edge = '{service="checkout",target="payment"}'
    assert values[f"{ind.UPSTREAM_ERROR_RATIO}{edge}"] == pytest.approx(2 / 14)  # 503 + timeout
    assert values[f'{ind.UPSTREAM_ERROR_RATIO}{{service="payment",target="bank"}}'] == (
        pytest.approx(1 / 6)
    )
    assert values[f'{ind.ERROR_RATIO}{{service="frontend"}}'] == 0.0  # 404s are not failures
    assert values[f'{ind.ERROR_RATIO}{{service="payment"}}'] == pytest.approx(1 / 6)
    ratio = values[f'{ind.LATENCY_VS_PEERS}{{instance="checkout-0",service="checkout"}}']
    assert ratio > 10


def test_presets_share_indicator_names_and_units() -> None:
    assert set(PRESETS) == {"native", "opentelemetry"}
    assert PRESETS["native"] is NATIVE_TABLE
    native = [(d.name, d.unit) for d in NATIVE_TABLE.definitions]
    assert [(d.name, d.unit) for d in OPENTELEMETRY_TABLE.definitions] == native
    for d in OPENTELEMETRY_TABLE.definitions:
        assert "http_requests_total" not in d.expr and "upstream_requests" not in d.expr


def test_the_config_selects_the_preset() -> None:
    assert parse_config_text("").indicators_preset == "native"
    cfg = parse_config_text("indicators_preset: opentelemetry\n")
    built = IndicatorSet.from_config(
        cfg.indicators, window_seconds=4.0, preset=cfg.indicators_preset
    )
    assert built.preset == "opentelemetry"
    assert "http_server_request_duration_seconds_count" in built.expressions()[ind.ERROR_RATIO]
    # the config's literal names exactly the shipped presets
    field = Config.model_fields["indicators_preset"]
    assert set(typing.get_args(field.annotation)) == set(PRESETS)


def test_a_configured_entry_replaces_the_presets_entry() -> None:
    cfg = parse_config_text(
        "indicators_preset: opentelemetry\n"
        "indicators:\n  - {name: request_rate, expr: 'sum by (service) (up)'}\n"
    )
    built = IndicatorSet.from_config(
        cfg.indicators, window_seconds=4.0, preset=cfg.indicators_preset
    )
    expressions = built.expressions()
    assert expressions[ind.REQUEST_RATE] == "sum by (service) (up)"
    assert "http_client_request_duration_seconds" in expressions[ind.UPSTREAM_ERROR_RATIO]


@pytest.mark.parametrize("bad", ["otel", "OpenTelemetry", "[native]", "1"])
def test_a_bad_preset_is_one_line_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text(f"indicators_preset: {bad}\n")
    message = str(err.value)
    assert "\n" not in message and "indicators_preset" in message
    assert "native" in message and "opentelemetry" in message


def test_an_unknown_preset_is_refused_by_the_indicator_set() -> None:
    with pytest.raises(ConfigError, match="unknown indicator preset 'otel'; known: native"):
        IndicatorSet(window_seconds=4.0, preset="otel")


def test_the_call_graph_queries_follow_the_preset() -> None:
    """What a Prometheus source sends for the call graph is the preset's, not the native one."""
    native = IndicatorSet(window_seconds=4.0).graph_queries
    otel = IndicatorSet(window_seconds=4.0, preset="opentelemetry").graph_queries
    assert all("upstream_requests_total" in q for q in native[1:])
    assert all("http_client_request_duration_seconds" in q for q in otel[1:])
    assert not any("upstream_requests_total" in q for q in otel)
