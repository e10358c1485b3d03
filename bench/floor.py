"""The floor's plan: what bench/floor.sh is fed to deploy a stack with the least work a deploy must do.

The floor must start the very containers dockstack starts, or the ratio between them would measure two different
stacks rather than the engine's overhead. So nothing here says how a container or a service is run: the `docker
run` arguments are dockstack's own (dockercli.run_argv), and a service container's files and folders are what its
definition renders (registry.definition: .files, .folders), packed as dockstack packs them for its action script
(actions.files_payload). What the floor leaves out is dockstack's bookkeeping: its labels, the address book,
facts, locks, the pushes after each tier.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.common import KEY, BenchError
from dockstack import dockercli, lab
from dockstack.actions import DHCP_DIR, DHCP_HOOK, files_payload, secret_files
from dockstack.config import Container, Inventory, Network, Stack, effective_mac, tiers
from dockstack.services import service_dir
from dockstack.services.base import Context
from dockstack.services.registry import DEFINITIONS, definition

FLOOR_LABEL = "org.dockstack.bench=floor"  # the floor's containers say whose they are, and nothing dockstack reads


def floor_veth(name: str) -> str:
    """The host end of a container's veth pair: the floor's own names, never one of dockstack's."""
    return "fbh" + hashlib.sha1(name.encode()).hexdigest()[:8]


def write_floor_plan(inv: Inventory, stack: Stack, path: Path) -> int:
    """bench/floor.sh's input: the same containers, images, commands and service files as dockstack's; each
    service container's files go beside the plan (PLAN.files/NAME.tar.gz), and so does dockstack's DHCP hook
    (PLAN.files/dhcp_hook.sh), which the floor's leases run as dockstack's do. Returns the number of containers."""
    net = inv.network
    ds = stack.address_providers()
    dns = [str(d.ip) for d in ds]
    ctx = Context(stack, net, tuple(dns), DEFINITIONS)
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
    hook = files / "dhcp_hook.sh"
    hook.write_text(DHCP_HOOK)
    rows += [["set", "subnet", str(net.subnet)], ["set", "gateway", str(net.gateway) if net.gateway else "-"],
             ["set", "dhcp_dir", DHCP_DIR], ["set", "dhcp_hook", str(hook)]]
    n = 0
    for i, tier in enumerate(tiers(stack), 1):
        for role in tier:
            for c in stack.of_role(role.name):
                n += 1
                payload = floor_payload(ctx, c)
                local = files / f"{c.name}.tar.gz"
                if payload is None:
                    local.unlink(missing_ok=True)
                else:
                    local.write_bytes(payload)
                mac = effective_mac(c) if (c.mac or c.ip) else None
                cidr = f"{c.ip}/{net.subnet.prefixlen}" if c.ip else None
                row = ["c", str(i), c.name, inv.host(c.host).address, floor_veth(c.name), cidr or "-", mac or "-",
                       role.check or "-", str(local) if payload is not None else "-",
                       *floor_docker_run(c, net, dns)]
                rows.append(row)
    for row in rows:
        for v in row:
            if not v or "\t" in v or "\n" in v:
                raise BenchError(f"floor plan: {row[:3]}: value {v!r} cannot go in a tab-separated line")
    path.write_text("".join("\t".join(r) + "\n" for r in rows))
    return n


def service_files(ctx: Context, c: Container) -> tuple[dict[str, str], tuple[str, ...]]:
    """What c's service needs in its host folder before it starts, as dockstack's create writes it: every file its
    definition renders (absolute paths on the host) and the folders it makes. Nothing for a container of a role
    without a service.

    All of them, the supervisor among them: dockstack's haproxy container runs `bash supervise.sh`, which starts
    haproxy and waits, and the floor runs the same command (run_argv's) rather than haproxy alone. The floor once
    shipped haproxy.cfg only and ran haproxy itself; that spared one waiting shell and two small files in the same
    ssh call, at the price of a container unlike dockstack's and of the floor knowing each service by name. A
    service's files are part of the least work a deploy must do: the Puppet server's files, which the floor used
    to leave out, go with its container as they do with dockstack's."""
    d = definition(c)
    if d is None:
        return {}, ()
    base = service_dir(c)
    return ({f"{base}/{p}": t for p, t in d.files(ctx, c).items()}, tuple(f"{base}/{f}" for f in d.folders(c)))


def floor_payload(ctx: Context, c: Container) -> bytes | None:
    """c's service files and secret files in one tar.gz that floor.sh unpacks at / (`tar -xzf - -C /`): the files
    dockstack's action installs in the service folder and those it writes in the container's secrets folder (from
    lines on its standard input), secrets readable by root only; None when there is none to ship (as dockstack,
    which then sends none)."""
    files, dirs = service_files(ctx, c)
    d = definition(c)
    secrets = secret_files(c)
    if not files and not secrets:
        return None
    return files_payload(files, dirs, d.private_files if d else frozenset(), secrets)


def floor_docker_run(c: Container, net: Network, dns: list[str]) -> list[str]:
    """`docker run` arguments (after `docker`): dockstack's run_argv, its bookkeeping labels (managed, role,
    spec digests) replaced by the floor's one, and c's env as `--env` before the image: dockstack writes an env
    file on the host for `--env-file`, which the floor has no step for (no shipped container has env of its own:
    its secrets are files, in the payload)."""
    argv = dockercli.run_argv(c, net, dns)
    d = definition(c)
    command = list(c.command) or (list(d.command) if d else [])
    image_at = len(argv) - len(command) - 1
    if argv[:2] != ["docker", "run"] or argv[image_at] != c.image:
        raise BenchError(f"floor plan: {c.name}: dockstack's docker run is not `docker run ... IMAGE COMMAND`: "
                         f"{argv}")
    options: list[str] = []
    label_at = None
    i = 2
    while i < image_at:
        if argv[i] == "--label":
            label_at = len(options) if label_at is None else label_at
            i += 2
            continue
        options.append(argv[i])
        i += 1
    if label_at is None:
        raise BenchError(f"floor plan: {c.name}: dockstack's docker run has no --label to replace: {argv}")
    options[label_at:label_at] = ["--label", FLOOR_LABEL]
    env = [x for k, v in c.env for x in ("--env", f"{k}={v}")]
    return ["run", *options, *env, *argv[image_at:]]
