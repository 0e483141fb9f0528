"""The REST API: incidents, approvals, pause/resume, audit, status, metrics.

Served by uvicorn inside the loop's process (``selfheal.api.server``); the web
dashboard and the CLI's humans use it. It reads and writes the state store and
asks the running engine for its live status and metrics; it never acts on the
platform itself. Errors are JSON ``{"error": "..."}`` with a 4xx status.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from selfheal.store.db import ConflictError, NotFoundError
from selfheal.store.state import Store


class EngineView(Protocol):
    """What the API needs from the running engine."""

    def status(self) -> dict[str, Any]: ...

    def pause(self, by: str = "") -> None: ...

    def resume(self, by: str = "") -> None: ...


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="api", min_length=1, max_length=100)
    reason: str = Field(default="", max_length=1000)


class Who(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="api", min_length=1, max_length=100)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def create_app(engine: EngineView, store: Store, registry: CollectorRegistry) -> FastAPI:
    app = FastAPI(title="selfheal", version="0.1.0", docs_url="/api/docs", redoc_url=None)

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
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/status")
    def status() -> dict[str, Any]:
        return engine.status()

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/incidents")
    def incidents(
        status: str | None = Query(default=None, pattern="^(open|remediating|resolved|escalated)$"),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        rows = store.incidents.list(status=status, limit=limit)
        return {"incidents": [_plain(r) for r in rows]}

    @app.get("/incidents/{incident_id}")
    def incident(incident_id: str) -> dict[str, Any]:
        record = store.incidents.get(incident_id)
        if record is None:
            raise ApiError(404, f"no incident {incident_id!r}")
        return {
            **_plain(record),
            "actions": [_plain(a) for a in store.incidents.actions(incident_id)],
        }

    @app.get("/approvals")
    def approvals(pending: bool = Query(default=False)) -> dict[str, Any]:
        rows = store.approvals.pending() if pending else store.approvals.list()
        return {"approvals": [_plain(r) for r in rows]}

    def _decide(approval_id: str, approved: bool, body: Decision | None) -> dict[str, Any]:
        if not approval_id.isdigit():
            raise ApiError(400, f"approval id must be a number, got {approval_id!r}")
        who = body or Decision()
        try:
            request = store.approvals.decide(approval_id, approved, by=who.by, reason=who.reason)
        except NotFoundError as exc:
            raise ApiError(404, str(exc).strip("'\"")) from None
        except ConflictError as exc:
            raise ApiError(409, str(exc)) from None
        return _plain(request)  # type: ignore[no-any-return]

    @app.post("/approvals/{approval_id}/approve")
    def approve(approval_id: str, body: Decision | None = None) -> dict[str, Any]:
        return _decide(approval_id, True, body)

    @app.post("/approvals/{approval_id}/deny")
    def deny(approval_id: str, body: Decision | None = None) -> dict[str, Any]:
        return _decide(approval_id, False, body)

    @app.post("/pause")
    def pause(body: Who | None = None) -> dict[str, Any]:
        engine.pause(by=(body or Who()).by)
        return {"paused": True}

    @app.post("/resume")
    def resume(body: Who | None = None) -> dict[str, Any]:
        engine.resume(by=(body or Who()).by)
        return {"paused": False}

    @app.get("/audit")
    def audit(
        after_seq: int = Query(default=0, ge=0),
        limit: int = Query(default=200, ge=1, le=5000),
        kind: str | None = Query(default=None, max_length=64),
        newest_first: bool = Query(default=False),
    ) -> dict[str, Any]:
        entries = store.audit.entries(
            after_seq=after_seq, limit=limit, kind=kind, newest_first=newest_first
        )
        return {"entries": [_plain(e) for e in entries]}

    @app.get("/audit/verify")
    def audit_verify() -> dict[str, Any]:
        return _plain(store.audit.verify())  # type: ignore[no-any-return]

    return app
