#!/usr/bin/env python3
"""Timings and peak memory of the commands operators run most, against the lab.

Run as root after `bash scripts/setup.sh`: `.venv/bin/python scripts/bench.py`. It brings the lab up
and syncs images if needed, then measures (it destroys and redeploys the lab's stack). Goals are
printed beside each number; a missed goal makes the exit code 1. Not a test: numbers vary by machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INV = str(ROOT / ".venv" / "bin" / "inv")

# (label, inv arguments, goal in seconds)
STEPS = [
    ("lab.up (already up)", ["lab.up"], 10),
    ("images.sync (nothing to send)", ["images.sync"], 10),
    ("destroy-all --release", ["destroy-all", "--release"], 30),
    ("deploy-all (empty hosts, 10 containers)", ["deploy-all"], 120),
    ("deploy-all (no change)", ["deploy-all"], 5),
    ("deploy-all --dry-run", ["deploy-all", "--dry-run"], 5),
    ("remove --name=galera", ["remove", "--name=galera"], 10),
    ("create --name=galera (lease path)", ["create", "--name=galera"], 15),
    ("ipam.show", ["ipam.show"], 5),
]
PEAK_RSS_GOAL_MB = 150


def main() -> int:
    results = []
    missed = 0
    for label, args, goal in STEPS:
        start = time.monotonic()
        proc = subprocess.run([INV, *args], cwd=ROOT, capture_output=True, text=True)
        took = time.monotonic() - start
        if proc.returncode != 0:
            print(f"{label}: failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}", file=sys.stderr)
            return 2
        ok = took <= goal
        missed += not ok
        results.append({"step": label, "seconds": round(took, 2), "goal_seconds": goal, "ok": ok})
        print(f"{label:45s} {took:7.2f}s  (goal {goal}s){'' if ok else '  MISSED'}", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ok = peak_mb <= PEAK_RSS_GOAL_MB
    missed += not ok
    print(f"{'peak RSS of one inv process':45s} {peak_mb:7.1f}MB (goal {PEAK_RSS_GOAL_MB}MB){'' if ok else '  MISSED'}")
    results.append({"step": "peak RSS MB", "value": round(peak_mb, 1), "goal": PEAK_RSS_GOAL_MB, "ok": ok})
    (ROOT / ".bench.json").write_text(json.dumps(results, indent=2) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
