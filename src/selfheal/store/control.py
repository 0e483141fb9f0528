"""The persisted pause switch: a human stops the loop from acting.

``selfheal pause`` / ``resume`` (CLI, API, dashboard) write the flag here; the
running loop reads it every cycle, possibly from another process, and while
paused it keeps watching and diagnosing but takes no action. The loop writes
the matching ``pause`` / ``resume`` audit entries; this module only keeps the
current state.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfheal.core.clock import Clock, SystemClock
from selfheal.store.db import Database
from selfheal.store.schema import ControlRow

_ROW_ID = 1


@dataclass(frozen=True, slots=True)
class ControlState:
    paused: bool
    reason: str = ""
    by: str = ""
    at: float = 0.0


class ControlFlag:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    def state(self) -> ControlState:
        """The current state; not paused if nobody ever paused."""
        with self.db.session() as session:
            row = session.get(ControlRow, _ROW_ID)
            if row is None:
                return ControlState(False)
            return ControlState(row.paused, row.reason, row.by, row.at)

    @property
    def paused(self) -> bool:
        return self.state().paused

    def _set(self, paused: bool, reason: str, by: str, at: float | None) -> ControlState:
        when = self.clock.now() if at is None else float(at)
        with self.db.write_session() as session:
            row = session.get(ControlRow, _ROW_ID)
            if row is None:
                session.add(ControlRow(id=_ROW_ID, paused=paused, reason=reason, by=by, at=when))
            else:
                row.paused, row.reason, row.by, row.at = paused, reason, by, when
        return ControlState(paused, reason, by, when)

    def pause(self, reason: str = "", by: str = "", at: float | None = None) -> ControlState:
        return self._set(True, reason, by, at)

    def resume(self, reason: str = "", by: str = "", at: float | None = None) -> ControlState:
        return self._set(False, reason, by, at)
