"""Facts: pure parsers for what hosts report (dnsmasq leases, host files, docker and ip output)."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

MAC_IN_LINK = re.compile(r"link/ether ([0-9a-fA-F:]{17})")
IPV4_IN_ADDR = re.compile(r"\binet (\d+\.\d+\.\d+\.\d+)/(\d+)")


@dataclass(frozen=True)
class Lease:
    """One line of dnsmasq's lease file: `expiry mac ip hostname client-id`."""

    expiry: int
    mac: str
    ip: str
    hostname: str | None


def parse_leases(text: str) -> list[Lease]:
    leases = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].isdigit():
            continue  # dnsmasq also writes `duid ...` lines for DHCPv6
        try:
            ipaddress.IPv4Address(parts[2])
        except ValueError:
            continue
        hostname = None if parts[3] == "*" else parts[3]
        leases.append(Lease(int(parts[0]), parts[1].lower(), parts[2], hostname))
    return leases


@dataclass(frozen=True)
class DhcpHost:
    """One line of a dnsmasq dhcp-hostsfile as dockstack writes it: `mac,name,ip`."""

    mac: str
    name: str
    ip: str


def parse_dhcp_hosts(text: str) -> list[DhcpHost]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            out.append(DhcpHost(parts[0].lower(), parts[1], parts[2]))
    return out


def parse_hosts_file(text: str) -> dict[str, list[str]]:
    """ip -> names, from an /etc/hosts-format file."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2:
            out.setdefault(parts[0], []).extend(parts[1:])
    return out


@dataclass(frozen=True)
class ContainerState:
    """What `docker inspect` says about one container."""

    name: str
    running: bool
    pid: int
    image: str  # the tag it was created from
    image_id: str
    labels: dict[str, str]

    @property
    def status(self) -> str:
        return "running" if self.running else "stopped"


def _container_state(d: dict) -> ContainerState:
    return ContainerState(
        name=d["Name"].lstrip("/"), running=bool(d["State"]["Running"]), pid=int(d["State"]["Pid"]),
        image=d["Config"]["Image"], image_id=d["Image"], labels=d["Config"].get("Labels") or {})


def parse_inspect(text: str) -> ContainerState | None:
    """The first container of `docker inspect` JSON output, or None for an empty answer."""
    found = parse_inspect_all(text)
    return found[0] if found else None


def parse_inspect_all(text: str) -> list[ContainerState]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    return [_container_state(d) for d in data or []]


@dataclass(frozen=True)
class HostFacts:
    """One host as dockstack sees it: its containers, their eth0 addresses, its image IDs."""

    containers: dict[str, ContainerState]
    addresses: dict[str, tuple[str | None, str | None]]  # container name -> (mac, ip) of eth0
    images: dict[str, str | None]  # tag -> image ID on the host (None: absent)


def parse_host_facts(text: str) -> HostFacts:
    """Output of dockercli.OBSERVE_SCRIPT: inspect JSON, then `#addresses` lines, then `#images` lines."""
    inspect_part, _, rest = text.partition("#addresses\n")
    addr_part, _, image_part = rest.partition("#images\n")
    containers = {c.name: c for c in parse_inspect_all(inspect_part)}
    by_pid: dict[int, list[str]] = {}
    for line in addr_part.splitlines():
        pid, _, tail = line.partition(" ")
        if pid.isdigit():
            by_pid.setdefault(int(pid), []).append(tail)
    addresses = {}
    for c in containers.values():
        lines = "\n".join(by_pid.get(c.pid, [])) if c.running else ""
        addresses[c.name] = (parse_link_mac(lines), parse_ipv4(lines))
    images: dict[str, str | None] = {}
    for line in image_part.splitlines():
        tag, _, image_id = line.partition(" ")
        if tag:
            images[tag] = image_id.strip() or None
    return HostFacts(containers, addresses, images)


def parse_ps(text: str) -> dict[str, str]:
    """name -> running|stopped, from `docker ps -a --format '{{.Names}}\\t{{.State}}'`."""
    out = {}
    for line in text.splitlines():
        if "\t" in line:
            name, state = line.split("\t", 1)
            out[name.strip()] = "running" if state.strip() == "running" else "stopped"
    return out


def parse_link_mac(text: str) -> str | None:
    """The MAC in `ip -o link show dev X` output."""
    m = MAC_IN_LINK.search(text)
    return m.group(1).lower() if m else None


def parse_ipv4(text: str) -> str | None:
    """The first IPv4 address in `ip -o -4 addr show dev X` output."""
    m = IPV4_IN_ADDR.search(text)
    return m.group(1) if m else None
