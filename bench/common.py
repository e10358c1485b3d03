"""What every part of the benchmark shares: where its files are, its lab and stacks' fixed sizes, the error that
ends a run and how it speaks. Nothing here runs anything, so any module may import it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"  # everything a run writes
LAB = {"bridge": "dsbench0", "gateway": "10.97.0.1/24", "prefix": "dsb", "state_dir": "/var/lib/dockstack-bench"}
KEY = f"{LAB['state_dir']}/id_ed25519"
STACK_HOSTS = 3
SCALE_HOSTS = 4
LIGHT_IMAGE = "dockstack/base:bookworm"
LEASE_PATH_CONTAINER = "galera"  # recreated by `inv create` with the address its lease keeps


class BenchError(Exception):
    """A command the benchmark needs failed: the numbers would mean nothing."""


def say(msg: str) -> None:
    print(msg, flush=True)
