"""Issue 30, probe 1: root in a container never becomes root on the host through its address. A container that takes
its address from a lease gets wrappers named like what the DHCP step once ran inside it with the host's privileges
(`dhclient-script`, `dhclient`, `sh`, `pkill`, `timeout`: first on its PATH, and in place of the real ones where
the image has them), each recording its capabilities when it runs; then the container is stopped and started,
repaired and re-created. No wrapper ever runs with more than the container's own capabilities (the DHCP client is
the host's, in the container's network namespace only), `dhclient` and `dhclient-script` never run at all, and the
container keeps its address.

Runs on the stack shipped_from_empty deployed (REAL_STACK_MODULES), before test_galera; it leaves the galera node
as the shipped containers.yaml makes it (re-created from its image) and Synced.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid

import pytest

from dockstack.config import DEFAULT_CONTAINERS_FILE, Container, Stack
from dockstack.services import service_dir
from dockstack.services.galera import DATA

from .helpers import Deployed, holds, ready, run_inv, shipped_variant, ssh

LAB = "main"
SHIPPED = DEFAULT_CONTAINERS_FILE
INV_TIMEOUT = 1500  # a deploy-all of the shipped stack that re-creates a galera node (drained, its agent, IST)
TARGET = "galera2"  # a galera node without a static MAC or IP: its address comes from a lease
WRAPPED = ("dhclient-script", "dhclient", "sh", "pkill", "timeout")
NEVER = {"dhclient-script", "dhclient"}  # nothing runs these now: the lease is the host's udhcpc's
MARK = f"dockstack-attacker-{uuid.uuid4().hex[:12]}"  # the wrappers' record, in the node's data folder (which
# outlives the container: its host folder's data/) and in /var/tmp, where a wrapper the host ran in its own mount
# namespace would leave it on the host

# Run in the container as its root (docker exec): a wrapper for every WRAPPED name first on PATH (/usr/local/sbin,
# /usr/local/bin), which records `NAME CapEff:HEX CapBnd:HEX` (read by the shell itself from /proc/self/status), then
# runs the real one. dhclient and dhclient-script are replaced where the image has them too (dhclient runs its
# script by its path), the real ones moved aside (NAME.dockstack-real); sh, pkill and timeout stay where they are,
# for the container's own use. Run again in the same container, it keeps the real ones where they are.
# Called as: sh -c PLANT sh MARK_PATH SPARE_PATH NAME...
PLANT = r"""
set -eu
marks=$1 spare=$2
shift 2
wrap() {  # WRAPPER_PATH NAME REAL ("": none)
  if [ -n "$3" ]; then tail="exec $3 \"\$@\""; else tail="exit 0"; fi
  cat > "$1" <<EOF
#!/bin/sh
caps=
while read -r key value; do
  case \$key in CapEff: | CapBnd:) caps="\$caps \$key\$value" ;; esac
done < /proc/self/status
for m in $marks $spare; do echo "$2\$caps" >> "\$m"; done 2>/dev/null
$tail
EOF
  chmod 0755 "$1"
}
for name in "$@"; do
  real=
  found=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$name") || found=
  case $name in
    dhclient*) if [ -n "$found" ]; then
                 if [ ! -e "$found.dockstack-real" ]; then mv "$found" "$found.dockstack-real"; fi
                 real=$found.dockstack-real
                 wrap "$found" "$name" "$real"
               fi ;;
    *) real=$found ;;
  esac
  for dir in /usr/local/sbin /usr/local/bin; do
    mkdir -p "$dir"
    wrap "$dir/$name" "$name" "$real"
  done
done
"""
# The wrappers gone and the real ones back (a run that failed before the re-create that replaces them).
UNPLANT = r"""
for name in "$@"; do
  rm -f "/usr/local/sbin/$name" "/usr/local/bin/$name"
  for real in "/usr/sbin/$name.dockstack-real" "/usr/bin/$name.dockstack-real"; do
    if [ -e "$real" ]; then mv -f "$real" "${real%.dockstack-real}"; fi
  done
done
"""


@pytest.fixture(scope="module")
def stack(shipped_from_empty: Deployed) -> Stack:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    return shipped_from_empty.stack


@pytest.fixture(scope="module")
def node(stack: Stack) -> Container:
    c = stack.container(TARGET)
    assert c.ip is None and c.mac is None, c  # the probe is about a container whose address is a lease
    return c


def marks_path(c: Container) -> str:
    """The record on the host: the node's data folder, which the container sees as DATA."""
    return f"{service_dir(c)}/data/{MARK}"


def plant(inventory, c: Container) -> None:
    script = shlex.quote(PLANT)
    ssh(inventory, c.host, f"docker exec {c.name} sh -c {script} sh {DATA}/{MARK} /var/tmp/{MARK} "
                           f"{' '.join(WRAPPED)}")
    ssh(inventory, c.host, f": > {marks_path(c)}")  # planting ran none of them; from now on, what runs is recorded


def address(c: Container) -> str:
    """The node's recorded address, which it must keep (a lease's: no static IP)."""
    rows = {r["name"]: r for r in json.loads(run_inv("ipam.show", "--json", containers=SHIPPED).stdout)}
    assert rows[c.name]["source"] in ("lease", "new"), rows[c.name]
    return rows[c.name]["ip"]


def records(inventory, c: Container) -> list[tuple[str, int]]:
    """(name, CapEff) of every wrapper that ran since the last plant or check, then the record emptied."""
    out = ssh(inventory, c.host, f"cat {marks_path(c)} 2>/dev/null; : > {marks_path(c)}").stdout
    got = []
    for line in out.splitlines():
        m = re.fullmatch(r"(\S+) CapEff:([0-9a-f]{16}) CapBnd:[0-9a-f]{16}", line.strip())
        assert m, f"a record no wrapper writes: {line!r}"
        got.append((m[1], int(m[2], 16)))
    return got


def signal_mariadbd(inventory, c: Container, signal: str, check: bool = True) -> None:
    """A signal to the node's mariadbd, sent from the host by its PID (nothing of the container's runs for it)."""
    ssh(inventory, c.host, f"kill -{signal} $(docker top {c.name} -eo pid,comm | "
                           "awk '$2 == \"mariadbd\" {print $1}')", check=check)


def bounding_set(inventory, c: Container) -> int:
    """The capabilities the container's PID 1 may ever hold (every process of the container is bounded by it)."""
    status = ssh(inventory, c.host, f"cat /proc/$(docker container inspect --format '{{{{.State.Pid}}}}' "
                                    f"{c.name})/status").stdout
    return int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", status, re.M)[1], 16)


def assert_nothing_ran_as_host_root(inventory, c: Container, step: str, ip: str, planted: bool) -> None:
    """After a step: no wrapper ran above the container's own capabilities, dhclient and dhclient-script not at all,
    none on the host; the node holds its address and is Synced. planted: the wrappers were in the container that
    ran the step (the node's own readiness check, `sh -c`, then ran the `sh` one: proof they were in place)."""
    ran = records(inventory, c)
    bound = bounding_set(inventory, c)
    for name, eff in ran:
        assert name not in NEVER, f"{step}: {name} ran in {c.name} (CapEff {eff:016x})"
        assert eff & ~bound == 0, (f"{step}: {name} ran with CapEff {eff:016x}, beyond {c.name}'s own "
                                   f"bounding set {bound:016x}: root on the host ran the container's file")
    if planted:
        assert any(name == "sh" for name, _ in ran), f"{step}: no wrapper ran at all ({ran}): were they planted?"
    on_host = ssh(inventory, c.host, f"cat /var/tmp/{MARK}", check=False)
    assert on_host.returncode != 0 and not on_host.stdout, f"{step}: a wrapper ran in the host's namespaces: " \
                                                           f"{on_host.stdout}"
    assert holds(inventory, c.host, c.name, ip), f"{step}: {c.name} lost its address {ip}"
    assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3"), step


def test_wrappers_in_a_leased_container_never_run_as_host_root_on_stop_start_repair_or_recreate(
        stack, node, inventory, tmp_path):
    c = node
    ip = address(c)
    assert holds(inventory, c.host, c.name, ip)
    try:
        # a stop and a start: the start gives eth0 its lease again
        plant(inventory, c)
        run_inv("stop", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
        run_inv("start", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
        assert_nothing_ran_as_host_root(inventory, c, "stop + start", ip, planted=True)

        # a repair: mariadbd stopped (SIGSTOP, from the host) fails the node's check; deploy-all stops it cleanly
        # and starts it again, with its lease
        signal_mariadbd(inventory, c, "STOP")
        try:
            out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
        finally:
            signal_mariadbd(inventory, c, "CONT", check=False)
        assert re.search(rf"^  {c.name}: repair \(unhealthy: ", out, re.M), out
        assert "0 failed" in out, out
        assert_nothing_ran_as_host_root(inventory, c, "repair", ip, planted=True)

        # a re-create (its env changed): the new container comes from the image, without the wrappers; the old one's
        # were there until it went, and the record in the data folder outlives it
        def changed(data: dict) -> None:
            for entry in data["containers"]:
                if entry["name"] == c.name:
                    entry["env"] = {**entry.get("env", {}), "DOCKSTACK_TEST_ATTACKER": MARK}

        out = run_inv("deploy-all", containers=shipped_variant(tmp_path, changed), timeout=INV_TIMEOUT).stdout
        assert re.search(rf"^  {c.name}: recreate ", out, re.M) and "0 failed" in out, out
        assert_nothing_ran_as_host_root(inventory, c, "recreate", ip, planted=False)

        # and back to the shipped spec: a re-create of a container that holds the wrappers again
        plant(inventory, c)
        out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
        assert re.search(rf"^  {c.name}: recreate ", out, re.M) and "0 failed" in out, out
        assert_nothing_ran_as_host_root(inventory, c, "recreate back", ip, planted=False)
    finally:
        # the node as the shipped containers.yaml makes it: its own files back (a step above failed before the
        # re-create that replaces them), its spec the shipped one, no record left on the host
        ssh(inventory, c.host, f"docker exec {c.name} sh -c {shlex.quote(UNPLANT)} sh {' '.join(WRAPPED)}",
            check=False)
        run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT, check=False)
        ssh(inventory, c.host, f"rm -f {marks_path(c)} /var/tmp/{MARK}", check=False)
    assert address(c) == ip
