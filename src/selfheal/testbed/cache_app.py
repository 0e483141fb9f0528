"""A service of role ``cache``: a key/value store whose data survives a restart
(a snapshot file), like a cache with persistence, so only a clear removes bad
entries. Its callers keep one record per user in it (``service_app``).

Faults: ``cache_corruption`` overwrites every entry with bytes no client can
parse (``corrupt``); the platform's cache clear drops everything (``clear``).
``v2`` renamed the field its clients read.

Runs inside an instance process; built by ``apps.build_app``.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from selfheal.testbed.apps import App, AppContext, HttpError, Request


class Cache(App):
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
        if ctx.metrics.cache_entries is not None:
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
        if self.ctx.metrics.cache_entries is not None:
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
