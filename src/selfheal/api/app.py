"""The REST API: incidents, approvals, pause/resume, audit, status, metrics.

Served by uvicorn inside the loop's process (``selfheal.api.server``); the web
dashboard and the CLI's humans use it. It reads and writes the state store and
asks the running engine for its live status and metrics; it never acts on the
platform itself. Who may call what is ``selfheal.api.auth``'s answer: reads need
any valid token once tokens are configured, pause/resume an operator's, approve
and deny an approver's, Alertmanager's webhook notifications (``POST /alertmanager``)
an operator's (admin: all); ``/metrics``, ``/healthz`` and ``/readyz`` are open to
Prometheus and Kubernetes probes. An incident's page reads three views of it
(``selfheal.api.incident_views``): its service graph, its symptom series from the
loop's indicator history, and its timeline from the audit trail. The token's name is the actor the audit trail
records. Errors are JSON ``{"error": "..."}`` with a 4xx status, as the OpenAPI
schema says (``selfheal.api.schema``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from selfheal.api import incident_views as views
from selfheal.api.auth import AuthError, Permission, Principal, TokenBook
from selfheal.api.schema import MAX_INT64, document_errors, errors
from selfheal.monitoring.alertmanager import AlertInbox, AlertPayloadError
from selfheal.monitoring.window_store import WindowStore
from selfheal.store.db import ConflictError, NotFoundError
from selfheal.store.incidents import IncidentRecord
from selfheal.store.json_codec import to_jsonable
from selfheal.store.state import Store


class EngineView(Protocol):
    """What the API needs from the running engine."""

    def status(self) -> dict[str, Any]: ...

    def pause(self, by: str = "") -> None: ...

    def resume(self, by: str = "") -> None: ...

    def readiness(self) -> tuple[bool, str]:
        """Whether the loop runs its cycles, and one line saying why (or why not)."""
        ...

    def service_graph(self) -> list[tuple[str, str]]:
        """The call graph of the last cycle as (caller, callee) edges."""
        ...


_BY = Field(
    default=None,
    max_length=100,
    deprecated=True,
    description="Ignored: the actor recorded is the name of the caller's token.",
)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = _BY
    reason: str = Field(default="", max_length=1000)


class Who(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = _BY


_NOTIFICATION = (
    "Alertmanager's webhook body (webhook_config, version 4): {status, alerts: [{status, "
    "labels, annotations, fingerprint}], ...}."
)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_BEARER = HTTPBearer(
    auto_error=False,
    description="An api.tokens entry's token; its role decides what the call may do.",
)


def _needs(permission: Permission) -> Callable[..., Principal | None]:
    """A dependency admitting callers whose token grants ``permission`` (the app's book)."""

    def authorized(
        request: Request, _: Annotated[Any, Security(_BEARER)] = None
    ) -> Principal | None:
        book: TokenBook = request.app.state.tokens
        return book.authorize(request.headers.get("authorization"), permission)

    return authorized


Reader = Annotated[Principal | None, Depends(_needs(Permission.READ))]
Controller = Annotated[Principal | None, Depends(_needs(Permission.CONTROL))]
Decider = Annotated[Principal | None, Depends(_needs(Permission.DECIDE))]
ApprovalId = Annotated[int, Path(ge=1, le=MAX_INT64, description="The approval's id.")]
IncidentId = Annotated[str, Path(min_length=1, max_length=200, description="The incident's id.")]


def create_app(
    engine: EngineView,
    store: Store,
    registry: CollectorRegistry,
    tokens: TokenBook | None = None,
    history: WindowStore | None = None,
    alerts: AlertInbox | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The API over ``engine`` and ``store``; ``tokens`` say who may call what (none
    configured: a read-only API); ``history`` is the loop's indicator history, which an
    incident's series are read from (none: the series are empty); ``alerts``: the inbox
    that Alertmanager's webhook notifications (``POST /alertmanager``) go to, stamped
    with ``clock``."""
    book = tokens if tokens is not None else TokenBook()
    app = FastAPI(title="selfheal", version="0.1.0", docs_url="/api/docs", redoc_url=None)
    app.state.tokens = book
    document_errors(app)

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse({"error": f"bad request: {problems}"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # keep Starlette's headers: a 405 must say which methods are allowed (RFC 9110)
        headers = getattr(exc, "headers", None)
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=headers)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness for probes: the loop's process answers. Open, and says nothing more."""
        return {"status": "ok"}

    @app.get("/readyz", responses=errors(503))
    def readyz() -> dict[str, str]:
        """Readiness for probes: the loop runs its cycles (one finished, the last one
        recent); 503 with the reason otherwise. Open, like /healthz."""
        ready, why = engine.readiness()
        if not ready:
            raise ApiError(503, f"not ready: {why}")
        return {"status": "ready", "detail": why}

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text exposition",
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            }
        },
    )
    def metrics() -> Response:
        """The loop's own metrics, open to Prometheus (counts and timings, no incident data)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/whoami", responses=errors(401))
    def whoami(caller: Reader) -> dict[str, Any]:
        """The caller's token name and role (both null when no token is configured)."""
        return {
            "name": caller.name if caller else None,
            "role": caller.role if caller else None,
            "tokens_configured": book.configured,
        }

    @app.get("/status", responses=errors(401))
    def status(caller: Reader) -> dict[str, Any]:
        return engine.status()

    @app.get("/incidents", responses=errors(400, 401))
    def incidents(
        caller: Reader,
        status: str | None = Query(default=None, pattern="^(open|remediating|resolved|escalated)$"),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        rows = store.incidents.list(status=status, limit=limit)
        return {"incidents": [to_jsonable(r) for r in rows]}

    @app.get("/incidents/{incident_id}", responses=errors(400, 401, 404))
    def incident(
        caller: Reader, incident_id: str = Path(min_length=1, max_length=200)
    ) -> dict[str, Any]:
        record = store.incidents.get(incident_id)
        if record is None:
            raise ApiError(404, f"no incident {incident_id!r}")
        return {
            **to_jsonable(record),
            "actions": [to_jsonable(a) for a in store.incidents.actions(incident_id)],
        }

    def _incident(incident_id: str) -> IncidentRecord:
        record = store.incidents.get(incident_id)
        if record is None:
            raise ApiError(404, f"no incident {incident_id!r}")
        return record

    @app.get("/incidents/{incident_id}/graph", responses=errors(400, 401, 404))
    def incident_graph(caller: Reader, incident_id: IncidentId) -> views.IncidentGraph:
        """The service graph around the incident, its root cause and affected services marked."""
        return views.graph(_incident(incident_id), engine.service_graph())

    @app.get("/incidents/{incident_id}/series", responses=errors(400, 401, 404))
    def incident_series(
        caller: Reader,
        incident_id: IncidentId,
        before_seconds: float = Query(default=120.0, ge=0, le=86400),
        after_seconds: float = Query(default=120.0, ge=0, le=86400),
    ) -> views.IncidentSeries:
        """The symptom series from ``before_seconds`` before the incident opened to
        ``after_seconds`` after it closed (still open: to now), and its actions."""
        record = _incident(incident_id)
        actions = store.incidents.actions(incident_id)
        return views.series(record, actions, history, before_seconds, after_seconds)

    @app.get("/incidents/{incident_id}/timeline", responses=errors(400, 401, 404))
    def incident_timeline(caller: Reader, incident_id: IncidentId) -> views.IncidentTimeline:
        """The incident's steps from the audit trail (opened … resolved), oldest first."""
        _incident(incident_id)
        return views.timeline(incident_id, store.audit.for_incident(incident_id))

    @app.get("/approvals", responses=errors(400, 401))
    def approvals(caller: Reader, pending: bool = Query(default=False)) -> dict[str, Any]:
        rows = store.approvals.pending() if pending else store.approvals.list()
        return {"approvals": [to_jsonable(r) for r in rows]}

    def _decide(
        approval_id: int, approved: bool, body: Decision | None, caller: Principal | None
    ) -> dict[str, Any]:
        assert caller is not None  # deciding always needs a token
        reason = body.reason if body else ""
        try:
            request = store.decide_approval(approval_id, approved, by=caller.name, reason=reason)
        except NotFoundError as exc:
            raise ApiError(404, str(exc).strip("'\"")) from None
        except ConflictError as exc:
            raise ApiError(409, str(exc)) from None
        return to_jsonable(request)  # type: ignore[no-any-return]

    @app.post("/approvals/{approval_id}/approve", responses=errors(400, 401, 403, 404, 409))
    def approve(
        caller: Decider, approval_id: ApprovalId, body: Decision | None = None
    ) -> dict[str, Any]:
        return _decide(approval_id, True, body, caller)

    @app.post("/approvals/{approval_id}/deny", responses=errors(400, 401, 403, 404, 409))
    def deny(
        caller: Decider, approval_id: ApprovalId, body: Decision | None = None
    ) -> dict[str, Any]:
        return _decide(approval_id, False, body, caller)

    @app.post("/pause", responses=errors(400, 401, 403))
    def pause(caller: Controller, body: Who | None = None) -> dict[str, Any]:
        assert caller is not None
        engine.pause(by=caller.name)
        return {"paused": True}

    @app.post("/resume", responses=errors(400, 401, 403))
    def resume(caller: Controller, body: Who | None = None) -> dict[str, Any]:
        assert caller is not None
        engine.resume(by=caller.name)
        return {"paused": False}

    @app.post("/alertmanager", responses=errors(400, 401, 403, 404))
    def alertmanager(
        caller: Controller, payload: Annotated[Any, Body(description=_NOTIFICATION)]
    ) -> dict[str, Any]:
        """Alertmanager's webhook receiver: firing alerts become ``alert_firing`` series
        (anomalies), resolved ones end them; a re-sent alert is folded by fingerprint.
        Returns what the notification changed."""
        if alerts is None:
            raise ApiError(404, "the Alertmanager receiver is off (alertmanager.enabled: false)")
        try:
            received = alerts.receive(payload, clock())
        except AlertPayloadError as exc:
            raise ApiError(400, str(exc)) from None
        return {**dataclasses.asdict(received), "active": alerts.firing}

    @app.get("/audit", responses=errors(400, 401))
    def audit(
        caller: Reader,
        after_seq: int = Query(default=0, ge=0, le=MAX_INT64),
        limit: int = Query(default=200, ge=1, le=5000),
        kind: str | None = Query(default=None, pattern="^[a-z][a-z0-9_]{0,63}$"),
        newest_first: bool = Query(default=False),
    ) -> dict[str, Any]:
        entries = store.audit.entries(
            after_seq=after_seq, limit=limit, kind=kind, newest_first=newest_first
        )
        return {"entries": [to_jsonable(e) for e in entries]}

    @app.get("/audit/verify", responses=errors(401))
    def audit_verify(caller: Reader) -> dict[str, Any]:
        return to_jsonable(store.audit.verify())  # type: ignore[no-any-return]

    return app
