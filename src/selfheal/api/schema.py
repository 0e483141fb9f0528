"""The REST API's OpenAPI description agrees with what it answers.

``create_app`` documents each route's error statuses with ``errors(...)``;
``document_errors`` rewrites the generated schema so that a bad request is the
400 the API answers (FastAPI would promise 422), and names the bearer scheme.
Clients, the dashboard and schemathesis read the same schema; nothing here
handles a request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

#: Largest integer the store keeps (SQLite and PostgreSQL BIGINT): larger ids are bad input.
MAX_INT64 = 2**63 - 1


class ErrorBody(BaseModel):
    """Every error: one line saying what was wrong."""

    error: str


_MEANING = {
    400: "bad input: a parameter or the body is invalid (the message names it)",
    401: "no valid bearer token (Authorization: Bearer TOKEN)",
    403: "the token's role may not make this call",
    404: "unknown id",
    409: "already decided, or expired",
    503: "not ready (the message says why)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting ``statuses`` as ``{"error": "..."}`` bodies."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


def document_errors(app: FastAPI) -> None:
    """Replace ``app.openapi`` by a generator that drops FastAPI's 422 (the API answers
    400, documented per route) and its validation-error schemas."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    generator: Callable[[], dict[str, Any]] = build
    app.openapi = generator  # type: ignore[method-assign]
