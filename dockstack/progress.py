"""Progress of long work (an image's build, its transfer to a host): live bars on a terminal, plain lines elsewhere.

On a terminal, rich draws one line per item (bytes, rate and time left for a transfer; the current step and the
time spent for a build) and the other messages scroll above them. In a log or CI, where a redrawn bar is noise, an
item says when it starts and ends, and in between at most one line every LINE_EVERY seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

LINE_EVERY = 10.0  # seconds between two progress lines of one item in a log
MIB = 2**20


class Item(Protocol):
    """One piece of long work: a transfer (total bytes known) or a build (steps, no total)."""

    def update(self, done: int | None = None, note: str | None = None) -> None: ...
    def finish(self, note: str) -> None: ...


class Meter(Protocol):
    """Where items report; say: a message that is not progress (it scrolls above live bars)."""

    def item(self, label: str, total: int | None = None, note: str = "") -> Item: ...
    def say(self, msg: str) -> None: ...


def amount(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n / 1024:.0f} KiB"


@dataclass
class LineItem:
    """An item in a log: a start line, then at most one line per LINE_EVERY seconds, then its end line."""

    meter: LineMeter
    label: str
    total: int | None
    started: float
    done: int = 0
    last_line: float = field(default=0.0)

    def update(self, done: int | None = None, note: str | None = None) -> None:
        if done is not None:
            self.done = done
        now = self.meter.clock()
        if now - self.last_line < LINE_EVERY or (self.total and self.done >= self.total):
            return  # too soon, or all sent: the end line follows
        self.last_line = now
        if self.total:
            rate = self.done / max(now - self.started, 1e-6)
            left = (self.total - self.done) / rate if rate > 0 else None
            eta = f", about {left:.0f}s left" if left is not None else ""
            self.meter.say(f"{self.label}: {amount(self.done)} of {amount(self.total)} "
                           f"({100 * self.done // self.total}%), {rate / MIB:.1f} MiB/s{eta}")
        elif note:
            self.meter.say(f"{self.label}: {note} ({now - self.started:.0f}s)")

    def finish(self, note: str) -> None:
        self.meter.say(f"{self.label}: {note} in {self.meter.clock() - self.started:.0f}s")


class LineMeter:
    """Progress as plain lines, for a pipe, a log or CI (clock: injectable for tests)."""

    def __init__(self, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._say = say
        self._lock = threading.Lock()  # transfers to several hosts report from their own threads
        self.clock = clock

    def say(self, msg: str) -> None:
        with self._lock:
            self._say(msg)

    def item(self, label: str, total: int | None = None, note: str = "") -> LineItem:
        now = self.clock()
        self.say(f"{label}: {note or 'started'}" + (f" ({amount(total)})" if total else ""))
        return LineItem(self, label, total, now, last_line=now)


class _IfTotal(ProgressColumn):
    """A column shown for a transfer (a total in bytes) only: a build has no bytes to count."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self._inner = inner

    def render(self, task: Task) -> Text:
        return self._inner.render(task) if task.total is not None else Text("")  # type: ignore[return-value]


@dataclass
class LiveItem:
    progress: Progress
    task: int

    def update(self, done: int | None = None, note: str | None = None) -> None:
        fields = {"note": note} if note is not None else {}
        self.progress.update(self.task, completed=done, **fields)  # type: ignore[arg-type]

    def finish(self, note: str) -> None:
        t = self.progress.tasks[self.task] if self.task < len(self.progress.tasks) else None
        self.progress.update(self.task, completed=t.total if t and t.total else None, note=note)
        self.progress.stop_task(self.task)


class LiveMeter:
    """Progress as rich bars on a terminal: one line per item, redrawn in place; say's messages (printed to
    sys.stdout, which rich redirects while the bars are drawn) scroll above them."""

    def __init__(self, progress: Progress, say: Callable[[str], None]) -> None:
        self._progress = progress
        self.say = say

    def item(self, label: str, total: int | None = None, note: str = "") -> LiveItem:
        return LiveItem(self._progress, self._progress.add_task(label, total=total, note=note))


@contextmanager
def meter(stream: TextIO, say: Callable[[str], None]) -> Iterator[Meter]:
    """Bars when stream is a terminal, else lines through say (which also takes the other messages)."""
    if not stream.isatty():
        yield LineMeter(say)
        return
    console = Console(file=stream, highlight=False)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
               _IfTotal(DownloadColumn(binary_units=True)), _IfTotal(TransferSpeedColumn()),
               _IfTotal(TimeRemainingColumn()),
               TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console, transient=False, refresh_per_second=4) as bars:
        yield LiveMeter(bars, say)
