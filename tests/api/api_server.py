"""A real API server over a real SQLite store, with one token per role (shared helpers)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter

from selfheal.api import Server, create_app
from selfheal.api.auth import TokenBook
from selfheal.monitoring.alertmanager import AlertInbox
from selfheal.monitoring.window_store import WindowStore
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
        self.ready: tuple[bool, str] = (True, "3 cycles, the last began 0.5 s ago")
        self.edges: list[tuple[str, str]] = []

    def status(self) -> dict[str, Any]:
        return {"cycles": 3, "paused": self.store.control.paused, "open_incidents": []}

    def pause(self, by: str = "") -> None:
        self.store.control.pause(by=by)
        self.store.audit.append("engine_paused", {"by": by}, 1.0)

    def resume(self, by: str = "") -> None:
        self.store.control.resume(by=by)
        self.store.audit.append("engine_resumed", {"by": by}, 2.0)

    def readiness(self) -> tuple[bool, str]:
        return self.ready

    def service_graph(self) -> list[tuple[str, str]]:
        return list(self.edges)


def serve(
    store: Store,
    tokens: TokenBook,
    *,
    engine: EngineView | None = None,
    history: WindowStore | None = None,
    alerts: AlertInbox | None = None,
) -> Server:
    registry = CollectorRegistry()
    Counter("selfheal_cycles_total", "cycles", registry=registry).inc(3)
    view = engine if engine is not None else EngineView(store)
    app = create_app(view, store, registry, tokens=tokens, history=history, alerts=alerts)
    return Server(app).start()
