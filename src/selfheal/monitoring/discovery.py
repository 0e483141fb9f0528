"""What to scrape: scrape targets and Prometheus HTTP service discovery.

:class:`~selfheal.monitoring.scraper.Scraper` scrapes :class:`ScrapeTarget` values,
given statically or read from :class:`HttpServiceDiscovery` endpoints
(https://prometheus.io/docs/prometheus/latest/http_sd/; the local platform serves
one at ``GET /platform/targets``). Values and parsing only, plus the one HTTP
call of a discovery refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)


def _label_tuple(
    labels: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    items = labels.items() if isinstance(labels, Mapping) else labels
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One endpoint to scrape. ``labels`` may be given as a dict; it is stored as
    sorted pairs so that targets stay hashable."""

    url: str
    labels: tuple[tuple[str, str], ...] = ()
    interval_seconds: float = 15.0  # Prometheus' default scrape_interval
    timeout_seconds: float = 10.0  # Prometheus' default scrape_timeout

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _label_tuple(self.labels))
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"scrape target url must be http(s)://host:port/path, got {self.url!r}"
            )
        if self.interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {self.interval_seconds}")
        if self.timeout_seconds <= 0:
            # Prometheus also wants timeout <= interval; here a slow target only
            # delays its own next scrape, so a longer timeout is allowed.
            raise ValueError(f"timeout_seconds must be > 0, got {self.timeout_seconds}")

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def instance(self) -> str:
        """``host:port`` of the URL, Prometheus' ``instance`` label."""
        return urlsplit(self.url).netloc

    def series_labels(self) -> dict[str, str]:
        """Labels attached to every sample scraped from this target."""
        labels = {"instance": self.instance}
        labels.update(self.labels)
        return labels


class HttpServiceDiscovery:
    """Prometheus HTTP service discovery
    (https://prometheus.io/docs/prometheus/latest/http_sd/): ``GET url`` returns
    ``[{"targets": ["host:port", ...], "labels": {...}}]``. Labels starting with
    ``__`` are meta labels: ``__scheme__`` and ``__metrics_path__`` are honoured,
    the rest dropped."""

    def __init__(
        self,
        url: str,
        refresh_seconds: float = 30.0,
        *,
        interval_seconds: float = 15.0,
        timeout_seconds: float = 10.0,
        scheme: str = "http",
        metrics_path: str = "/metrics",
        extra_labels: Mapping[str, str] | None = None,
    ) -> None:
        if refresh_seconds <= 0:
            raise ValueError(f"refresh_seconds must be > 0, got {refresh_seconds}")
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.interval_seconds = interval_seconds
        self.timeout_seconds = timeout_seconds
        self.scheme = scheme
        self.metrics_path = metrics_path
        self.extra_labels = dict(extra_labels or {})
        self.last_refresh_at: float | None = None
        self.last_error: str | None = None
        self.targets: tuple[ScrapeTarget, ...] = ()

    def parse(self, document: object) -> tuple[ScrapeTarget, ...]:
        """Targets of an HTTP SD document; ValueError naming the bad entry."""
        if not isinstance(document, list):
            raise ValueError("HTTP SD document must be a JSON list of target groups")
        out: list[ScrapeTarget] = []
        for i, group in enumerate(document):
            if not isinstance(group, dict) or not isinstance(group.get("targets"), list):
                raise ValueError(f"HTTP SD group [{i}] must be an object with a 'targets' list")
            labels = group.get("labels") or {}
            if not isinstance(labels, dict):
                raise ValueError(f"HTTP SD group [{i}]: 'labels' must be an object")
            scheme = str(labels.get("__scheme__", self.scheme))
            path = str(labels.get("__metrics_path__", self.metrics_path))
            kept = dict(self.extra_labels)
            kept.update({str(k): str(v) for k, v in labels.items() if not str(k).startswith("__")})
            for host in group["targets"]:
                if not isinstance(host, str) or not host:
                    raise ValueError(f"HTTP SD group [{i}]: target {host!r} is not 'host:port'")
                out.append(
                    ScrapeTarget(
                        f"{scheme}://{host}{path}",
                        tuple(kept.items()),
                        self.interval_seconds,
                        self.timeout_seconds,
                    )
                )
        return tuple(out)

    def refresh(self, client: httpx.Client, now: float) -> tuple[ScrapeTarget, ...]:
        """Fetch and parse; on failure keep the last good targets (as Prometheus does)."""
        self.last_refresh_at = now
        try:
            response = client.get(self.url, timeout=max(self.timeout_seconds, 1.0))
            response.raise_for_status()
            self.targets = self.parse(response.json())
            self.last_error = None
        except (httpx.HTTPError, ValueError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("service discovery %s failed: %s", self.url, self.last_error)
        return self.targets

    def due(self, now: float) -> bool:
        return self.last_refresh_at is None or now - self.last_refresh_at >= self.refresh_seconds
