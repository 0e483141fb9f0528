"""Serve the dashboard's static files from the package (no build step, no CDN).

``/`` is the overview (tables polled from the API); ``/incident?id=ID`` is one incident's
page (its service graph, symptom series with the actions, and timeline, drawn as SVG by
``incident.js`` from ``GET /incidents/{id}/graph|series|timeline``).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response


def _read(name: str) -> str:
    return resources.files("selfheal.web").joinpath("static", name).read_text(encoding="utf-8")


def mount(app: FastAPI) -> FastAPI:
    page = _read("index.html")
    incident_page = _read("incident.html")
    scripts = {name: _read(name) for name in ("dashboard.js", "incident.js")}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/incident", response_class=HTMLResponse, include_in_schema=False)
    def incident() -> HTMLResponse:
        return HTMLResponse(incident_page)

    @app.get("/dashboard.js", include_in_schema=False)
    def dashboard_js() -> Response:
        return Response(scripts["dashboard.js"], media_type="application/javascript")

    @app.get("/incident.js", include_in_schema=False)
    def incident_js() -> Response:
        return Response(scripts["incident.js"], media_type="application/javascript")

    return app
