#!/usr/bin/env python3
"""The benchmark's command, as README and BENCHMARKS.md give it: `.venv/bin/python bench/run.py [options]`, as
root. What it does is bench/cli.py's (`--help`); this file only makes the checkout importable and calls it."""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path: the repository root goes there instead, so bench and
# dockstack are imported from this checkout (as tasks.py does) and bench's modules only as bench.X (no library's
# `import parse` finds bench/parse.py)
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from bench.cli import main  # noqa: E402  (after sys.path is set)

if __name__ == "__main__":
    sys.exit(main())
