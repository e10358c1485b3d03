"""Running commands for the benchmark, and the hosts they run on: `inv` and the floor as timed children (wall
time, output lines with when, DOCKSTACK_TRACE, peak RSS, a watchdog), the bench lab's hosts files, and emptying
its hosts between measurements. What is run, and in which order, is measure.py's."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from bench.common import KEY, LAB, ROOT, WORK, BenchError, say
from bench.results import Run
from dockstack.config import load_inventory
from dockstack.errors import RemoteError
from dockstack.remote import TRACE_ENV, Remotes, parallel
from dockstack.services import SERVICE_ROOT

INV = ROOT / ".venv" / "bin" / "inv"
FLOOR = ROOT / "bench" / "floor.sh"
COMMAND_TIMEOUT = 600  # seconds any one command may take
WIPE_TIMEOUT = 120  # seconds emptying one host may take (removing up to ~40 containers)


def _kill_group(pid: int) -> None:
    """The command and every process it started (its own session): docker and ssh children too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


class Runner:
    """Runs commands as children, one at a time; every output goes to bench/.work/run.log too."""

    def __init__(self, log: Path) -> None:
        self.log = log.open("w")
        self.count = 0

    def run(self, argv: Sequence[str], check: bool = True, trace: bool = False, cwd: Path = ROOT,
            env_extra: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT) -> Run:
        """Run to completion in cwd, with env_extra on top of this process's environment; the wall time ends when
        the command exits (os.wait4 gives its own rusage).

        A command still running after `timeout` seconds is killed with its process group: a hung docker
        must end the benchmark with an error, not keep it waiting forever."""
        self.count += 1
        env = {k: v for k, v in os.environ.items() if k != TRACE_ENV} | (env_extra or {})
        trace_file = WORK / "traces" / f"{self.count:03d}.jsonl"
        if trace:
            trace_file.parent.mkdir(parents=True, exist_ok=True)
            trace_file.unlink(missing_ok=True)
            env[TRACE_ENV] = str(trace_file)
        self.log.write(f"\n$ {' '.join(argv)}\n")
        started = time.monotonic()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True)
        watchdog = threading.Timer(timeout, _kill_group, (proc.pid,))
        watchdog.start()
        lines = []
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append((time.monotonic() - started, line.rstrip("\n")))
                self.log.write(line)
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: the command must not outlive the benchmark
            _kill_group(proc.pid)
            raise
        finally:
            watchdog.cancel()
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        self.log.flush()
        events = [json.loads(x) for x in trace_file.read_text().splitlines()] if trace and trace_file.exists() else []
        r = Run(list(argv), seconds, proc.returncode, lines, events, usage.ru_maxrss)
        if check and r.code != 0:
            tail = "\n".join(line for _, line in lines[-15:])
            raise BenchError(f"`{' '.join(argv)}` exited {r.code}:\n{tail}")
        return r
    def inv(self, *args: str, hosts: Path, containers: Path | None = None, check: bool = True,
            trace: bool = False) -> Run:
        """`inv ARGS` on the bench lab's hosts file (and a containers file), from the checkout's .venv."""
        files = [f"--hosts-file={hosts}"] + ([f"--containers-file={containers}"] if containers else [])
        return self.run([str(INV), *args, *files], check=check, trace=trace)

    def floor(self, plan: Path) -> Run:
        """bench/floor.sh on a plan floor.py wrote."""
        return self.run(["bash", str(FLOOR), str(plan)])


# --- the bench lab's hosts ------------------------------------------------------------------------


def write_hosts(path: Path, count: int, network: dict) -> None:
    """A hosts file for the bench lab: host1..N at 10.97.0.11.., the lab section of its own."""
    hosts = [{"name": f"host{i}", "address": f"10.97.0.{10 + i}", "user": "root", "port": 22, "key": KEY}
             for i in range(1, count + 1)]
    data = {"known_hosts": f"{LAB['state_dir']}/known_hosts", "hosts": hosts, "network": network, "lab": LAB}
    path.write_text("# The benchmark's own lab (bench/run.py writes this file).\n"
                    + yaml.safe_dump(data, sort_keys=False))


# Empty hosts, as tests/e2e/conftest.py wipe_stack: no containers (dockstack's or the floor's), no
# service files (so no address is known). The container network (bridge, VXLAN) stays.
WIPE_SCRIPT = 'ids=$(docker ps -aq); if [ -n "$ids" ]; then docker rm -f $ids >/dev/null; fi; rm -rf "$1"/*'


def wipe(hosts_file: Path) -> None:
    """WIPE_SCRIPT on every host at once, through dockstack's own connections."""
    inv = load_inventory(hosts_file)
    with Remotes(inv) as remotes:
        parallel(remotes.all(), lambda r: r.run(["sh", "-c", WIPE_SCRIPT, "sh", SERVICE_ROOT], "bench: wipe",
                                                timeout=WIPE_TIMEOUT))


def empty_hosts(runner: Runner, hosts: Path, warm_up: Path, restarts: list[str]) -> None:
    """Empty hosts before a measurement. Should a host's docker hang removing containers (seen under heavy
    load: `docker rm -f` never returns), the bench lab is restarted (lab.down, lab.up) and its container
    network set up again by an untimed deploy-all of `warm_up`; the measurement that follows is unaffected. Why it
    was restarted goes to `restarts` (Results.restarts: the report says so)."""
    try:
        wipe(hosts)
        return
    except RemoteError as exc:
        restarts.append(str(exc))
        say(f"  emptying the hosts failed ({exc}): restarting the bench lab")
    runner.inv("lab.down", hosts=hosts)
    runner.inv("lab.up", hosts=hosts)
    wipe(hosts)
    runner.inv("deploy-all", hosts=hosts, containers=warm_up)
    wipe(hosts)



def tear_down(runner: Runner) -> Run | None:
    """`inv lab.down` of the bench lab, on the hosts file that last grew it (the scale stack's 4 hosts, else the
    stack's 3); None when no lab was written. Never raises for its exit code: the caller reports it."""
    hosts = WORK / "hosts-scale.yaml" if (WORK / "hosts-scale.yaml").exists() else WORK / "hosts-stack.yaml"
    if not hosts.exists():
        return None
    return runner.inv("lab.down", hosts=hosts, check=False)
