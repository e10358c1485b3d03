"""Helpers the end-to-end modules share: the one `inv` runner, reaching the lab's hosts and containers, the address
book's files, the engine stack and copies of it. Fixtures and hooks are in conftest.py; no test module imports
another."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from dockstack import actions, agent, lab
from dockstack.config import (
    DEFAULT_HOSTS_FILE,
    ROOT,
    Container,
    Inventory,
    Stack,
    load_inventory,
    load_stack,
)
from dockstack.config.tls import copy_kept
from dockstack.dockercli import LABEL_MANAGED
from dockstack.remote import Remotes, parallel
from dockstack.services import SERVICE_ROOT
from dockstack.services import haproxy as haproxy_service
from dockstack.services import puppet as puppet_service
from dockstack.services.dnsmasq import DNSMASQ_DIR
from dockstack.services.registry import DEFINITIONS

INV = ROOT / ".venv" / "bin" / "inv"
# The stack the engine and fault tests deploy (light images, no puppet classes): conftest.py makes it the one every
# `inv` reads through Invoke's configuration, unless a test names another file. The shipped containers.yaml is the
# real stack, deployed by the tests of its services.
ENGINE_STACK = Path(__file__).parent / "stacks" / "engine.yaml"
# The lab the tests run on: the main one (hosts.yaml), or the one scripts/test.sh names through Invoke's
# configuration (the second lab, stacks/hosts-lab-b.yaml, where the engine tests run beside the real-service ones).
HOSTS_FILE = Path(os.environ.get("INVOKE_DOCKSTACK_HOSTS_FILE") or DEFAULT_HOSTS_FILE)


def engine_stack(inv: Inventory | None = None) -> Stack:
    return load_stack(inv or load_inventory(HOSTS_FILE), ENGINE_STACK, definitions=DEFINITIONS)


def run_inv(*args: str, hosts: Path | str | None = None, containers: Path | str | None = None, check: bool = True,
            timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI, as a user would: the one `inv` runner of the e2e modules, so that a module says how its
    runs differ (its stack, its lab's file, its bound, whether it checks the exit code itself) and no more.
    hosts, containers: --hosts-file and --containers-file, after args (else Invoke's configuration: the lab's and
    the engine stack's); env: variables added to this process's environment."""
    argv = [*args, *([f"--hosts-file={hosts}"] if hosts is not None else []),
            *([f"--containers-file={containers}"] if containers is not None else [])]
    proc = subprocess.run([str(INV), *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env} if env is not None else None)
    if check and proc.returncode != 0:
        raise AssertionError(f"inv {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def ssh(inventory: Inventory, host: str, command: str, check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Plain OpenSSH to a lab host with the lab key, as the README tells a user to do (stdin: sent to command)."""
    h = inventory.host(host)
    spec = inventory.lab
    assert spec is not None
    proc = subprocess.run(
        ["ssh", "-i", str(lab.key_file(spec)), "-o", f"UserKnownHostsFile={lab.known_hosts_file(spec)}",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"root@{h.address}", command],
        input=stdin, stdin=subprocess.DEVNULL if stdin is None else None, capture_output=True, text=True,
        timeout=120)
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
    proc = run_inv(*args, check=check, timeout=timeout, env={"DOCKSTACK_TRACE": str(trace)})
    events = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    return proc, events


@dataclass(frozen=True)
class Deployed:
    """The shipped stack as one deploy-all brought it up from empty hosts, with what that run printed and traced."""

    stack: Stack
    out: str
    events: list[dict]  # its DOCKSTACK_TRACE: round trips, and each container's `took` (addressing, agent, check)


def ipam_json() -> dict[str, dict]:
    rows = json.loads(run_inv("ipam.show", "--json").stdout)
    return {r["name"]: r for r in rows}


def write_containers(tmp_path: Path, name: str, edit) -> Path:
    """A copy of the engine tests' stack, changed by `edit(data)`, beside copies of its secrets file and CA (the
    deployed engine stack's puppet carries its challenge, its haproxy the CA's certificate)."""
    data = yaml.safe_load(ENGINE_STACK.read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    copy_kept(ENGINE_STACK, path)
    return path


def shipped_variant(tmp_path: Path, edit) -> Path:
    """The shipped containers.yaml changed by edit(data), beside a copy of its secrets file (the same passwords)."""
    shipped = ROOT / "containers.yaml"
    data = yaml.safe_load(shipped.read_text())
    edit(data)
    path = tmp_path / "containers.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    copy_kept(shipped, path)
    return path


def entry(data: dict, name: str) -> dict:
    return next(c for c in data["containers"] if c["name"] == name)


SRV_ADMF_RMAINT = 0x20  # haproxy's server admin state: in maintenance because its name does not resolve


def haproxy_servers(inventory: Inventory, backend: str, host: str = "host3", name: str = "haproxy") -> dict:
    """What the running haproxy makes of a backend's servers, from its runtime API ('show servers state'):
    server name -> (address it resolved, True unless its name stopped resolving)."""
    ask = f"exec 3<>/dev/tcp/127.0.0.1/{haproxy_service.STATS_PORT}; echo 'show servers state {backend}' >&3; cat <&3"
    text = ssh(inventory, host, f"docker exec {name} bash -c {shlex.quote(ask)}").stdout
    header = next(line for line in text.splitlines() if line.startswith("# be_id"))
    fields = header[2:].split()
    out = {}
    for line in text.splitlines():
        row = dict(zip(fields, line.split(), strict=False))
        if row.get("be_name") == backend:
            out[row["srv_name"]] = (row["srv_addr"], not int(row["srv_admin_state"]) & SRV_ADMF_RMAINT)
    return out


def registry_is_consistent(inventory) -> dict[str, tuple[str, str]]:
    """name -> (mac, ip) from the registry; asserts no IP or MAC is held twice."""
    lines = [line.split() for line in book_files(inventory)["registry"].splitlines()]
    ips = [x[4] for x in lines]
    macs = [x[3] for x in lines]
    assert len(ips) == len(set(ips)) and len(macs) == len(set(macs)), lines
    return {x[0]: (x[3], x[4]) for x in lines}


# A fresh DHCP exchange as dockstack's action script runs it: the host's udhcpc in the container's network namespace
# only, dockstack's hook (standard input) as its script in the host's folder for it; fails unless eth0 has an address.
RENEW_SCRIPT = """set -eu
name=$1 subnet=$2 gateway=$3 dir=$4
pid=$(docker inspect --format '{{.State.Pid}}' "$name")
mkdir -p "$dir"
hook=$(mktemp "$dir/hook.XXXXXX")
trap 'rm -f "$hook"' EXIT
cat > "$hook"
chmod 0700 "$hook"
nsenter -t "$pid" -n ip -4 addr flush dev eth0
env -i PATH="$PATH" DOCKSTACK_NETNS="$(readlink "/proc/$pid/ns/net")" DOCKSTACK_SUBNET="$subnet" \\
  DOCKSTACK_GATEWAY="$gateway" timeout 30 nsenter -t "$pid" -n udhcpc -f -q -n -C -i eth0 -s "$hook" -t 30 -T 1 \\
  -x "hostname:$name"
nsenter -t "$pid" -n ip -o -4 addr show dev eth0 | grep -q ' inet '
"""


def renew_lease(inventory, host: str, name: str) -> None:
    """A fresh DHCP exchange: drop the address, ask again, as dockstack does (the host's udhcpc in the container's
    network namespace, with dockstack's hook: nothing of the container's runs)."""
    net = inventory.network
    args = [name, str(net.subnet), str(net.gateway) if net.gateway else "", actions.DHCP_DIR]
    ssh(inventory, host, " ".join(["sh", "-c", shlex.quote(RENEW_SCRIPT), "sh", *map(shlex.quote, args)]),
        stdin=actions.DHCP_HOOK)


def holds(inventory: Inventory, host: str, name: str, ip: str) -> bool:
    addrs = ssh(inventory, host, f"docker exec {name} ip -o -4 addr show dev eth0").stdout
    return f" inet {ip}/" in addrs


def holders(inventory: Inventory, hosts: dict[str, str], ip: str) -> list[str]:
    return [n for n, h in hosts.items() if holds(inventory, h, n, ip)]


# --- Galera (test_galera, test_day2) ---------------------------------------------------------------

TABLE = "dockstack_test.rows"


def sql(inventory, c: Container, query: str) -> str:
    """A query on one node, as MariaDB's root over the node's local socket."""
    return ssh(inventory, c.host, f"docker exec {c.name} mariadb -N -B -e {shlex.quote(query)}").stdout.strip()


def ready(inventory, c: Container) -> str:
    """The node's `clustercheck ready` line (it exits 1 while not ready)."""
    cmd = f"docker exec {c.name} sh /var/lib/dockstack/galera/clustercheck ready"
    return ssh(inventory, c.host, cmd, check=False).stdout


def insert(inventory, c: Container, value: str) -> None:
    sql(inventory, c, f"CREATE DATABASE IF NOT EXISTS dockstack_test; CREATE TABLE IF NOT EXISTS {TABLE} "
        "(id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64)); "
        f"INSERT INTO {TABLE} (v) VALUES ('{value}')")


def has_row(inventory, c: Container, value: str) -> bool:
    return sql(inventory, c, f"SELECT COUNT(*) FROM {TABLE} WHERE v = '{value}'") == "1"


def puppet_server(stack: Stack) -> Container:
    found = stack.catalog_provider()
    assert found is not None
    return found


def pinned_ca(inventory: Inventory, stack: Stack) -> str:
    """The CA dockstack gives every agent: read from the server's container on its host, as the executor does."""
    s = puppet_server(stack)
    return puppet_service.parse_ca(s, ssh(inventory, s.host, shlex.join(puppet_service.ca_argv(s))).stdout)


def agent_run(inventory: Inventory, stack: Stack, c: Container, server_name: str | None = None, ca: str | None = None,
              folder: str = agent.AGENT_DIR, challenge: str | None = None,
              certname: str | None = None) -> agent.AgentRun:
    """The agent as dockstack runs it (AGENT_SCRIPT, the challenge and the pinned CA on its standard input), again,
    by hand: by default against the stack's server, with the certificate it has, and the challenge dockstack hands
    c's agent (its own name's, whatever certname it asks for)."""
    domain = inventory.network.domain
    cmd = ["docker", "exec", "-i", c.name, "sh", "-c", agent.AGENT_SCRIPT, "sh",
           server_name or f"{puppet_server(stack).name}.{domain}", certname or f"{c.name}.{domain}", folder]
    own = puppet_service.challenge(stack, f"{c.name}.{domain}")
    given = f"{challenge or own}\n{ca or pinned_ca(inventory, stack)}\n"
    run = agent.parse_agent(ssh(inventory, c.host, shlex.join(cmd), stdin=given).stdout.splitlines())
    assert run is not None
    return run
