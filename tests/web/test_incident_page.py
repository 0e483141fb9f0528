"""An incident's page in a real headless browser: the real engine heals a fault in fake time
over a real SQLite store (the incident, its actions and audit trail are the loop's own), and
the real API serves the page, which must draw the graph, the series with the actions, and the
timeline. The screenshot goes under tmp_path and to docs/img/incident.png for the README."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from loop.fakes import FakeGuards, FakePlanner, FakePlatform, FakeRanker, FakeRunner, World
from selfheal.analysis.correlation import Correlator
from selfheal.analysis.rules import LiveDetection
from selfheal.api import Server, create_app
from selfheal.api.auth import TokenBook
from selfheal.core.clock import FakeClock
from selfheal.core.types import ActionKind, IncidentStatus
from selfheal.loop.engine import Engine
from selfheal.loop.jobs import InlinePool
from selfheal.loop.ports import Observation
from selfheal.loop.settings import EngineSettings
from selfheal.loop.stages import StoreAdapter
from selfheal.monitoring.window_store import WindowStore
from selfheal.store.state import Store, open_store
from selfheal.web import mount

CHROMIUM = "/usr/bin/chromium"
DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "img" / "incident.png"
TOKEN = "vic-viewer-token-0123456789"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium"),
]


class RecordingWorld:
    """The scripted world, its indicator samples kept in the loop's history as the
    collector keeps them."""

    def __init__(self, world: World, history: WindowStore) -> None:
        self.world, self.history = world, history

    def collect(self, now: float) -> Observation:
        obs = self.world.collect(now)
        self.history.append_many(obs.samples)
        return obs


def heal_a_fault(store: Store, history: WindowStore) -> tuple[Engine, str]:
    """cache breaks (cart, which calls it, echoes its errors); the first rung (a scale-out)
    does not help and is rolled back, the second (a restart) heals."""
    clock = FakeClock()
    world = World(clock, echoes={"cart": "cache"})
    engine = Engine(
        collector=RecordingWorld(world, history),
        platform=FakePlatform(world),
        detection=LiveDetection(warmup_samples=3, detector_factory=None),
        correlator=Correlator(window_seconds=60, max_hops=3),
        ranker=FakeRanker(),
        planner=FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE)),
        guards=FakeGuards(),
        runner=FakeRunner(world),
        store=StoreAdapter(store),
        clock=clock,
        settings=EngineSettings(cycle_seconds=1.0, resolve_after_seconds=5.0),
        pool=InlinePool(),
    )

    def run(cycles: int) -> None:
        for _ in range(cycles):
            engine.step()
            clock.advance(1.0)

    run(15)
    world.broken["cache"] = "RestartService"
    run(40)
    (incident,) = store.incidents.list()
    assert incident.status == IncidentStatus.RESOLVED.value
    return engine, incident.id


def reddest_share(png: bytes) -> float:
    """The share of pixels in the root cause's red (#c62828, within a tolerance)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = list(image.getdata())
    red = [p for p in pixels if abs(p[0] - 0xC6) < 40 and p[1] < 90 and p[2] < 90]
    return len(red) / len(pixels)


def test_incident_page_draws_graph_series_with_actions_and_timeline(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("PIL")
    store = open_store(f"sqlite:///{tmp_path}/incident.db")
    history = WindowStore(max_points_per_series=600)
    engine, incident_id = heal_a_fault(store, history)
    tokens = TokenBook({"vic": ("viewer", TOKEN)})
    app = mount(create_app(engine, store, CollectorRegistry(), tokens, history=history))
    server = Server(app).start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(f"{server.url}/#token={TOKEN}")  # signs the tab in
            link = page.wait_for_selector(f"#incidents a:text('{incident_id}')")
            assert link is not None
            link.click()  # the overview links to the incident's page
            page.wait_for_selector("body[data-loaded='true']")
            assert page.url.endswith(f"/incident?id={incident_id}")
            shown = tmp_path / "incident.png"
            page.screenshot(path=str(shown), full_page=True)
            assert shown.stat().st_size > 10_000
            DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shown, DOCS_IMAGE)

            # the graph: every service, the root cause marked, the echoing caller affected
            nodes = page.eval_on_selector_all(
                "#graph-svg g.node",
                "gs => gs.map(g => [g.dataset.service, g.getAttribute('class')])",
            )
            assert {service: cls for service, cls in nodes} == {
                "frontend": "node",
                "cart": "node affected",
                "cache": "node root-cause",
            }
            edges = page.eval_on_selector_all(
                "#graph-svg path.edge", "ps => ps.map(p => [p.dataset.source, p.dataset.target])"
            )
            assert sorted(map(tuple, edges)) == [("cart", "cache"), ("frontend", "cart")]
            # ... and the picture shows it: the root cause's box is drawn in red, a plain one not
            root_png = page.locator("#graph-svg g.node.root-cause").screenshot()
            plain_png = page.locator("#graph-svg g.node[data-service='frontend']").screenshot()
            assert reddest_share(root_png) > 0.02 and reddest_share(plain_png) == 0.0

            # the series: one chart per symptom, a line through its points, both actions on it
            charts = page.eval_on_selector_all(
                "svg.series-chart",
                """cs => cs.map(c => ({
                    who: c.dataset.service + ' ' + c.dataset.indicator,
                    segments: (c.querySelector('path.series-line').getAttribute('d')
                               .match(/[ML]/g) || []).length,
                    marks: [...c.querySelectorAll('g.action-mark')].map(g => [
                        g.dataset.describe, g.dataset.outcome,
                        Number(g.querySelector('line').getAttribute('x1'))]),
                    width: Number(c.getAttribute('width')),
                }))""",
            )
            assert sorted(c["who"] for c in charts) == ["cache error_ratio", "cart error_ratio"]
            for c in charts:
                assert c["segments"] >= 20  # the points around the incident, not a stub
                (scale, restart) = c["marks"]
                assert (scale[0], scale[1]) == ("ScaleService(cache)", "rolled_back")
                assert (restart[0], restart[1]) == ("RestartService(cache)", "succeeded")
                assert 0 < scale[2] < restart[2] < c["width"]  # drawn in time order, inside

            # the timeline: the steps in the order they happened
            steps = page.eval_on_selector_all("#timeline li", "ls => ls.map(l => l.dataset.step)")
            wanted = [
                "opened", "diagnosed", "decided", "action started", "not verified",
                "rolled back", "action started", "verified", "resolved",
            ]  # fmt: skip
            it = iter(steps)
            assert all(step in it for step in wanted), steps  # an ordered subsequence
            assert steps[0] == "opened" and steps[-1] == "resolved"
            seqs = page.eval_on_selector_all("#timeline li", "ls => ls.map(l => +l.dataset.seq)")
            assert seqs == sorted(seqs)
            assert "cache · ResourceExhaustion" in page.inner_text("#timeline")
            browser.close()
    finally:
        server.stop()
        store.close()


def test_incident_page_without_a_token_says_to_sign_in(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    store = open_store(f"sqlite:///{tmp_path}/incident.db")
    history = WindowStore(max_points_per_series=600)
    engine, incident_id = heal_a_fault(store, history)
    tokens = TokenBook({"vic": ("viewer", TOKEN)})
    app = mount(create_app(engine, store, CollectorRegistry(), tokens, history=history))
    server = Server(app).start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page: Any = browser.new_page()
            page.goto(f"{server.url}/incident?id={incident_id}")
            page.wait_for_function("document.querySelector('#error').innerText.includes('401')")
            assert "sign in" in page.inner_text("#error")
            assert page.query_selector("#graph-svg") is None  # nothing drawn without a token
            browser.close()
    finally:
        server.stop()
        store.close()
