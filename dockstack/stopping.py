"""SIGINT and SIGTERM stop a command between steps, never inside one: the steps in flight finish and
their addresses are committed, so nothing is left half-done and the address book's lock is released
by a transaction that ended, not by a dying process."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Interrupted(Exception):
    """The operator asked to stop; what was in flight has finished (exit code 130)."""


class StopRequest:
    """While active, SIGINT/SIGTERM only ask to stop: the work in flight finishes first (a second signal
    is not caught: the default handling applies)."""

    def __init__(self) -> None:
        self.signal = ""
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        self.signal = signal.Signals(signum).name
        print(f"{self.signal}: finishing the steps in flight, then stopping", file=sys.stderr, flush=True)
        for s, old in self._old.items():
            signal.signal(s, old)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}


def finish_then_stop(what: str, work: Callable[[], T]) -> T:
    """Run a one-container command to its end even when a stop is asked for, then report the stop."""
    with StopRequest() as stop:
        result = work()
    if stop.signal:
        raise Interrupted(f"{stop.signal}: {what} finished first, so nothing is left half-done; stopped")
    return result
