"""hosts.yaml: the Docker hosts, the container network and the lab, read strictly into an Inventory."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from dockstack import yamlfile
from dockstack.config.grammar import (
    DHCP_RANGE_RE,
    JOIN_MODES,
    LEASE_MAX,
    LEASE_RE,
    LEASE_UNITS,
    PREFIX_RE,
    USER_RE,
    address_problem,
    dns_name_problem,
    state_dir_problem,
)
from dockstack.config.model import DEFAULT_HOSTS_FILE, DEFAULT_MAX_SESSIONS, Host, Inventory, LabSpec, Network
from dockstack.config.reader import _Reader
from dockstack.errors import ConfigError


def load_inventory(path: Path | str = DEFAULT_HOSTS_FILE) -> Inventory:
    path = Path(path)
    p = str(path)
    top = _Reader(p, "", yamlfile.load(path))
    top.unknown({"hosts", "network", "lab", "known_hosts"})
    raw_hosts = top.get("hosts", list, required=True)
    if not raw_hosts:
        raise top.fail("hosts", "is empty", "list at least one Docker host")
    hosts: list[Host] = []
    for i, raw in enumerate(raw_hosts):
        r = _Reader(p, f"hosts[{i}]", raw)
        r.unknown({"name", "address", "user", "port", "key", "sudo", "vxlan_address", "max_sessions"})
        name = r.name("name")
        if any(h.name == name for h in hosts):
            raise r.fail("name", f"duplicate host name {name!r}", "host names must be unique")
        address = r.get("address", str, required=True)
        problem = address_problem(address)
        if problem:
            raise r.fail("address", problem,
                         "write an IPv4 address like 192.0.2.10 or a host name like docker1.example")
        user = r.get("user", str, "root")
        if not USER_RE.fullmatch(user):
            raise r.fail("user", f"{user!r} is not a POSIX user name",
                         "use 1-32 of a-z, 0-9, '_' and '-', starting with a letter or '_'")
        port = r.get("port", int, 22)
        if not 0 < port < 65536:
            raise r.fail("port", f"{port} is not a TCP port", "use 1-65535")
        vx = r.ip("vxlan_address", None)
        sessions = r.get("max_sessions", int, DEFAULT_MAX_SESSIONS)
        if not 1 <= sessions <= 64:
            raise r.fail("max_sessions", f"{sessions} is out of range",
                         "use 1-64, below the host sshd's MaxSessions (OpenSSH's default is 10)")
        hosts.append(Host(name=name, address=address, user=user, port=port,
                          key=r.file_path("key"), sudo=r.get("sudo", bool, False),
                          vxlan_address=str(vx) if vx else None, max_sessions=sessions))
    network = _network(_Reader(p, "network", top.get("network", dict, required=True)))
    lab = None
    if "lab" in top.data and top.data["lab"] is not None:
        lr = _Reader(p, "lab", top.data["lab"])
        lr.unknown({"bridge", "gateway", "prefix", "state_dir"})
        gw = lr.get("gateway", str, required=True)
        try:
            gateway = ipaddress.IPv4Interface(gw)
        except ValueError:
            raise lr.fail("gateway", f"{gw!r} is not an address with prefix", "e.g. 10.99.0.1/24") from None
        prefix = str(lr.get("prefix", (str, int), "dsl"))
        if not PREFIX_RE.fullmatch(prefix):
            raise lr.fail("prefix", f"{prefix!r} is not a valid lab prefix",
                          "use 1-11 lowercase letters and digits (it starts interface and namespace names)")
        state_dir = lr.get("state_dir", str, "/var/lib/dockstack-lab")
        bad = state_dir_problem(state_dir)
        if bad:
            raise lr.fail("state_dir", *bad)
        lab = LabSpec(bridge=lr.ifname("bridge", "dslab0") or "dslab0", gateway=gateway, prefix=prefix,
                      state_dir=state_dir)
        for i, h in enumerate(hosts):
            try:
                addr = ipaddress.IPv4Address(h.address)
            except ValueError:
                raise ConfigError(p, f"hosts[{i}].address", f"{h.address!r} is not an IPv4 address",
                                  "lab hosts need an address on the lab bridge") from None
            net = gateway.network
            if addr not in net or addr in (gateway.ip, net.network_address, net.broadcast_address):
                raise ConfigError(p, f"hosts[{i}].address", f"{addr} is not a free address in {gateway.network}",
                                  "lab hosts live on the lab bridge's subnet")
    if network.join == "vxlan":  # the VXLAN device, its flood entries and its filter take addresses, never names
        for i, h in enumerate(hosts):
            if h.vxlan_address is None and not _is_ipv4(h.address):
                raise ConfigError(p, f"hosts[{i}].address", f"{h.address!r} is a host name, and network.join: vxlan "
                                  "needs each host's IPv4 address on the underlay",
                                  "give the host a vxlan_address, the IPv4 address the other hosts reach it at, or "
                                  "write address as an IPv4 address")
    known_hosts = top.file_path("known_hosts")
    if known_hosts is not None and not known_hosts.startswith("/"):
        known_hosts = str((path.parent / known_hosts).resolve())  # relative to hosts.yaml
    return Inventory(path=p, hosts=tuple(hosts), network=network, lab=lab, known_hosts=known_hosts)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _network(r: _Reader) -> Network:
    r.unknown({"subnet", "dhcp_range", "domain", "bridge", "mtu", "gateway", "join", "vxlan_id",
               "vxlan_port", "vxlan_device", "uplink", "upstream_dns", "lease_time"})
    raw_subnet = r.get("subnet", str, required=True)
    try:
        subnet = ipaddress.IPv4Network(raw_subnet)
    except ValueError:
        try:
            fixed = ipaddress.IPv4Network(raw_subnet, strict=False)
        except ValueError:
            raise r.fail("subnet", f"{raw_subnet!r} is not a network", "e.g. 10.100.0.0/24") from None
        raise r.fail("subnet", f"{raw_subnet!r} has host bits set", f"write the network's address: {fixed}") from None
    rng = r.get("dhcp_range", str, required=True)
    parts = [s.strip(" ") for s in rng.split("-")]
    try:
        if not DHCP_RANGE_RE.fullmatch(rng):
            raise ValueError(rng)
        start, end = (ipaddress.IPv4Address(s) for s in parts)
    except ValueError:
        raise r.fail("dhcp_range", f"{rng!r} is not 'FIRST-LAST'", "e.g. 10.100.0.100-10.100.0.199") from None
    if start not in subnet or end not in subnet or start > end:
        raise r.fail("dhcp_range", f"{rng} is not an ascending range inside {subnet}",
                     "write FIRST-LAST with FIRST <= LAST, both in network.subnet")
    gateway = r.ip("gateway", None)
    if gateway is not None and gateway not in subnet:
        raise r.fail("gateway", f"{gateway} is outside {subnet}", "use an address in network.subnet, or leave it out")
    if gateway is not None and gateway in (subnet.network_address, subnet.broadcast_address):
        raise r.fail("gateway", f"{gateway} is {subnet}'s {'network' if gateway == subnet[0] else 'broadcast'} "
                     "address, which no router has", "use the router's own address, or leave it out")
    if gateway is not None and start <= gateway <= end:
        raise r.fail("gateway", f"{gateway} is inside dhcp_range {rng}, so dnsmasq could lease it to a container",
                     "use an address outside the range, or shrink the range")
    join = r.get("join", str, "vxlan")
    if join not in JOIN_MODES:
        raise r.fail("join", f"{join!r} is not a join mode", f"use one of {', '.join(JOIN_MODES)}")
    uplink = r.ifname("uplink", None)
    if join == "uplink" and not uplink:
        raise r.fail("uplink", "missing", "join: uplink needs the interface name to enslave")
    domain = r.get("domain", str, required=True)
    problem = dns_name_problem(domain)
    if problem:
        raise r.fail("domain", f"not a DNS domain: {problem}",
                     "use lowercase RFC 1123 labels (a-z, 0-9, '-' inside) joined by '.', 253 characters at most")
    mtu = r.get("mtu", int, 1450)
    if not 576 <= mtu <= 9000:
        raise r.fail("mtu", f"{mtu} is out of range", "use 576-9000 (1450 leaves room for VXLAN)")
    upstream: list[str] = []
    for i, s in enumerate(r.get("upstream_dns", list, [])):
        try:
            if not isinstance(s, str):
                raise ValueError(s)
            upstream.append(str(ipaddress.IPv4Address(s)))
        except ValueError:
            raise r.fail(f"upstream_dns[{i}]", f"{s!r} is not an IPv4 address",
                         "list the servers' addresses, e.g. [192.0.2.53]") from None
    vxlan_id = r.get("vxlan_id", int, 4242)
    if not 0 <= vxlan_id < 2**24:
        raise r.fail("vxlan_id", f"{vxlan_id} is not a VXLAN network id", "use 0-16777215 (24 bits)")
    vxlan_port = r.get("vxlan_port", int, 4789)
    if not 0 < vxlan_port < 65536:
        raise r.fail("vxlan_port", f"{vxlan_port} is not a UDP port", "use 1-65535 (4789 is VXLAN's)")
    lease_time = str(r.get("lease_time", (str, int), "12h"))
    lease = LEASE_RE.fullmatch(lease_time)
    if not lease:
        raise r.fail("lease_time", f"{lease_time!r} is not a dnsmasq lease time",
                     "write a number with an optional unit s, m, h, d or w (e.g. 12h), or infinite")
    if lease["n"] is not None and not 0 < int(lease["n"]) * LEASE_UNITS[lease["unit"]] <= LEASE_MAX:
        raise r.fail("lease_time", f"{lease_time!r} is out of range",
                     f"use 1 second to {LEASE_MAX} seconds, or infinite")
    bridge = r.ifname("bridge", "dsbr0") or "dsbr0"
    vxlan_device = r.ifname("vxlan_device", "dsvx0") or "dsvx0"
    if vxlan_device == bridge or uplink == bridge:
        key = "vxlan_device" if vxlan_device == bridge else "uplink"
        raise r.fail(key, f"{bridge!r} is also network.bridge: a device cannot be enslaved to itself",
                     "give the bridge and the device different names")
    return Network(subnet=subnet, dhcp_start=start, dhcp_end=end, domain=domain,
                   bridge=bridge, mtu=mtu, gateway=gateway, join=join,
                   vxlan_id=vxlan_id, vxlan_port=vxlan_port,
                   vxlan_device=vxlan_device, uplink=uplink,
                   upstream_dns=tuple(upstream), lease_time=lease_time)
