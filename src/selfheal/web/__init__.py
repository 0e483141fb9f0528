"""The web dashboard: two static pages that read the REST API.

``mount(app)`` adds ``GET /`` (the overview, polling the API), ``GET /incident?id=ID``
(one incident's service graph, symptom series with its actions, and timeline, drawn
as SVG) and their scripts to the API's FastAPI app; the command line composes the
two (the API and the web layer are siblings and do not import each other).
"""

from selfheal.web.dashboard import mount

__all__ = ["mount"]
