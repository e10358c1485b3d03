"""The whole suite: how much memory the machine used at its peak while the tests ran (the lab's containers
included), printed in the summary, so a run on 2 cores / 24 GiB shows how close it came to the limit; and the
`root` marker: a test that needs root is skipped for any other user."""

from __future__ import annotations

import os

import pytest

from tests.memory import GIB, MemorySampler

_sampler: MemorySampler | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked `root` needs root (namespaces, mounts, iptables): skipped, with why, for any other user.
    tests/unit/test_guest_boot.py needs it (a namespace, a tap device, QEMU); `scripts/test.sh --fast` deselects
    the marker whoever runs it."""
    if os.geteuid() == 0:
        return
    for item in items:
        if item.get_closest_marker("root"):
            item.add_marker(pytest.mark.skip(reason="needs root (marked `root`): run as root"))


def pytest_sessionstart(session: pytest.Session) -> None:
    global _sampler
    _sampler = MemorySampler()
    _sampler.start()


def pytest_terminal_summary(terminalreporter) -> None:
    if _sampler is None:
        return
    _sampler.done.set()
    terminalreporter.write_line(f"memory: the machine's peak use during the suite {_sampler.peak / GIB:.1f} GiB "
                                f"({_sampler.start_used / GIB:.1f} GiB when it started)")
