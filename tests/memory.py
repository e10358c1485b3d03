"""Memory the machine uses (MemTotal - MemAvailable), sampled while something runs: the test suite reports its
peak (tests/conftest.py), the benchmark the peak during a deploy of the real stack (bench/run.py)."""

from __future__ import annotations

import signal
import threading

SAMPLE_EVERY = 0.5  # seconds between /proc/meminfo samples
GIB = 1024 ** 3


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
        # signals sent to the process (the tests of dockstack.stopping send SIGINT/SIGTERM to themselves) must
        # reach the main thread, whose handlers run at once only when the kernel interrupts that thread
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        while not self.done.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, self.read())


