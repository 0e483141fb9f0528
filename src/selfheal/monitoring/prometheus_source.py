"""Prometheus as the metrics source: the indicator table evaluated by a Prometheus server.

With ``metrics.source: prometheus`` the loop scrapes nothing itself: each cycle
:class:`PrometheusSource` sends every expression of the same indicator table
(:class:`~selfheal.monitoring.indicators.IndicatorSet`, ``$window`` already replaced by
four scrape intervals) and the two call-graph queries to the server's
``/api/v1/query`` at one instant, and turns the answers into the same samples and
call graph the embedded evaluator gives (:meth:`IndicatorSet.samples`,
:func:`~selfheal.monitoring.indicators.call_graph`). Services, instances and call
edges come from the series' labels: ``service``, ``instance_id`` (else ``instance``)
and ``target``, as the scrape configuration's target labels set them.

Two kinds of failure are told apart:

- the server refuses one expression (``bad_data``/``execution``, e.g. a many-to-many
  match of a configured indicator): that indicator emits nothing this cycle and is
  logged once, like the embedded evaluator's ``EvaluationError``;
- the server cannot answer (refused connection, timeout, a 5xx, a body that is not
  its JSON): :class:`PrometheusUnavailable` for the whole cycle, since half a view
  would look like recoveries. The collector keeps its last view then.

:meth:`PrometheusSource.evaluate_range` reads the same table over a past span through
``/api/v1/query_range`` (the recent history a restarted loop ranks causes with).

Queries go out on a few threads at once (``max_workers``) over one ``httpx.Client``
with the configured timeout and bearer token, as form-encoded POSTs (the indicator
expressions are long for a URL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

import httpx
import networkx as nx

from selfheal.core.errors import SelfHealError
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.indicators import IndicatorSet, call_graph

__all__ = ["PrometheusSource", "PrometheusUnavailable", "QueryRejected"]

Element = tuple[dict[str, str], float]
_T = TypeVar("_T")


class PrometheusUnavailable(SelfHealError):
    """The server gave no usable answer this cycle; the message says why, in one line."""


class QueryRejected(SelfHealError):
    """The server refused one expression (its ``errorType`` and ``error`` in the message)."""


class PrometheusSource:
    """Evaluates an :class:`IndicatorSet` through a Prometheus server's query API."""

    def __init__(
        self,
        url: str,
        indicators: IndicatorSet,
        *,
        bearer_token: str | None = None,
        timeout_seconds: float = 2.0,
        max_workers: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.indicators = indicators
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        self._client = httpx.Client(timeout=timeout_seconds, headers=headers, transport=transport)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="promql")
        self._queries = [*indicators.expressions().items()]

    def evaluate(self, at: float) -> tuple[list[Sample], nx.DiGraph]:
        """Every indicator's samples at ``at`` and the call graph, as
        :meth:`IndicatorSet.evaluate` gives them; ``PrometheusUnavailable`` when the
        server could not answer one of the queries."""
        exprs = [expr for _, expr in self._queries] + list(self.indicators.graph_queries)
        answers = self._all(self.query, [(expr, at) for expr in exprs])
        out: list[Sample] = []
        for (name, _), answer in zip(self._queries, answers, strict=False):
            if isinstance(answer, QueryRejected):
                self.indicators.report(name, str(answer))
            else:
                out.extend(self.indicators.samples(name, answer, at))
        label_sets: list[list[dict[str, str]]] = []
        for what, answer in (("graph services", answers[-2]), ("graph edges", answers[-1])):
            if isinstance(answer, QueryRejected):
                self.indicators.report(what, str(answer))
            label_sets.append([labels for labels, _ in answer] if isinstance(answer, list) else [])
        return out, call_graph(*label_sets)

    def evaluate_range(self, start: float, end: float, step: float) -> list[Sample]:
        """Every indicator's samples at each ``step`` from ``start`` to ``end``
        (``/api/v1/query_range``), oldest first: the recent past, e.g. for the history a
        restarted loop ranks causes with. ``PrometheusUnavailable`` as :meth:`evaluate`."""
        calls = [(expr, start, end, step) for _, expr in self._queries]
        answers = self._all(self.query_range, calls)
        out: list[Sample] = []
        for (name, _), answer in zip(self._queries, answers, strict=True):
            if isinstance(answer, QueryRejected):
                self.indicators.report(name, str(answer))
                continue
            for labels, points in answer:
                if not labels.get("service"):
                    continue
                key = SeriesKey.of(name, labels)
                out.extend(Sample(key, t, v) for t, v in points if v == v)
        out.sort(key=lambda sample: sample.timestamp)
        return out

    def _all(
        self, call: Callable[..., _T], calls: list[tuple[Any, ...]]
    ) -> list[_T | QueryRejected]:
        """``call(*args)`` for each of ``calls``, a few at once; the answers in order, a
        refused expression as its ``QueryRejected``. The first ``PrometheusUnavailable``
        decides: the calls not yet sent are dropped (a slow server costs about one
        timeout, not one per round of the pool) and it is raised."""

        def attempt(args: tuple[Any, ...]) -> _T | SelfHealError:
            try:
                return call(*args)
            except (PrometheusUnavailable, QueryRejected) as exc:
                return exc

        futures = [self._pool.submit(attempt, args) for args in calls]
        for future in as_completed(futures):
            failed = future.result()
            if isinstance(failed, PrometheusUnavailable):
                for other in futures:
                    other.cancel()
                raise failed
        return [f.result() for f in futures]  # type: ignore[misc]

    def query(self, expr: str, at: float) -> list[Element]:
        """The instant vector of ``expr`` at ``at`` as (labels, value) pairs."""
        data = self._call("query", {"query": expr, "time": f"{at:.3f}"})
        return _vector(data, self.url)

    def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """The range result of ``expr`` as (labels, [(timestamp, value), ...]) pairs."""
        form = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return _matrix(self._call("query_range", form), self.url)

    def _call(self, endpoint: str, form: dict[str, str]) -> Any:
        """POST ``form`` to ``/api/v1/ENDPOINT``; its ``data``, or the error it deserves."""
        try:
            response = self._client.post(f"{self.url}/api/v1/{endpoint}", data=form)
        except httpx.TimeoutException:
            raise PrometheusUnavailable(
                f"{self.url}: no answer within {self._client.timeout.read:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        body = _json(response, self.url)
        if response.status_code in (400, 422) and body.get("errorType") in (
            "bad_data",
            "execution",
        ):
            raise QueryRejected(f"{body.get('errorType')}: {body.get('error', '')}")
        if response.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or response.reason_phrase
            raise PrometheusUnavailable(f"{self.url}: HTTP {response.status_code}: {error}")
        return body.get("data")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise PrometheusUnavailable(
            f"{url}: HTTP {response.status_code}, not a Prometheus API answer (not JSON)"
        ) from None
    if not isinstance(body, dict):
        raise PrometheusUnavailable(f"{url}: not a Prometheus API answer (not an object)")
    return body


def _matrix(data: Any, url: str) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, Mapping) else type(data).__name__
        raise QueryRejected(f"the expression yields {kind}, not a range vector")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusUnavailable(f"{url}: not a Prometheus API answer (result)")
    out = []
    for element in result:
        try:
            metric = element["metric"]
            labels = {str(k): str(v) for k, v in metric.items() if k != "__name__"}
            points = [(float(t), float(v)) for t, v in element["values"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PrometheusUnavailable(
                f"{url}: not a Prometheus API answer (element {str(element)[:80]})"
            ) from None
        out.append((labels, points))
    return out


def _vector(data: Any, url: str) -> list[Element]:
    if not isinstance(data, Mapping) or data.get("resultType") != "vector":
        kind = data.get("resultType") if isinstance(data, Mapping) else type(data).__name__
        raise QueryRejected(f"the expression yields {kind}, not an instant vector")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusUnavailable(f"{url}: not a Prometheus API answer (result)")
    out: list[Element] = []
    for element in result:
        try:
            metric, (_, text) = element["metric"], element["value"]
            labels = {str(k): str(v) for k, v in metric.items() if k != "__name__"}
            value = float(text)  # Prometheus writes "1.5", "NaN", "+Inf"
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PrometheusUnavailable(
                f"{url}: not a Prometheus API answer (element {str(element)[:80]})"
            ) from None
        out.append((labels, value))
    return out
