"""A service of role ``database``: rows of stock, one per product, behind a
connection pool of its own (every request holds one of its ``pool_size``
connections, as a database server holds a backend per client), so a config push
that shrinks the pool (``pool_exhaustion``) makes it refuse work until the
config is restored.

``GET /rows/{key}`` reads a row, ``PUT /rows/{key}`` (``{"qty"}``) takes stock
from it (the warehouse restocks at zero). ``v2`` keys the rows by the id as sent
on the wire (a string): every lookup fails.

Runs inside an instance process; built by ``apps.build_app``.
"""

from __future__ import annotations

import threading
from typing import Any

from selfheal.testbed.apps import PRODUCTS, App, AppContext, HttpError, Request

RESTOCK = 100


class Database(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self._lock = threading.Lock()
        self._rows: dict[int | str, int] = {pid: RESTOCK for pid in PRODUCTS}
        self.route("GET", "/rows/{key}", self.read)
        self.route("PUT", "/rows/{key}", self.write)

    def _key(self, req: Request) -> int | str:
        raw = req.params["key"]
        if self.v2:
            return raw  # v2 keys by the id as sent on the wire; the rows are keyed by int
        try:
            return int(raw)
        except ValueError as exc:
            raise HttpError(400, "row key must be an integer") from exc

    def read(self, req: Request) -> tuple[int, dict[str, Any]]:
        key = self._key(req)
        with self._lock:
            available = self._rows[key]
        return 200, {"result": {"service": self.ctx.service, "key": key, "available": available}}

    def write(self, req: Request) -> tuple[int, dict[str, Any]]:
        key = self._key(req)
        qty = int(req.body.get("qty", 1))
        with self._lock:
            left = self._rows[key] - qty
            self._rows[key] = left if left > 0 else RESTOCK
        return 200, {"result": {"service": self.ctx.service, "key": key, "available": left}}
