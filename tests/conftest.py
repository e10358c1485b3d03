"""The whole suite: how much memory the machine used at its peak while the tests ran (the lab's containers
included), printed in the summary, so a run on 2 cores / 24 GiB shows how close it came to the limit."""

from __future__ import annotations

import threading

import pytest

SAMPLE_EVERY = 0.5  # seconds between /proc/meminfo samples


def used_bytes(meminfo: str) -> int:
    """MemTotal - MemAvailable from /proc/meminfo's text: what the machine's processes hold."""
    fields = {k: int(v.split()[0]) * 1024 for k, _, v in (line.partition(":") for line in meminfo.splitlines()) if v}
    return fields["MemTotal"] - fields["MemAvailable"]


class MemorySampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.start_used = self.peak = self.read()
        self.done = threading.Event()

    @staticmethod
    def read() -> int:
        with open("/proc/meminfo") as f:
            return used_bytes(f.read())

    def run(self) -> None:
        while not self.done.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, self.read())


_sampler: MemorySampler | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _sampler
    _sampler = MemorySampler()
    _sampler.start()


def pytest_terminal_summary(terminalreporter) -> None:
    if _sampler is None:
        return
    _sampler.done.set()
    gib = 1024 ** 3
    terminalreporter.write_line(f"memory: the machine's peak use during the suite {_sampler.peak / gib:.1f} GiB "
                                f"({_sampler.start_used / gib:.1f} GiB when it started)")
