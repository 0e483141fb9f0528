"""The entry and plain services: each route calls its dependencies in the order
the topology lists, and a route that calls nobody does its own work (prices the
items, prints a label).

How a call is made follows the callee's role: a service or an external provider
gets the route the topology names (path parameters filled from the request, the
order in the body); a cache holds the caller's record per user (``GET`` reads it
and fills a miss, ``POST``/``PUT`` read, add the item and write it back,
``DELETE`` removes it), so corrupt entries break the caller the way corrupt
session data does; a database is read (``GET`` routes) or written (the others)
one row per product. A service that emits business counters counts every
request to its write routes, and a failure of one.

``v2`` reads the field it expects from its dependencies' answers under a name
they never send, and a leaf's ``v2`` prints an address no caller sends: real
code-path bugs, found by a rollback only.

Runs inside an instance process; built by ``apps.build_app``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from selfheal.testbed.apps import PRODUCTS, App, AppContext, HttpError, Request, serve_routes
from selfheal.testbed.topology import Role, RouteSpec
from selfheal.testbed.upstream import UpstreamError


@dataclass(slots=True)
class _Order:
    """What a request is about, as it travels down the routes' calls."""

    user: str
    product: int
    qty: int
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def amount(self) -> float:
        return round(
            sum(
                PRODUCTS.get(int(i.get("product", 0)), 0.0) * int(i.get("qty", 1))
                for i in self.items
            ),
            2,
        )

    def wire(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "product": self.product,
            "qty": self.qty,
            "items": self.items,
            "amount": self.amount,
            "currency": "EUR",
        }


class Service(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        serve_routes(self, ctx.spec.routes, self.serve)

    @property
    def _answer_field(self) -> str:
        # v2 moved to the new answer envelope ("payload"); its dependencies still send "result".
        return "payload" if self.v2 else "result"

    def serve(self, route: RouteSpec, req: Request) -> tuple[int, dict[str, Any]]:
        user = req.user
        if route.writes and not user:
            raise HttpError(400, "user is required")
        order = _Order(user or "guest", _product(req), _qty(req))
        order.items = [dict(i) for i in req.body.get("items") or () if isinstance(i, dict)]
        counting = self.ctx.spec.counters if route.writes else ()
        for name in counting:
            self.ctx.metrics.business[name][0].inc()
        try:
            result = self._handle(route, req, order)
        except Exception:
            for name in counting:
                self.ctx.metrics.business[name][1].inc()
            raise
        return 200, {"result": result}

    def _handle(self, route: RouteSpec, req: Request, order: _Order) -> dict[str, Any]:
        me = self.ctx.service
        result: dict[str, Any] = {"service": me, "user": order.user}
        if not route.calls:
            label = f"{order.user}-{len(order.items)}"
            if self.v2:
                # v2 prints the address on the label; no caller ever sends one.
                label = req.body.get("address").upper() + label  # type: ignore[union-attr]
            return {**result, "items": order.items, "amount": order.amount, "label": label}
        via: dict[str, str] = {}
        for call in route.calls:
            callee = self.ctx.topology.service(call.service)
            if callee.role == Role.CACHE:
                order.items = self._cache(callee.name, route.method, order)
                continue
            if callee.role == Role.DATABASE:
                key = f"/rows/{order.product}"
                if route.writes and route.method != "DELETE":
                    answer = self.call(callee.name, "PUT", key, {"qty": order.qty})
                else:
                    answer = self.call(callee.name, "GET", key)
            else:
                target = callee.route(call.route)
                path = _fill(target.path, order)
                if target.writes:
                    answer = self.call(callee.name, target.method, path, order.wire())
                else:
                    answer = self.call(callee.name, target.method, f"{path}?user={order.user}")
            got = answer.body[self._answer_field]
            via[callee.name] = str(got.get("service", callee.name))
            if not order.items and isinstance(got.get("items"), list):
                order.items = list(got["items"])
        return {**result, "items": order.items, "amount": order.amount, "via": via}

    # -- a cache holds this service's record of each user --------------------------------
    def _cache(self, cache: str, method: str, order: _Order) -> list[dict[str, Any]]:
        key = f"/kv/{self.ctx.service}:{order.user}"
        if method == "DELETE":
            self.call(cache, "DELETE", key)
            return []
        items = self._read(cache, key, order.user)
        if method == "GET" and items is not None:
            return items
        items = list(items or [])
        if method != "GET":
            items.append({"product": order.product, "qty": order.qty})
        # A write adds the item; a read that missed fills the entry (a read-through cache).
        self.call(cache, "PUT", key, {"value": json.dumps({"items": items})})
        return items

    def _read(self, cache: str, key: str, user: str) -> list[dict[str, Any]] | None:
        me = self.ctx.service
        try:
            r = self.ctx.upstream.call(cache, "GET", key)
        except UpstreamError as exc:
            raise HttpError(
                502, f"{cache} unavailable: {exc}", (me, cache), failed_stage=cache
            ) from exc
        if r.status == 404:
            return None
        if r.status != 200:
            raise HttpError(
                502,
                f"{cache} failed with HTTP {r.status}",
                tuple(r.body.get("suspects") or (cache,)),
                failed_stage=cache,
            )
        try:
            stored = json.loads(r.body["value"])
        except (KeyError, ValueError, TypeError) as exc:
            raise HttpError(500, f"corrupt {me} data for {user}: {exc}", (me, cache)) from exc
        # v2 renamed the record's field while "simplifying" the storage format.
        return list(stored["lines" if self.v2 else "items"])


def _product(req: Request) -> int:
    raw = next((v for k, v in req.params.items() if k != "user"), None)
    if raw is None:
        raw = req.body.get("product", 1)
    try:
        pid = int(raw)
    except (TypeError, ValueError) as exc:
        raise HttpError(400, "product id must be an integer") from exc
    if pid not in PRODUCTS:
        raise HttpError(404, f"no product {pid}")
    return pid


def _qty(req: Request) -> int:
    try:
        return max(1, int(req.body.get("qty", 1)))
    except (TypeError, ValueError) as exc:
        raise HttpError(400, "qty must be an integer") from exc


def _fill(template: str, order: _Order) -> str:
    """A route path with ``{user}`` and every other parameter (a product id) filled."""
    out = template.replace("{user}", order.user)
    while "{" in out:
        start = out.index("{")
        out = out[:start] + str(order.product) + out[out.index("}", start) + 1 :]
    return out
