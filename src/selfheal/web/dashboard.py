"""Serve the dashboard's static files from the package (no build step, no CDN)."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response


def _read(name: str) -> str:
    return resources.files("selfheal.web").joinpath("static", name).read_text(encoding="utf-8")


def mount(app: FastAPI) -> FastAPI:
    page = _read("index.html")
    script = _read("dashboard.js")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/dashboard.js", include_in_schema=False)
    def dashboard_js() -> Response:
        return Response(script, media_type="application/javascript")

    return app
