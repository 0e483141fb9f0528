"""Embedded Prometheus scraper: pulls text exposition from targets, no server needed.

The loop builds one :class:`Scraper` over a :class:`WindowStore`; the scraper
fetches every target's ``/metrics`` on the target's own interval (on a
background thread after :meth:`Scraper.start`, or on demand with
:meth:`Scraper.scrape_once` in tests), parses the body with the cached
:class:`~selfheal.monitoring.exposition.SeriesParser`, attaches the target's
labels to every sample and appends the samples to the store. It never raises
on a bad target: failures show up as ``up == 0`` and in :meth:`Scraper.health`.

Targets are static (:class:`ScrapeTarget`) or come from Prometheus HTTP service
discovery (:class:`HttpServiceDiscovery`, the ``[{"targets": [...], "labels":
{...}}]`` format the local platform serves at ``GET /platform/targets``); both
live in :mod:`selfheal.monitoring.discovery` and are re-exported here.

Prometheus semantics kept (https://prometheus.io/docs/concepts/jobs_instances/):

- synthetic ``up`` (1/0), ``scrape_duration_seconds`` and
  ``scrape_samples_scraped`` series per target, with the target's labels;
- an ``instance`` label (``host:port``) unless the target sets one; an exposed
  label that clashes with a target label is kept as ``exported_<label>``;
- a whole scrape fails on one malformed line, on more than ``sample_limit``
  samples, or on a body over ``max_body_bytes``;
- discovery is re-read early (after ``refresh_on_failure_seconds``) once a
  scrape failed, so instances removed by scaling leave quickly;
- staleness: a series missing from ``stale_after_missed`` consecutive scrapes
  of its target (the series vanished, or the target is down) gets one NaN
  staleness marker, and a target dropped by discovery marks all its series
  stale at once;
- sample timestamps are the scrape's start time on the injected clock
  (timestamps in the body are ignored);
- a counter series (by its ``# TYPE``) that appears on a target scraped
  before gets a 0 at the previous scrape's time, so that ``rate`` counts its
  first increments (as Prometheus' created-timestamp zero injection does):
  the first 5xx of an outage is not lost.

It never imports the testbed; it speaks HTTP only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.discovery import HttpServiceDiscovery, ScrapeTarget
from selfheal.monitoring.exposition import SeriesParser
from selfheal.monitoring.window_store import WindowStore

__all__ = ["STALE", "HttpServiceDiscovery", "ScrapeTarget", "Scraper", "TargetHealth"]

log = logging.getLogger(__name__)

STALE = float("nan")
_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """What the last scrape of a target did."""

    target: ScrapeTarget
    up: bool
    last_scrape_at: float | None
    last_scrape_duration_seconds: float | None
    last_error: str | None
    consecutive_failures: int
    samples_scraped: int
    series_tracked: int


@dataclass(slots=True)
class _TargetState:
    target: ScrapeTarget
    parser: SeriesParser
    base: dict[str, str]
    up_key: SeriesKey
    duration_key: SeriesKey
    samples_key: SeriesKey
    seq: int = 0
    last_seen: dict[SeriesKey, int] = field(default_factory=dict)
    next_due: float = 0.0
    last_scrape_at: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    samples_scraped: int = 0
    up: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Scraper:
    """Scrapes static and discovered targets into a window store."""

    def __init__(
        self,
        store: WindowStore,
        *,
        targets: Sequence[ScrapeTarget] = (),
        discovery: Sequence[HttpServiceDiscovery] = (),
        clock: Clock | None = None,
        stale_after_missed: int = 2,
        client: httpx.Client | None = None,
        max_workers: int = 8,
        on_samples: Callable[[list[Sample]], None] | None = None,
        sample_limit: int = 100_000,
        max_body_bytes: int = 32 * 1024 * 1024,
        refresh_on_failure_seconds: float = 1.0,
    ) -> None:
        if stale_after_missed < 1:
            raise ValueError(f"stale_after_missed must be >= 1, got {stale_after_missed}")
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.stale_after_missed = stale_after_missed
        # A scrape with more samples fails as a whole (Prometheus' sample_limit): a
        # cardinality explosion on one target must not flood the window store.
        self.sample_limit = sample_limit
        self.max_body_bytes = max_body_bytes
        # After a failed scrape, discovery is re-read once this long has passed since
        # its last refresh (not only every refresh_seconds): a removed instance then
        # leaves the target list within a second instead of reporting down until the
        # next regular refresh.
        self.refresh_on_failure_seconds = refresh_on_failure_seconds
        self._failed_since_refresh = False
        self._static = tuple(targets)
        self._discovery = tuple(discovery)
        self._own_client = client is None
        self._client = client or httpx.Client(headers={"Accept": _ACCEPT}, follow_redirects=True)
        self._max_workers = max_workers
        self._on_samples = on_samples
        self._states: dict[ScrapeTarget, _TargetState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.scrapes_total = 0
        self.scrape_failures_total = 0
        self._sync_targets(self.clock.now())

    # -- targets -----------------------------------------------------------------------
    def targets(self) -> list[ScrapeTarget]:
        with self._lock:
            return list(self._states)

    def set_static_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        self._static = tuple(targets)
        self._sync_targets(self.clock.now())

    def refresh_discovery(self, force: bool = False) -> None:
        """Re-read every discovery endpoint that is due (or all, with ``force``)."""
        now = self.clock.now()
        changed = False
        soon = self._failed_since_refresh
        for sd in self._discovery:
            early = (
                soon
                and sd.last_refresh_at is not None
                and now - sd.last_refresh_at >= self.refresh_on_failure_seconds
            )
            if force or early or sd.due(now):
                sd.refresh(self._client, now)
                changed = True
        if changed:
            self._failed_since_refresh = False
            self._sync_targets(now)

    def _sync_targets(self, now: float) -> None:
        wanted: dict[ScrapeTarget, None] = dict.fromkeys(self._static)
        for sd in self._discovery:
            wanted.update(dict.fromkeys(sd.targets))
        dropped: list[_TargetState] = []
        with self._lock:
            for target in list(self._states):
                if target not in wanted:
                    dropped.append(self._states.pop(target))
            for target in wanted:
                if target not in self._states:
                    self._states[target] = self._new_state(target, now)
        markers: list[Sample] = []
        for state in dropped:
            with state.lock:
                markers.extend(Sample(k, now, STALE) for k in state.last_seen)
                markers.extend(
                    Sample(k, now, STALE)
                    for k in (state.up_key, state.duration_key, state.samples_key)
                )
                state.last_seen.clear()
        if markers:
            self._emit(markers)

    @staticmethod
    def _new_state(target: ScrapeTarget, now: float) -> _TargetState:
        base = target.series_labels()
        return _TargetState(
            target=target,
            parser=SeriesParser(base),
            base=base,
            up_key=SeriesKey.of("up", base),
            duration_key=SeriesKey.of("scrape_duration_seconds", base),
            samples_key=SeriesKey.of("scrape_samples_scraped", base),
            next_due=now,
        )

    # -- scraping ----------------------------------------------------------------------
    def _emit(self, samples: list[Sample]) -> None:
        self.store.append_many(samples)
        if self._on_samples is not None:
            try:
                self._on_samples(samples)
            except Exception:  # a consumer's bug must not stop the scraping
                log.exception("on_samples callback failed")

    def _scrape(self, state: _TargetState) -> list[Sample]:
        with state.lock:
            target = state.target
            now = self.clock.now()
            started = time.perf_counter()
            error: str | None = None
            pairs: list[tuple[SeriesKey, float]] = []
            try:
                body, error = self._fetch(target)
                if body is not None:
                    pairs, parse_error = state.parser.parse(body)
                    if parse_error is not None:
                        error = str(parse_error)
                    elif len(pairs) > self.sample_limit:
                        error = (
                            f"{len(pairs)} samples exceed sample_limit={self.sample_limit}"
                            f" scraping {target.url}"
                        )
                        pairs = []
            except httpx.TimeoutException:
                error = f"timeout after {target.timeout_seconds:g}s scraping {target.url}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__} scraping {target.url}: {exc}"
            duration = time.perf_counter() - started

            state.seq += 1
            seq = state.seq
            last_seen = state.last_seen
            previous = state.last_scrape_at
            counters = state.parser.counter_names
            out: list[Sample] = []
            for k, v in pairs:
                if previous is not None and k not in last_seen and k.name in counters:
                    # A counter that appears on a target we scraped before did not exist
                    # then, i.e. was 0: write that zero, so the first increments count
                    # in rate() (Prometheus' created-timestamp zero injection).
                    out.append(Sample(k, previous, 0.0))
                out.append(Sample(k, now, v))
                last_seen[k] = seq
            # a series missed `stale_after_missed` scrapes in a row: one staleness marker
            cutoff = seq - self.stale_after_missed
            vanished = [k for k, s in last_seen.items() if s <= cutoff]
            for k in vanished:
                del last_seen[k]
                out.append(Sample(k, now, STALE))
            ok = error is None
            out.append(Sample(state.up_key, now, 1.0 if ok else 0.0))
            out.append(Sample(state.duration_key, now, duration))
            out.append(Sample(state.samples_key, now, float(len(pairs))))

            state.up = ok
            state.last_scrape_at = now
            state.last_duration = duration
            state.last_error = error
            state.samples_scraped = len(pairs)
            state.consecutive_failures = 0 if ok else state.consecutive_failures + 1
            state.next_due = now + target.interval_seconds
            self.scrapes_total += 1
            if not ok:
                self.scrape_failures_total += 1
                self._failed_since_refresh = True
                log.debug("scrape failed: %s", error)
        self._emit(out)
        return out

    def _fetch(self, target: ScrapeTarget) -> tuple[str | None, str | None]:
        """The body, or an error; bodies over ``max_body_bytes`` are refused while
        streaming (Prometheus' ``body_size_limit``), so a runaway target cannot
        exhaust memory."""
        request = self._client.build_request(
            "GET",
            target.url,
            timeout=target.timeout_seconds,
            headers={"X-Prometheus-Scrape-Timeout-Seconds": str(target.timeout_seconds)},
        )
        response = self._client.send(request, stream=True)
        try:
            if response.status_code != 200:
                return None, f"HTTP {response.status_code} from {target.url}"
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    return None, (
                        f"body over max_body_bytes={self.max_body_bytes} scraping {target.url}"
                    )
                chunks.append(chunk)
            return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace"), None
        finally:
            response.close()

    def scrape_target(self, target: ScrapeTarget) -> list[Sample]:
        """Scrape one known target now; returns the samples written."""
        with self._lock:
            state = self._states.get(target)
        if state is None:
            raise KeyError(f"unknown scrape target {target.url}")
        return self._scrape(state)

    def scrape_once(self) -> list[Sample]:
        """Refresh due discovery, then scrape every target once, now, concurrently;
        returns all samples written (for tests and manual cycles)."""
        self.refresh_discovery()
        with self._lock:
            states = list(self._states.values())
        return self._run(states)

    def _run(self, states: list[_TargetState]) -> list[Sample]:
        if not states:
            return []
        if len(states) == 1 or self._max_workers <= 1:
            return [s for st in states for s in self._scrape(st)]
        with self._lock:
            if self._pool is None:  # kept between cycles; closed by stop()/close()
                self._pool = ThreadPoolExecutor(self._max_workers, "scrape")
            pool = self._pool
        return [s for batch in pool.map(self._scrape, states) for s in batch]

    def health(self) -> list[TargetHealth]:
        """One report per target, sorted by URL."""
        with self._lock:
            states = list(self._states.values())
        return sorted(
            (
                TargetHealth(
                    target=s.target,
                    up=s.up,
                    last_scrape_at=s.last_scrape_at,
                    last_scrape_duration_seconds=s.last_duration,
                    last_error=s.last_error,
                    consecutive_failures=s.consecutive_failures,
                    samples_scraped=s.samples_scraped,
                    series_tracked=len(s.last_seen),
                )
                for s in states
            ),
            key=lambda h: (h.target.url, h.target.labels),
        )

    # -- background thread ---------------------------------------------------------------
    def start(self) -> None:
        """Scrape every target on its interval on a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="selfheal-scraper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread (waits for in-flight scrapes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def close(self) -> None:
        """Stop and close the HTTP client if the scraper created it."""
        self.stop()
        if self._own_client:
            self._client.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh_discovery()
                now = self.clock.now()
                with self._lock:
                    states = list(self._states.values())
                due = [s for s in states if s.next_due <= now]
                if due:
                    self._run(due)
                now = self.clock.now()
                with self._lock:
                    upcoming = [s.next_due for s in self._states.values()]
                upcoming.extend(
                    sd.last_refresh_at + sd.refresh_seconds
                    for sd in self._discovery
                    if sd.last_refresh_at is not None
                )
                wait = min(upcoming, default=now + 1.0) - now
            except Exception:  # the loop must survive anything a target throws at it
                log.exception("scraper cycle failed")
                wait = 1.0
            self._stop.wait(min(max(wait, 0.005), 1.0))

    def __enter__(self) -> Scraper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
