"""A real API server over a real SQLite store, with one token per role (shared helpers)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter

from selfheal.api import Server, create_app
from selfheal.api.auth import TokenBook
from selfheal.monitoring.alertmanager import AlertInbox
from selfheal.store.state import Store

ROLES = ("viewer", "operator", "approver", "admin")
#: name -> role, token; each role's holder is named after it ("holder-admin", ...)
TOKENS = {f"holder-{role}": (role, f"{role}-token-0123456789abcdef") for role in ROLES}


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[f'holder-{role}'][1]}"}


class EngineView:
    """The engine's pause/resume as the engine does them: the flag and an audit entry."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def status(self) -> dict[str, Any]:
        return {"cycles": 3, "paused": self.store.control.paused, "open_incidents": []}

    def pause(self, by: str = "") -> None:
        self.store.control.pause(by=by)
        self.store.audit.append("engine_paused", {"by": by}, 1.0)

    def resume(self, by: str = "") -> None:
        self.store.control.resume(by=by)
        self.store.audit.append("engine_resumed", {"by": by}, 2.0)


def serve(store: Store, tokens: TokenBook, alerts: AlertInbox | None = None) -> Server:
    registry = CollectorRegistry()
    Counter("selfheal_cycles_total", "cycles", registry=registry).inc(3)
    app = create_app(EngineView(store), store, registry, tokens=tokens, alerts=alerts)
    return Server(app).start()
