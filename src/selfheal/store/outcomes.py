"""Outcome counts per playbook strategy: what the planner has learned, persisted.

The planner estimates each strategy's success probability from its prior and the
outcomes seen so far (``decision.playbook.Playbook.record_outcome``). The loop
records every outcome here as well, and a restarted loop reads the counts back
before it plans, so what was learned is not lost with the process. Several
processes may share the database: an outcome is one atomic increment.
"""

from __future__ import annotations

from selfheal.core.clock import Clock, SystemClock
from selfheal.store.db import Database
from selfheal.store.schema import StrategyOutcomeRow


class StrategyOutcomes:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    def record(self, strategy: str, success: bool) -> tuple[int, int]:
        """Count one outcome of ``strategy``; returns its (successes, failures) now."""
        if not strategy:
            raise ValueError("a strategy outcome needs the strategy's name")
        with self.db.write_session() as session:
            row = session.get(StrategyOutcomeRow, strategy)
            if row is None:
                row = StrategyOutcomeRow(strategy=strategy, successes=0, failures=0)
                session.add(row)
            if success:
                row.successes += 1
            else:
                row.failures += 1
            row.updated_at = self.clock.now()
            return row.successes, row.failures

    def all(self) -> dict[str, tuple[int, int]]:
        """Every strategy's (successes, failures), by name."""
        with self.db.session() as session:
            rows = session.query(StrategyOutcomeRow).all()
            return {r.strategy: (r.successes, r.failures) for r in rows}
