"""The shop's business logic: one small app per service, with the routes the
call graph needs (frontend → catalog, cart, checkout; checkout → cart, payment,
inventory, shipping; cart → cache; catalog → inventory; payment → bank).

``v1`` is correct. ``v2`` of each service ships a real bug in its code (not a
flag that fails on purpose): a renamed field, a division by a zero discount, a
dropped request field... so a ``bad_release`` is found the way a real one is,
and only a rollback fixes it.

Runs inside an instance process (``instance.py``).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selfheal.testbed.telemetry import JsonLog, Metrics
from selfheal.testbed.upstream import Upstream, UpstreamError, UpstreamResponse


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """Answer the request with ``status`` and ``{"error": message, **extra}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


Handler = Callable[[Request], tuple[int, dict[str, Any]]]


@dataclass(slots=True)
class AppContext:
    """What an app may use: its version, live config, dependencies, telemetry."""

    service: str
    version: str
    config: dict[str, Any]
    upstream: Upstream
    metrics: Metrics
    log: JsonLog
    data_dir: str


class App:
    """Base: a route table of ``(method, pattern, handler)``."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def route(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
        self.routes.append((method, pattern, template, handler))

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        for m, pattern, template, handler in self.routes:
            found = pattern.match(path)
            if found and m == method:
                return template, handler, found.groupdict()
        return None

    @property
    def v2(self) -> bool:
        return self.ctx.version == "v2"

    def call(
        self, target: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> UpstreamResponse:
        """Call a dependency; a transport failure or a 5xx becomes a 502."""
        try:
            response = self.ctx.upstream.call(target, method, path, body)
        except UpstreamError as exc:
            raise HttpError(502, f"{target} unavailable: {exc}", failed_stage=target) from exc
        if response.status >= 500:
            raise HttpError(
                502,
                f"{target} failed with HTTP {response.status}: {response.body.get('error', '')}",
                failed_stage=target,
            )
        return response

    def close(self) -> None:
        """Release background work (snapshots) on shutdown."""


PRODUCTS: tuple[dict[str, Any], ...] = tuple(
    {"id": i, "name": f"product-{i}", "price": round(5.0 + 3.5 * i, 2), "discount": 0.1 * (i % 3)}
    for i in range(1, 21)
)


class Frontend(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.route("GET", "/browse", self.browse)
        self.route("GET", "/product/{pid}", self.product)
        self.route("POST", "/cart/add", self.add_to_cart)
        self.route("GET", "/cart/{user}", self.view_cart)
        self.route("POST", "/checkout", self.checkout)

    def browse(self, req: Request) -> tuple[int, dict[str, Any]]:
        products = self.call("catalog", "GET", "/products").body["products"]
        # v2 renamed the template field to "title"; the catalog still sends "name".
        field_name = "title" if self.v2 else "name"
        names = [p[field_name] for p in products]
        return 200, {"products": names}

    def product(self, req: Request) -> tuple[int, dict[str, Any]]:
        r = self.call("catalog", "GET", f"/products/{req.params['pid']}")
        return r.status, r.body

    def add_to_cart(self, req: Request) -> tuple[int, dict[str, Any]]:
        user = str(req.body.get("user", ""))
        if not user:
            raise HttpError(400, "user is required")
        item = {"product": req.body.get("product", 1), "qty": req.body.get("qty", 1)}
        r = self.call("cart", "POST", f"/carts/{user}/items", item)
        return r.status, r.body

    def view_cart(self, req: Request) -> tuple[int, dict[str, Any]]:
        r = self.call("cart", "GET", f"/carts/{req.params['user']}")
        return r.status, r.body

    def checkout(self, req: Request) -> tuple[int, dict[str, Any]]:
        try:
            r = self.ctx.upstream.call("checkout", "POST", "/orders", req.body)
        except UpstreamError as exc:
            raise HttpError(502, f"checkout unavailable: {exc}", failed_stage="checkout") from exc
        if r.status >= 500:
            # Keep checkout's own account of which stage failed (e.g. payment).
            body = dict(r.body)
            body.setdefault("failed_stage", "checkout")
            return 502, body
        return r.status, r.body


class Catalog(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.route("GET", "/products", self.products)
        self.route("GET", "/products/{pid}", self.product)

    def products(self, req: Request) -> tuple[int, dict[str, Any]]:
        stock = self.call("inventory", "GET", "/stock").body["stock"]
        out = []
        for p in PRODUCTS:
            item = dict(p, in_stock=stock.get(str(p["id"]), 0) > 0)
            if self.v2:
                # v2 shows the "was" price; undefined for products with no discount.
                item["was"] = round(p["price"] / p["discount"], 2)
            out.append(item)
        return 200, {"products": out}

    def product(self, req: Request) -> tuple[int, dict[str, Any]]:
        pid = req.params["pid"]
        found = [p for p in PRODUCTS if str(p["id"]) == pid]
        if not found:
            raise HttpError(404, f"no product {pid}")
        stock = self.call("inventory", "GET", f"/stock/{pid}").body
        return 200, dict(found[0], stock=stock.get("available", 0))


class Inventory(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self._lock = threading.Lock()
        self._stock = {p["id"]: 100 for p in PRODUCTS}
        self.route("GET", "/stock", self.all_stock)
        self.route("GET", "/stock/{pid}", self.one)
        self.route("POST", "/reserve", self.reserve)

    def all_stock(self, req: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            return 200, {"stock": {str(k): v for k, v in self._stock.items()}}

    def one(self, req: Request) -> tuple[int, dict[str, Any]]:
        try:
            pid = int(req.params["pid"])
        except ValueError as exc:
            raise HttpError(400, "product id must be an integer") from exc
        with self._lock:
            if pid not in self._stock:
                raise HttpError(404, f"no product {pid}")
            return 200, {"product": pid, "available": self._stock[pid]}

    def reserve(self, req: Request) -> tuple[int, dict[str, Any]]:
        items = req.body.get("items", [])
        with self._lock:
            for item in items:
                # v2 keys the stock by the product id as sent on the wire (a string).
                pid = str(item["product"]) if self.v2 else int(item["product"])
                left = self._stock[pid] - int(item.get("qty", 1))
                self._stock[pid] = left if left > 0 else 100  # the warehouse restocks
        return 200, {"reserved": len(items)}


class Cache(App):
    """Key/value store whose data survives a restart (snapshot file), like a
    cache with persistence: only a clear removes bad entries."""

    CORRUPT_PREFIX = "\x00\x13corrupt"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self._lock = threading.Lock()
        self._path = os.path.join(ctx.data_dir, f"{ctx.service}-snapshot.json")
        self._data: dict[str, str] = self._load()
        self._dirty = False
        self._stop = threading.Event()
        self._saver = threading.Thread(target=self._save_loop, daemon=True)
        self._saver.start()
        ctx.metrics.cache_entries.set(len(self._data))
        self.route("GET", "/kv/{key}", self.get)
        self.route("PUT", "/kv/{key}", self.put)
        self.route("DELETE", "/kv/{key}", self.delete)

    def _load(self) -> dict[str, str]:
        try:
            with open(self._path, encoding="utf-8") as f:
                data = json.load(f)
            return {str(k): str(v) for k, v in data.items()}
        except (OSError, ValueError):
            return {}

    def _save_loop(self) -> None:
        while not self._stop.wait(float(self.ctx.config.get("snapshot_interval_seconds", 0.5))):
            self.save()

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            snapshot = dict(self._data)
            self._dirty = False
        tmp = self._path + f".{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(snapshot, f)
        os.replace(tmp, self._path)

    def _changed(self) -> None:
        self._dirty = True
        self.ctx.metrics.cache_entries.set(len(self._data))

    def get(self, req: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            value = self._data.get(req.params["key"])
        if value is None:
            raise HttpError(404, "no such key")
        if self.v2:
            return 200, {"val": value}  # v2 renamed the field its clients read
        return 200, {"value": value}

    def put(self, req: Request) -> tuple[int, dict[str, Any]]:
        value = req.body.get("value")
        if not isinstance(value, str):
            raise HttpError(400, "value must be a string")
        with self._lock:
            self._data[req.params["key"]] = value
            self._changed()
        return 200, {"stored": True}

    def delete(self, req: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            existed = self._data.pop(req.params["key"], None) is not None
            self._changed()
        return 200, {"deleted": existed}

    def clear(self) -> int:
        with self._lock:
            n = len(self._data)
            self._data.clear()
            self._changed()
        self.save()
        return n

    def corrupt(self) -> int:
        """Overwrite every entry with bytes no client can parse."""
        with self._lock:
            for key, value in self._data.items():
                if not value.startswith(self.CORRUPT_PREFIX):
                    self._data[key] = self.CORRUPT_PREFIX + value[::-1]
            self._changed()
            n = len(self._data)
        self.save()
        return n

    def drop_corrupted(self) -> int:
        with self._lock:
            bad = [k for k, v in self._data.items() if v.startswith(self.CORRUPT_PREFIX)]
            for key in bad:
                del self._data[key]
            self._changed()
        self.save()
        return len(bad)

    def close(self) -> None:
        self._stop.set()
        self.save()


class Cart(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.route("POST", "/carts/{user}/items", self.add)
        self.route("GET", "/carts/{user}", self.view)
        self.route("DELETE", "/carts/{user}", self.empty)

    def _read(self, user: str) -> list[dict[str, Any]]:
        try:
            r = self.ctx.upstream.call("cache", "GET", f"/kv/cart:{user}")
        except UpstreamError as exc:
            raise HttpError(502, f"cache unavailable: {exc}", failed_stage="cache") from exc
        if r.status == 404:
            return []
        if r.status != 200:
            raise HttpError(502, f"cache failed with HTTP {r.status}", failed_stage="cache")
        try:
            stored = json.loads(r.body["value"])
            items = stored["cart"] if self.v2 else stored["items"]
        except (ValueError, TypeError) as exc:
            raise HttpError(500, f"corrupt cart data for {user}: {exc}") from exc
        return list(items)

    def add(self, req: Request) -> tuple[int, dict[str, Any]]:
        user = req.params["user"]
        items = self._read(user)
        items.append({"product": req.body.get("product", 1), "qty": req.body.get("qty", 1)})
        self.call("cache", "PUT", f"/kv/cart:{user}", {"value": json.dumps({"items": items})})
        return 200, {"user": user, "items": len(items)}

    def view(self, req: Request) -> tuple[int, dict[str, Any]]:
        items = self._read(req.params["user"])
        return 200, {"user": req.params["user"], "items": items}

    def empty(self, req: Request) -> tuple[int, dict[str, Any]]:
        self.call("cache", "DELETE", f"/kv/cart:{req.params['user']}")
        return 200, {"user": req.params["user"], "items": []}


class Checkout(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.route("POST", "/orders", self.order)

    def order(self, req: Request) -> tuple[int, dict[str, Any]]:
        user = str(req.body.get("user", ""))
        if not user:
            raise HttpError(400, "user is required")
        self.ctx.metrics.orders.inc()
        try:
            items = self.call("cart", "GET", f"/carts/{user}").body.get("items", [])
            if not items:
                raise HttpError(400, "cart is empty")
            amount = round(sum(self._price(i) * int(i.get("qty", 1)) for i in items), 2)
            self.call("inventory", "POST", "/reserve", {"items": items})
            if self.v2:
                # v2 moved to integer cents but payment still reads "amount".
                pay_body: dict[str, Any] = {"user": user, "amount_cents": int(amount * 100)}
            else:
                pay_body = {"user": user, "amount": amount, "currency": "EUR"}
            paid = self.call("payment", "POST", "/payments", pay_body)
            if paid.status != 200:
                raise HttpError(
                    502, f"payment refused: {paid.body.get('error', '')}", failed_stage="payment"
                )
            shipped = self.call("shipping", "POST", "/shipments", {"user": user, "items": items})
            self.call("cart", "DELETE", f"/carts/{user}")
        except Exception:
            self.ctx.metrics.orders_failed.inc()
            raise
        return 200, {
            "order_id": uuid.uuid4().hex[:12],
            "amount": amount,
            "payment_id": paid.body.get("payment_id"),
            "tracking": shipped.body.get("tracking"),
        }

    @staticmethod
    def _price(item: dict[str, Any]) -> float:
        for p in PRODUCTS:
            if str(p["id"]) == str(item.get("product")):
                return float(p["price"])
        return 0.0


class Payment(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.route("POST", "/payments", self.pay)

    def pay(self, req: Request) -> tuple[int, dict[str, Any]]:
        self.ctx.metrics.payments.inc()
        try:
            amount = req.body.get("amount")
            if not isinstance(amount, int | float):
                raise HttpError(400, "amount is required")
            charge: dict[str, Any] = {"amount": amount}
            if not self.v2:  # v2 dropped the currency while "simplifying" the request
                charge["currency"] = req.body.get("currency", "EUR")
            r = self.call("bank", "POST", "/charge", charge)
            if r.status != 200:
                raise HttpError(502, f"bank declined: {r.body.get('error', '')}")
        except Exception:
            self.ctx.metrics.payments_failed.inc()
            raise
        return 200, {"payment_id": r.body.get("id"), "bank": r.body.get("bank")}


class Shipping(App):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.route("POST", "/shipments", self.ship)

    def ship(self, req: Request) -> tuple[int, dict[str, Any]]:
        label = f"{req.body.get('user', '')}-{len(req.body.get('items', []))}"
        if self.v2:
            # v2 prints the address on the label; the shop never sends one.
            label = req.body.get("address").upper() + label  # type: ignore[union-attr]
        return 200, {"tracking": f"TRK-{uuid.uuid4().hex[:10]}", "label": label}


class Bank(App):
    """The external payment provider (``bank`` and its standby ``bank-b``)."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.route("POST", "/charge", self.charge)

    def charge(self, req: Request) -> tuple[int, dict[str, Any]]:
        time.sleep(float(self.ctx.config.get("processing_ms", 15)) / 1000.0)
        amount = req.body.get("amount")
        if self.v2:
            amount = round(amount, "2")  # type: ignore[call-overload]  # v2: str for int
        if not isinstance(amount, int | float) or amount < 0:
            raise HttpError(400, "amount must be a non-negative number")
        if not req.body.get("currency"):
            raise HttpError(400, "currency is required")
        return 200, {"id": uuid.uuid4().hex[:12], "bank": self.ctx.service, "status": "approved"}


APPS: dict[str, type[App]] = {
    "frontend": Frontend,
    "catalog": Catalog,
    "inventory": Inventory,
    "cache": Cache,
    "cart": Cart,
    "checkout": Checkout,
    "payment": Payment,
    "shipping": Shipping,
    "bank": Bank,
    "bank-b": Bank,
}
