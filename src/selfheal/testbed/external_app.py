"""A service of role ``external``: a third-party provider (a bank, a broker, a
card network). Each route takes ``processing_ms`` and approves the request;
callers reach it through their config's dependency URL, which a failover points
at its standby.

``dependency_outage`` makes it answer 503 to everything, ``/ready`` included,
also after restarts (the platform re-applies it; see ``faults``). ``v2`` rounds
the amount with a string for the digits.

Runs inside an instance process; built by ``apps.build_app``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from selfheal.testbed.apps import App, AppContext, HttpError, Request, serve_routes
from selfheal.testbed.topology import RouteSpec


class External(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        serve_routes(self, ctx.spec.routes, self.serve)

    def serve(self, route: RouteSpec, req: Request) -> tuple[int, dict[str, Any]]:
        time.sleep(float(self.ctx.config.get("processing_ms", 15)) / 1000.0)
        amount = req.body.get("amount", 0)
        if self.v2:
            amount = round(amount, "2")  # type: ignore[call-overload]  # v2: str for int
        if not isinstance(amount, int | float) or amount < 0:
            raise HttpError(400, "amount must be a non-negative number")
        return 200, {
            "result": {
                "service": self.ctx.service,
                "id": uuid.uuid4().hex[:12],
                "status": "approved",
            }
        }
