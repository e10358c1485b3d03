#!/usr/bin/env python3
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

It writes BENCHMARKS.md and exits 0 even when a goal is missed (it prints MISSED lines): it is a
measurement, not a test. A command that fails is an error (exit code 2). The lab is torn down at the
end, also on failure. `--report-only` rewrites BENCHMARKS.md from the last run's bench/.work/results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # dockstack is imported from the checkout, as tasks.py does

from dockstack import lab  # noqa: E402
from dockstack.config import Container, Inventory, Stack, effective_mac, load_inventory, load_stack, tiers  # noqa: E402
from dockstack.errors import DockstackError, RemoteError  # noqa: E402
from dockstack.ipam import render_dnsmasq_conf  # noqa: E402
from dockstack.remote import TRACE_ENV, Remotes, parallel  # noqa: E402
from dockstack.services import SERVICE_ROOT, service_dir  # noqa: E402
from dockstack.services.base import Context  # noqa: E402
from dockstack.services.haproxy import render_haproxy  # noqa: E402
from dockstack.services.registry import DEFINITIONS, definition  # noqa: E402
from tests.memory import GIB, MemorySampler  # noqa: E402

WORK = ROOT / "bench" / ".work"
INV = ROOT / ".venv" / "bin" / "inv"
FLOOR = ROOT / "bench" / "floor.sh"
LAB = {"bridge": "dsbench0", "gateway": "10.97.0.1/24", "prefix": "dsb", "state_dir": "/var/lib/dockstack-bench"}
KEY = f"{LAB['state_dir']}/id_ed25519"
STACK_HOSTS = 3
SCALE_HOSTS = 4
SCALE_ROLES = ("tier1", "tier2", "tier3")
LEASE_PATH_CONTAINER = "galera"  # recreated by `inv create` with the address its lease keeps
STACK_NETWORK = {"subnet": "10.100.0.0/24", "dhcp_range": "10.100.0.100-10.100.0.199", "domain": "dockstack.lab",
                 "bridge": "dsbr0", "mtu": 1450, "join": "vxlan", "vxlan_id": 4242, "vxlan_port": 4789,
                 "upstream_dns": []}
SCALE_NETWORK = {**STACK_NETWORK, "subnet": "10.101.0.0/22", "dhcp_range": "10.101.0.10-10.101.3.250"}
SCALE_DNSMASQ = {"name": "dnsmasq", "role": "dnsmasq", "host": "host1", "image": "dockstack/base:bookworm",
                 "mac": "02:00:0a:65:00:02", "ip": "10.101.0.2"}
LIGHT_IMAGE = "dockstack/base:bookworm"
COMMAND_TIMEOUT = 600  # seconds any one command may take
WIPE_TIMEOUT = 120  # seconds emptying one host may take (removing up to ~40 containers)

# goals from the issue
RATIO_LIMIT, RATIO_GOAL = 1.5, 1.2  # deploy-all from empty / floor
NO_CHANGE_GOAL = 2.0  # seconds
PER_CONTAINER_GROWTH_GOAL = 1.3  # time per container at the largest size / at the smallest
BYTES_GROWTH_GOAL = 1.05  # bytes per container must not grow with N (5% for longer names)


class BenchError(Exception):
    """A command the benchmark needs failed: the numbers would mean nothing."""


def say(msg: str) -> None:
    print(msg, flush=True)


# --- running commands ---------------------------------------------------------------------


@dataclass
class Run:
    """One measured command: wall time, what it printed (with when), its trace and peak RSS."""

    argv: list[str]
    seconds: float
    code: int
    lines: list[tuple[float, str]]
    trace: list[dict]
    maxrss_kb: int

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


class Runner:
    """Runs commands as children, one at a time; every output goes to bench/.work/run.log too."""

    def __init__(self, log: Path) -> None:
        self.log = log.open("w")
        self.count = 0

    def run(self, argv: Sequence[str], check: bool = True, trace: bool = False) -> Run:
        """Run to completion; the wall time ends when the command exits (os.wait4 gives its own rusage).

        A command still running after COMMAND_TIMEOUT is killed with its process group: a hung docker
        must end the benchmark with an error, not keep it waiting forever."""
        self.count += 1
        env = {k: v for k, v in os.environ.items() if k != TRACE_ENV}
        trace_file = WORK / "traces" / f"{self.count:03d}.jsonl"
        if trace:
            trace_file.parent.mkdir(parents=True, exist_ok=True)
            trace_file.unlink(missing_ok=True)
            env[TRACE_ENV] = str(trace_file)
        self.log.write(f"\n$ {' '.join(argv)}\n")
        started = time.monotonic()
        proc = subprocess.Popen(list(argv), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True)
        watchdog = threading.Timer(COMMAND_TIMEOUT, _kill_group, (proc.pid,))
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
        files = [f"--hosts-file={hosts}"] + ([f"--containers-file={containers}"] if containers else [])
        return self.run([str(INV), *args, *files], check=check, trace=trace)


# --- the bench's own files ------------------------------------------------------------------


def write_hosts(path: Path, count: int, network: dict) -> None:
    """A hosts file for the bench lab: host1..N at 10.97.0.11.., the lab section of its own."""
    hosts = [{"name": f"host{i}", "address": f"10.97.0.{10 + i}", "user": "root", "port": 22, "key": KEY}
             for i in range(1, count + 1)]
    data = {"known_hosts": f"{LAB['state_dir']}/known_hosts", "hosts": hosts, "network": network, "lab": LAB}
    path.write_text("# The benchmark's own lab (bench/run.py writes this file).\n"
                    + yaml.safe_dump(data, sort_keys=False))


def write_scale_containers(path: Path, n: int, hosts: int) -> None:
    """dnsmasq, then N light containers in three tiers, spread round-robin over the hosts."""
    per_role = [n // len(SCALE_ROLES) + (i < n % len(SCALE_ROLES)) for i in range(len(SCALE_ROLES))]
    containers = [dict(SCALE_DNSMASQ)]
    k = 0
    for role, count in zip(SCALE_ROLES, per_role):
        for _ in range(count):
            k += 1
            containers.append({"name": f"c{k:03d}", "role": role, "host": f"host{(k - 1) % hosts + 1}",
                               "image": LIGHT_IMAGE})
    shipped = yaml.safe_load((ROOT / "containers.yaml").read_text())["images"]
    data = {"images": {LIGHT_IMAGE: shipped[LIGHT_IMAGE]},  # the same recipe: the cached build serves
            "roles": [{"name": "dnsmasq", "service": "dnsmasq", "check": "pgrep -x dnsmasq", "check_timeout": 20},
                      *({"name": r} for r in SCALE_ROLES)],
            "containers": containers}
    path.write_text(f"# Scale stack of the benchmark: {n} light containers (bench/run.py writes this file).\n"
                    + yaml.safe_dump(data, sort_keys=False))


def floor_veth(name: str) -> str:
    return "fbh" + hashlib.sha1(name.encode()).hexdigest()[:8]


def write_floor_plan(inv: Inventory, stack: Stack, path: Path) -> int:
    """bench/floor.sh's input: the same containers, images, commands and dnsmasq config as dockstack's.

    Returns the number of containers."""
    net = inv.network
    ds = stack.dnsmasq_containers()
    dns = [str(d.ip) for d in ds]
    d0 = ds[0]
    spec = inv.lab
    assert spec is not None
    rows: list[list[str]] = [
        ["set", "key", inv.hosts[0].key or KEY], ["set", "known_hosts", str(lab.known_hosts_file(spec))],
        ["set", "bridge", net.bridge], ["set", "mtu", str(net.mtu)], ["set", "domain", net.domain],
        ["set", "dnsmasq_address", inv.host(d0.host).address], ["set", "dnsmasq_name", d0.name],
        ["set", "dnsmasq_dir", service_dir(d0)], ["set", "max_sessions", str(inv.hosts[0].max_sessions)]]
    files = path.parent / f"{path.stem}.files"
    files.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, tier in enumerate(tiers(stack), 1):
        for role in tier:
            for c in stack.of_role(role.name):
                n += 1
                local, remote, dirs = _floor_files(inv, stack, c, files, dns)
                mac = effective_mac(c) if (c.mac or c.ip) else None
                cidr = f"{c.ip}/{net.subnet.prefixlen}" if c.ip else None
                row = ["c", str(i), c.name, inv.host(c.host).address, floor_veth(c.name), cidr or "-", mac or "-",
                       role.check or "-", local, remote, dirs, *_floor_docker_run(inv, c, dns)]
                rows.append(row)
    for row in rows:
        for v in row:
            if not v or "\t" in v or "\n" in v:
                raise BenchError(f"floor plan: {row[:3]}: value {v!r} cannot go in a tab-separated line")
    path.write_text("".join("\t".join(r) + "\n" for r in rows))
    return n


def _floor_files(inv: Inventory, stack: Stack, c: Container, files: Path, dns: list[str]) -> tuple[str, str, str]:
    """The one file a service container needs before it starts (rendered as dockstack renders it)."""
    base = service_dir(c)
    if c.service == "dnsmasq":
        ds = stack.dnsmasq_containers()
        text = render_dnsmasq_conf(inv.network, c, dns, ds.index(c), len(ds))
        target, dirs = f"{base}/dnsmasq.conf", f"{base}/hosts.d {base}/dhcp-hosts.d"
    elif c.service == "haproxy":
        text = render_haproxy(Context(stack, inv.network, tuple(dns), DEFINITIONS))
        target, dirs = f"{base}/haproxy.cfg", "-"
    else:
        return "-", "-", "-"
    local = files / f"{c.name}.{Path(target).name}"
    local.write_text(text)
    return str(local), target, dirs


def _floor_docker_run(inv: Inventory, c: Container, dns: list[str]) -> list[str]:
    """`docker run` arguments: what dockstack's run_argv passes, minus its bookkeeping labels."""
    argv = ["run", "--detach", "--name", c.name, "--hostname", c.name, "--network", "none", "--cap-add", "NET_ADMIN",
            "--label", "org.dockstack.bench=floor", "--dns-search", inv.network.domain]
    for server in ["127.0.0.1"] if c.is_dnsmasq else dns:
        argv += ["--dns", server]
    d = definition(c)
    if d:
        argv += ["--volume", f"{service_dir(c)}:{d.mount}"]
    for v in c.volumes:
        argv += ["--volume", v]
    for k, v in c.env:
        argv += ["--env", f"{k}={v}"]
    argv.append(c.image)
    if c.service == "haproxy" and not c.command:  # the floor ships one file: haproxy itself, no supervisor
        return [*argv, "haproxy", "-W", "-db", "-f", f"{d.mount if d else ''}/haproxy.cfg"]
    argv += list(c.command) or (list(d.command) if d else [])
    return argv


# --- the hosts ------------------------------------------------------------------------------------


# Empty hosts, as tests/e2e/conftest.py wipe_stack: no containers (dockstack's or the floor's), no
# service files (so no address is known). The container network (bridge, VXLAN) stays.
WIPE_SCRIPT = 'ids=$(docker ps -aq); if [ -n "$ids" ]; then docker rm -f $ids >/dev/null; fi; rm -rf "$1"/*'


def wipe(hosts_file: Path) -> None:
    inv = load_inventory(hosts_file)
    with Remotes(inv) as remotes:
        parallel(remotes.all(), lambda r: r.run(["sh", "-c", WIPE_SCRIPT, "sh", SERVICE_ROOT], "bench: wipe",
                                                timeout=WIPE_TIMEOUT))


def empty_hosts(runner: Runner, hosts: Path, warm_up: Path, res: Results) -> None:
    """Empty hosts before a measurement. Should a host's docker hang removing containers (seen under heavy
    load: `docker rm -f` never returns), the bench lab is restarted (lab.down, lab.up) and its container
    network set up again by an untimed deploy-all of `warm_up`; the measurement that follows is unaffected."""
    try:
        wipe(hosts)
        return
    except RemoteError as exc:
        res.restarts.append(str(exc))
        say(f"  emptying the hosts failed ({exc}): restarting the bench lab")
    runner.inv("lab.down", hosts=hosts)
    runner.inv("lab.up", hosts=hosts)
    wipe(hosts)
    runner.inv("deploy-all", hosts=hosts, containers=warm_up)
    wipe(hosts)


# --- measurements -------------------------------------------------------------------------------


@dataclass
class TraceCounts:
    """What DOCKSTACK_TRACE says about one command."""

    round_trips: int
    connects: dict[str, int]
    sent_to: dict[str, int]
    txn_sent: int

    @classmethod
    def of(cls, events: list[dict]) -> TraceCounts:
        steps = [e for e in events if "step" in e]
        sent: Counter[str] = Counter()
        for e in steps:
            sent[e["host"]] += e.get("sent", 0)
        return cls(len(steps), dict(Counter(e["host"] for e in events if e.get("connect"))), dict(sent),
                   sum(e.get("sent", 0) for e in steps if "address book transaction" in e["step"]))


def tier_times(run: Run, start_prefix: str, end_prefix: str, done: bool) -> list[float]:
    """Seconds per tier from the command's own progress lines (tier starts, or `tier N done` lines)."""
    marks = [t for t, line in run.lines if line.startswith(start_prefix)]
    if done:  # floor.sh: a line when a tier is done
        return [b - a for a, b in zip([0.0, *marks], marks)]
    end = next((t for t, line in run.lines if line.startswith(end_prefix)), run.seconds)
    return [b - a for a, b in zip(marks, [*marks[1:], end])]


def preamble(run: Run) -> float:
    """deploy-all: seconds before the first tier starts (interpreter, facts, network)."""
    return next((t for t, line in run.lines if line.startswith("[1/")), 0.0)


def phases(run: Run) -> list[tuple[float, float, float]]:
    """deploy-all, per tier: (container actions, address-book commit, puppet pushes) in seconds.

    From its progress lines: the tier's header, its containers' last `done`, `address book:`, the next header."""
    out = []
    start = actions_end = commit_end = None
    for t, line in [*run.lines, (run.seconds, "[end")]:
        if line.startswith("[") or line.startswith("deploy-all:"):
            if start is not None:
                a_end = actions_end or start
                c_end = commit_end or a_end
                out.append((a_end - start, c_end - a_end, t - c_end))
            if line.startswith("deploy-all:"):
                break
            start, actions_end, commit_end = t, None, None
        elif start is not None and commit_end is None:
            if line.startswith("  address book:"):
                commit_end = t
            elif line.endswith(": done") or ": FAILED" in line:
                actions_end = t
    return out


@dataclass
class StackRound:
    floor: Run
    deploy: Run
    no_change: Run
    create: Run


@dataclass
class ScaleRound:
    n: int
    floor: Run
    deploy: Run


@dataclass
class RealRound:
    deploy: Run
    no_change: Run
    memory_before: int = 0  # bytes the machine used before deploy-all (the lab up, its hosts empty)
    memory_peak: int = 0  # the most it used while deploy-all ran
    memory_after: int = 0  # what it used once deploy-all was done (every service up)


@dataclass
class Results:
    started: str
    stack_rounds: list[StackRound] = field(default_factory=list)
    real_rounds: list[RealRound] = field(default_factory=list)
    scale_rounds: list[ScaleRound] = field(default_factory=list)
    stack_tiers: list[str] = field(default_factory=list)
    scale_tiers: list[str] = field(default_factory=list)
    stack_containers: int = 0
    dnsmasq_host: dict[str, str] = field(default_factory=dict)  # "stack"/"scale" -> host name
    floor_calls: dict[str, int] = field(default_factory=dict)  # "stack" / "scale-N" -> ssh calls of the floor
    scale_hosts: int = SCALE_HOSTS
    machine: list[str] = field(default_factory=list)
    engine: list[str] = field(default_factory=list)  # engine_fingerprint() before and after the measurements
    busy: bool = False  # the load average exceeded the number of CPUs when the run started
    restarts: list[str] = field(default_factory=list)  # why the bench lab had to be restarted between measurements
    command: str = ""
    minutes: float = 0.0

    def save(self, path: Path) -> None:
        """Everything measured (outputs and traces too), so the report can be rewritten without a new run."""
        path.write_text(json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, path: Path) -> Results:
        data = json.loads(path.read_text())

        def run(d: dict) -> Run:
            return Run(d["argv"], d["seconds"], d["code"], [(t, x) for t, x in d["lines"]], d["trace"],
                       d["maxrss_kb"])

        data["stack_rounds"] = [StackRound(**{k: run(v) for k, v in r.items()}) for r in data["stack_rounds"]]
        data["real_rounds"] = [RealRound(**{k: run(v) if isinstance(v, dict) else v for k, v in r.items()})
                               for r in data.get("real_rounds", [])]
        data["scale_rounds"] = [ScaleRound(r["n"], run(r["floor"]), run(r["deploy"])) for r in data["scale_rounds"]]
        return cls(**data)


def floor_calls(run: Run) -> int:
    last = next((line for _, line in reversed(run.lines) if line.startswith("floor:")), "")
    words = last.split()
    return int(words[words.index("ssh") - 1]) if "ssh" in words else 0


ENGINE_STACK = ROOT / "tests" / "e2e" / "stacks" / "engine.yaml"  # the ten roles, light: the engine's own cost


def measure_stack(runner: Runner, rounds: int, res: Results) -> None:
    """Part 1: the ten-role stack on 3 hosts, floor and dockstack alternating which goes first."""
    hosts, containers, plan = WORK / "hosts-stack.yaml", WORK / "containers-stack.yaml", WORK / "floor-stack.tsv"
    write_hosts(hosts, STACK_HOSTS, STACK_NETWORK)
    shutil.copyfile(ENGINE_STACK, containers)
    say(f"lab: bringing up {STACK_HOSTS} bench hosts and syncing images")
    runner.inv("lab.up", f"--hosts={STACK_HOSTS}", hosts=hosts)
    runner.inv("images.sync", hosts=hosts, containers=containers)
    inv = load_inventory(hosts)
    stack = load_stack(inv, containers)
    res.stack_containers = write_floor_plan(inv, stack, plan)
    res.stack_tiers = [", ".join(r.name for r in t) for t in tiers(stack)]
    res.dnsmasq_host["stack"] = stack.dnsmasq_containers()[0].host
    say("warm-up: deploy-all once (sets up the container network, warms caches), then empty hosts")
    empty_hosts(runner, hosts, containers, res)
    runner.inv("deploy-all", hosts=hosts, containers=containers)
    for i in range(1, rounds + 1):
        runs: dict[str, Run] = {}
        for which in (("floor", "dockstack") if i % 2 else ("dockstack", "floor")):
            empty_hosts(runner, hosts, containers, res)
            if which == "floor":
                runs["floor"] = runner.run(["bash", str(FLOOR), str(plan)])
                res.floor_calls["stack"] = floor_calls(runs["floor"])
            else:
                runs["deploy"] = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
                runs["no_change"] = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
                if "0 changed" not in runs["no_change"].output:
                    raise BenchError(f"deploy-all re-run changed something:\n{runs['no_change'].output}")
                runner.inv("remove", f"--name={LEASE_PATH_CONTAINER}", hosts=hosts, containers=containers)
                runs["create"] = runner.inv("create", f"--name={LEASE_PATH_CONTAINER}", hosts=hosts,
                                            containers=containers, trace=True)
                if "lease)" not in runs["create"].output:
                    raise BenchError(f"create did not take the lease path:\n{runs['create'].output}")
        r = StackRound(runs["floor"], runs["deploy"], runs["no_change"], runs["create"])
        res.stack_rounds.append(r)
        say(f"round {i}/{rounds}: floor {r.floor.seconds:.2f}s, deploy-all {r.deploy.seconds:.2f}s "
            f"({r.deploy.seconds / r.floor.seconds:.2f}x), no change {r.no_change.seconds:.2f}s, "
            f"create {r.create.seconds:.2f}s")
    empty_hosts(runner, hosts, containers, res)


@dataclass(frozen=True)
class RealPhases:
    """deploy-all of the real stack, in seconds, each tier counted by its slowest container, split by the steps
    its action reports (`took` events in the trace: addressing, the Puppet agent run, the readiness check)."""

    before: float  # facts, network: before the first tier
    addressing: float  # docker run, eth0, the address (static or DHCP)
    puppet: float  # Puppet agent runs
    readiness: float  # readiness checks passing (the services starting)
    server_start: float  # of readiness: the Puppet server's start, up to its status API answering
    other: float  # the rest: the tiers' address-book transactions and pushes, SSH, the summary


def real_phases(run: Run) -> RealPhases:
    """From deploy-all's timestamped lines (tier headers `[i/n]`, per container `NAME: done`) and its trace
    (per container `took`: addressing, agent, check)."""
    before = next((t for t, line in run.lines if line.startswith("[1/")), 0.0)
    took = {e["container"]: e["took"] for e in run.trace if "took" in e}
    addressing = puppet = readiness = server = 0.0
    tier: dict[str, float] = {}  # container -> seconds from the tier's start to its `done`
    start = 0.0

    def close() -> None:
        nonlocal addressing, puppet, readiness, server
        if tier:
            slowest = max(tier, key=lambda n: tier[n])
            steps = took.get(slowest, {})
            addressing += steps.get("addressing", 0.0)
            puppet += steps.get("agent", 0.0)
            readiness += steps.get("check", 0.0)
            if "puppet" in tier:
                server = took.get("puppet", {}).get("check", 0.0)
        tier.clear()

    for t, line in run.lines:
        if re.match(r"^\[\d+/\d+\] ", line):
            close()
            start = t
            continue
        done = re.match(r"^  ([a-z0-9][a-z0-9-]*): done$", line)
        if done:
            tier[done.group(1)] = t - start
    close()
    return RealPhases(before, addressing, puppet, readiness, server,
                      run.seconds - before - addressing - puppet - readiness)


def measure_real(runner: Runner, rounds: int, res: Results) -> None:
    """Part 2: the shipped stack (Puppet server, agents, Galera, haproxy + keepalived) from empty hosts on the
    same 3 hosts, and its no-change re-run (which must run no agent)."""
    hosts, containers = WORK / "hosts-stack.yaml", WORK / "containers-real.yaml"
    shutil.copyfile(ROOT / "containers.yaml", containers)  # its generated passwords go beside it, in WORK
    say("real stack: syncing its images to the bench hosts")
    runner.inv("images.sync", hosts=hosts, containers=containers)
    for i in range(1, rounds + 1):
        empty_hosts(runner, hosts, containers, res)
        memory = MemorySampler()  # the whole machine: the lab's containers are its processes
        memory.start()
        try:
            deploy = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
        finally:
            memory.done.set()
        after = memory.read()
        no_change = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
        if " 0 changed" not in no_change.output or "puppet agent" in no_change.output:
            raise BenchError(f"the real stack's re-run changed something:\n{no_change.output}")
        res.real_rounds.append(RealRound(deploy, no_change, memory.start_used, max(memory.peak, after), after))
        ph = real_phases(deploy)
        say(f"real stack round {i}/{rounds}: deploy-all {deploy.seconds:.1f}s (addressing {ph.addressing:.1f}, "
            f"Puppet agents {ph.puppet:.1f}, readiness {ph.readiness:.1f} of which the Puppet server's start "
            f"{ph.server_start:.1f}), no change {no_change.seconds:.2f}s")
    empty_hosts(runner, hosts, containers, res)


def measure_scale(runner: Runner, sizes: list[int], rounds: int, res: Results) -> None:
    """Part 2: light containers on 4 hosts, several per tier and per host."""
    hosts = WORK / "hosts-scale.yaml"
    write_hosts(hosts, STACK_HOSTS, SCALE_NETWORK)
    say(f"lab: growing the bench lab to {SCALE_HOSTS} hosts")
    runner.inv("lab.up", f"--hosts={SCALE_HOSTS}", hosts=hosts)  # rewrites hosts-scale.yaml for 4 hosts
    inv = load_inventory(hosts)
    files: dict[int, tuple[Path, Path]] = {}
    for n in [SCALE_HOSTS, *sizes]:
        containers, plan = WORK / f"containers-scale-{n}.yaml", WORK / f"floor-scale-{n}.tsv"
        write_scale_containers(containers, n, len(inv.hosts))
        write_floor_plan(inv, load_stack(inv, containers), plan)
        files[n] = (containers, plan)
    res.dnsmasq_host["scale"] = SCALE_DNSMASQ["host"]
    res.scale_tiers = ["dnsmasq", *SCALE_ROLES]
    runner.inv("images.sync", hosts=hosts, containers=files[sizes[0]][0])
    say("warm-up: one light container per host (sets up the 4-host network), then empty hosts")
    empty_hosts(runner, hosts, files[SCALE_HOSTS][0], res)
    runner.inv("deploy-all", hosts=hosts, containers=files[SCALE_HOSTS][0])
    for i in range(1, rounds + 1):
        for n in sizes:
            containers, plan = files[n]
            runs: dict[str, Run] = {}
            for which in (("floor", "dockstack") if i % 2 else ("dockstack", "floor")):
                empty_hosts(runner, hosts, files[SCALE_HOSTS][0], res)
                if which == "floor":
                    runs["floor"] = runner.run(["bash", str(FLOOR), str(plan)])
                    res.floor_calls[f"scale-{n}"] = floor_calls(runs["floor"])
                else:
                    runs["deploy"] = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
            r = ScaleRound(n, runs["floor"], runs["deploy"])
            res.scale_rounds.append(r)
            say(f"round {i}/{rounds}, N={n}: floor {r.floor.seconds:.2f}s, deploy-all {r.deploy.seconds:.2f}s "
                f"({r.deploy.seconds / n:.3f}s per container, peak RSS {r.deploy.maxrss_kb / 1024:.0f} MB)")
    empty_hosts(runner, hosts, files[SCALE_HOSTS][0], res)


# --- the report ---------------------------------------------------------------------------------------


def spread(values: Sequence[float], fmt: str = ".2f") -> str:
    """median (min-max)"""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


@dataclass
class Goal:
    text: str
    measured: str
    met: bool


def engine_fingerprint() -> str:
    """A digest of the code that `inv` runs: a run whose engine changed half-way measured two versions."""
    h = hashlib.sha256()
    files = [ROOT / "tasks.py", *sorted((ROOT / "dockstack").glob("*.py")), *sorted((ROOT / "templates").rglob("*"))]
    for f in files:
        if f.is_file():
            h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def machine() -> list[str]:
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


def tier_table(names: list[str], floors: list[Run], deploys: list[Run]) -> list[str]:
    """Markdown rows: per tier, the floor beside deploy-all and deploy-all's phases."""
    floor_tiers = [tier_times(r, "tier ", "", done=True) for r in floors]
    dep_tiers = [tier_times(r, "[", "deploy-all:", done=False) for r in deploys]
    dep_phases = [phases(r) for r in deploys]

    def med(rows: list[list[float]], i: int) -> float:
        return statistics.median(x[i] for x in rows if i < len(x))

    out = ["| tier | roles | floor | deploy-all | difference | actions | address book | pushes |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
           f"| before the first tier | facts, network check | - | "
           f"{statistics.median(preamble(r) for r in deploys):.2f} | | | | |"]
    for i, roles in enumerate(names):
        f, d = med(floor_tiers, i), med(dep_tiers, i)
        ph = [[p[i][k] for p in dep_phases if i < len(p)] for k in range(3)]
        out.append(f"| {i + 1} | {roles} | {f:.2f} | {d:.2f} | {d - f:+.2f} | "
                   + " | ".join(f"{statistics.median(x):.2f}" for x in ph) + " |")
    return out


def report(res: Results) -> tuple[str, list[Goal]]:
    rounds, scale = res.stack_rounds, res.scale_rounds
    goals: list[Goal] = []
    out = ["# Benchmarks\n",
           f"Measured by `bench/run.py` on {res.started}, in {res.minutes:.1f} minutes. Not a test: numbers vary "
           "by machine and load; the goals are the issue's.\n",
           "## Machine\n", *[f"- {x}" for x in res.machine], "",
           *(["**The machine was busy with other work** (load average above the number of CPUs): the rounds "
              "vary more than they would on an idle machine; the medians and the alternating order soften it.\n"]
             if res.busy else []),
           *([f"The bench lab was restarted {len(res.restarts)} time(s) between measurements, because emptying "
              f"the hosts hung: {'; '.join(res.restarts)}.\n"] if res.restarts else []),
           *([f"**The engine's code changed during the run** (fingerprint {' -> '.join(res.engine)}): these numbers "
              "mix two versions.\n"] if len(set(res.engine)) > 1 else []),
           "## Reproduce\n", "As root, in a clone of this repository:\n", "```sh",
           "bash scripts/setup.sh        # Debian packages and .venv (as for the lab)",
           ".venv/bin/inv images.build   # the stack's images (cached in /var/cache/dockstack)",
           res.command, "```\n",
           "It brings up a lab of its own (bridge `dsbench0`, prefix `dsb`, 10.97.0.0/24, "
           "`/var/lib/dockstack-bench`; files in `bench/.work/`), so it can run beside the default lab, and "
           "tears it down at the end. Floor and dockstack alternate which goes first from round to round. "
           "Each measurement starts from empty hosts (no containers, no `/var/lib/dockstack/*`); the container "
           "network was set up once before. Medians, with (min-max) over the rounds; dockstack / floor is the "
           "median of each round's own ratio.\n",
           "The floor (`bench/floor.sh`) does only the unavoidable work, with the same images, hosts, docker "
           "options and dnsmasq configuration (no-ping): tiers in sequence, a tier's containers in parallel "
           "(at most 8 at once per host, like dockstack); per container one `ssh` call (`docker run --network "
           "none`, a veth pair onto the bridge, static IP or the container's `dhclient` entered with `nsenter` "
           "as dockstack does, the role's check with `docker exec`), per tier one `ssh` "
           "call to the dnsmasq host (append the DNS entries, SIGHUP); SSH connections reused (ControlMaster).\n"]

    # part 1
    ratios = [r.deploy.seconds / r.floor.seconds for r in rounds]
    floor_s = [r.floor.seconds for r in rounds]
    dep_s = [r.deploy.seconds for r in rounds]
    traces = [TraceCounts.of(r.deploy.trace) for r in rounds]
    create_traces = [TraceCounts.of(r.create.trace) for r in rounds]
    nc_traces = [TraceCounts.of(r.no_change.trace) for r in rounds]
    n = res.stack_containers
    fcalls = res.floor_calls.get("stack", 0)
    conn = traces[0].connects
    out += [f"## The ten-role engine stack (tests/e2e/stacks/engine.yaml: {n} containers, {STACK_HOSTS} hosts, "
            f"rounds: {len(rounds)})\n",
            "| measure | floor | dockstack | dockstack / floor |", "| --- | ---: | ---: | ---: |",
            f"| deploy from empty hosts, wall s | {spread(floor_s)} | {spread(dep_s)} | {spread(ratios)} |",
            f"| remote round trips | {fcalls} ssh calls | {spread([t.round_trips for t in traces], '.0f')} | |",
            f"| round trips per created container | {fcalls / n:.1f} | "
            f"{spread([t.round_trips / n for t in traces], '.1f')} | |",
            f"| SSH connections per host | 1 (ControlMaster) | "
            f"{', '.join(f'{h}: {c}' for h, c in sorted(conn.items()))} | |",
            f"| peak RSS of `inv`, MB | - | {spread([r.deploy.maxrss_kb / 1024 for r in rounds], '.0f')} | |",
            f"| deploy-all again, nothing to change, wall s | - | {spread([r.no_change.seconds for r in rounds])} | |",
            f"| ... its round trips / SSH connections | - | {nc_traces[0].round_trips} / "
            f"{sum(nc_traces[0].connects.values())} | |",
            f"| `inv create --name={LEASE_PATH_CONTAINER}` (lease path), wall s | - | "
            f"{spread([r.create.seconds for r in rounds])} | |",
            f"| ... its round trips / SSH connections | - | {create_traces[0].round_trips} / "
            f"{sum(create_traces[0].connects.values())} | |", ""]
    out += ["Where the time goes, per tier (seconds, medians). dockstack's tier is its containers' actions, "
            "then one address-book transaction on the dnsmasq host, then the puppet push; the floor's "
            "is its containers' ssh calls, then one ssh call to the dnsmasq host.\n",
            *tier_table(res.stack_tiers, [r.floor for r in rounds], [r.deploy for r in rounds]), ""]
    ratio = statistics.median(ratios)
    goals.append(Goal(f"deploy-all from empty ≤ {RATIO_LIMIT}× the floor", f"{ratio:.3f}×", ratio <= RATIO_LIMIT))
    goals.append(Goal(f"deploy-all from empty ≤ {RATIO_GOAL}× the floor (goal)", f"{ratio:.3f}×", ratio <= RATIO_GOAL))
    nc = statistics.median(r.no_change.seconds for r in rounds)
    goals.append(Goal(f"no-change re-run < {NO_CHANGE_GOAL:g} s", f"{nc:.2f} s", nc < NO_CHANGE_GOAL))

    # part 2
    sizes = sorted({s.n for s in scale})
    scale_rounds = len(scale) // max(1, len(sizes))
    out += [f"## Scale: light containers on {res.scale_hosts} hosts (rounds per size: {scale_rounds})\n",
            f"N light containers (`{LIGHT_IMAGE}`, no check) in three roles of one tier each after dnsmasq, "
            f"round-robin over the hosts; dnsmasq (on {res.dnsmasq_host.get('scale')}) is not counted in N. "
            "Bytes: what dockstack sends to the dnsmasq host (every round trip, including the actions of "
            "the containers that host runs), and the address-book transactions alone.\n",
            "| N | floor s | deploy-all s | dockstack / floor | floor s per container | deploy-all s per container "
            "| peak RSS of `inv`, MB | round trips per container | bytes to the dnsmasq host per container "
            "| address-book bytes per container |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    per: dict[int, dict[str, float]] = {}
    for size in sizes:
        rs = [s for s in scale if s.n == size]
        tc = [TraceCounts.of(s.deploy.trace) for s in rs]
        dh = res.dnsmasq_host.get("scale", "host1")
        per[size] = {"tpc": statistics.median(s.deploy.seconds / size for s in rs),
                     "bpc": statistics.median(t.sent_to.get(dh, 0) / size for t in tc),
                     "txn": statistics.median(t.txn_sent / size for t in tc)}
        out.append(f"| {size} | {spread([s.floor.seconds for s in rs])} | {spread([s.deploy.seconds for s in rs])} "
                   f"| {spread([s.deploy.seconds / s.floor.seconds for s in rs])} "
                   f"| {statistics.median(s.floor.seconds / size for s in rs):.3f} | {per[size]['tpc']:.3f} "
                   f"| {max(s.deploy.maxrss_kb for s in rs) / 1024:.0f} "
                   f"| {statistics.median(t.round_trips / size for t in tc):.2f} | {per[size]['bpc']:.0f} "
                   f"| {per[size]['txn']:.0f} |")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        t_ratio = per[hi]["tpc"] / per[lo]["tpc"]
        b_ratio = per[hi]["bpc"] / per[lo]["bpc"]
        x_ratio = per[hi]["txn"] / per[lo]["txn"]
        out += ["", f"- time per container, N={hi} / N={lo}: **{t_ratio:.2f}**",
                f"- bytes to the dnsmasq host per container, N={hi} / N={lo}: **{b_ratio:.2f}** "
                f"(address-book transactions alone: {x_ratio:.2f})"]
        big = [s for s in scale if s.n == hi]
        out += ["", f"Per tier at N={hi} (seconds, medians):\n",
                *tier_table(res.scale_tiers, [s.floor for s in big], [s.deploy for s in big])]
        goals.append(Goal(f"time per container at {hi} within {PER_CONTAINER_GROWTH_GOAL}× of that at {lo}",
                          f"{t_ratio:.2f}×", t_ratio <= PER_CONTAINER_GROWTH_GOAL))
        goals.append(Goal(f"bytes per container not growing with N (N={hi} / N={lo} ≤ {BYTES_GROWTH_GOAL})",
                          f"{b_ratio:.2f}×", b_ratio <= BYTES_GROWTH_GOAL))
    out += real_report(res, goals)
    out += ["", "## Goals\n", "| goal | measured | |", "| --- | ---: | --- |"]
    out += [f"| {g.text} | {g.measured} | {'met' if g.met else '**missed**'} |" for g in goals]
    out.append("")
    return "\n".join(out), goals


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds of the ten-role stack (default 5)")
    p.add_argument("--real-rounds", type=int, default=2, help="rounds of the real shipped stack (default 2)")
    p.add_argument("--scale-rounds", type=int, default=3, help="rounds of each scale size (default 3)")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[30, 60, 120],
                   help="scale stack sizes (default 30,60,120)")
    p.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="report file")
    p.add_argument("--only-real", action="store_true",
                   help="measure only the real shipped stack and replace its section of the report, keeping the "
                        "others")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the report from the last run's bench/.work/results.json, measure nothing")
    args = p.parse_args(argv)
    raw = WORK / "results.json"
    if args.report_only:
        return write_report(Results.load(raw), args.output)
    if os.geteuid() != 0:
        print("bench/run.py: run as root (the lab needs namespaces)", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORK / "traces", ignore_errors=True)
    runner = Runner(WORK / "run.log")
    res = Results(datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=machine(),
                  command=f".venv/bin/python bench/run.py --rounds={args.rounds} --real-rounds={args.real_rounds} "
                          f"--scale-rounds={args.scale_rounds} "
                          f"--sizes={','.join(map(str, args.sizes))}")
    if args.only_real:
        res.command = f".venv/bin/python bench/run.py --only-real --real-rounds={args.real_rounds}"
    started = time.monotonic()
    res.engine.append(engine_fingerprint())
    try:
        if args.only_real:
            hosts = WORK / "hosts-stack.yaml"
            write_hosts(hosts, STACK_HOSTS, STACK_NETWORK)
            say(f"lab: bringing up {STACK_HOSTS} bench hosts")
            runner.inv("lab.up", f"--hosts={STACK_HOSTS}", hosts=hosts)
            (WORK / "hosts-scale.yaml").unlink(missing_ok=True)  # the lab to tear down is this one
        else:
            measure_stack(runner, args.rounds, res)
        if args.real_rounds:
            measure_real(runner, args.real_rounds, res)
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
        hosts = WORK / "hosts-scale.yaml" if (WORK / "hosts-scale.yaml").exists() else WORK / "hosts-stack.yaml"
        if hosts.exists():
            down = runner.inv("lab.down", hosts=hosts, check=False)
            if down.code != 0:
                print(f"bench/run.py: lab.down failed:\n{down.output}", file=sys.stderr)
    res.minutes = (time.monotonic() - started) / 60
    res.machine.append(f"load average when the run ended: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    res.busy = started_busy(res.machine)
    res.engine.append(engine_fingerprint())
    if args.only_real:
        res.save(WORK / "results-real.json")
        return write_real_only(res, args.output)
    res.save(raw)
    return write_report(res, args.output)


def started_busy(machine: list[str]) -> bool:
    """Other work on the machine: the 1-minute load average above the CPUs when the run started. The load when it
    ended is reported too, but it is mostly the run's own (the real stack's services had just been running)."""
    start = next(x for x in machine if x.startswith("load average when the run started: "))
    return float(start.split(": ")[1].split()[0]) > (os.cpu_count() or 1)


def real_report(res: Results, goals: list[Goal]) -> list[str]:
    """Part 2 of the report: the real stack from empty, split into addressing, Puppet and readiness."""
    rounds = res.real_rounds
    if not rounds:
        return []
    phases = [real_phases(r.deploy) for r in rounds]
    nc = [r.no_change.seconds for r in rounds]
    n = len([line for _, line in rounds[0].deploy.lines if re.match(r"^  [a-z0-9-]+: done$", line)])
    out = ["", f"## The real stack (the shipped containers.yaml: {n} containers on {STACK_HOSTS} hosts, rounds: "
           f"{len(rounds)})\n",
           "The Puppet server, a Puppet agent run in every container of a role with classes, the three-node "
           "Galera cluster bootstrapped from empty, haproxy + keepalived holding the VIP. Each tier counts its "
           "slowest container, split by the durations its action script reports: addressing (docker run, eth0, "
           "the address), its Puppet agent run, its readiness check (the service starting).\n",
           "| measure | seconds |", "| --- | ---: |",
           f"| deploy-all from empty hosts, wall | {spread([r.deploy.seconds for r in rounds], '.1f')} |",
           f"| ... before the first tier (facts, network) | {spread([p.before for p in phases], '.1f')} |",
           f"| ... addressing | {spread([p.addressing for p in phases], '.1f')} |",
           f"| ... Puppet agent runs | {spread([p.puppet for p in phases], '.1f')} |",
           f"| ... service readiness | {spread([p.readiness for p in phases], '.1f')} |",
           f"| ...... of which the Puppet server's start | {spread([p.server_start for p in phases], '.1f')} |",
           f"| ... address-book transactions, pushes, SSH | {spread([p.other for p in phases], '.1f')} |",
           f"| deploy-all again, nothing to change (no agent runs) | {spread(nc)} |",
           f"| ... its round trips / SSH connections | {TraceCounts.of(rounds[0].no_change.trace).round_trips} / "
           f"{sum(TraceCounts.of(rounds[0].no_change.trace).connects.values())} |",
           f"| memory the machine used before deploy-all (lab up, hosts empty), GiB | "
           f"{spread([r.memory_before / GIB for r in rounds], '.1f')} |",
           f"| ... at its peak while deploy-all ran, GiB | {spread([r.memory_peak / GIB for r in rounds], '.1f')} |",
           f"| ... once every service was up, GiB | {spread([r.memory_after / GIB for r in rounds], '.1f')} |"]
    goals.append(Goal("real stack: no-change re-run < 2 s (no Puppet run)", f"{statistics.median(nc):.2f} s",
                      statistics.median(nc) < NO_CHANGE_GOAL))
    return out


REAL_HEADING = "## The real stack"
GOALS_HEADING = "## Goals"
REAL_GOAL_ROW = "| real stack:"


def splice_real(report_text: str, section: list[str], goal_rows: list[str], note: str) -> str:
    """The report with its real-stack section and goal row replaced by a newer measurement (`--only-real`),
    the other sections kept as their own run measured them; `note` says when and how the new one was made."""
    lines = report_text.rstrip("\n").split("\n")
    goals_at = lines.index(GOALS_HEADING) if GOALS_HEADING in lines else len(lines)
    real_at = next((i for i, x in enumerate(lines) if x.startswith(REAL_HEADING)), goals_at)
    heading, *body = [x for x in section if x]
    head = lines[:real_at]
    while head and not head[-1].strip():
        head.pop()
    goals = [x for x in lines[goals_at:] if not x.startswith(REAL_GOAL_ROW)]
    if not goals:
        goals = [f"{GOALS_HEADING}\n", "| goal | measured | |", "| --- | ---: | --- |"]
    return "\n".join([*head, "", heading, note, *body, "", *goals, *goal_rows]) + "\n"


def write_real_only(res: Results, output: Path) -> int:
    """`--only-real`: the real-stack section of the existing report replaced, the rest kept."""
    goals: list[Goal] = []
    section = real_report(res, goals)
    note = (f"Measured by `{res.command}` on {res.started}, in {res.minutes:.1f} minutes ({'; '.join(res.machine)})"
            f"{': the machine was busy with other work' if res.busy else ''}; the sections above come from the "
            "run described at the top.\n")
    rows = [f"| {g.text} | {g.measured} | {'met' if g.met else '**missed**'} |" for g in goals]
    output.write_text(splice_real(output.read_text() if output.exists() else "# Benchmarks\n", section, rows, note))
    say(f"wrote the real stack's section of {output}")
    for g in goals:
        say(f"{'met' if g.met else 'MISSED'}: {g.text}: {g.measured}")
    return 0


def write_report(res: Results, output: Path) -> int:
    """BENCHMARKS.md, and one line per goal on stdout (MISSED when missed); always 0: not a test."""
    text, goals = report(res)
    output.write_text(text)
    say(f"wrote {output}")
    if len(set(res.engine)) > 1:
        say(f"WARNING: the engine's code changed during the run ({' -> '.join(res.engine)}): measure again")
    for g in goals:
        say(f"{'met' if g.met else 'MISSED'}: {g.text}: {g.measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
