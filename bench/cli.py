"""The benchmark: `inv deploy-all` against the floor (bench/floor.sh), on a lab of its own.

Run as root from the repository: `.venv/bin/python bench/run.py`. It brings up its own lab (bridge
dsbench0, prefix dsb, 10.97.0.0/24, /var/lib/dockstack-bench), so the default lab and whoever uses it
are never touched; everything it writes goes to bench/.work/. It measures, alternating the order of
floor and dockstack from round to round so that drift of the machine weighs on both:

1. the ten-role engine stack (tests/e2e/stacks/engine.yaml: the shipped roles with light images and no
   services beyond dnsmasq, haproxy and puppet's files, so dockstack's own work is what is measured) on 3
   hosts: the floor, deploy-all from empty
   hosts, the no-change re-run, `inv create` on the lease path; round trips and SSH connections are
   counted from DOCKSTACK_TRACE;
2. a scale stack of 30, 60 and 120 light containers on 4 hosts: wall time, time per container,
   peak RSS of `inv`, bytes sent to the dnsmasq host per container.

`--from-empty` measures something else, alone: the README's main command as a newcomer runs it, in a fresh clone
with an empty image cache, on the default lab (bench/fresh.py), per phase; its section of BENCHMARKS.md is replaced
and kept by later full runs.

It writes BENCHMARKS.md and exits 0 even when a goal is missed (it prints MISSED lines): it is a
measurement, not a test. A command that fails is an error (exit code 2). The lab is torn down at the
end, also on failure. `--report-only` rewrites BENCHMARKS.md from the last run's bench/.work/results.json.

This module is the command: its options, the order of the parts (measure.py) and where the results and the
report go (report.py); bench/run.py, the path users type, only calls main().
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import time
from pathlib import Path

from bench.common import ROOT, WORK, BenchError, say
from bench.fresh import measure_fresh
from bench.machine import engine_fingerprint, machine, started_busy
from bench.measure import measure_real, measure_scale, measure_stack, up_for_real_only
from bench.report import write_fresh_only, write_real_only, write_report
from bench.results import Results
from bench.runner import Runner, tear_down
from dockstack.errors import DockstackError


def _close(res: Results, started: float) -> None:
    """What every run records when it ends: its minutes, the load then, whether it started busy, the engine's
    fingerprint (compared with the one taken at the start)."""
    res.minutes = (time.monotonic() - started) / 60
    res.machine.append(f"load average when the run ended: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    res.busy = started_busy(res.machine)
    res.engine.append(engine_fingerprint())


def main(argv: list[str] | None = None) -> int:
    """The options, then the measurements and the report; 0 even when a goal is missed, 2 when a command failed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds of the ten-role stack (default 5)")
    p.add_argument("--real-rounds", type=int, default=2, help="rounds of the real shipped stack (default 2)")
    p.add_argument("--full-stops", type=int, default=10,
                   help="after the real stack's last round: every Galera node stopped (each kind: docker kill, "
                        "pkill -9 and SIGSTOP of mariadbd, docker pause), then deploy-all, this many times per kind "
                        "(default 10; 0: no day-2 measurements, neither the rolling changes)")
    p.add_argument("--scale-rounds", type=int, default=3, help="rounds of each scale size (default 3)")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[30, 60, 120],
                   help="scale stack sizes (default 30,60,120)")
    p.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="report file")
    p.add_argument("--only-real", action="store_true",
                   help="measure only the real shipped stack and replace its section of the report, keeping the "
                        "others")
    p.add_argument("--from-empty", action="store_true",
                   help="measure only the README's main command in a fresh clone with an empty image cache, on the "
                        "default lab (which must be down: `inv lab.down --purge`), and replace its section of the "
                        "report, keeping the others")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the report from the last run's bench/.work/results.json, measure nothing")
    args = p.parse_args(argv)
    raw = WORK / "results.json"
    if args.only_real and args.from_empty:
        p.error("--only-real and --from-empty measure different things: give one")
    if args.report_only:  # with --only-real or --from-empty: that section again, from that run's own results
        if args.only_real:
            return write_real_only(Results.load(WORK / "results-real.json"), args.output)
        if args.from_empty:
            return write_fresh_only(Results.load(WORK / "results-fresh.json"), args.output)
        return write_report(Results.load(raw), args.output)
    if os.geteuid() != 0:
        print("bench/run.py: run as root (the lab needs namespaces)", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORK / "traces", ignore_errors=True)
    runner = Runner(WORK / "run.log")
    res = Results(datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=machine(),
                  command=f".venv/bin/python bench/run.py --rounds={args.rounds} --real-rounds={args.real_rounds} "
                          f"--full-stops={args.full_stops} "
                          f"--scale-rounds={args.scale_rounds} "
                          f"--sizes={','.join(map(str, args.sizes))}")
    if args.only_real:
        res.command = (f".venv/bin/python bench/run.py --only-real --real-rounds={args.real_rounds} "
                       f"--full-stops={args.full_stops}")
    started = time.monotonic()
    res.engine.append(engine_fingerprint())
    if args.from_empty:  # the default lab, not the bench lab: nothing of the bench lab to tear down
        res.command = ".venv/bin/python bench/run.py --from-empty"
        try:
            measure_fresh(runner, res)
        except (BenchError, DockstackError) as exc:
            print(f"bench/run.py: {exc}", file=sys.stderr)
            return 2
        _close(res, started)
        res.save(WORK / "results-fresh.json")
        return write_fresh_only(res, args.output)
    try:
        if args.only_real:
            up_for_real_only(runner)
        else:
            measure_stack(runner, args.rounds, res)
        if args.real_rounds:
            measure_real(runner, args.real_rounds, res, args.full_stops)
        if not args.only_real:
            measure_scale(runner, args.sizes, args.scale_rounds, res)
    except (BenchError, DockstackError) as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench/run.py: interrupted", file=sys.stderr)
        return 130
    finally:
        say("lab: tearing the bench lab down")
        down = tear_down(runner)
        if down is not None and down.code != 0:
            print(f"bench/run.py: lab.down failed:\n{down.output}", file=sys.stderr)
    _close(res, started)
    if args.only_real:
        res.save(WORK / "results-real.json")
        return write_real_only(res, args.output)
    res.save(raw)
    return write_report(res, args.output)


