"""Persistent addressing, as pure decisions: the design's flowchart and dnsmasq's files.

The registry (name -> MAC, IP, where the address came from) lives next to dnsmasq's files on
each dnsmasq host, one file per container; dnsmasq's DHCP host and hosts entries are rendered from
it (also one file per container), so a container that comes back with the same MAC gets the same
IP, wherever it runs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dockstack.config import Container, Network, Stack, dhcp_slice, effective_mac
from dockstack.errors import DockstackError
from dockstack.facts import NO_HOST, Lease, Record
from dockstack.render import render

STATIC, LEASE, NEW, ADOPTED = "static", "lease", "new", "adopted"
VIP = "vip"  # the source of a virtual IP's entry: reserved from the config, held by keepalived

__all__ = ["Lease", "Record"]  # re-exported: callers speak of ipam.Record
QUARANTINE = 16  # released IPs held back so the next container does not inherit an old one's address


@dataclass(frozen=True)
class AddressPlan:
    """How a container gets its address: the MAC to start with, and static IP or DHCP."""

    mac: str | None  # None: let the interface get a random MAC (a new address)
    static_ip: str | None  # None: a lease from dnsmasq
    source: str
    expected_ip: str | None  # the IP dnsmasq should hand out (lease path), for a check afterwards
    why: str


def known_addresses(registry: dict[str, Record], leases: list[Lease]) -> dict[str, tuple[str, str]]:
    """name -> (mac, ip) from dnsmasq's lease data: its lease files, then its host reservations."""
    known: dict[str, tuple[str, str]] = {}
    for lease in sorted(leases, key=lambda x: x.expiry or float("inf")):  # 0: never expires, the newest
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


class ConflictError(DockstackError, ValueError):
    """A record whose IP or MAC another container already holds (the caller adds where and what to do)."""


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


def vip_records(stack: Stack) -> dict[str, Record]:
    """The address-book entries of the stack's virtual IPs: a DHCP host entry for a MAC no container uses (so
    dnsmasq never leases the address) and a hosts entry (so NAME.DOMAIN answers with it)."""
    return {v.name: Record(v.name, role.name, NO_HOST, v.mac, str(v.ip), VIP) for role, v in stack.vips()}


def vip_changes(stack: Stack, registry: dict[str, Record]) -> tuple[tuple[Record, ...], tuple[str, ...]]:
    """(puts, deletes) that make the registry's VIP entries those of the config: new or changed ones put, those of
    VIPs the config no longer declares deleted."""
    wanted = vip_records(stack)
    puts = tuple(r for n, r in sorted(wanted.items()) if registry.get(n) != r)
    deletes = tuple(sorted(n for n, r in registry.items() if r.source == VIP and n not in wanted))
    return puts, deletes


# --- serialisation and dnsmasq's files -------------------------------------------------------


def quarantine_mac(ip: str) -> str:
    """A MAC no container uses, to hold a released IP back from dnsmasq's pool."""
    return "02:ff:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def quarantine(released: list[str], ip: str) -> list[str]:
    """The quarantine after releasing ip: newest last, at most QUARANTINE addresses."""
    return ([x for x in released if x != ip] + [ip])[-QUARANTINE:]


def render_record(r: Record) -> str:
    """The registry file of one container."""
    return render("dnsmasq/record.j2", r=r)


def render_dhcp_host(r: Record) -> str:
    """dnsmasq's DHCP host entry of one container: MAC pinned to name and IP."""
    return render("dnsmasq/dhcp-host.j2", r=r)


def render_host(r: Record, domain: str) -> str:
    """dnsmasq's hosts entry of one container: IP, FQDN, name."""
    return render("dnsmasq/host.j2", r=r, domain=domain)


def render_quarantine(ip: str) -> str:
    """A DHCP host entry that holds a released IP for a MAC no container uses."""
    return render("dnsmasq/quarantine.j2", mac=quarantine_mac(ip), ip=ip)


def render_dnsmasq_conf(network: Network, dnsmasq: Container, servers: list[str], slice_index: int = 0,
                        slice_count: int = 1, answer: tuple[str, str] | None = None) -> str:
    """dnsmasq.conf; answer: (name, text) of a TXT record it serves from this file alone (what its check asks)."""
    start, end = dhcp_slice(network, slice_index, slice_count)
    return render("dnsmasq/dnsmasq.conf.j2", name=dnsmasq.name, net=network, netmask=network.subnet.netmask,
                  dns_servers=servers, range_start=start, range_end=end, slice_index=slice_index,
                  slice_count=slice_count, answer=answer)
