"""The config's model: frozen dataclasses for the hosts, the network, images, roles, containers and the stack,
and the pure facts derived from them (tiers, DHCP slices, a static IP's MAC). Nothing here reads a file."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from dockstack import masking
from dockstack.config.definition import ServiceDefinition
from dockstack.config.grammar import SECRET_KEY_RE
from dockstack.config.secrets import GeneratedSecrets
from dockstack.config.tls import StackTls
from dockstack.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]  # the checkout: dockstack/config/model.py is two folders down


DEFAULT_HOSTS_FILE = ROOT / "hosts.yaml"


DEFAULT_CONTAINERS_FILE = ROOT / "containers.yaml"


DEFAULT_MAX_SESSIONS = 8  # SSH channels at once per host: below OpenSSH's default MaxSessions (10)


VRRP_MAC_PREFIX = "00:00:5e:00:01:"  # RFC 5798's virtual router MAC: the VIP's address-book entry uses it


# Where a container finds its secrets: one file per secret (the value, no newline), readable by root only, on a
# read-only mount (Docker's own convention for secrets). A secret is never an env value: `docker inspect`, the
# container's /proc/1/environ and `docker exec NAME env` would show it to anyone who may run docker, or read a
# process's environment.
SECRETS_MOUNT = "/run/secrets"
FILE_SUFFIX = "_FILE"  # containers.yaml's secret env key K reaches the container as K_FILE=SECRETS_MOUNT/K


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


IMAGE_KINDS = ("container", "guest")  # images.TAG.kind
GUEST = "guest"  # the kind of a guest disk image
# a guest image's packages: one kernel package (a metapackage such as linux-image-cloud-amd64, or a versioned one)
# and busybox-static, nothing else (the initramfs takes nothing more)
GUEST_KERNEL_PREFIX, GUEST_BUSYBOX = "linux-image-", "busybox-static"


@dataclass(frozen=True)
class Image:
    """An image of the stack, shipped to the hosts without a registry: built by dockstack from Debian packages
    (suite, packages), or brought by the operator as a `docker save` archive (archive, archive_id)."""

    tag: str
    suite: str = "bookworm"
    packages: tuple[str, ...] = ()
    archive: str | None = None  # absolute path of the archive
    archive_id: str | None = None  # the ID of the archive's image for this tag (sha256 of its config)
    # packages the suite no longer has that `packages` still depend on (bookworm dropped q-text-as-data, which its
    # OpenStack packages' maintainer scripts name): an empty placeholder package stands in for each
    placeholders: tuple[str, ...] = ()
    # what the image is: a container image (shipped to the Docker hosts) or a guest disk (kind: guest) that nova
    # boots, made by guestimage.py from a kernel and busybox-static; never shipped to a host, no container runs it
    kind: str = "container"

    @property
    def is_guest(self) -> bool:
        return self.kind == GUEST


@dataclass(frozen=True)
class Balanced:
    """A service haproxy balances over a role's containers."""

    name: str
    port: int
    mode: str = "tcp"  # tcp | http


@dataclass(frozen=True)
class Vip:
    """A virtual IP that the keepalived of a haproxy role's containers hold, one container at a time (VRRP)."""

    ip: ipaddress.IPv4Address
    name: str  # its DNS name is NAME.DOMAIN, answered by dnsmasq
    router_id: int  # VRRP virtual router id, 1-255: unique on the segment
    password: str  # VRRP auth_pass: a secret (never printed, masked like secret env values)

    @property
    def mac(self) -> str:
        """The MAC of the VIP's address-book entry: the VRRP virtual router MAC of its router id, which no
        container uses (keepalived runs without use_vmac), so dnsmasq never leases the VIP to anyone."""
        return f"{VRRP_MAC_PREFIX}{self.router_id:02x}"


ALL, MAJORITY, ONE = "all", "majority", "one"  # a role's quorum, in words


@dataclass(frozen=True)
class Role:
    """A role: its place in the deploy order, its readiness check, puppet classes, balanced ports."""

    name: str
    depends_on: tuple[str, ...] = ()
    check: str | None = None  # run with `docker exec NAME sh -c CHECK` until it passes
    check_timeout: float = 60.0
    settle: float = 0.0  # seconds a failing check may be a blip its service's own supervisor heals (deploy-all waits)
    classes: tuple[str, ...] = ()
    # Hiera keys its agents look up (a class's parameters) and their values: each of its nodes' own hieradata
    hieradata: tuple[tuple[str, object], ...] = ()
    balance: tuple[Balanced, ...] = ()
    service: str | None = None  # a service dockstack runs and renders files for (services.registry)
    vip: Vip | None = None  # haproxy roles only: keepalived holds this address on one of the role's containers
    definition: ServiceDefinition | None = field(default=None, compare=False, repr=False)  # its service's
    serial: int = 1  # running containers a planned change takes down at once (a rolling change)
    quorum: str = "all"  # all | majority | one | N: how many passing containers make the role available

    def quorum_of(self, members: int) -> int:
        """How many of its `members` containers must pass for the role to serve."""
        if self.quorum == ALL:
            return members
        if self.quorum == MAJORITY:
            return members // 2 + 1
        if self.quorum == ONE:
            return min(1, members)
        return min(int(self.quorum), members)


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
    # what `docker run` gets as env: containers.yaml's plain values, and K_FILE (the file's path) for each of its
    # secret keys K, whose value is one of `secrets`
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    service: str | None = None  # its role's service (copied here so actions need no lookup)
    vip: Vip | None = None  # its role's virtual IP (copied likewise): this container runs keepalived
    definition: ServiceDefinition | None = field(default=None, compare=False, repr=False)  # its role's service's
    # (file name, value) of each secret it gets as a file of SECRETS_MOUNT: its service's generated passwords (or
    # containers.yaml's env value of the same name), then containers.yaml's other secret env values
    secrets: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    # (secrets file key, value) of each password it gets from the secrets file (`secrets` holds them too): what its
    # label fingerprints (secretcheck), so a later command sees when the file no longer holds them
    generated: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    @property
    def provides_addresses(self) -> bool:
        """Whether it serves DHCP and DNS to the others (and keeps a copy of the address book)."""
        return self.definition is not None and self.definition.provides_addresses


def is_secret(key: str, listed: Collection[str] = ()) -> bool:
    """Whether an env key's value is a secret: its name says so (SECRET_KEY_RE) or containers.yaml lists it
    under `secrets:`. The one place that decides it: config errors, masking and tests all ask here."""
    return key in listed or SECRET_KEY_RE.search(key) is not None


@dataclass(frozen=True)
class Stack:
    """The contents of containers.yaml."""

    path: str
    images: tuple[Image, ...]
    roles: tuple[Role, ...]
    containers: tuple[Container, ...] = field(default_factory=tuple)
    secrets: tuple[str, ...] = ()  # env keys listed as secret besides those SECRET_KEY_RE matches
    generated: GeneratedSecrets | None = field(default=None, compare=False, repr=False)  # the secrets file's
    tls: StackTls | None = field(default=None, compare=False, repr=False)  # CA and VIP certificate (haproxy's TLS)

    def is_secret(self, key: str) -> bool:
        return is_secret(key, self.secrets)

    @property
    def secret_values(self) -> frozenset[str]:
        """Every secret of every container (its secret files: the generated passwords and containers.yaml's secret
        env values), and every VRRP password: what output must never show."""
        return frozenset({v for c in self.containers for _, v in c.secrets}
                         | {r.vip.password for r in self.roles if r.vip})

    def mask(self, text: str) -> str:
        """text with every secret value replaced by masking.MASK."""
        return masking.mask(text, self.secret_values)

    def container(self, name: str) -> Container:
        for c in self.containers:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.containers)
        raise ConfigError(self.path, "containers", f"no container named {name!r}", f"known: {known}")

    def select(self, name: str) -> tuple[Container, ...]:
        """What `--name` means: that container, else every container of the role of that name (config
        order); a container's name wins over a role's."""
        for c in self.containers:
            if c.name == name:
                return (c,)
        if any(r.name == name for r in self.roles):
            members = self.of_role(name)
            if not members:
                raise ConfigError(self.path, "containers", f"role {name!r} has no containers",
                                  f"add containers with role: {name}")
            return members
        raise ConfigError(self.path, "containers", f"no container or role named {name!r}",
                          f"containers: {', '.join(c.name for c in self.containers)}; "
                          f"roles: {', '.join(r.name for r in self.roles)}")

    def vips(self) -> tuple[tuple[Role, Vip], ...]:
        """The virtual IPs of the stack, with the role whose containers hold each."""
        return tuple((r, r.vip) for r in self.roles if r.vip)

    def address_providers(self) -> tuple[Container, ...]:
        """The containers that serve DHCP and DNS to the others (dnsmasq's), in config order."""
        return tuple(c for c in self.containers if c.provides_addresses)

    def catalog_provider(self) -> Container | None:
        """The server the agents ask for their catalog (the Puppet server): the first container of the one role
        whose service provides it."""
        return next((c for c in self.containers if c.definition and c.definition.provides_catalog), None)

    def asks_catalog(self, c: Container) -> bool:
        """Whether c's role has Puppet classes, so its agent asks the catalog provider and applies them when c comes
        up."""
        return bool(self.role(c.role).classes)

    def image(self, tag: str) -> Image | None:
        return next((i for i in self.images if i.tag == tag), None)

    def role(self, name: str) -> Role:
        for r in self.roles:
            if r.name == name:
                return r
        raise ConfigError(self.path, "roles", f"no role named {name!r}", "declare it under roles:")

    def of_role(self, role: str) -> tuple[Container, ...]:
        return tuple(c for c in self.containers if c.role == role)


def static_mac_for(ip: ipaddress.IPv4Address) -> str:
    """A stable locally-administered MAC for a container with a static IP but no static MAC."""
    return "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)


def effective_mac(c: Container) -> str | None:
    """The MAC a container starts with when the config fixes it (given, or derived from a static IP)."""
    return c.mac or (static_mac_for(c.ip) if c.ip is not None else None)


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
