"""Configuration models (frozen dataclasses) and their validation.

Every problem is reported as a ConfigError naming the file, the key, what is wrong
and how to fix it, before anything touches a host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockstack.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOSTS_FILE = ROOT / "hosts.yaml"
DEFAULT_CONTAINERS_FILE = ROOT / "containers.yaml"

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
JOIN_MODES = ("vxlan", "uplink", "none")
SERVICES = ("dnsmasq", "haproxy", "puppet")  # what dockstack runs and feeds with files, declared per role
DEFAULT_MAX_SESSIONS = 8  # SSH channels at once per host: below OpenSSH's default MaxSessions (10)


@dataclass(frozen=True)
class Host:
    """A Docker host reached over SSH."""

    name: str
    address: str
    user: str = "root"
    port: int = 22
    key: str | None = None
    sudo: bool = False
    vxlan_address: str | None = None  # underlay address peers use; defaults to address
    max_sessions: int = DEFAULT_MAX_SESSIONS  # concurrent SSH channels on the one connection

    @property
    def underlay(self) -> str:
        return self.vxlan_address or self.address


@dataclass(frozen=True)
class Network:
    """The container network: one L2 segment spanning all hosts."""

    subnet: ipaddress.IPv4Network
    dhcp_start: ipaddress.IPv4Address
    dhcp_end: ipaddress.IPv4Address
    domain: str
    bridge: str = "dsbr0"
    mtu: int = 1450
    gateway: ipaddress.IPv4Address | None = None
    join: str = "vxlan"
    vxlan_id: int = 4242
    vxlan_port: int = 4789
    vxlan_device: str = "dsvx0"
    uplink: str | None = None
    upstream_dns: tuple[str, ...] = ()
    lease_time: str = "12h"


@dataclass(frozen=True)
class LabSpec:
    """Present when hosts.yaml describes the built-in lab (namespaces on this machine)."""

    bridge: str
    gateway: ipaddress.IPv4Interface
    prefix: str = "dsl"
    state_dir: str = "/var/lib/dockstack-lab"


@dataclass(frozen=True)
class Inventory:
    """The contents of hosts.yaml."""

    path: str
    hosts: tuple[Host, ...]
    network: Network
    lab: LabSpec | None = None
    known_hosts: str | None = None  # this inventory's known_hosts file, read besides ~/.ssh/known_hosts

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise ConfigError(self.path, "hosts", f"no host named {name!r}", "add it to hosts.yaml")


@dataclass(frozen=True)
class Image:
    """An image dockstack builds from Debian packages (no registry needed)."""

    tag: str
    suite: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Balanced:
    """A service haproxy balances over a role's containers."""

    name: str
    port: int
    mode: str = "tcp"  # tcp | http


@dataclass(frozen=True)
class Role:
    """A role: its place in the deploy order, its readiness check, puppet classes, balanced ports."""

    name: str
    depends_on: tuple[str, ...] = ()
    check: str | None = None  # run with `docker exec NAME sh -c CHECK` until it passes
    check_timeout: float = 60.0
    classes: tuple[str, ...] = ()
    balance: tuple[Balanced, ...] = ()
    service: str | None = None  # one of SERVICES: dockstack runs it and renders its files


@dataclass(frozen=True)
class Container:
    """One application container as the operator wants it."""

    name: str
    role: str
    host: str
    image: str
    mac: str | None = None
    ip: ipaddress.IPv4Address | None = None
    volumes: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    service: str | None = None  # its role's service (copied here so actions need no lookup)

    @property
    def is_dnsmasq(self) -> bool:
        return self.service == "dnsmasq"


@dataclass(frozen=True)
class Stack:
    """The contents of containers.yaml."""

    path: str
    images: tuple[Image, ...]
    roles: tuple[Role, ...]
    containers: tuple[Container, ...] = field(default_factory=tuple)

    def container(self, name: str) -> Container:
        for c in self.containers:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.containers)
        raise ConfigError(self.path, "containers", f"no container named {name!r}", f"known: {known}")

    def dnsmasq_containers(self) -> tuple[Container, ...]:
        return tuple(c for c in self.containers if c.is_dnsmasq)

    def image(self, tag: str) -> Image | None:
        return next((i for i in self.images if i.tag == tag), None)

    def role(self, name: str) -> Role:
        for r in self.roles:
            if r.name == name:
                return r
        raise ConfigError(self.path, "roles", f"no role named {name!r}", "declare it under roles:")

    def of_role(self, role: str) -> tuple[Container, ...]:
        return tuple(c for c in self.containers if c.role == role)


# --- reading helpers ---------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    if not path.exists():
        raise ConfigError(str(path), "(file)", "file not found", "create it or pass the right path")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise ConfigError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                          "fix the YAML syntax") from None


class _Reader:
    """Typed access to one mapping of a YAML file, with errors naming file and key."""

    def __init__(self, path: str, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, where, f"must be a mapping, got {type(data).__name__}")
        self.path, self.where, self.data = path, where, data

    def key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def fail(self, k: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(self.path, self.key(k), problem, fix)

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise self.fail(extra[0], "unknown key", f"allowed keys: {', '.join(sorted(allowed))}")

    def get(self, k: str, kind: type | tuple[type, ...], default: Any = ..., required: bool = False) -> Any:
        if k not in self.data or self.data[k] is None:
            if required or default is ...:
                raise self.fail(k, "missing", "add this key")
            return default
        v = self.data[k]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(v, bool) and bool not in kinds:  # YAML's true/false are ints to Python
            raise self.fail(k, f"must be {'an integer' if kinds == (int,) else 'a number'}, got {v!r}")
        if not isinstance(v, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(t.__name__ for t in kind)
            raise self.fail(k, f"must be {names}, got {v!r}")
        return v

    def name(self, k: str) -> str:
        v = str(self.get(k, (str, int)))
        if not NAME_RE.match(v):
            raise self.fail(k, f"{v!r} is not a valid name", "use lowercase letters, digits and '-'")
        return v

    def ifname(self, k: str, default: str | None) -> str | None:
        v = self.get(k, str, default)
        if v is not None and not IFNAME_RE.match(v):
            raise self.fail(k, f"{v!r} is not a valid interface name", "1-15 chars of [A-Za-z0-9_.-]")
        return v

    def ip(self, k: str, default: Any = ...) -> ipaddress.IPv4Address | None:
        v = self.get(k, str, default)
        if v is None:
            return None
        try:
            return ipaddress.IPv4Address(v)
        except ValueError:
            raise self.fail(k, f"{v!r} is not an IPv4 address", "write it like 10.100.0.5") from None

    def items(self, k: str) -> list[Any]:
        v = self.get(k, list, [])
        return v


# --- hosts.yaml ----------------------------------------------------------------------


def load_inventory(path: Path | str = DEFAULT_HOSTS_FILE) -> Inventory:
    path = Path(path)
    p = str(path)
    top = _Reader(p, "", _load_yaml(path))
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
        port = r.get("port", int, 22)
        if not 0 < port < 65536:
            raise r.fail("port", f"{port} is not a TCP port", "use 1-65535")
        vx = r.ip("vxlan_address", None)
        sessions = r.get("max_sessions", int, DEFAULT_MAX_SESSIONS)
        if not 1 <= sessions <= 64:
            raise r.fail("max_sessions", f"{sessions} is out of range",
                         "use 1-64, below the host sshd's MaxSessions (OpenSSH's default is 10)")
        hosts.append(Host(name=name, address=address, user=r.get("user", str, "root"), port=port,
                          key=r.get("key", str, None), sudo=r.get("sudo", bool, False),
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
        lab = LabSpec(bridge=lr.ifname("bridge", "dslab0") or "dslab0", gateway=gateway,
                      prefix=lr.get("prefix", str, "dsl"),
                      state_dir=lr.get("state_dir", str, "/var/lib/dockstack-lab"))
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
    known_hosts = top.get("known_hosts", str, None)
    if known_hosts is not None and not known_hosts.startswith("/"):
        known_hosts = str((path.parent / known_hosts).resolve())  # relative to hosts.yaml
    return Inventory(path=p, hosts=tuple(hosts), network=network, lab=lab, known_hosts=known_hosts)


def _network(r: _Reader) -> Network:
    r.unknown({"subnet", "dhcp_range", "domain", "bridge", "mtu", "gateway", "join", "vxlan_id",
               "vxlan_port", "vxlan_device", "uplink", "upstream_dns", "lease_time"})
    raw_subnet = r.get("subnet", str, required=True)
    try:
        subnet = ipaddress.IPv4Network(raw_subnet)
    except ValueError:
        raise r.fail("subnet", f"{raw_subnet!r} is not a network", "e.g. 10.100.0.0/24") from None
    rng = r.get("dhcp_range", str, required=True)
    parts = [s.strip() for s in rng.split("-")]
    try:
        start, end = (ipaddress.IPv4Address(s) for s in parts)
    except ValueError:
        raise r.fail("dhcp_range", f"{rng!r} is not 'FIRST-LAST'", "e.g. 10.100.0.100-10.100.0.199") from None
    if start not in subnet or end not in subnet or start > end:
        raise r.fail("dhcp_range", f"{rng} is not an ascending range inside {subnet}")
    gateway = r.ip("gateway", None)
    if gateway is not None and gateway not in subnet:
        raise r.fail("gateway", f"{gateway} is outside {subnet}")
    join = r.get("join", str, "vxlan")
    if join not in JOIN_MODES:
        raise r.fail("join", f"{join!r} is not a join mode", f"use one of {', '.join(JOIN_MODES)}")
    uplink = r.ifname("uplink", None)
    if join == "uplink" and not uplink:
        raise r.fail("uplink", "missing", "join: uplink needs the interface name to enslave")
    domain = r.get("domain", str, required=True)
    if not re.match(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", domain):
        raise r.fail("domain", f"{domain!r} is not a DNS domain")
    mtu = r.get("mtu", int, 1450)
    if not 576 <= mtu <= 9000:
        raise r.fail("mtu", f"{mtu} is out of range", "use 576-9000 (1450 leaves room for VXLAN)")
    upstream = r.get("upstream_dns", list, [])
    for i, s in enumerate(upstream):
        try:
            ipaddress.IPv4Address(s)
        except ValueError:
            raise r.fail(f"upstream_dns[{i}]", f"{s!r} is not an IPv4 address") from None
    return Network(subnet=subnet, dhcp_start=start, dhcp_end=end, domain=domain,
                   bridge=r.ifname("bridge", "dsbr0") or "dsbr0", mtu=mtu, gateway=gateway, join=join,
                   vxlan_id=r.get("vxlan_id", int, 4242), vxlan_port=r.get("vxlan_port", int, 4789),
                   vxlan_device=r.ifname("vxlan_device", "dsvx0") or "dsvx0", uplink=uplink,
                   upstream_dns=tuple(upstream), lease_time=str(r.get("lease_time", (str, int), "12h")))


# --- containers.yaml -----------------------------------------------------------------


def load_stack(inventory: Inventory, path: Path | str = DEFAULT_CONTAINERS_FILE) -> Stack:
    path = Path(path)
    p = str(path)
    top = _Reader(p, "", _load_yaml(path))
    top.unknown({"images", "roles", "containers"})
    images: list[Image] = []
    raw_images = top.get("images", dict, {})
    for tag, raw in raw_images.items():
        r = _Reader(p, f"images.{tag}", raw)
        r.unknown({"suite", "packages"})
        pkgs = r.get("packages", list, [])
        if not all(isinstance(x, str) and re.match(r"^[a-z0-9][a-z0-9+.-]+$", x) for x in pkgs):
            raise r.fail("packages", "must be a list of Debian package names")
        images.append(Image(tag=str(tag), suite=r.get("suite", str, "bookworm"), packages=tuple(pkgs)))
    roles: list[Role] = []
    for i, raw in enumerate(top.get("roles", list, required=True)):
        roles.append(_role(_Reader(p, f"roles[{i}]", raw if isinstance(raw, dict) else {"name": raw}), roles))
    ports: dict[int, str] = {}
    services: dict[str, str] = {}
    for i, role in enumerate(roles):
        for b in role.balance:
            if b.port in ports:
                raise ConfigError(p, f"roles[{i}].balance", f"port {b.port} is already balanced for {ports[b.port]}",
                                  "haproxy binds one frontend per port")
            if b.name in services:
                raise ConfigError(p, f"roles[{i}].balance", f"service name {b.name!r} is already used by "
                                  f"{services[b.name]}", "haproxy needs unique frontend and backend names")
            ports[b.port], services[b.name] = role.name, role.name
    role_names = {x.name for x in roles}
    host_names = {h.name for h in inventory.hosts}
    net = inventory.network
    containers: list[Container] = []
    for i, raw in enumerate(top.get("containers", list, required=True)):
        r = _Reader(p, f"containers[{i}]", raw)
        r.unknown({"name", "role", "host", "image", "mac", "ip", "volumes", "env", "command"})
        name = r.name("name")
        if any(c.name == name for c in containers):
            raise r.fail("name", f"duplicate container name {name!r}", "container names must be unique")
        role = r.get("role", str, required=True)
        if role not in role_names:
            raise r.fail("role", f"unknown role {role!r}", f"declare it under roles: ({', '.join(role_names)})")
        host = r.get("host", str, required=True)
        if host not in host_names:
            raise r.fail("host", f"unknown host {host!r}",
                         f"hosts in {inventory.path}: {', '.join(sorted(host_names))}")
        image = r.get("image", str, required=True)
        mac = r.get("mac", str, None)
        if mac is not None:
            mac = mac.lower()
            if not MAC_RE.match(mac) or int(mac[:2], 16) & 1:
                raise r.fail("mac", f"{mac!r} is not a unicast MAC address",
                              "write six hex pairs, e.g. 02:00:0a:64:00:0a")
        ip = r.ip("ip", None)
        if ip is not None:
            if ip not in net.subnet or ip in (net.subnet.network_address, net.subnet.broadcast_address):
                raise r.fail("ip", f"{ip} is outside the container subnet {net.subnet}",
                              f"pick a host address in {net.subnet} ({inventory.path}: network.subnet)")
            if net.gateway is not None and ip == net.gateway:
                raise r.fail("ip", f"{ip} is the network gateway", "pick another address")
        service = next(x.service for x in roles if x.name == role)
        if service == "dnsmasq" and (mac is None or ip is None):
            raise r.fail("ip" if ip is None else "mac", "a dnsmasq container needs a static mac and ip",
                         "set both: every other container gets its address from it")
        volumes = r.get("volumes", list, [])
        if not all(isinstance(v, str) and ":" in v for v in volumes):
            raise r.fail("volumes", "must be a list of 'SOURCE:TARGET[:MODE]' strings")
        env = r.get("env", dict, {})
        command = r.get("command", (list, str), [])
        command = [command] if isinstance(command, str) else command
        if not all(isinstance(x, (str, int)) for x in command):
            raise r.fail("command", "must be a string or a list of strings")
        containers.append(Container(name=name, role=role, host=host, image=image, mac=mac, ip=ip,
                                    volumes=tuple(volumes),
                                    env=tuple((str(k), str(v)) for k, v in env.items()),
                                    command=tuple(str(x) for x in command), service=service))
    _check_collisions(p, containers)
    dnsmasqs = [c for c in containers if c.is_dnsmasq]
    if len(dnsmasqs) > int(net.dhcp_end) - int(net.dhcp_start) + 1:
        raise ConfigError(inventory.path, "network.dhcp_range", f"too small to give each of the {len(dnsmasqs)} "
                          "dnsmasq containers its own slice", "widen the range or use fewer dnsmasq containers")
    return Stack(path=p, images=tuple(images), roles=tuple(roles), containers=tuple(containers))


def static_mac_for(ip: ipaddress.IPv4Address) -> str:
    """A stable locally-administered MAC for a container with a static IP but no static MAC."""
    return "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)


def effective_mac(c: Container) -> str | None:
    """The MAC a container starts with when the config fixes it (given, or derived from a static IP)."""
    return c.mac or (static_mac_for(c.ip) if c.ip is not None else None)


def _role(r: _Reader, earlier: list[Role]) -> Role:
    r.unknown({"name", "depends_on", "check", "check_timeout", "classes", "balance", "service"})
    name = r.name("name")
    if any(x.name == name for x in earlier):
        raise r.fail("name", f"duplicate role {name!r}")
    default = [earlier[-1].name] if earlier else []
    deps = r.get("depends_on", list, default)
    known = [x.name for x in earlier]
    for j, d in enumerate(deps):
        if d not in known:
            raise r.fail(f"depends_on[{j}]", f"{d!r} is not a role listed before {name!r}",
                         "roles are listed in deploy order; a role can only depend on earlier ones")
    timeout = r.get("check_timeout", (int, float), 60)
    if timeout <= 0:
        raise r.fail("check_timeout", f"{timeout} is not a positive number of seconds")
    classes = r.get("classes", list, [])
    if not all(isinstance(c, str) and re.match(r"^[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)*$", c) for c in classes):
        raise r.fail("classes", "must be a list of puppet class names", "e.g. profile::galera")
    balance = []
    for j, raw in enumerate(r.get("balance", list, [])):
        b = _Reader(r.path, f"{r.where}.balance[{j}]", raw)
        b.unknown({"name", "port", "mode"})
        port = b.get("port", int, required=True)
        if not 0 < port < 65536:
            raise b.fail("port", f"{port} is not a TCP port", "use 1-65535")
        mode = b.get("mode", str, "tcp")
        if mode not in ("tcp", "http"):
            raise b.fail("mode", f"{mode!r} is not tcp or http")
        balance.append(Balanced(name=b.name("name"), port=port, mode=mode))
    ports = [x.port for x in balance]
    if len(ports) != len(set(ports)):
        raise r.fail("balance", "two services on the same port")
    check = r.get("check", str, None)
    service = r.get("service", str, None)
    if service is not None and service not in SERVICES:
        raise r.fail("service", f"{service!r} is not a service dockstack runs",
                     f"use one of {', '.join(SERVICES)}, or leave it out for your own image's command")
    return Role(name=name, depends_on=tuple(deps), check=check, check_timeout=float(timeout),
                classes=tuple(classes), balance=tuple(balance), service=service)


def dhcp_slice(network: Network, index: int, count: int) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """The part of dhcp_range that dnsmasq number `index` of `count` leases from: contiguous, disjoint slices,
    so two dnsmasq containers on one segment never offer the same new address."""
    first, last = int(network.dhcp_start), int(network.dhcp_end)
    size = (last - first + 1) // count
    start = first + index * size
    end = last if index == count - 1 else start + size - 1
    return ipaddress.IPv4Address(start), ipaddress.IPv4Address(end)


def tiers(stack: Stack) -> list[list[Role]]:
    """Roles grouped for deployment: a role goes one tier after the latest role it depends on."""
    level: dict[str, int] = {}
    for role in stack.roles:
        level[role.name] = 1 + max((level[d] for d in role.depends_on), default=-1)
    out: list[list[Role]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for role in stack.roles:
        out[level[role.name]].append(role)
    return out


def _check_collisions(path: str, containers: list[Container]) -> None:
    seen_ip: dict[ipaddress.IPv4Address, str] = {}
    seen_mac: dict[str, str] = {}
    for i, c in enumerate(containers):
        if c.ip is not None:
            if c.ip in seen_ip:
                raise ConfigError(path, f"containers[{i}].ip", f"{c.ip} is already the address of {seen_ip[c.ip]}",
                                  "every container needs its own address")
            seen_ip[c.ip] = c.name
    for i, c in enumerate(containers):
        mac = effective_mac(c)
        if mac is not None:
            if mac in seen_mac:
                derived = "" if c.mac else f" (derived from its static ip {c.ip})"
                raise ConfigError(path, f"containers[{i}].{'mac' if c.mac else 'ip'}",
                                  f"{mac}{derived} is already the MAC of {seen_mac[mac]}",
                                  "every container needs its own MAC")
            seen_mac[mac] = c.name
