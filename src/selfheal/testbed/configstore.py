"""Config files with history: every write is a new numbered revision, and the
current revision is the file the instances read (``current.json``).

Used by the platform for ``GET/PUT /config``, ``/config/history`` and
``/config/restore``; a restore writes an old revision's content as a new
revision, so the history only ever grows (as Kubernetes rollout history does).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Revision:
    revision: int
    config: dict[str, Any]
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "config": copy.deepcopy(self.config), "at": self.at}


class ConfigStore:
    """The config history of one service, kept in ``directory``."""

    def __init__(self, directory: str, initial: dict[str, Any]) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._revisions: list[Revision] = []
        self.write(initial)

    @property
    def path(self) -> str:
        """The file instances read."""
        return os.path.join(self.directory, "current.json")

    def current(self) -> Revision:
        with self._lock:
            return self._revisions[-1]

    def history(self) -> list[Revision]:
        with self._lock:
            return list(self._revisions)

    def get(self, revision: int) -> Revision | None:
        with self._lock:
            for r in self._revisions:
                if r.revision == revision:
                    return r
        return None

    def write(self, config: dict[str, Any]) -> Revision:
        with self._lock:
            number = self._revisions[-1].revision + 1 if self._revisions else 1
            rev = Revision(number, copy.deepcopy(config), time.time())
            self._revisions.append(rev)
            body = json.dumps(rev.config, indent=2, sort_keys=True)
            with open(os.path.join(self.directory, f"rev-{number}.json"), "w") as f:
                f.write(body)
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(body)
            os.replace(tmp, self.path)
            return rev
