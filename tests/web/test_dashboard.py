"""The dashboard in a real headless browser, against the real API (with tokens) and store."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from selfheal.api import Server, create_app
from selfheal.api.auth import TokenBook
from selfheal.core.types import Cause, FailureType, Incident, IncidentStatus
from selfheal.store.state import open_store
from selfheal.web import mount

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium"),
]


class EngineView:
    def __init__(self, store: Any) -> None:
        self.store = store

    def status(self) -> dict[str, Any]:
        return {
            "cycles": 7,
            "paused": self.store.control.paused,
            "dry_run": False,
            "series": 12,
            "last_cycle_at": 1.0,
            "last_error": "",
            "open_incidents": [],
            "metrics_source": {"source": "prometheus", "ok": False, "since": 1.0},
        }

    def pause(self, by: str = "") -> None:
        self.store.control.pause(by=by)

    def resume(self, by: str = "") -> None:
        self.store.control.resume(by=by)


TOKENS = {
    "vic": ("viewer", "vic-viewer-token-0123456789"),
    "ann": ("approver", "ann-approver-token-0123456789"),
    "ops": ("operator", "ops-operator-token-0123456789"),
}


def sign_in(page: Any, name: str) -> None:
    page.fill("#token", TOKENS[name][1])
    page.click("#signin-button")
    page.wait_for_function(
        f"document.querySelector('#who').innerText.includes('signed in as {name}')"
    )


def test_dashboard_asks_for_a_token_and_acts_only_with_the_right_role(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    store = open_store(f"sqlite:///{tmp_path}/web.db")
    store.incidents.save(
        Incident(
            "inc-42",
            100.0,
            (),
            frozenset({"payment"}),
            causes=(Cause("bank", 0.9, FailureType.EXTERNAL_DEPENDENCY),),
            status=IncidentStatus.RESOLVED,
        )
    )
    rid = store.approvals.request(
        {"kind": "Failover", "describe": "Failover(payment)"}, "inc-42", 0.8, expires_at=4e9
    )
    from prometheus_client import CollectorRegistry

    app = mount(create_app(EngineView(store), store, CollectorRegistry(), TokenBook(TOKENS)))
    server = Server(app).start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(server.url)
            page.wait_for_function(
                "document.querySelector('#who').innerText.includes('sign in with an API token')"
            )
            assert "bank" not in page.inner_text("#incidents")  # nothing shown without a token

            sign_in(page, "vic")
            page.wait_for_selector("#incidents tbody tr.s-resolved")
            assert "bank · ExternalDependency · 0.90" in page.inner_text("#incidents")
            assert "Failover(payment)" in page.inner_text("#approvals")
            shown = page.inner_text("#cycles")
            assert "metrics: prometheus unavailable since" in shown and "last view kept" in shown
            assert page.evaluate("sessionStorage.getItem('selfheal.token')") == TOKENS["vic"][1]
            page.click(f"button[data-approval='{rid}'][data-verdict='approve']")
            page.wait_for_function("document.querySelector('#error').innerText.includes('403')")
            assert store.approvals.get(rid).status == "pending"

            sign_in(page, "ann")
            page.click(f"button[data-approval='{rid}'][data-verdict='approve']")
            page.wait_for_function(
                "document.querySelector('#approvals').innerText.includes('nothing waits')"
            )
            decided = store.approvals.get(rid)
            assert decided.status == "approved" and decided.decided_by == "ann"
            page.click("#pause")
            page.wait_for_function("document.querySelector('#error').innerText.includes('403')")
            assert not store.control.paused

            sign_in(page, "ops")
            page.click("#pause")
            page.wait_for_function("document.querySelector('#state').innerText === 'paused'")
            assert store.control.paused and store.control.state().by == "ops"
            page.click("#resume")
            page.wait_for_function("document.querySelector('#state').innerText !== 'paused'")
            assert not store.control.paused

            # a link carrying the token signs a new tab in, and the token leaves the address bar
            fresh = browser.new_page()
            fresh.goto(f"{server.url}/#token={TOKENS['vic'][1]}")
            fresh.wait_for_function(
                "document.querySelector('#who').innerText.includes('signed in as vic')"
            )
            assert "token" not in fresh.url
            browser.close()
    finally:
        server.stop()
        store.close()
