"""Runs commands on this machine (the lab's side of things); argv lists only, no shell."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from dockstack.errors import DockstackError, PrerequisiteError


def run(argv: Sequence[str], step: str, check: bool = True, input: str | None = None,
        timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
    """Run argv; on failure raise a DockstackError naming the step and what the command said."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=timeout)
    except FileNotFoundError:
        raise PrerequisiteError(f"{step}: {argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise DockstackError(f"{step}: {' '.join(argv)} did not finish within {timeout}s") from None
    if check and proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
        raise DockstackError(f"{step} failed: {said}")
    return proc


def ok(argv: Sequence[str]) -> bool:
    """A probe: did the command succeed?"""
    try:
        return subprocess.run(list(argv), capture_output=True, timeout=30).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
