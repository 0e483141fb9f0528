"""The state store's tables (SQLAlchemy 2.0 declarative).

One module holds every table so that :func:`selfheal.store.db.Database.create_schema`
sees them all. JSON columns are stored as canonical JSON text (``Text``), the
same on SQLite and PostgreSQL, so that what the audit chain hashes is exactly
what is stored. Only the store modules use these classes; the rest of the loop
sees frozen dataclasses.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AuditRow(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHeadRow(Base):
    """One row: the last appended seq and hash. Appends lock it, which serialises
    writers on PostgreSQL, and verification compares it with the last entry so that
    a truncated tail is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class IntentRow(Base):
    __tablename__ = "intents"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    completed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class StrategyOutcomeRow(Base):
    """How often each playbook strategy healed its incident (the planner's learned
    success estimate survives a restart)."""

    __tablename__ = "strategy_outcomes"

    strategy: Mapped[str] = mapped_column(String(255), primary_key=True)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[float] = mapped_column(Float)


class PastIncidentRow(Base):
    """A resolved incident's symptom signature and the cause whose remediation healed
    it: the root-cause analysis matches new incidents against these."""

    __tablename__ = "past_incidents"

    incident_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    root_service: Mapped[str] = mapped_column(String(255))
    failure_type: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)  # canonical JSON {"service:indicator": 0..1}
    resolved_at: Mapped[float] = mapped_column(Float, index=True)


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    opened_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32), index=True)
    services: Mapped[str] = mapped_column(Text)
    causes: Mapped[str] = mapped_column(Text)
    impact: Mapped[str] = mapped_column(Text)
    anomalies: Mapped[str] = mapped_column(Text, default="[]")


class IncidentActionRow(Base):
    __tablename__ = "incident_actions"
    __table_args__ = (Index("ix_incident_actions_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)


class ApprovalRow(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(Text)
    risk: Mapped[float] = mapped_column(Float)
    requested_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class ControlRow(Base):
    __tablename__ = "control"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    paused: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(128))
    at: Mapped[float] = mapped_column(Float)


class LeaseRow(Base):
    """Who leads: one row per lease. ``epoch`` grows each time another holder takes
    it, and fenced writes (intents) check it, so a leader that lost its lease cannot
    start an action after its successor took over."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)
    renewed_at: Mapped[float] = mapped_column(Float)
