"""Alertmanager as a signal source: firing alerts become indicator samples.

The API's webhook receiver (``POST /alertmanager``, Alertmanager's ``webhook_config``
payload, version 4) hands each notification to :meth:`AlertInbox.receive`; the
loop's collector asks :meth:`AlertInbox.samples` once per cycle. Every alert that
fires yields, each cycle until it resolves, the sample ``alert_firing = 1`` of the
series ``alert_firing{service, instance, alertname, failure_type}`` — an indicator
like any other: the default rule ``alert_firing > 0.5`` turns it into an anomaly,
correlation folds it into an incident, and verification reads it (after a
resolution the series reads 0 for ``resolved_hold_seconds``, then stops).

Service and instance come from the alert's labels, the first present of
``service_labels`` (default ``service``, ``job``) and of ``instance_labels``
(``instance``, ``pod``); an alert naming no service is refused (counted, never
guessed). An optional ``failure_type`` label (a ``FailureType`` value, e.g.
``ResourceExhaustion``) tells the triage what kind of failure the alert reports.

The same alert re-sent — Alertmanager repeats notifications, and each member of an
HA pair sends its own — is folded by its fingerprint (Alertmanager's, or a hash of
the sorted labels): it refreshes one entry, never a second one, so it can never
cause a second action. Thread-safe (the API thread receives, the loop reads).
No I/O.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfheal.core import indicators as ind
from selfheal.core.errors import SelfHealError
from selfheal.core.types import FailureType, Sample, SeriesKey

DEFAULT_SERVICE_LABELS = ("service", "job")
DEFAULT_INSTANCE_LABELS = ("instance", "pod")
FAILURE_TYPE_LABEL = "failure_type"  # analysis.failure_type.ALERT_FAILURE_TYPE reads it


class AlertPayloadError(SelfHealError):
    """A webhook body that is not an Alertmanager notification; the message says why."""


class _Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = ""


class _Notification(BaseModel):
    """Alertmanager's webhook body (only what is read; other keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    status: Literal["firing", "resolved"] = "firing"
    alerts: list[_Alert] = Field(max_length=10_000)


@dataclass(frozen=True, slots=True)
class Received:
    """What one notification changed."""

    firing: int  # alerts firing in it (new or repeated)
    new: int  # of those, not already active
    resolved: int  # alerts it ended
    refused: int  # alerts naming no service


@dataclass(slots=True)
class _Active:
    series: SeriesKey
    seen_at: float
    resolved_at: float | None = None


class AlertInbox:
    """The alerts Alertmanager reported, as indicator series (see the module docstring)."""

    def __init__(
        self,
        service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS,
        instance_labels: Sequence[str] = DEFAULT_INSTANCE_LABELS,
        resolved_hold_seconds: float = 30.0,
    ) -> None:
        if not service_labels:
            raise ValueError("service_labels: name at least one label")
        self.service_labels = tuple(service_labels)
        self.instance_labels = tuple(instance_labels)
        self.resolved_hold_seconds = resolved_hold_seconds
        self._alerts: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self.received_total = 0
        self.refused_total = 0

    def receive(self, payload: Any, now: float) -> Received:
        """Take one webhook body; ``AlertPayloadError`` (nothing changed) when it is not a
        notification."""
        try:
            note = _Notification.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(body)"
            raise AlertPayloadError(
                f"not an Alertmanager notification: {where}: {first['msg']}"
            ) from None
        firing = new = resolved = refused = 0
        with self._lock:
            self.received_total += 1
            for alert in note.alerts:
                series = self._series(alert.labels)
                if series is None:
                    refused += 1
                    continue
                key = alert.fingerprint or _fingerprint(alert.labels)
                entry = self._alerts.get(key)
                if alert.status == "firing":
                    firing += 1
                    if entry is None or entry.resolved_at is not None:
                        new += 1
                        self._alerts[key] = _Active(series, now)
                    else:
                        entry.seen_at = now
                elif entry is not None and entry.resolved_at is None:
                    entry.resolved_at = now
                    resolved += 1
            self.refused_total += refused
        return Received(firing, new, resolved, refused)

    def samples(self, now: float) -> list[Sample]:
        """This cycle's ``alert_firing`` samples: 1 per active alert, 0 for a while after
        one resolved."""
        out = []
        with self._lock:
            for key, entry in list(self._alerts.items()):
                if entry.resolved_at is None:
                    out.append(Sample(entry.series, now, 1.0))
                elif now - entry.resolved_at <= self.resolved_hold_seconds:
                    out.append(Sample(entry.series, now, 0.0))
                else:
                    del self._alerts[key]
        return out

    @property
    def firing(self) -> int:
        with self._lock:
            return sum(1 for e in self._alerts.values() if e.resolved_at is None)

    def _series(self, labels: Mapping[str, str]) -> SeriesKey | None:
        service = next((labels[k] for k in self.service_labels if labels.get(k)), None)
        if service is None:
            return None
        out = {"service": service, "alertname": labels.get("alertname", "")}
        instance = next((labels[k] for k in self.instance_labels if labels.get(k)), None)
        if instance is not None:
            out["instance"] = instance
        kind = labels.get(FAILURE_TYPE_LABEL)
        if kind in {f.value for f in FailureType}:
            out[FAILURE_TYPE_LABEL] = str(kind)
        return SeriesKey.of(ind.ALERT_FIRING, out)


def _fingerprint(labels: Mapping[str, str]) -> str:
    text = "\x00".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
