"""Fixtures for end-to-end tests: the real lab (namespaces with sshd + dockerd), driven through `inv`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dockstack import images, lab
from dockstack.config import (
    DEFAULT_CONTAINERS_FILE,
    DEFAULT_HOSTS_FILE,
    ROOT,
    Inventory,
    Stack,
    load_inventory,
    load_stack,
)
from dockstack.dockercli import LABEL_MANAGED
from dockstack.remote import Remotes, parallel
from dockstack.services import SERVICE_ROOT
from dockstack.services.dnsmasq import DNSMASQ_DIR

INV = ROOT / ".venv" / "bin" / "inv"
# The stack the engine and fault tests deploy (light images, no puppet classes): every `inv` they run reads
# it through Invoke's configuration, unless a test names another file. The shipped containers.yaml is the real
# stack, deployed by the tests of its services.
ENGINE_STACK = Path(__file__).parent / "stacks" / "engine.yaml"
os.environ["INVOKE_DOCKSTACK_CONTAINERS_FILE"] = str(ENGINE_STACK)
# The lab the tests run on: the main one (hosts.yaml), or the one scripts/test.sh names through Invoke's
# configuration (the second lab, stacks/hosts-lab-b.yaml, where the engine tests run beside the real-service ones).
HOSTS_FILE = Path(os.environ.get("INVOKE_DOCKSTACK_HOSTS_FILE") or DEFAULT_HOSTS_FILE)


def engine_stack(inv: Inventory | None = None) -> Stack:
    return load_stack(inv or load_inventory(HOSTS_FILE), ENGINE_STACK)


# Modules that deploy the shipped (real) stack run last, in this order, so that the stack deployed once from empty
# (the shipped_from_empty fixture: the Puppet server, Galera, OpenStack, ZooKeeper) serves them all as it is:
# bringing it up from empty costs minutes, and the engine tests between them would wipe the hosts. test_galera
# stops and kills its nodes, and test_vip deploys a stack of its own, so they come after the modules that use the
# databases.
REAL_STACK_MODULES = ("test_puppet.py", "test_redis.py", "test_openstack.py", "test_zookeeper.py", "test_galera.py",
                      "test_vip.py")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)

    def rank(item) -> int:
        name = Path(str(item.fspath)).name
        return REAL_STACK_MODULES.index(name) + 1 if "/e2e/" in str(item.fspath) and name in REAL_STACK_MODULES else 0

    items.sort(key=rank)  # stable: file order within each rank


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    if os.geteuid() != 0:
        pytest.fail("the e2e tests need root (they run the lab): run `bash scripts/test.sh` as root")
    inv = load_inventory(HOSTS_FILE)
    lab.up(inv, say=lambda m: None)
    with Remotes(inv) as remotes:  # the shipped stack's images come with shipped_from_empty, where they are used
        # a run starts from empty hosts: `lab.down` keeps the hosts' docker data, so what an earlier run on this
        # machine left (stopped by the daemons' restart) would be in the way of the first create
        wipe_stack(remotes)
        images.sync(engine_stack(inv), remotes, say=lambda m: None)
    return inv


@pytest.fixture(scope="session")
def remotes(inventory: Inventory) -> Iterator[Remotes]:
    with Remotes(inventory) as r:
        yield r


def run_inv(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real CLI, as a user would."""
    proc = subprocess.run([str(INV), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"inv {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def ssh(inventory: Inventory, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Plain OpenSSH to a lab host with the lab key, as the README tells a user to do."""
    h = inventory.host(host)
    spec = inventory.lab
    assert spec is not None
    proc = subprocess.run(
        ["ssh", "-i", str(lab.key_file(spec)), "-o", f"UserKnownHostsFile={lab.known_hosts_file(spec)}",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"root@{h.address}", command],
        capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"ssh {host} {command!r} exited {proc.returncode}: {proc.stderr}")
    return proc


BOOK_PARTS = ("registry", "dhcp-hosts.d", "hosts.d")  # one file per container in each


def book_files(inventory: Inventory, host: str = "host1", name: str = "dnsmasq") -> dict[str, str]:
    """One dnsmasq's copy of the address book: each part's files concatenated in name order."""
    out = {}
    for part in BOOK_PARTS:
        d = f"{DNSMASQ_DIR}/{name}/{part}"
        out[part] = ssh(inventory, host, f"[ ! -d {d} ] || find {d} -maxdepth 1 -type f | sort | xargs -r cat").stdout
    return out


def docker_exec(inventory: Inventory, host: str, container: str, command: str) -> str:
    return ssh(inventory, host, f"docker exec {container} {command}").stdout


def managed_containers(remotes: Remotes) -> dict[str, list[str]]:
    out = parallel(remotes.all(), lambda r: r.run(
        ["docker", "ps", "-a", "--filter", f"label={LABEL_MANAGED}=true", "--format", "{{.Names}}"], "ps").stdout)
    return {r.name: sorted(o.split()) for r, o in zip(remotes.all(), out)}


def wipe_stack(remotes: Remotes) -> None:
    """Empty hosts: no dockstack containers, no service folders: no dnsmasq files (so no addresses are known), no
    data (Galera's, ZooKeeper's: data another clone wrote with its own generated passwords would not admit this
    one's)."""
    def wipe(r):
        names = r.run(["docker", "ps", "-aq", "--filter", f"label={LABEL_MANAGED}=true"], "ps").stdout.split()
        if names:
            r.run(["docker", "rm", "-f", *names], "rm")
        r.run(["sh", "-c", 'rm -rf "$1"/*', "sh", SERVICE_ROOT], "wipe service folders")
    parallel(remotes.all(), wipe)


def traced(tmp_path: Path, *args: str, check: bool = True,
           timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """Run `inv` with a round-trip trace; returns the process and the trace's events."""
    trace = tmp_path / f"trace-{len(list(tmp_path.glob('trace-*')))}.jsonl"
    env = {**os.environ, "DOCKSTACK_TRACE": str(trace)}
    proc = subprocess.run([str(INV), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"inv {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    events = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    return proc, events


@dataclass(frozen=True)
class Deployed:
    """The shipped stack as one deploy-all brought it up from empty hosts, with what that run printed and traced."""

    stack: Stack
    out: str
    events: list[dict]  # its DOCKSTACK_TRACE: round trips, and each container's `took` (addressing, agent, check)


@pytest.fixture(scope="session")
def shipped_from_empty(inventory: Inventory, remotes: Remotes, tmp_path_factory) -> Deployed:
    """The shipped stack deployed once from empty hosts (no container, no data), for the real-service modules
    (REAL_STACK_MODULES): each looks at what this run did for its role, then changes things of its own."""
    stack = load_stack(inventory, DEFAULT_CONTAINERS_FILE)
    images.sync(stack, remotes, say=lambda m: None)
    wipe_stack(remotes)
    t0 = time.monotonic()
    proc, events = traced(tmp_path_factory.mktemp("shipped"), "deploy-all",
                          f"--containers-file={DEFAULT_CONTAINERS_FILE}", timeout=1500)
    print(f"\nthe shipped stack from empty hosts: deploy-all {time.monotonic() - t0:.1f}s")
    return Deployed(stack, proc.stdout, events)


@pytest.fixture
def empty_hosts(inventory: Inventory, remotes: Remotes) -> Remotes:
    wipe_stack(remotes)
    return remotes


def ipam_json() -> dict[str, dict]:
    rows = json.loads(run_inv("ipam.show", "--json").stdout)
    return {r["name"]: r for r in rows}


def write_containers(tmp_path: Path, name: str, edit) -> Path:
    """A copy of the engine tests' stack, changed by `edit(data)`."""
    data = yaml.safe_load(ENGINE_STACK.read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def entry(data: dict, name: str) -> dict:
    return next(c for c in data["containers"] if c["name"] == name)


SRV_ADMF_RMAINT = 0x20  # haproxy's server admin state: in maintenance because its name does not resolve


def haproxy_servers(inventory: Inventory, backend: str, host: str = "host3", name: str = "haproxy") -> dict:
    """What the running haproxy makes of a backend's servers, from its runtime API ('show servers state'):
    server name -> (address it resolved, True unless its name stopped resolving)."""
    from dockstack.config import HAPROXY_STATS_PORT
    ask = f"exec 3<>/dev/tcp/127.0.0.1/{HAPROXY_STATS_PORT}; echo 'show servers state {backend}' >&3; cat <&3"
    text = ssh(inventory, host, f"docker exec {name} bash -c {shlex.quote(ask)}").stdout
    header = next(line for line in text.splitlines() if line.startswith("# be_id"))
    fields = header[2:].split()
    out = {}
    for line in text.splitlines():
        row = dict(zip(fields, line.split(), strict=False))
        if row.get("be_name") == backend:
            out[row["srv_name"]] = (row["srv_addr"], not int(row["srv_admin_state"]) & SRV_ADMF_RMAINT)
    return out
