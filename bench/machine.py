"""What a run ran on: the machine (CPU, memory, kernel, docker, load), the commit and a digest of the engine's code,
so that a report says what its numbers came from and when they cannot be trusted (a busy machine, an engine that
changed half-way)."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

from bench.common import ROOT


def engine_fingerprint() -> str:
    """A digest of the code that `inv` runs: a run whose engine changed half-way measured two versions."""
    h = hashlib.sha256()
    engine = ROOT / "dockstack"  # the service definitions and the remote scripts too
    files = [ROOT / "tasks.py", *sorted(engine.rglob("*.py")), *sorted(engine.rglob("*.sh")),
             *sorted((ROOT / "templates").rglob("*"))]
    for f in files:
        if f.is_file():
            h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def machine() -> list[str]:
    """The report's Machine lines, the load when the run started last (started_busy reads it)."""
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    docker = subprocess.run(["docker", "--version"], capture_output=True, text=True).stdout.strip()
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "log", "-1", "--format=%h %s"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "dockstack", "tasks.py", "templates"],
                           capture_output=True, text=True).stdout.split("\n")
    changed = [line[3:] for line in dirty if line.strip()]
    return [f"dockstack: commit {commit or '?'}"
            + (f", with uncommitted changes to {', '.join(changed)}" if changed else ""),
            f"nproc: {os.cpu_count()} ({cpu})", f"memory: {mem_kb / 2**20:.1f} GiB",
            f"kernel: {platform.release()}, Python {platform.python_version()}, {docker or 'docker: ?'}",
            f"load average when the run started: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]


def started_busy(machine: list[str]) -> bool:
    """Other work on the machine: the 1-minute load average above the CPUs when the run started. The load when it
    ended is reported too, but it is mostly the run's own (the real stack's services had just been running)."""
    start = next(x for x in machine if x.startswith("load average when the run started: "))
    return float(start.split(": ")[1].split()[0]) > (os.cpu_count() or 1)
