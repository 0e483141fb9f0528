"""The web dashboard: one static page that polls the REST API.

``mount(app)`` adds ``GET /`` (the page) and ``GET /dashboard.js`` to the API's
FastAPI app; the command line composes the two (the API and the web layer are
siblings and do not import each other).
"""

from selfheal.web.dashboard import mount

__all__ = ["mount"]
