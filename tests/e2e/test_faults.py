"""Faults injected into the lab while `inv` runs: dead sshd and dockerd, dropped packets, a dnsmasq that is
gone or silent, damaged address-book files, the operator's process killed, two operators at once, a foreign
container in the way, and config values that must be refused before any host is touched.

Every case checks that the message names the host or container and the cause, the exit code, that every
other container keeps its address (in dnsmasq's files on host1, and from DHCP on a fresh exchange), and that
a run after the fault is gone converges without changing any address. Faults are removed in `finally`;
a killed daemon is brought back with `inv lab.up`. Small DOCKSTACK_*_TIMEOUT values make faults resolve in
seconds.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sysconfig
import threading
import time
from pathlib import Path

import pytest
import yaml

from dockstack import facts, lab
from dockstack.addressbook import REPLICA_DIR
from dockstack.config import DEFAULT_HOSTS_FILE, ROOT
from dockstack.dockercli import LABEL_MANAGED
from dockstack.services.dnsmasq import DNSMASQ_DIR

from .helpers import (
    ENGINE_STACK,
    INV,
    book_files,
    docker_exec,
    engine_stack,
    entry,
    haproxy_servers,
    ipam_json,
    registry_is_consistent,
    renew_lease,
    run_inv,
    ssh,
    write_containers,
)

LAB = "b"
# Small enough that a fault resolves in seconds, large enough for a loaded 2-core machine (a facts read can
# take several seconds there).
STEP, DHCP = 8, 6
FAST = {"DOCKSTACK_STEP_TIMEOUT": str(STEP), "DOCKSTACK_DHCP_TIMEOUT": str(DHCP), "DOCKSTACK_LOCK_TIMEOUT": "20"}
SUMMARY = re.compile(r"^deploy-all: (\d+) ok, (\d+) changed, (\d+) failed", re.M)
CONVERGED = "10 ok, 0 changed, 0 failed"
BOOK = f"{DNSMASQ_DIR}/dnsmasq"  # the address book of the one dnsmasq (host1)


def every_copy(inventory) -> list[tuple[str, str]]:
    """(host, folder) of each copy of the address book: dnsmasq's, then each host's replica (a record damaged in
    dnsmasq's copy alone is rewritten from an intact replica)."""
    return [("host1", BOOK), *((h.name, REPLICA_DIR) for h in inventory.hosts)]


# --- running inv ------------------------------------------------------------------------------


class Background:
    """`inv` running in the background; its stdout lines are collected as they come, so that a test can act
    when a given line appears."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        # SIGINT as at an operator's terminal, even when the suite itself was started in the background (a
        # shell's `cmd &` without job control starts it with SIGINT ignored, and children inherit that)
        self.proc = subprocess.Popen([str(INV), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})},
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._drain, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, q: queue.Queue) -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    @staticmethod
    def _drain(stream, into: list[str]) -> None:
        into.extend(stream)

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        """The first stdout line (from now on) that matches; fails if the run ends or the time is up first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{''.join(self.out)}") from None
            if line is None:
                self.lines.put(None)
                raise AssertionError(f"inv ended before a line matching {pattern!r}:\n{''.join(self.out)}"
                                     f"{''.join(self.err)}")
            self.out.append(line)
            if re.search(pattern, line):
                return line

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        """Exit code, all of stdout, all of stderr."""
        code = self.proc.wait(timeout=timeout)
        while (line := self.lines.get(timeout=30)) is not None:
            self.out.append(line)
        self.lines.put(None)
        for t in self._threads:
            t.join(timeout=30)
        return code, "".join(self.out), "".join(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


# --- the state of the stack ---------------------------------------------------------------------


@functools.cache
def stack_names() -> tuple[str, ...]:
    """The shipped stack's containers (the registry may also know others, left by other tests)."""
    return tuple(c.name for c in engine_stack().containers)


def addresses() -> dict[str, str]:
    return {n: r["ip"] for n, r in ipam_json().items() if n in stack_names()}


def recorded_ips(inventory) -> dict[str, str]:
    """The stack's IPs in the registry, which holds no IP or MAC twice."""
    return {n: ip for n, (_, ip) in registry_is_consistent(inventory).items() if n in stack_names()}


def converge() -> str:
    """deploy-all until it has nothing left to do: the first run may still repair what a fault left behind
    (it must not fail), the next one must change nothing."""
    out = ""
    for _ in range(2):
        proc = run_inv("deploy-all", check=False)
        out += proc.stdout + proc.stderr
        assert proc.returncode == 0 and "Traceback" not in out, out
        if CONVERGED in proc.stdout:
            return out
    raise AssertionError(f"deploy-all does not converge:\n{out}")


def converged_with_the_same_addresses(before: dict[str, str]) -> str:
    out = converge()
    assert addresses() == before, out
    return out


def registry_lines(inventory) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in book_files(inventory)["registry"].splitlines() if line.split()}


def assert_book_keeps(inventory, rows: dict[str, dict], names) -> None:
    """Each container's record (whatever its source), DHCP host entry and hosts entry in host1's dnsmasq files."""
    book = book_files(inventory)
    records = {line.split()[0]: line.split() for line in book["registry"].splitlines() if line.split()}
    domain = inventory.network.domain
    for n in names:
        r = rows[n]
        assert records.get(n, [])[:5] == [n, r["role"], r["host"], r["mac"], r["ip"]], (n, book["registry"])
        assert f"{r['mac']},{n},{r['ip']}" in book["dhcp-hosts.d"].splitlines(), (n, book["dhcp-hosts.d"])
        assert f"{r['ip']} {n}.{domain} {n}" in book["hosts.d"].splitlines(), (n, book["hosts.d"])


def assert_dhcp_answers(inventory, rows: dict[str, dict], names) -> None:
    """A fresh DHCP exchange gives these containers their own address again."""
    for n in names:
        host = rows[n]["host"]
        renew_lease(inventory, host, n)
        got = docker_exec(inventory, host, n, "ip -o -4 addr show dev eth0")
        assert f"inet {rows[n]['ip']}/" in got, (n, got)


def docker_rm(inventory, host: str, *names: str) -> None:
    """Containers gone behind dockstack's back (deploy-all has work to do then)."""
    ssh(inventory, host, "docker rm -f " + " ".join(names) + " >/dev/null")


def remove_many(inventory, names) -> None:
    hosts = {c.name: c.host for c in engine_stack(inventory).containers}
    by_host: dict[str, list[str]] = {}
    for n in names:
        by_host.setdefault(hosts[n], []).append(n)
    for host, ns in by_host.items():
        docker_rm(inventory, host, *ns)


def containers_on(inventory, host: str) -> dict[str, str]:
    """name -> ID of every container on the host, dockstack's or not."""
    out = ssh(inventory, host, "docker ps -a --no-trunc --format '{{.Names}} {{.ID}}'").stdout
    return dict(line.split() for line in out.splitlines())


def no_traceback(*texts: str) -> None:
    for t in texts:
        assert "Traceback" not in t, t


STDLIB = sysconfig.get_paths()["stdlib"] + "/"  # the interpreter `inv` runs on: this venv's


def interrupted_while_importing_invoke(err: str) -> bool:
    """Whether `err` is Python's report of a Ctrl-C that came while `inv` still imported Invoke: nothing of
    Invoke's ran yet (it turns a later Ctrl-C into exit 1), nor of dockstack's (it turns one into exit 130)."""
    lines = err.strip().splitlines()
    files = [line.split('"')[1] for line in lines if line.strip().startswith('File "')]
    return (len(lines) > 2 and lines[0] == "Traceback (most recent call last):" and lines[-1] == "KeyboardInterrupt"
            and bool(files) and files[0].endswith("/bin/inv")
            and all(f.startswith("<frozen") or "/site-packages/invoke/" in f
                or (f.startswith(STDLIB) and "-packages/" not in f) for f in files[1:]))


# --- lab faults ------------------------------------------------------------------------------------


def lab_host(inventory, name: str) -> lab.LabHost:
    assert inventory.lab is not None
    return lab.LabHost(name, inventory.host(name).address, inventory.lab)


def port_open(address: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def kill_daemon(inventory, host: str, daemon: str, sig: int) -> None:
    lh = lab_host(inventory, host)
    os.kill(int(lh.pid_file(daemon).read_text().split()[0]), sig)


def host_iptables(inventory, host: str, op: str, rule: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """iptables in a lab host's network namespace."""
    return subprocess.run(["nsenter", f"--net={lab_host(inventory, host).netns_file}", "iptables", "-w", op, *rule],
                          capture_output=True, text=True, timeout=30)


def container_iptables(inventory, host: str, name: str, op: str, rule: tuple[str, ...]) -> int:
    """iptables in a container's network namespace (the host's privileges, as dockstack's DHCP step has)."""
    return ssh(inventory, host, f"nsenter -t $(docker inspect --format '{{{{.State.Pid}}}}' {name}) -n "
                                f"iptables -w {op} {' '.join(rule)}", check=False).returncode


def sshd_logins(inventory) -> int:
    """Every SSH login to any lab host so far: the lab's sshd logs each in its sshd.log."""
    return sum(lab_host(inventory, h.name).dir.joinpath("sshd.log").read_text(errors="replace")
               .count("Accepted publickey") for h in inventory.hosts)


@pytest.fixture
def shipped(inventory):
    """The lab's daemons up and the shipped stack deployed and converged; its rows from `inv ipam.show`."""
    run_inv("lab.up")
    converge()
    rows = {n: r for n, r in ipam_json().items() if n in stack_names()}
    assert len(rows) == 10 and all(r["state"] == "running" and r["ip"] for r in rows.values()), rows
    return rows


def early_webui_and_galera(d: dict) -> None:
    """galera and webui depend on dnsmasq only: they deploy in tier 2 beside puppet (host2)."""
    for r in d["roles"]:
        if r["name"] in ("galera", "webui"):
            r["depends_on"] = ["dnsmasq"]


# --- 1. a host that does not answer ----------------------------------------------------------------


def test_host_whose_sshd_is_down_fails_only_its_containers(inventory, shipped, tmp_path):
    before = {n: r["ip"] for n, r in shipped.items()}
    early = write_containers(tmp_path, "early.yaml", early_webui_and_galera)
    run_inv("remove", "--name=galera")
    run_inv("remove", "--name=webui")
    host2 = inventory.host("host2").address
    try:
        kill_daemon(inventory, "host2", "sshd", signal.SIGTERM)
        lab.wait_until("host2's sshd gone", lambda: not port_open(host2), timeout=15)
        proc = run_inv("deploy-all", containers=early, env=FAST, check=False)
        out = proc.stdout
        no_traceback(out, proc.stderr)
        assert proc.returncode == 1, out + proc.stderr
        assert f"host2: not answering, its containers fail: host2: ssh connect failed: cannot reach {host2}:22" in out
        assert "[2/6] puppet, galera, webui: puppet@host2, galera@host2, webui@host1" in out
        for name in ("puppet", "galera"):
            assert f"  {name}: FAILED: host2: ssh connect failed: cannot reach {host2}:22" in out
        assert "  webui: done" in out  # the rest of the tier finished
        assert "FAILED in tier 2: puppet on host2: host2: ssh connect failed" in out
        assert "later tiers not started: haproxy, openstack, cassandra, config, collector, control" in out
        assert SUMMARY.search(out).group(0) == "deploy-all: 2 ok, 1 changed, 2 failed", out
        assert_book_keeps(inventory, shipped, shipped)  # galera's record too: removing it kept its address
        assert_dhcp_answers(inventory, shipped, ["webui", "control"])
    finally:
        run_inv("lab.up")  # starts host2's sshd again
    assert port_open(host2)
    out = converged_with_the_same_addresses(before)
    assert "10 ok, 1 changed, 0 failed" in out and "galera: create on host2" in out


def quorum_variant(d: dict) -> None:
    """haproxy gets a second container on host1 and quorum one; openstack moves from host3 to host2."""
    for r in d["roles"]:
        if r["name"] == "haproxy":
            r["quorum"] = "one"
    d["containers"].append({**entry(d, "haproxy"), "name": "haproxy2", "host": "host1"})
    entry(d, "openstack")["host"] = "host2"


def test_a_role_with_quorum_goes_on_past_a_host_that_does_not_answer(inventory, shipped, tmp_path):
    """host3 does not answer. haproxy (host3) fails, haproxy2 (host1) is created: role haproxy has its quorum
    (one), so the later tiers go on and galera (removed before) is created again. openstack, moved from host3 to
    host2 in the config, is refused: its old copy may still run on host3 (the same MAC and IP twice)."""
    before = {n: r["ip"] for n, r in shipped.items()}
    variant = write_containers(tmp_path, "quorum.yaml", quorum_variant)
    run_inv("remove", "--name=galera")
    host3 = inventory.host("host3").address
    try:
        kill_daemon(inventory, "host3", "sshd", signal.SIGTERM)
        lab.wait_until("host3's sshd gone", lambda: not port_open(host3), timeout=15)
        proc = run_inv("deploy-all", containers=variant, env=FAST, check=False)
        out = proc.stdout
        no_traceback(out, proc.stderr)
        assert proc.returncode == 1, out + proc.stderr
        assert "  haproxy2: done" in out and f"  haproxy: FAILED: host3: ssh connect failed: cannot reach {host3}:22" \
            in out, out
        assert "every role of tier 3 has its quorum: the later tiers go on" in out, out
        assert "  galera: done" in out, out  # a later tier ran
        assert ("  openstack: FAILED: refused: recorded on host3, which does not answer: a move off a host that "
                "cannot be asked could run it twice with the same MAC and IP") in out, out
        assert "openstack" not in ssh(inventory, "host2", "docker ps -a --format '{{.Names}}'").stdout.split()
        assert "  below quorum: role openstack: 0 of 1 passing, quorum 1" in out, out
    finally:
        run_inv("lab.up")  # starts host3's sshd again
        run_inv("remove", "--name=haproxy2", f"--containers-file={variant}", check=False)
        run_inv("ipam.release", "--name=haproxy2", check=False)
    assert port_open(host3)
    converged_with_the_same_addresses(before)


def test_host_that_drops_packets_mid_tier_fails_that_container_within_its_bound(inventory, shipped, tmp_path):
    before = {n: r["ip"] for n, r in shipped.items()}

    def slow_control(d):
        next(r for r in d["roles"] if r["name"] == "control").update(check="sleep 8", check_timeout=8)
    slow = write_containers(tmp_path, "slow.yaml", slow_control)
    run_inv("remove", "--name=control", f"--containers-file={slow}")
    run_inv("remove", "--name=webui", f"--containers-file={slow}")
    # both directions, so that nothing of host3's SSH sessions gets through, whatever TCP still has in flight
    rules = [("INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP"),
             ("OUTPUT", "-p", "tcp", "--sport", "22", "-j", "DROP")]
    bound = STEP + DHCP + 8  # the action's bound: step and dhcp timeouts, the role's check_timeout
    run = Background("deploy-all", f"--containers-file={slow}", env=FAST)
    try:
        run.wait_for(r"^  control: create on host3 ")
        # the action's output comes back only at its end: the readiness check (`sleep 8`) running in control
        # is the sign that its script is under way on host3; polled, bounded
        lab.wait_until("control's readiness check running", lambda: ssh(
            inventory, "host3", "docker exec control pgrep -x sleep", check=False).returncode == 0, timeout=30)
        for rule in rules:
            assert host_iptables(inventory, "host3", "-I", rule).returncode == 0
        started = time.monotonic()
        code, out, err = run.finish(timeout=120)
        took = time.monotonic() - started
        no_traceback(out, err)
        assert code == 1, out + err
        host3 = inventory.host("host3").address
        assert f"  control: FAILED at control: create: no answer within {bound}s (is {host3} reachable" in out
        assert f"FAILED in tier 7: control on host3: step 'control: create': no answer within {bound}s" in out
        assert "  webui: done" in out and "  collector: ok," in out  # the rest of the tier finished
        assert SUMMARY.search(out).group(0) == "deploy-all: 9 ok, 1 changed, 1 failed", out
        assert took < bound + 30, took  # the rest of the tier's commit, then the summary
        assert_book_keeps(inventory, shipped, shipped)
        assert_dhcp_answers(inventory, shipped, ["webui", "galera"])
    finally:
        run.kill()
        for rule in rules:
            while host_iptables(inventory, "host3", "-C", rule).returncode == 0:
                host_iptables(inventory, "host3", "-D", rule)
    converged_with_the_same_addresses(before)
    assert_dhcp_answers(inventory, shipped, ["control"])


def test_unreachable_host_keeps_its_containers_in_haproxy(inventory, shipped):
    """A host that cannot be read still runs its containers as far as dockstack knows: its records and DNS
    names stay, so haproxy on another host keeps balancing to them (it once lost them from haproxy.cfg)."""
    host2 = inventory.host("host2").address
    galera = (shipped["galera"]["ip"], True)  # its address, and its name resolves

    def galera_in_haproxy() -> tuple[str, bool]:
        return haproxy_servers(inventory, "mysql_servers")["galera"]

    lab.wait_until("haproxy resolved galera", lambda: galera_in_haproxy() == galera, timeout=15)
    try:
        kill_daemon(inventory, "host2", "sshd", signal.SIGTERM)
        lab.wait_until("host2's sshd gone", lambda: not port_open(host2), timeout=15)
        assert run_inv("deploy-all", env=FAST, check=False).returncode == 1
        # galera still runs on host2; only its host's sshd is down: its name resolves, haproxy keeps it
        assert f"galera.{inventory.network.domain}" in book_files(inventory)["hosts.d"]
        assert galera_in_haproxy() == galera
    finally:
        run_inv("lab.up")
        converge()


# --- 2. dockerd down ---------------------------------------------------------------------------------


def test_host_whose_dockerd_is_down_fails_only_its_containers(inventory, shipped, tmp_path):
    before = {n: r["ip"] for n, r in shipped.items()}
    on_host2 = sorted(n for n, r in shipped.items() if r["host"] == "host2")
    early = write_containers(tmp_path, "early.yaml", early_webui_and_galera)
    run_inv("remove", "--name=galera")
    run_inv("remove", "--name=webui")
    try:
        kill_daemon(inventory, "host2", "dockerd", signal.SIGKILL)  # a crash
        lab.wait_until("host2's dockerd gone", lambda: ssh(inventory, "host2", "docker version", check=False)
                       .returncode != 0, timeout=15)
        proc = run_inv("deploy-all", containers=early, env=FAST, check=False)
        out = proc.stdout
        no_traceback(out, proc.stderr)
        assert proc.returncode == 1, out + proc.stderr
        assert "host2: not answering, its containers fail: host2: read host facts failed: dockerd on host2 is not " \
               "answering: Cannot connect to the Docker daemon" in out
        for name in ("puppet", "galera"):
            assert f"  {name}: FAILED: host2: read host facts failed: dockerd on host2 is not answering" in out
        assert "  webui: done" in out
        assert SUMMARY.search(out).group(0) == "deploy-all: 2 ok, 1 changed, 2 failed", out
        # commands other than deploy-all refuse to start
        status = run_inv("status", env=FAST, check=False)
        assert status.returncode == 1 and "dockerd on host2 is not answering" in status.stderr, status
        no_traceback(status.stderr)
        assert_book_keeps(inventory, shipped, shipped)
        assert_dhcp_answers(inventory, shipped, ["webui", "openstack"])
    finally:
        run_inv("lab.up")  # like a reboot of host2: a new dockerd, its containers stopped
    out = converged_with_the_same_addresses(before)
    assert f"10 ok, {len(on_host2)} changed, 0 failed" in out
    assert_dhcp_answers(inventory, shipped, ["galera", "cassandra"])


# --- 3. dnsmasq gone or silent -----------------------------------------------------------------------


def dnsmasq_back(inventory) -> None:
    """dnsmasq running with its address again, whatever happened to it."""
    if "dnsmasq" in containers_on(inventory, "host1"):
        ssh(inventory, "host1", "docker start dnsmasq >/dev/null")
        run_inv("start", "--name=dnsmasq")
    else:
        run_inv("create", "--name=dnsmasq")


def test_create_without_a_running_dnsmasq_is_refused(inventory, shipped):
    before = {n: r["ip"] for n, r in shipped.items()}
    others = [n for n in shipped if n != "webui"]
    run_inv("remove", "--name=webui")
    try:
        for fault in ("docker stop dnsmasq", "docker rm dnsmasq"):
            ssh(inventory, "host1", f"{fault} >/dev/null")
            proc = run_inv("create", "--name=webui", env=FAST, check=False)
            no_traceback(proc.stdout, proc.stderr)
            assert proc.returncode == 1, (fault, proc)
            assert "error: webui on host1: no dnsmasq container is running (dnsmasq): `inv create --name=dnsmasq` " \
                   "(or start) first" in proc.stderr, (fault, proc.stderr)
            assert "webui" not in containers_on(inventory, "host1"), fault  # refused before docker run
            assert_book_keeps(inventory, shipped, others)
    finally:
        dnsmasq_back(inventory)
    assert_dhcp_answers(inventory, shipped, ["galera", "control"])
    out = converged_with_the_same_addresses(before)
    assert "webui: create on host1 (name in dnsmasq lease data" in out


def test_dnsmasq_that_does_not_answer_fails_the_create_and_leaves_nothing(inventory, shipped):
    before = {n: r["ip"] for n, r in shipped.items()}
    others = [n for n in shipped if n != "webui"]
    run_inv("remove", "--name=webui")
    drop = ("INPUT", "-p", "udp", "--dport", "67", "-j", "DROP")  # dnsmasq runs, but hears no DHCP request
    try:
        assert container_iptables(inventory, "host1", "dnsmasq", "-I", drop) == 0
        started = time.monotonic()
        proc = run_inv("create", "--name=webui", env=FAST, check=False)
        took = time.monotonic() - started
        no_traceback(proc.stdout, proc.stderr)
        assert proc.returncode == 1, proc
        assert f"error: webui on host1: step 'webui: dhcp': no lease from dnsmasq within {DHCP}s" in proc.stderr, \
            proc
        assert took < STEP + DHCP + 60, took  # the action's bound: step, dhcp, the role's check_timeout (default 60)
        assert "webui" not in containers_on(inventory, "host1")  # the create removed what it made
        assert registry_lines(inventory)["webui"][4] == before["webui"]  # its reserved address, unchanged
        assert_book_keeps(inventory, shipped, others)
    finally:
        while container_iptables(inventory, "host1", "dnsmasq", "-C", drop) == 0:
            container_iptables(inventory, "host1", "dnsmasq", "-D", drop)
    assert_dhcp_answers(inventory, shipped, ["galera", "control"])
    out = converged_with_the_same_addresses(before)
    assert "webui: create on host1 (name in dnsmasq lease data" in out


FREEZES = {  # issue 31: a dnsmasq that runs to Docker but answers nothing, and what brings it back by hand
    "docker pause": ("docker pause dnsmasq", "docker unpause dnsmasq"),
    # from the host: dnsmasq is its container's PID 1, which ignores a SIGSTOP sent from inside its namespace
    "kill -STOP": ("kill -STOP $(docker inspect -f '{{.State.Pid}}' dnsmasq)",
                   "kill -CONT $(docker inspect -f '{{.State.Pid}}' dnsmasq)"),
}


@pytest.mark.parametrize("freeze", list(FREEZES))
def test_a_frozen_dnsmasq_is_unhealthy_and_resumed_by_deploy_all(inventory, shipped, freeze):
    """Issue 31: dnsmasq paused, or its process stopped with SIGSTOP: `inv status` shows it failing (its check asks
    it a DNS question), and deploy-all repairs it by the smallest step (resumed: the same container, no restart),
    reported as changed; every address stays."""
    before = {n: r["ip"] for n, r in shipped.items()}
    stop, undo = FREEZES[freeze]
    started_at = ssh(inventory, "host1", "docker inspect -f '{{.State.StartedAt}}' dnsmasq").stdout.strip()
    ssh(inventory, "host1", stop)
    try:
        rows = {r["name"]: r for r in json.loads(run_inv("status", "--json", env=FAST, check=False).stdout)}
        assert rows["dnsmasq"]["health"] == "fail", rows["dnsmasq"]
        out = run_inv("deploy-all", env=FAST).stdout
        assert "  dnsmasq: repair (unhealthy: " in out, out
        assert re.search(r"^  dnsmasq: resumed: (unpaused|continued \d+)", out, re.M), out
        assert SUMMARY.search(out) and SUMMARY.search(out).groups()[1:] == ("1", "0"), out
    finally:
        ssh(inventory, "host1", f"{undo} || true", check=False)
    assert ssh(inventory, "host1", "docker inspect -f '{{.State.StartedAt}}' dnsmasq").stdout.strip() == started_at
    rows = {r["name"]: r for r in json.loads(run_inv("status", "--json").stdout)}
    assert rows["dnsmasq"]["health"] == "pass", rows["dnsmasq"]
    assert_dhcp_answers(inventory, shipped, ["galera", "control"])
    converged_with_the_same_addresses(before)


# --- 4. damaged address-book files -----------------------------------------------------------------


def write_bytes(inventory, host: str, path: str, data: bytes) -> None:
    ssh(inventory, host, f"echo {base64.b64encode(data).decode()} | base64 -d > {path}")


def as_the_facts_show(data: bytes) -> str:
    """A file's bytes as the facts read reports them: every byte outside printable ASCII (newline aside) as "?"."""
    return "".join(chr(b) if 0x20 <= b < 0x7F or b == 0x0A else "?" for b in data)


def test_damaged_registry_and_lease_files_are_named_and_repaired(inventory, shipped):
    """galera's record emptied in every copy: restored from its last good copy; collector's record and its last good
    copy both garbled in every copy: adopted from its running eth0; the lease file garbled: named and ignored."""
    before = {n: r["ip"] for n, r in shipped.items()}
    galera = registry_lines(inventory)["galera"]
    garbage = random.Random(4).randbytes(200)
    leases = garbage + b"\n1795658616 zz:b0 10.100.0.999 control *\nnot a lease\n"
    _, bad = facts.parse_lease_file(as_the_facts_show(leases))
    try:
        for host, folder in every_copy(inventory):
            ssh(inventory, host, f": > {folder}/registry/galera")
            write_bytes(inventory, host, f"{folder}/registry/collector", garbage + b"\n\x00more\n")
            write_bytes(inventory, host, f"{folder}/last-good/collector", garbage[:40])
        ssh(inventory, "host1", "docker stop dnsmasq >/dev/null")  # dnsmasq rewrites its lease file when it runs
        write_bytes(inventory, "host1", f"{BOOK}/lease/leases", leases)
        proc = run_inv("deploy-all", env=FAST, check=False)
        out = proc.stdout
        no_traceback(out, proc.stderr)
        assert proc.returncode == 0, out + proc.stderr
        # the newest copy (dnsmasq's, or a replica a repair wrote last) restores it from its own last good copy; the
        # others are rewritten from it
        assert f"  address book of dnsmasq on host1: {BOOK}/registry/galera is damaged (empty): " in out, out
        assert re.search(r"registry/galera is damaged \(empty\): restored from the last good copy "
                         r"\S+/last-good/galera: " + re.escape(" ".join(galera)), out), out
        assert f"  address book of dnsmasq on host1: {BOOK}/registry/collector is damaged (holds '" in out, out
        assert "): no intact copy: left until the container is recorded again (from its running eth0 or the leases); " \
               "its DHCP and DNS entries are kept" in out, out
        assert f"  address book of dnsmasq on host1: {BOOK}/lease/leases has {len(bad)} garbled line(s), the first: " \
               f"{bad[0][:80]!r}: ignored (the recorded addresses stay pinned in dhcp-hosts.d; dnsmasq writes the " \
               "file anew at its next lease change)" in out, out
        assert "not a lease" in bad and len(bad) >= 3
        assert "  dnsmasq: start (stopped)" in out and "  dnsmasq: done" in out  # it starts despite its leases
        assert "galera: adopt" not in out
        ip, mac = shipped["collector"]["ip"], shipped["collector"]["mac"]
        assert f"  collector: adopt (running with {ip} ({mac}) but not in the registry: record it)" in out
        assert SUMMARY.search(out).group(0) == "deploy-all: 10 ok, 2 changed, 0 failed", out
        assert registry_lines(inventory)["galera"] == galera  # the record as it was before the damage
        assert registry_lines(inventory)["collector"][5] == "adopted"
        assert ssh(inventory, "host1", f"cat {BOOK}/last-good/galera").stdout.split() == galera
    finally:
        if "running" not in ssh(inventory, "host1", "docker inspect -f '{{.State.Status}}' dnsmasq").stdout:
            dnsmasq_back(inventory)
    assert_book_keeps(inventory, shipped, shipped)  # nothing else was dropped
    assert_dhcp_answers(inventory, shipped, ["galera", "collector", "webui"])
    # the renewals made dnsmasq write its lease file anew: the garbled lines are gone
    assert "not a lease" not in ssh(inventory, "host1", f"cat {BOOK}/lease/leases").stdout
    converged_with_the_same_addresses(before)


def test_damaged_record_of_a_running_container_keeps_its_dns_entry(inventory, shipped):
    """Any command repairs the address book, but only deploy-all adopts: in between, a container whose record
    is damaged keeps its DHCP host and DNS entries (a repair once deleted them)."""
    before = {n: r["ip"] for n, r in shipped.items()}
    galera = shipped["galera"]
    try:
        for host, folder in every_copy(inventory):  # no good copy left
            ssh(inventory, host, f": > {folder}/registry/galera; rm {folder}/last-good/galera")
        out = run_inv("create", "--name=webui").stdout  # already running: nothing to do but repairs
        assert f"{BOOK}/registry/galera is damaged (empty): no intact copy: left until the container is recorded " \
               "again" in out, out
        assert "webui: already running on host1" in out, out
        book = book_files(inventory)
        assert f"{galera['mac']},galera,{galera['ip']}" in book["dhcp-hosts.d"].splitlines()
        assert f"{galera['ip']} galera.{inventory.network.domain} galera" in book["hosts.d"].splitlines()
        resolved = docker_exec(inventory, "host1", "webui", f"getent hosts galera.{inventory.network.domain}")
        assert resolved.split()[0] == galera["ip"]
    finally:
        out = converge()
    assert "galera: adopt (running with" in out
    assert addresses() == before


# --- 5. the operator's process killed -----------------------------------------------------------------

KILL_POINTS = 6  # each signal twice; 10 cost the second lab 110 s more of its 35-minute budget
# a dockstack step's shell on a host: an action (its --cidfile), a transaction (lock.holder), a service push
STEP_PATTERN = "dockstack-ci[d]|lock[.]holde[r]|[.]incomin[g]"  # [x]: never matches this command line itself


def wait_for_orphans(inventory) -> int:
    """Wait (bounded) until no host runs a step of a killed run any more; how many hosts had one."""
    busy = 0
    for h in inventory.hosts:
        def idle(host=h.name) -> bool:
            # the lab's hosts share this machine's PID namespace: only processes in the host's network namespace
            return ssh(inventory, host, f"pgrep --ns $$ --nslist net -f '{STEP_PATTERN}'", check=False).returncode != 0
        if not idle():
            busy += 1
            lab.wait_until(f"{h.name}: steps of the killed run ended", idle, timeout=60)
    return busy

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def kill_points(names: list[str]) -> list[tuple[signal.Signals, float, list[str]]]:
    """(signal, seconds after start, containers removed first): reproducible (seeded), each signal as often,
    the delays spread over the first 2.8s of the run (one random point in each of KILL_POINTS slices)."""
    rng = random.Random(1234)
    return [(SIGNALS[i % 3], round(0.2 + 2.6 * (i + rng.random()) / KILL_POINTS, 2),
             sorted(rng.sample(names, rng.randint(3, 5)))) for i in range(KILL_POINTS)]


def test_operator_killed_at_random_points_loses_no_address(inventory, shipped):
    before = {n: r["ip"] for n, r in shipped.items()}
    points = kill_points(sorted(n for n in shipped if n not in ("dnsmasq", "puppet")))  # puppet's check is slow
    seen, orphans = [], 0
    for sig, delay, removed in points:
        remove_many(inventory, removed)
        run = Background("deploy-all")
        try:
            # the kill point: `delay` seconds into the run (the fault's timing, not a wait for readiness)
            run.proc.wait(timeout=delay)
            landed = "after the end"
        except subprocess.TimeoutExpired:
            run.proc.send_signal(sig)
            landed = "during the run"
        code, out, err = run.finish(timeout=120)
        caught = f"{sig.name}: finishing the steps in flight, then stopping" in err
        point = (f"{sig.name} at {delay}s ({landed}{', in a tier' if caught else ''}, removed {removed}): exit {code}"
                 f" {err.strip().splitlines()[-1:] if sig != signal.SIGKILL else ''}")
        seen.append(point)
        if landed == "after the end":
            assert code == 0 and re.search(r"^deploy-all: 10 ok, \d+ changed, 0 failed", out, re.M), (point, out)
        elif sig == signal.SIGKILL:
            assert code == -signal.SIGKILL, (point, out, err)
        elif caught:  # landed in deploy-all's work: the tier in flight finished and was recorded
            assert code == 130, (point, out, err)
            assert re.search(rf"^{sig.name}: (tier \d+ finished and its addresses are recorded; later tiers not "
                             r"started: |stopped before tier \d+; no container was touched)", out, re.M), (point, out)
            assert SUMMARY.search(out), (point, out)
        elif "Traceback" not in err and code == 130:  # while inv started or loaded the config: a clean exit
            pass
        elif code == 1 and sig != signal.SIGKILL:  # while Invoke loads tasks.py or parses: Invoke's own Ctrl-C
            # handling, exit 1 with nothing said (tasks.py makes SIGTERM a KeyboardInterrupt as soon as it loads)
            assert not out.strip() and not err.strip(), (point, out, err)
        else:  # before the interpreter or tasks.py set their handlers: the signal's default action
            assert code == -sig, (point, out, err)
        if sig == signal.SIGINT and code == -sig and interrupted_while_importing_invoke(err):
            pass  # Ctrl-C before Invoke could catch it: the interpreter's own report; nothing of ours had run
        elif sig != signal.SIGKILL:
            no_traceback(out, err)
        # a killed run's steps in flight go on on the hosts for a moment (sshd does not stop them): the re-run
        # is checked against what they leave, not raced with them
        orphans += wait_for_orphans(inventory)
        # no address lost or changed, none held twice: right after the kill, and after the re-run
        assert recorded_ips(inventory) == before, point
        rerun = run_inv("deploy-all", check=False)
        no_traceback(rerun.stdout, rerun.stderr)
        assert rerun.returncode == 0 and re.search(r"^deploy-all: 10 ok, \d+ changed, 0 failed", rerun.stdout,
                                                   re.M), (point, rerun.stdout, rerun.stderr)
        assert recorded_ips(inventory) == before, point
        assert_book_keeps(inventory, shipped, shipped)
    print("\n".join(seen), f"\n{orphans} host(s) still running a killed run's step")
    assert sum("during the run" in p for p in seen) >= KILL_POINTS // 2, seen
    converged_with_the_same_addresses(before)
    assert_dhcp_answers(inventory, shipped, ["galera", "webui"])


def held_webui_check(d: dict) -> None:
    """webui's readiness check passes only once the test creates /tmp/go in it: its action is in flight for as
    long as the test needs (the fault's timing, not a wait)."""
    next(r for r in d["roles"] if r["name"] == "webui").update(check="test -e /tmp/go", check_timeout=60)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_asked_during_create_lets_the_create_finish(inventory, shipped, sig, tmp_path):
    """Ctrl-C or SIGTERM while `inv create` runs its action on the host: the action finishes, its address is
    committed (the lock released by a finished transaction), then exit 130 with what was done."""
    before = {n: r["ip"] for n, r in shipped.items()}
    held = write_containers(tmp_path, "held.yaml", held_webui_check)
    run_inv("remove", "--name=webui")
    run = Background("create", "--name=webui", f"--containers-file={held}")
    try:
        lab.wait_until("webui running, its check waiting", lambda: ssh(
            inventory, "host1", "docker inspect -f '{{.State.Running}}' webui", check=False).stdout.strip() == "true",
            timeout=60)
        run.proc.send_signal(sig)
        lab.wait_until("the stop acknowledged", lambda: "finishing the steps in flight" in "".join(run.err),
                       timeout=30)
        assert run.proc.poll() is None  # still running: it waits for its action
        docker_exec(inventory, "host1", "webui", "touch /tmp/go")
        code, out, err = run.finish(timeout=120)
    finally:
        run.kill()
    no_traceback(out, err)
    assert code == 130, (out, err)
    assert f"{sig.name}: finishing the steps in flight, then stopping" in err
    assert f"{sig.name}: create of webui finished first, so nothing is left half-done; stopped" in err
    assert f"webui: {before['webui']} (" in out, out  # what was done
    assert addresses()["webui"] == before["webui"]
    assert "running" in ssh(inventory, "host1", "docker inspect -f '{{.State.Status}}' webui").stdout
    assert recorded_ips(inventory) == before
    assert ssh(inventory, "host1", f"flock -n {BOOK}/lock true", check=False).returncode == 0  # not held
    converged_with_the_same_addresses(before)


# --- 6. two operators ------------------------------------------------------------------------------------


def test_two_deploy_alls_at_once_keep_the_address_book_consistent(inventory, shipped):
    before = {n: r["ip"] for n, r in shipped.items()}
    remove_many(inventory, ["galera", "cassandra", "control", "webui"])
    runs = [Background("deploy-all"), Background("deploy-all")]
    results = [r.finish(timeout=180) for r in runs]
    print("two deploy-alls:", [(c, SUMMARY.search(o).group(0) if SUMMARY.search(o) else e) for c, o, e in results])
    for code, out, err in results:
        no_traceback(out, err)
        assert code in (0, 1), results
        if code == 1:  # lost a race against the other run: said clearly, per container
            assert re.search(r"^FAILED in tier \d+: \w+ on host\d: step '\w+: docker run': ", out, re.M), out
            assert re.search(r"is already in use|already the (address|MAC) of|still locked", out), out
    registry_is_consistent(inventory)
    assert_book_keeps(inventory, shipped, shipped)
    if 0 in [c for c, _, _ in results]:
        assert CONVERGED in run_inv("deploy-all").stdout  # the third run: nothing left to do
    else:  # each won one container of a tier and lost another: neither went on, a third run finishes the stack
        converge()
    assert addresses() == before
    assert_dhcp_answers(inventory, shipped, ["galera", "webui"])


def test_deploy_all_while_a_container_is_removed(inventory, shipped):
    before = {n: r["ip"] for n, r in shipped.items()}
    remove_many(inventory, ["galera", "webui"])
    deploy = Background("deploy-all")
    deploy.wait_for(r"^\[4/7\] ")  # the tier of galera (created) and cassandra (removed meanwhile)
    remove = Background("remove", "--name=cassandra")
    results = {"deploy-all": deploy.finish(), "remove": remove.finish()}
    for name, (code, out, err) in results.items():
        no_traceback(out, err)
        assert code == 0, (name, out, err)
    assert "cassandra: removed from host2 (address kept)" in results["remove"][1]
    assert "cassandra" not in containers_on(inventory, "host2")
    registry_is_consistent(inventory)
    assert registry_lines(inventory)["cassandra"][4] == before["cassandra"]  # its address stays reserved
    assert_book_keeps(inventory, shipped, shipped)
    out = converged_with_the_same_addresses(before)
    assert "cassandra: create on host2 (name in dnsmasq lease data" in out


# --- 7. a container dockstack did not make ----------------------------------------------------------------


def test_foreign_container_with_a_stack_name_is_refused_and_kept(inventory, shipped):
    before = {n: r["ip"] for n, r in shipped.items()}
    others = [n for n in shipped if n != "webui"]
    run_inv("remove", "--name=webui")
    ssh(inventory, "host1", "docker run -d --name webui --network none dockstack/base:bookworm sleep infinity")
    foreign = containers_on(inventory, "host1")["webui"]
    refusal = (f"host1: a container named webui exists that dockstack did not make (no {LABEL_MANAGED} label); "
               "dockstack never removes it")
    try:
        deploy = run_inv("deploy-all", env=FAST, check=False)
        no_traceback(deploy.stdout, deploy.stderr)
        assert deploy.returncode == 1, deploy
        assert f"  webui: FAILED: {refusal}" in deploy.stdout
        assert SUMMARY.search(deploy.stdout).group(0) == "deploy-all: 9 ok, 0 changed, 1 failed", deploy.stdout
        create = run_inv("create", "--name=webui", env=FAST, check=False)
        no_traceback(create.stdout, create.stderr)
        assert create.returncode == 1 and f"error: webui on host1: {refusal}" in create.stderr, create
        # the foreign container is still there, untouched and running
        assert containers_on(inventory, "host1")["webui"] == foreign
        assert ssh(inventory, "host1", "docker inspect -f '{{.State.Running}}' webui").stdout.strip() == "true"
        assert_book_keeps(inventory, shipped, others)
        assert_dhcp_answers(inventory, shipped, ["galera"])
    finally:
        ssh(inventory, "host1", f"docker rm -f {foreign} >/dev/null", check=False)
    out = converged_with_the_same_addresses(before)
    assert "webui: create on host1" in out


# --- 8. values the config must refuse before any host is touched ------------------------------------------


def hosts_edit(fn):
    return ("hosts", fn)


def containers_edit(fn):
    return ("containers", fn)


BAD_VALUES = [
    pytest.param(hosts_edit(lambda d: d["network"].update(lease_time="12h\ndhcp-script=/bin/sh")),
                 "network.lease_time", "newline", id="lease-time-newline"),
    pytest.param(containers_edit(lambda d: entry(d, "webui").update(image="--privileged")),
                 "containers[9].image", "starts with '-'", id="image-option"),
    pytest.param(containers_edit(lambda d: entry(d, "webui").update(name="webui\n")),
                 "containers[9].name", "newline", id="name-trailing-newline"),
    pytest.param(containers_edit(lambda d: entry(d, "webui").update(volumes=["-v:/x"])),
                 "containers[9].volumes[0]", "starts with '-'", id="volume-option"),
    pytest.param(containers_edit(lambda d: entry(d, "webui").update(env={"GREETING": "hi\nthere"})),
                 "containers[9].env.GREETING", "newline", id="env-value-newline"),
    pytest.param(hosts_edit(lambda d: d["lab"].update(state_dir="/")), "lab.state_dir", "system directory",
                 id="state-dir-root"),
    pytest.param(hosts_edit(lambda d: d["hosts"][1].update(user="-oProxyCommand=x")), "hosts[1].user",
                 "not a POSIX user name", id="user-ssh-option"),
    pytest.param(hosts_edit(lambda d: d["network"].update(domain="-bad.lab")), "network.domain",
                 "starts or ends with '-'", id="domain-leading-dash"),
]


@pytest.mark.parametrize(("edit", "key", "problem"), BAD_VALUES)
def test_rejected_config_value_runs_nothing_on_any_host(inventory, tmp_path, edit, key, problem):
    which, fn = edit
    files = {"hosts": DEFAULT_HOSTS_FILE, "containers": ENGINE_STACK}
    data = yaml.safe_load(Path(files[which]).read_text())
    fn(data)
    bad = tmp_path / f"{which}.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    paths = {**{k: str(v) for k, v in files.items()}, which: str(bad)}
    logins = sshd_logins(inventory)
    for args in (["deploy-all"], ["create", "--name=galera"], ["ipam.show"]):
        proc = run_inv(*args, hosts=paths["hosts"], containers=paths["containers"], check=False)
        assert proc.returncode == 1, (args, proc)
        assert f"error: {bad}: {key}: " in proc.stderr and problem in proc.stderr, (args, proc.stderr)
        no_traceback(proc.stdout, proc.stderr)
        assert proc.stdout == "", (args, proc.stdout)
    assert sshd_logins(inventory) == logins  # not one SSH login to any host
