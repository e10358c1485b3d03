"""What the tasks say goes to stdout; a reader that went away (`inv deploy-all | head -1`) must neither stop the
work nor end it in a traceback. Checked with a real pipe whose reading end is closed."""

from __future__ import annotations

import os
import subprocess
import sys

from dockstack.config import ROOT

SAY_THEN_GO_ON = """
import sys, tasks
for i in range(3):
    tasks.say(f"line {i}")
print("the work went on", file=sys.stderr)
"""


def test_a_closed_stdout_is_no_error_and_the_work_goes_on():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        proc = subprocess.run([sys.executable, "-c", SAY_THEN_GO_ON], cwd=ROOT, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "the work went on\n"  # no BrokenPipeError, not even Python's "Exception ignored" at exit


def test_invoke_s_own_listing_into_a_closed_pipe_is_no_error():
    """`inv --list | head -1`: Invoke prints that itself, through the same stdout."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "inv"), "--list"], cwd=ROOT, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, "")
