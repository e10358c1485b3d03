"""Issue 30, probe 5: root in a container plants symlinks and FIFOs where the host's scripts read and write as root,
and nothing on the host outside the containers' folders changes; the host's facts still answer, naming what they
could not read.

From inside every service container of the shipped stack, a symlink to a canary file of its host (and a symlinked
folder, to a canary folder) is planted at each path of its service folder the host's scripts touch: the files
dockstack renders for it, its folders, its state file (galera's grastate.dat), dnsmasq's lease file and address book.
Where the container's folder is read-only to it (everywhere but its data folders) the plant is refused; where it is
not (galera's data/, dnsmasq's lease/), it is planted. galera3's grastate.dat becomes a FIFO. Then `inv status`
(within its bound, naming the galera nodes whose state it did not read), `inv deploy-all` (with a push to the
Puppet server) and a stop + start of galera2 and redis: the canaries stay as they were. Afterwards the plants go,
grastate.dat comes back, and a deploy-all leaves the stack healthy for the modules after this one.

Runs on the stack shipped_from_empty deployed (REAL_STACK_MODULES), last: it restarts containers.
"""

from __future__ import annotations

import shlex
import time
import uuid

import pytest

from dockstack import agent
from dockstack.config import DEFAULT_CONTAINERS_FILE, Container, Stack
from dockstack.services import service_dir
from dockstack.services.base import Context, Service
from dockstack.services.registry import DEFINITIONS, definition

from .helpers import Deployed, run_inv, ssh

LAB = "main"
SHIPPED_FILE = f"--containers-file={DEFAULT_CONTAINERS_FILE}"
CANARY = "/etc/dockstack-canary"  # on every host: what each planted symlink points to
CANARY_DIR = "/etc/dockstack-canary.d"  # and each symlinked folder
KEPT = ".dockstack-kept"  # a planted path's own file, kept beside it in the container until the clean-up (PLANT)
STATUS_BOUND = 45  # seconds `inv status` may take on the shipped stack (its facts and checks, one round trip each)
# the address book's own files in dnsmasq's folder, which the host's transaction script writes
BOOK_FILES = ("lock", "lock.holder", "generation", "released", "registry/webui", "hosts.d/webui", "lease/leases")
# galera's files its prepare hook writes at each start, beside the rendered ones
GALERA_PREPARED = ("start", "expected-size")

# In a container: for each path, its own file (or folder) moved aside to PATH.dockstack-kept and a symlink to the
# canary (PATH/: a folder, to the canary folder) put in its place. Prints `planted PATH` or `refused PATH WHY`
# (what was moved aside comes back when the symlink cannot be made).
# Called as: sh -c PLANT sh CANARY CANARY_DIR PATH...
PLANT = r"""
canary=$1 canary_dir=$2
shift 2
for p; do
  target=$canary
  case $p in */) target=$canary_dir p=${p%/} ;; esac
  kept=
  if [ -e "$p" ] || [ -L "$p" ]; then
    if ! err=$(mv "$p" "$p.dockstack-kept" 2>&1); then echo "refused $p $err"; continue; fi
    kept=1
  fi
  if err=$(ln -s "$target" "$p" 2>&1); then echo "planted $p"
  else echo "refused $p $err"; if [ -n "$kept" ]; then mv "$p.dockstack-kept" "$p"; fi; fi
done
"""
# In a container: each planted path back as it was; a file the service wrote since in its place (a regular file, not
# the symlink or FIFO planted) is kept, and the old one dropped.
# Called as: sh -c UNPLANT sh PATH...
UNPLANT = r"""
for p; do
  p=${p%/}
  if [ -L "$p" ] || [ -p "$p" ]; then
    rm -f "$p"
    if [ -e "$p.dockstack-kept" ] || [ -L "$p.dockstack-kept" ]; then mv "$p.dockstack-kept" "$p"; fi
  else
    rm -rf "$p.dockstack-kept"
  fi
done
"""


@pytest.fixture(scope="module")
def stack(shipped_from_empty: Deployed) -> Stack:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    return shipped_from_empty.stack


def in_container(d: Service, rel: str) -> str:
    """Where a path of the container's host folder (relative) is in the container: under its data folder's mount
    when it lies in one (those are writable), else under the folder's own mount (read-only)."""
    for sub, path in d.data:
        if rel == sub or rel.startswith(f"{sub}/"):
            return path + rel[len(sub):]
    return f"{d.mount}/{rel}"


def touched(stack: Stack, inventory, c: Container) -> list[str]:
    """Every path of c's host folder the host's scripts read or write, as c sees it: its rendered files and the
    folders on their way (a folder ends with /), its folders, its state file, what its service keeps there (the
    address book, galera's start decision) and the digest of its last agent run's catalog."""
    d = definition(c)
    assert d is not None
    dns = tuple(str(x.ip) for x in stack.address_providers())
    files = set(d.files(Context(stack, inventory.network, dns, DEFINITIONS), c))
    if d.provides_addresses:
        files |= set(BOOK_FILES)
    if d.state_file:
        files |= {d.state_file, *GALERA_PREPARED}
    if stack.asks_catalog(c):  # its last agent run's catalog digest, which the action script writes after the run
        files.add(agent.DIGEST_FILE)
    folders = set(d.folders(c))
    for rel in files:  # every folder on each file's way
        parts = rel.split("/")[:-1]
        folders |= {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return sorted({in_container(d, rel) for rel in files} | {in_container(d, rel) + "/" for rel in folders})


def canaries(inventory) -> dict[str, str]:
    """host -> the canary file's sha256 and the canary folder's listing, as its root sees them."""
    return {h.name: ssh(inventory, h.name, f"sha256sum {CANARY}; ls -A {CANARY_DIR}").stdout for h in inventory.hosts}


def plant(inventory, c: Container, paths: list[str]) -> dict[str, str]:
    """The paths planted in c (from inside it): path -> `planted`, or why it was refused."""
    out = ssh(inventory, c.host, shlex.join(["docker", "exec", c.name, "sh", "-c", PLANT, "sh", CANARY, CANARY_DIR,
                                             *paths])).stdout
    said = {}
    for line in out.splitlines():
        kind, _, rest = line.partition(" ")
        path, _, why = rest.partition(" ")
        said[path] = "planted" if kind == "planted" else why
    return said


def status_within_bound() -> tuple[str, float]:
    t0 = time.monotonic()
    out = run_inv("status", SHIPPED_FILE, timeout=STATUS_BOUND * 4).stdout
    return out, time.monotonic() - t0


def test_nothing_a_container_plants_in_its_folder_reaches_a_host_file(stack, inventory):
    made = f"canary {uuid.uuid4().hex}\n"
    for h in inventory.hosts:
        ssh(inventory, h.name, f"printf %s {shlex.quote(made)} > {CANARY} && rm -rf {CANARY_DIR} && "
                               f"mkdir {CANARY_DIR}")
    before = canaries(inventory)
    services = [c for c in stack.containers if definition(c) is not None]
    galera = list(stack.of_role("galera"))
    fifo_node, symlink_node, cycled = galera[2], galera[0], [galera[1], stack.container("redis")]
    grastate = in_container(definition(fifo_node), "data/grastate.dat")  # type: ignore[arg-type]
    planted: dict[str, list[str]] = {}
    try:
        ssh(inventory, fifo_node.host, f"docker exec {fifo_node.name} sh -c "
            + shlex.quote(f"mv {grastate} {grastate}{KEPT} && mkfifo {grastate}"))
        planted[fifo_node.name] = [grastate]
        for c in services:
            d = definition(c)
            assert d is not None
            # galera3's grastate.dat is the FIFO; galera2's stays as it is: it is stopped and started below, and
            # mariadbd would then write its state where the symlink leads in the container, not to its data
            paths = [p for p in touched(stack, inventory, c) if not (c in (fifo_node, galera[1]) and p == grastate)]
            said = plant(inventory, c, paths)
            assert set(said) == {p.rstrip("/") for p in paths}, (c.name, said)
            planted[c.name] = planted.get(c.name, []) + [p for p in said if said[p] == "planted"]
            writable = tuple(path for _, path in d.data)
            for path, how in said.items():
                # the container writes only its data folders: anywhere else the plant is refused, read-only
                if how == "planted":
                    assert path.startswith(tuple(f"{w}/" for w in writable)), (c.name, path)
                elif not path.startswith(tuple(f"{w}/" for w in writable)):
                    assert "Read-only file system" in how or "Device or resource busy" in how, (c.name, path, how)
        assert in_container(definition(symlink_node), "data/grastate.dat") in planted[symlink_node.name]  # type: ignore[arg-type]
        dns = stack.address_providers()[0]
        assert f"{in_container(definition(dns), 'lease/leases')}" in planted[dns.name]  # type: ignore[arg-type]

        out, took = status_within_bound()
        print(f"\ninv status with a FIFO and symlinks planted: {took:.1f}s")
        assert took < STATUS_BOUND, took
        assert (f"warning: {fifo_node.name} on {fifo_node.host}: its state file data/grastate.dat is a FIFO, not a "
                "regular file") in out, out
        assert f"warning: {symlink_node.name} on {symlink_node.host}: its state file data/grastate.dat is a symlink" \
            in out, out
        assert canaries(inventory) == before

        # a push to the Puppet server: a file of its folder that differs (written here as host root) is put back
        server = stack.catalog_provider()
        assert server is not None
        ssh(inventory, server.host, f"echo '# changed by the test' >> {service_dir(server)}/autosign.conf")
        deployed = run_inv("deploy-all", SHIPPED_FILE, timeout=1200).stdout
        assert "0 failed" in deployed and "autosign.conf" in deployed, deployed
        assert canaries(inventory) == before

        for c in cycled:
            run_inv("stop", f"--name={c.name}", SHIPPED_FILE, timeout=600)
            run_inv("start", f"--name={c.name}", SHIPPED_FILE, timeout=900)
        assert canaries(inventory) == before
        out, took = status_within_bound()
        assert took < STATUS_BOUND and f"warning: {fifo_node.name} on {fifo_node.host}" in out, (took, out)
        assert canaries(inventory) == before
    finally:
        for c in services:
            if planted.get(c.name):
                ssh(inventory, c.host, shlex.join(["docker", "exec", c.name, "sh", "-c", UNPLANT, "sh",
                                                   *planted[c.name]]), check=False)
        healed = run_inv("deploy-all", SHIPPED_FILE, timeout=1200, check=False)
        after = canaries(inventory)
        for h in inventory.hosts:
            ssh(inventory, h.name, f"rm -rf {CANARY} {CANARY_DIR}", check=False)
    assert after == before
    assert healed.returncode == 0 and "0 failed" in healed.stdout, healed.stdout + healed.stderr
    lines = run_inv("status", SHIPPED_FILE).stdout.splitlines()
    assert not [line for line in lines if line.startswith("warning:")], lines
