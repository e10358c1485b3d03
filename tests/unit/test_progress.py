"""progress: live bars on a terminal (a real pseudo-terminal here), plain lines in a pipe or a log, at most one
line per item every LINE_EVERY seconds between its start and its end."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from dockstack import progress
from dockstack.progress import LINE_EVERY, MIB, LineMeter

ROOT = Path(__file__).resolve().parents[2]

# A transfer of 100 MiB in 1 MiB chunks and a build with a few steps, through the meter tasks.py uses for stdout
SCRIPT = """
import sys
from dockstack import progress
with progress.meter(sys.stdout, print) as m:
    m.say("images.sync: starting")
    t = m.item("host1: dockstack/base:bookworm", total=100 * progress.MIB, note="sending")
    for i in range(1, 101):
        t.update(i * progress.MIB)
    t.finish("sent 100 MiB and loaded")
    b = m.item("dockstack/base:bookworm: build", note="debootstrap bookworm")
    for step in ("Retrieving a", "Unpacking a", "Configuring a"):
        b.update(note=step)
    b.finish("built sha256:0123")
"""


def _run_in(stdout_kind: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "COLUMNS": "120"}
    if stdout_kind == "pipe":
        return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                              timeout=60, check=True).stdout
    main, sub = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=sub, stderr=sub, env=env)
    os.close(sub)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0, out
    return out.decode(errors="replace")


def test_on_a_terminal_the_transfer_is_a_bar_with_bytes_rate_and_time_left():
    out = _run_in("pty")
    assert "\x1b[" in out  # drawn in place: cursor control, not new lines
    assert "host1: dockstack/base:bookworm" in out
    assert "100.0/100.0 MiB" in out  # bytes; the rate and time-left columns follow
    assert "/s" in out
    assert "built sha256:0123" in out and "images.sync: starting" in out


def test_in_a_pipe_it_is_plain_lines_a_start_and_an_end_per_item():
    out = _run_in("pipe")
    assert "\x1b" not in out
    assert out.splitlines() == [
        "images.sync: starting",
        "host1: dockstack/base:bookworm: sending (100 MiB)",
        "host1: dockstack/base:bookworm: sent 100 MiB and loaded in 0s",
        "dockstack/base:bookworm: build: debootstrap bookworm",
        "dockstack/base:bookworm: build: built sha256:0123 in 0s"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_at_most_one_line_per_item_every_ten_seconds_with_rate_and_time_left():
    clock, lines = Clock(), []
    meter = LineMeter(lines.append, clock=clock)
    item = meter.item("host1: img", total=600 * MIB, note="sending")
    for second in range(1, 61):  # 10 MiB/s for a minute, reported every 0.5 s
        for half in (0.0, 0.5):
            clock.now = 1000.0 + second - 0.5 + half
            item.update(int(10 * MIB * (second - 0.5 + half)))
    item.finish("sent 600 MiB and loaded")
    assert lines[0] == "host1: img: sending (600 MiB)"
    assert lines[-1] == "host1: img: sent 600 MiB and loaded in 60s"
    middle = lines[1:-1]
    assert len(middle) == 5  # at 10, 20, 30, 40, 50 s: never two within LINE_EVERY
    assert middle[0] == "host1: img: 100 MiB of 600 MiB (16%), 10.0 MiB/s, about 50s left"
    assert LINE_EVERY == 10.0


def test_a_build_in_a_log_says_its_step_at_most_every_ten_seconds():
    clock, lines = Clock(), []
    item = LineMeter(lines.append, clock=clock).item("img: build", note="debootstrap bookworm")
    for t, step in ((1, "Retrieving a"), (9, "Retrieving b"), (11, "Unpacking a"), (15, "Unpacking b"),
                    (22, "Configuring a")):
        clock.now = 1000.0 + t
        item.update(note=step)
    assert lines == ["img: build: debootstrap bookworm", "img: build: Unpacking a (11s)",
                     "img: build: Configuring a (22s)"]


def test_the_meter_is_lines_for_anything_but_a_terminal(tmp_path):
    with open(tmp_path / "log", "w") as f, progress.meter(f, print) as m:
        assert isinstance(m, LineMeter)
