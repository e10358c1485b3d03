"""What is deployed: addresses (ipam.show) joined with container state on the hosts, and (status) each
running container's health from one run of its readiness check."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dockstack import health as health_mod
from dockstack import images as images_mod
from dockstack import ipam
from dockstack.config import Inventory, Stack
from dockstack.errors import DockstackError
from dockstack.facts import HostFacts
from dockstack.remote import Remotes, parallel
from dockstack.world import read_world


@dataclass(frozen=True)
class IpamRow:
    name: str
    role: str
    host: str
    mac: str
    ip: str
    fqdn: str
    source: str
    state: str  # running | stopped | absent; a VIP: held by CONTAINER | not held

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def ipam_rows(inv: Inventory, stack: Stack, remotes: Remotes) -> list[IpamRow]:
    """Every container the config or the registry knows, in config order, then the others."""
    world = read_world(inv, stack, remotes)
    registry = world.book.records
    on_hosts = {h: {n: s.status for n, s in f.containers.items()} for h, f in world.hosts.items()}
    names = [c.name for c in stack.containers] + sorted(set(registry) - {c.name for c in stack.containers})
    holders = {ip: (h, n) for h, f in world.hosts.items() for n, ips in f.secondary.items() for ip in ips}
    rows = []
    for name in names:
        rec = registry.get(name)
        if rec is not None and rec.source == ipam.VIP:  # no container: the one whose eth0 holds it
            host, holder = holders.get(rec.ip, ("-", ""))
            rows.append(IpamRow(name, rec.role, host, rec.mac, rec.ip, f"{name}.{inv.network.domain}", rec.source,
                                f"held by {holder}" if holder else "not held"))
            continue
        try:
            c = stack.container(name)
            role, host = c.role, c.host
        except DockstackError:  # in the registry only: a container dropped from the config
            role, host = (rec.role, rec.host) if rec else ("", "")
        where = {h: ps[name] for h, ps in on_hosts.items() if name in ps}
        state = where.get(host) or (next(iter(where.values())) if where else "absent")
        if where and host not in where:
            host = next(iter(where))
        rows.append(IpamRow(name, role, host, rec.mac if rec else "", rec.ip if rec else "",
                            f"{name}.{inv.network.domain}" if rec else "", rec.source if rec else "", state))
    return rows


@dataclass(frozen=True)
class ContainerRow:
    name: str
    role: str
    host: str
    state: str  # running | stopped | absent; running with a health check: `running (healthy)` etc.
    ip: str
    image: str
    health: str = health_mod.NONE  # pass | fail | none | no service
    health_detail: str = ""  # fail: the check's last line (masked, one printable line)
    # what its host's facts could not read for it: its state file, when what is there is no regular file (its
    # container can write there); said under the table
    problem: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def container_rows(inv: Inventory, stack: Stack, remotes: Remotes) -> list[ContainerRow]:
    """The stack's containers as the hosts report them, in config order, with their health: the facts and the
    readiness checks are read at the same time (read_world(health=True))."""
    world = read_world(inv, stack, remotes, health=True)
    return rows_of(stack, world.hosts, world.checks, world.check_limit)


def rows_of(stack: Stack, hosts: dict[str, HostFacts], checked: dict[str, dict[str, health_mod.CheckResult]],
            limit: float) -> list[ContainerRow]:
    """Pure: one row per configured container from the hosts' facts and the checks' results (host -> name ->
    result); a container found on another host than its configured one is shown where it is."""
    rows = []
    for c in stack.containers:
        where = [h for h, f in hosts.items() if c.name in f.containers]
        host = c.host if c.host in where else (where[0] if where else c.host)
        check = stack.role(c.role).check
        if not where:
            h = health_mod.health_of(False, check, None, limit, stack.mask)
            rows.append(ContainerRow(c.name, c.role, host, "absent", "", c.image, h.state, h.detail))
            continue
        st = hosts[host].containers[c.name]
        ip = hosts[host].addresses.get(c.name, (None, None))[1] or ""
        h = health_mod.health_of(st.running, check, checked.get(host, {}).get(c.name), limit, stack.mask,
                                 paused=st.paused)
        problem = hosts[host].state_problems.get(c.name, "")
        rows.append(ContainerRow(c.name, c.role, host, st.status, ip, st.image, h.state, h.detail,
                                 f"its state file {problem}" if problem else ""))
    return rows


def format_containers(rows: list[ContainerRow]) -> str:
    """The HEALTH column last: a failing check's line is the one long value, and it needs no alignment. Then a
    line per container whose host could not read something of it (its problem)."""
    return "\n".join([table(["NAME", "ROLE", "HOST", "STATE", "IP", "IMAGE", "HEALTH"],
                             [[r.name, r.role, r.host, r.state, r.ip or "-", r.image,
                               health_mod.Health(r.health, r.health_detail).show()] for r in rows]),
                       *(f"warning: {r.name} on {r.host}: {r.problem} (its container can write there)"
                         for r in rows if r.problem)])


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines)


def format_ipam(rows: list[IpamRow]) -> str:
    return table(["NAME", "ROLE", "HOST", "MAC", "IP", "FQDN", "SOURCE", "STATE"],
                 [[r.name, r.role, r.host, r.mac or "-", r.ip or "-", r.fqdn or "-", r.source or "-", r.state]
                  for r in rows])


@dataclass(frozen=True)
class LabRow:
    name: str
    address: str
    sshd: bool
    dockerd: bool
    images: dict[str, bool]  # tag -> present with the built ID


def lab_rows(inv: Inventory, stack: Stack, remotes: Remotes) -> list[LabRow]:
    """Each host as a user sees it: can we SSH in, does docker answer, are the stack's images there."""
    built = {i.tag: images_mod.load_built(i) for i in images_mod.stack_images(stack)}

    def row(r) -> LabRow:
        try:
            r.run(["true"], "ssh")
        except DockstackError:
            return LabRow(r.name, r.host.address, False, False, {t: False for t in built})
        dockerd = r.ok(["docker", "version"])
        present = {}
        for tag, b in built.items():
            got = images_mod.remote_image_id(r, tag) if dockerd else None
            present[tag] = got is not None and (b is None or got == b.id)
        return LabRow(r.name, r.host.address, True, dockerd, present)

    return parallel(remotes.all(), row)


def format_lab(rows: list[LabRow]) -> str:
    def yes(b: bool) -> str:
        return "up" if b else "DOWN"

    return table(["HOST", "ADDRESS", "SSHD", "DOCKERD", "IMAGES"],
                 [[r.name, r.address, yes(r.sshd), yes(r.dockerd),
                   ", ".join(f"{t} {'present' if ok else 'MISSING'}" for t, ok in r.images.items()) or "-"]
                  for r in rows])
