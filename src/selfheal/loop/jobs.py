"""Where the engine runs actions: a small worker pool, or inline for fake-time tests.

The engine's remediation state machine (``selfheal.loop.remediation``) submits each
blocking action step (prepare + execute, or a rollback) as a job and reads its
future on later cycles, so the cycle keeps collecting while an action runs.
``InlinePool`` runs the job at once in the caller's thread, which lets the whole
loop run in fake time (tests/loop/test_engine.py).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol


class JobPool(Protocol):
    def submit(self, fn: Callable[[], Any]) -> Future[Any]: ...

    def shutdown(self, wait: bool = True) -> None: ...


class InlinePool:
    """Runs each job at once in the caller's thread (fake-time tests)."""

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn())
        except BaseException as exc:  # the engine reads it from the future
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True) -> None:
        return None


class ThreadPool:
    """``workers`` threads: at most that many actions run at the same time."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="selfheal-action")

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        return self._pool.submit(fn)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
