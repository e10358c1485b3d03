"""Persistent addressing, as pure decisions: the design's flowchart and dnsmasq's files.

The registry (name -> MAC, IP, where the address came from) lives next to dnsmasq's files on
each dnsmasq host; dnsmasq's dhcp-hosts and hosts files are rendered from it, so a container
that comes back with the same MAC gets the same IP, wherever it runs.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass

from dockstack.config import Container, Network, Stack, effective_mac
from dockstack.facts import Lease
from dockstack.render import render

STATIC, LEASE, NEW = "static", "lease", "new"
QUARANTINE = 16  # released IPs held back so the next container does not inherit an old one's address


@dataclass(frozen=True)
class Record:
    """A container's address as dnsmasq knows it."""

    name: str
    role: str
    host: str
    mac: str
    ip: str
    source: str  # static | lease | new: the flowchart path that gave the address last time


@dataclass(frozen=True)
class AddressPlan:
    """How a container gets its address: the MAC to start with, and static IP or DHCP."""

    mac: str | None  # None: let the interface get a random MAC (a new address)
    static_ip: str | None  # None: run dhclient
    source: str
    expected_ip: str | None  # the IP dnsmasq should hand out (lease path), for a check afterwards
    why: str


def known_addresses(registry: dict[str, Record], leases: list[Lease]) -> dict[str, tuple[str, str]]:
    """name -> (mac, ip) from dnsmasq's lease data: its lease files, then its host reservations."""
    known: dict[str, tuple[str, str]] = {}
    for lease in sorted(leases, key=lambda x: x.expiry):
        if lease.hostname:
            known[lease.hostname] = (lease.mac, lease.ip)
    for rec in registry.values():
        known[rec.name] = (rec.mac, rec.ip)
    return known


def plan_address(container: Container, known: dict[str, tuple[str, str]]) -> AddressPlan:
    """The flowchart: static MAC/IP from config, else the MAC of the name's lease, else a new lease."""
    if container.mac or container.ip:
        mac = effective_mac(container) or ""
        if container.ip:
            return AddressPlan(mac, str(container.ip), STATIC, str(container.ip), "static MAC/IP in config")
        prev = known.get(container.name)
        expected = prev[1] if prev and prev[0] == mac else None
        return AddressPlan(mac, None, STATIC, expected, "static MAC in config, IP by DHCP")
    if container.name in known:
        mac, ip = known[container.name]
        return AddressPlan(mac, None, LEASE, ip, f"name in dnsmasq lease data: MAC {mac}, IP {ip}")
    return AddressPlan(None, None, NEW, None, "no static address, no lease: new lease from dnsmasq")


class ConflictError(ValueError):
    pass


def check_record(registry: dict[str, Record], record: Record) -> None:
    """Refuse a record whose IP or MAC another container holds."""
    for other in registry.values():
        if other.name == record.name:
            continue
        if other.ip == record.ip:
            raise ConflictError(f"{record.ip} is already the address of {other.name}")
        if other.mac == record.mac:
            raise ConflictError(f"{record.mac} is already the MAC of {other.name}")


def reserved_static(stack: Stack, registry: dict[str, Record]) -> dict[str, Record]:
    """Registry plus config's static addresses not yet given, so dnsmasq never leases them to others."""
    out = dict(registry)
    for c in stack.containers:
        if c.ip is not None and c.name not in out:
            out[c.name] = Record(c.name, c.role, c.host, effective_mac(c) or "", str(c.ip), STATIC)
    return out


# --- serialisation and dnsmasq's files -------------------------------------------------------


def quarantine_mac(ip: str) -> str:
    """A MAC no container uses, to hold a released IP back from dnsmasq's pool."""
    return "02:ff:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def quarantine(released: list[str], ip: str) -> list[str]:
    """The quarantine after releasing ip: newest last, at most QUARANTINE addresses."""
    return ([x for x in released if x != ip] + [ip])[-QUARANTINE:]


def registry_to_json(registry: dict[str, Record], released: list[str]) -> str:
    return json.dumps({"version": 1, "records": [asdict(r) for r in sorted(registry.values(), key=lambda r: r.name)],
                       "released": released}, indent=2) + "\n"


def registry_from_json(text: str | None) -> tuple[dict[str, Record], list[str]]:
    if not text:
        return {}, []
    data = json.loads(text)
    return {r["name"]: Record(**r) for r in data.get("records", [])}, list(data.get("released", []))


def render_dhcp_hosts(records: dict[str, Record], released: list[str]) -> str:
    in_use = {r.ip for r in records.values()}
    return render("dnsmasq/dhcp-hosts.j2", records=sorted(records.values(), key=lambda r: ipaddress.IPv4Address(r.ip)),
                  quarantined=[(quarantine_mac(ip), ip) for ip in released if ip not in in_use])


def render_hosts(records: dict[str, Record], domain: str) -> str:
    return render("dnsmasq/hosts.j2", domain=domain,
                  records=sorted(records.values(), key=lambda r: ipaddress.IPv4Address(r.ip)))


def render_dnsmasq_conf(network: Network, dnsmasq: Container, servers: list[str]) -> str:
    return render("dnsmasq/dnsmasq.conf.j2", name=dnsmasq.name, net=network, netmask=network.subnet.netmask,
                  dns_servers=servers)
