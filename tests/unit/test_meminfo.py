"""The suite's memory report (tests/memory.py): used memory read from /proc/meminfo."""

from __future__ import annotations

from tests.memory import used_bytes


def test_used_memory_from_meminfo():
    text = "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nHugePages_Total: 0\n"
    assert used_bytes(text) == 4000000 * 1024
