"""Configuration models (frozen dataclasses) and their validation.

Every problem is reported as a ConfigError naming the file, the key, what is wrong
and how to fix it, before anything touches a host.
"""

from __future__ import annotations

import ipaddress
import math
import os.path
import re
import secrets as secrets_module
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockstack import imagearchive, masking, yamlfile
from dockstack.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOSTS_FILE = ROOT / "hosts.yaml"
DEFAULT_CONTAINERS_FILE = ROOT / "containers.yaml"

# --- whole-string patterns ---------------------------------------------------------------
# Every value of hosts.yaml/containers.yaml that reaches a file, a command line or a template is checked here,
# always with re.fullmatch (re.match(...$) is not enough: `$` also matches before a trailing newline, which would
# let "12h\ndhcp-script=/bin/sh" through into dnsmasq.conf).

# Names of containers, roles, hosts and balanced services. A container name is a Docker container name
# ([a-zA-Z0-9][a-zA-Z0-9_.-]*), the container's hostname and DNS name (RFC 1123 label: 1-63 of [a-z0-9-], not
# starting or ending with '-'), a dnsmasq dhcp-host name, a file name on the hosts and the input of the veth-name
# hash; role and host names go into the same kinds of places (hieradata keys, docker labels, haproxy names, lab
# namespace names). So all of them are lowercase RFC 1123 labels, kept at 32 characters (stricter than 63: room
# for NAME.DOMAIN and the lab's PREFIX-NAME interface names).
NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
# One label of network.domain: RFC 1123 (1-63 of [a-z0-9-], no '-' at either end), lowercase like the names.
DOMAIN_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# One label of a host name in hosts[].address: RFC 1123, either case (DNS is case-insensitive).
HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
DNS_NAME_MAX = 253  # RFC 1035: a name is at most 255 octets on the wire, 253 characters written out
MAC_RE = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")  # after lower()
# Linux interface names (dev_valid_name): 1-15 bytes (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or
# whitespace. This is a subset that also never starts with '-' or '.', so a name is never taken for an option of
# `ip`/`iptables`.
IFNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
# hosts[].user: a POSIX user name as shadow-utils' useradd accepts by default (NAME_REGEX without the trailing '$'
# of machine accounts): at most 32 characters, never starting with '-' (it is an ssh argument).
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# hosts[].key, known_hosts, lab.state_dir: the POSIX portable filename character set plus '/', not starting with
# '-' (they become arguments of ssh tools, `rm`, sshd_config lines) and written unquoted into the lab's hosts.yaml
# (templates/lab/hosts.yaml.j2), where a space, ':' or '#' would change the YAML. At most PATH_MAX - 1 characters.
PATH_RE = re.compile(r"[A-Za-z0-9._/][A-Za-z0-9._/-]{0,4094}")
# lab.prefix: starts the lab's namespace, veth, bridge (PREFIX-lan), cgroup and mount names; lowercase letters and
# digits only, so PREFIX-NAME splits back at the first '-', and at most 11 so PREFIX-lan fits in 15 characters.
PREFIX_RE = re.compile(r"[a-z0-9]{1,11}")
# network.lease_time as dnsmasq's dhcp-range reads it: a number of seconds with an optional s/m/h/d/w unit, or
# "infinite".
LEASE_RE = re.compile(r"(?P<n>[0-9]{1,10})(?P<unit>[smhdw]?)|infinite")
LEASE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LEASE_MAX = 2**31 - 1  # dnsmasq keeps the lease time in a signed int of seconds
DHCP_RANGE_RE = re.compile(r"[0-9.]+ *- *[0-9.]+")
# Image references, Docker's grammar (distribution/reference): [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST], PATH lowercase
# components joined by '/', a component alphanumerics joined by '.', '_', '__' or '-'s; a TAG [\w][\w.-]{0,127};
# the whole NAME at most 255 characters. Never starts with '-', so it is never taken for a `docker run` flag.
_DOMAIN_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_NAME = (rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?/)?"
               rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_IMAGE_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,128}"
IMAGE_RE = re.compile(rf"(?P<name>{_IMAGE_NAME})(?::{_IMAGE_TAG})?(?:@{_IMAGE_DIGEST})?")  # containers[].image
IMAGE_TAG_RE = re.compile(rf"(?P<name>{_IMAGE_NAME})(?::{_IMAGE_TAG})?")  # images.TAG: dockstack tags what it builds
IMAGE_NAME_MAX = 255
# images.*.suite: a Debian (or derivative) suite or codename as debootstrap and the archive's dists/ name them
# (bookworm, stable, sid, bookworm-backports): lowercase words of letters and digits joined by '-'.
SUITE_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
SUITE_MAX = 64
# images.*.packages: Debian Policy 5.6.1: lowercase letters, digits, '+', '-', '.'; at least two characters,
# starting with a letter or digit.
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
# roles[].classes: Puppet class names: segments [a-z][a-z0-9_]* joined by '::'.
PUPPET_CLASS_RE = re.compile(r"[a-z][a-z0-9_]*(?:::[a-z][a-z0-9_]*)*")
# roles[].vip.password: keepalived's VRRP auth_pass, written unquoted into keepalived.conf, where whitespace, '#',
# '!', quotes, '$' (keepalived expands $VARIABLES) and braces would change the file; keepalived uses 8 characters at
# most, and values shorter than masking.MIN_MASKED would not be masked in free text.
VRRP_PASSWORD_RE = re.compile(r"[A-Za-z0-9_.,:+=%@/-]{4,8}")
# containers[].env keys: POSIX shell variable names.
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# An env key whose value is a secret without being listed under `secrets:` (anywhere in the key, any case).
SECRET_KEY_RE = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
# containers[].volumes: SOURCE:TARGET[:MODE] for `docker run --volume`. SOURCE an absolute path or a Docker volume
# name (Docker's RestrictedNamePattern: [a-zA-Z0-9][a-zA-Z0-9_.-]+), TARGET absolute; no ':' inside a path (Docker
# splits on it); MODE comma-separated options from VOLUME_OPTIONS.
MOUNT_PATH_RE = re.compile(r"/[^:\x00-\x1f\x7f-\x9f]*")
VOLUME_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
VOLUME_OPTIONS = ("ro", "rw", "z", "Z")
# Free text that is passed as one argument (roles[].check, env values, command elements): one line, so no newline,
# NUL or other control character (a tab is fine); Unicode line and paragraph separators count as newlines.
LINE_RE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]*")
_NEWLINES = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# lab.state_dir is deleted by `lab.down --purge`: never one of these, nor anything inside a pseudo filesystem.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found", "/media",
    "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr", "/usr/bin",
    "/usr/lib", "/usr/lib64", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/sbin",
    "/usr/share", "/usr/src", "/var", "/var/backups", "/var/cache", "/var/lib", "/var/lib/docker", "/var/local",
    "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run", "/var/spool", "/var/tmp"})
PSEUDO_FS_DIRS = ("/proc", "/sys", "/dev")

JOIN_MODES = ("vxlan", "uplink", "none")
CHECK_TIMEOUT_MAX = 86400  # a readiness check that may take longer than a day is a typo
HAPROXY_STATS_PORT = 8404  # haproxy's runtime API inside haproxy containers (127.0.0.1): no balanced service on it
DEFAULT_MAX_SESSIONS = 8  # SSH channels at once per host: below OpenSSH's default MaxSessions (10)
VRRP_MAC_PREFIX = "00:00:5e:00:01:"  # RFC 5798's virtual router MAC: the VIP's address-book entry uses it


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


@dataclass(frozen=True)
class ServiceTraits:
    """What reading the config must know of a service (`service:` of a role). Its definition under
    dockstack/services/ declares them; load_stack gets them from services.registry."""

    name: str
    serves_addresses: bool = False  # DHCP and DNS for the others: needs a static mac and ip, keeps the address book
    agents_ask: bool = False  # the Puppet server: one role of the stack at most
    holds_vip: bool = False  # its role may have a vip (its containers hold the virtual IP)
    generated_env: tuple[tuple[str, str], ...] = ()  # (secrets file key, env key): passwords dockstack makes
    check: str | None = None  # the readiness check of a role that gives none
    check_timeout: float = 60.0  # its bound, when the role gives none


@dataclass(frozen=True)
class Role:
    """A role: its place in the deploy order, its readiness check, puppet classes, balanced ports."""

    name: str
    depends_on: tuple[str, ...] = ()
    check: str | None = None  # run with `docker exec NAME sh -c CHECK` until it passes
    check_timeout: float = 60.0
    classes: tuple[str, ...] = ()
    balance: tuple[Balanced, ...] = ()
    service: str | None = None  # a service dockstack runs and renders files for (services.registry)
    vip: Vip | None = None  # haproxy roles only: keepalived holds this address on one of the role's containers
    traits: ServiceTraits | None = None  # its service's, when it has one


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
    vip: Vip | None = None  # its role's virtual IP (copied likewise): this container runs keepalived
    traits: ServiceTraits | None = field(default=None, compare=False, repr=False)  # its role's service's

    @property
    def is_dnsmasq(self) -> bool:
        """Whether it serves DHCP and DNS to the others (and keeps a copy of the address book)."""
        return self.traits is not None and self.traits.serves_addresses


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

    def is_secret(self, key: str) -> bool:
        return is_secret(key, self.secrets)

    @property
    def secret_values(self) -> frozenset[str]:
        """Every secret env value of every container, and every VRRP password: what output must never show."""
        return frozenset({v for c in self.containers for k, v in c.env if self.is_secret(k)}
                         | {r.vip.password for r in self.roles if r.vip})

    def mask(self, text: str) -> str:
        """text with every secret env value replaced by masking.MASK."""
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

    def dnsmasq_containers(self) -> tuple[Container, ...]:
        return tuple(c for c in self.containers if c.is_dnsmasq)

    def puppet_server(self) -> Container | None:
        """The Puppet server the agents ask: the first container of a role with service: puppet."""
        return next((c for c in self.containers if c.traits and c.traits.agents_ask), None)

    def runs_agent(self, c: Container) -> bool:
        """Whether c's role has Puppet classes, so the agent applies them when c comes up."""
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


# --- reading helpers ---------------------------------------------------------------


def line_problem(v: str, secret: bool = False) -> str | None:
    """Why v is not one line of text (a newline, NUL or other control character), None if it is; a secret
    value is not quoted in the answer."""
    if LINE_RE.fullmatch(v):
        return None
    shown = f"the secret value {masking.MASK}" if secret else repr(v)
    if "\x00" in v:
        return f"{shown} contains a NUL character"
    if any(c in _NEWLINES for c in v):
        return f"{shown} contains a newline"
    return f"{shown} contains a control character"


def dns_name_problem(v: str, label_re: re.Pattern[str] = DOMAIN_LABEL_RE) -> str | None:
    """Why v is not a DNS name of RFC 1123 labels joined by '.' (at most 253 characters), None if it is."""
    if len(v) > DNS_NAME_MAX:
        return f"{v!r} is longer than {DNS_NAME_MAX} characters"
    for label in v.split("."):
        if not label_re.fullmatch(label):
            if not label:
                why = "empty"
            elif len(label) > 63:
                why = "longer than 63 characters"
            elif label[0] == "-" or label[-1] == "-":
                why = "starts or ends with '-'"
            else:
                why = "has a character outside a-z, 0-9, '-'"
            return f"{v!r} has the label {label!r}, which is {why}"
    return None


def address_problem(v: str) -> str | None:
    """Why v is neither an IPv4 address nor a DNS host name, None if it is one."""
    if re.fullmatch(r"[0-9.]+", v):  # digits and dots only: an address (or a typo of one), never a name
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            return f"{v!r} is not an IPv4 address"
        return None
    if dns_name_problem(v, HOST_LABEL_RE) is not None:
        return f"{v!r} is not an IPv4 address or a DNS host name"
    return None


def state_dir_problem(v: str) -> tuple[str, str] | None:
    """(problem, fix) if v cannot be the lab's state directory, which `lab.down --purge` deletes."""
    fix = "use a directory of the lab's own, e.g. /var/lib/dockstack-lab"
    if not v.startswith("/"):
        return f"{v!r} is not an absolute path", fix
    if ".." in v.split("/"):
        return f"{v!r} contains '..'", fix
    if v.startswith("//") or os.path.normpath(v) != v:
        return f"{v!r} is not a normalized path", f"write it as {os.path.normpath('/' + v.lstrip('/'))}"
    if not PATH_RE.fullmatch(v):
        return f"{v!r} has characters other than letters, digits, '.', '_', '-' and '/'", fix
    if v in SYSTEM_DIRS or any(v.startswith(d + "/") for d in PSEUDO_FS_DIRS):
        return f"{v!r} is a system directory (`inv lab.down --purge` deletes the state directory)", fix
    return None


def volume_problem(v: str) -> str | None:
    """Why v is not a `docker run --volume` value SOURCE:TARGET[:MODE], None if it is."""
    if v.startswith("-"):
        return f"{v!r} starts with '-'"
    parts = v.split(":")
    if len(parts) not in (2, 3):
        return f"{v!r} is not 'SOURCE:TARGET[:MODE]'"
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else None
    if not (MOUNT_PATH_RE.fullmatch(source) or VOLUME_NAME_RE.fullmatch(source)):
        return f"{v!r}: SOURCE {source!r} is neither an absolute path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"
    if not MOUNT_PATH_RE.fullmatch(target) or target == "/":
        return f"{v!r}: TARGET {target!r} is not an absolute path other than /"
    if mode is not None:
        opts = mode.split(",")
        if (not all(o in VOLUME_OPTIONS for o in opts) or len(set(opts)) != len(opts)
                or {"ro", "rw"} <= set(opts) or {"z", "Z"} <= set(opts)):
            return f"{v!r}: MODE {mode!r} is not one of ro, rw, z, Z or a combination like ro,z"
    return None


_TYPE_WORDS = {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "a boolean", type(None): "nothing"}

_TYPE_FIXES = {(dict,): "write KEY: VALUE lines under it", (list,): "write `- item` lines under it, or [a, b]"}


def type_word(t: type) -> str:
    """How an operator calls a YAML value of Python type t."""
    return _TYPE_WORDS.get(t, t.__name__)


def type_words(kinds: tuple[type, ...]) -> str:
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(type_word(t) for t in kinds)


def short(text: str, limit: int = 200) -> str:
    """text, cut in the middle when longer than limit: an error quotes a value, never a whole file of it."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 60]}...({len(text)} characters)...{text[-40:]}"


class _Reader:
    """Typed access to one mapping of a YAML file, with errors naming file and key."""

    def __init__(self, path: str, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, where or "(file)", f"must be a mapping, got {type_word(type(data))}",
                              "write KEY: VALUE lines")
        self.path, self.where, self.data = path, where, data

    def key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def fail(self, k: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(self.path, self.key(k), problem, fix)

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed, key=str)
        if extra:
            raise self.fail(str(extra[0]), "unknown key", f"allowed keys: {', '.join(sorted(allowed))}")

    def get(self, k: str, kind: type | tuple[type, ...], default: Any = ..., required: bool = False,
            hide: bool = False) -> Any:
        """The value of k, of the given type; a string must be one line (no newline, NUL or control character).
        hide: the value may hold secrets, so an error names its type, never the value."""
        if k not in self.data or self.data[k] is None:
            if required or default is ...:
                raise self.fail(k, "missing", "add this key")
            return default
        v = self.data[k]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(v, bool) and bool not in kinds:  # YAML's true/false are ints to Python
            yes_no = "YAML reads unquoted yes/no/on/off/true/false as booleans"
            if str in kinds:
                raise self.fail(k, f"must be {type_words(kinds)}, got the boolean {str(v).lower()}",
                                f"quote the value ({yes_no})")
            raise self.fail(k, f"must be {type_words(kinds)}, got the boolean {str(v).lower()}",
                            f"write a number ({yes_no})")
        if not isinstance(v, kind):
            got = f"{type_word(type(v))}" if hide or isinstance(v, (dict, list)) else f"{short(repr(v))}"
            number = isinstance(v, (int, float))
            fix = ("quote it: in YAML a value that looks like a number is one" if str in kinds and number
                   else _TYPE_FIXES.get(kinds, f"write {type_words(kinds)} there"))
            raise self.fail(k, f"must be {type_words(kinds)}, got {got}", fix)
        if isinstance(v, str):
            self.line(k, v)
        return v

    def line(self, k: str, v: str) -> str:
        """v, if it is one line of text."""
        problem = line_problem(v)
        if problem:
            raise self.fail(k, problem, "write it on one line, without control characters")
        return v

    def name(self, k: str) -> str:
        """A host, role, container or service name: a lowercase RFC 1123 label of at most 32 characters."""
        v = str(self.get(k, (str, int)))
        if not NAME_RE.fullmatch(v):
            raise self.fail(k, f"{v!r} is not a valid name",
                            "use 1-32 lowercase letters, digits and '-', not starting or ending with '-'")
        return v

    def ifname(self, k: str, default: str | None) -> str | None:
        v = self.get(k, str, default)
        if v is not None and not IFNAME_RE.fullmatch(v):
            raise self.fail(k, f"{v!r} is not a valid interface name",
                            "1-15 chars of [A-Za-z0-9_.-], starting with a letter, digit or '_'")
        return v

    def file_path(self, k: str) -> str | None:
        """An optional file path (absolute or relative) that goes to ssh tools and the lab's hosts.yaml."""
        v = self.get(k, str, None)
        if v is not None and not PATH_RE.fullmatch(v):
            why = "starts with '-'" if v.startswith("-") else "is empty" if not v else (
                "has characters other than letters, digits, '.', '_', '-' and '/'")
            raise self.fail(k, f"{v!r} is not a usable file path: it {why}",
                            "use a path of letters, digits, '.', '_', '-' and '/' (e.g. /root/.ssh/id_ed25519)")
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
    known_hosts = top.file_path("known_hosts")
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


# --- containers.yaml -----------------------------------------------------------------


def load_stack(inventory: Inventory, path: Path | str = DEFAULT_CONTAINERS_FILE,
               services: Mapping[str, ServiceTraits] | None = None) -> Stack:
    """containers.yaml, checked against the hosts and the services dockstack runs (default: every definition in
    dockstack/services/, looked up here because those definitions import this module)."""
    if services is None:
        from dockstack.services.registry import TRAITS as services
    path = Path(path)
    p = str(path)
    top = _Reader(p, "", yamlfile.load(path))
    top.unknown({"images", "roles", "containers", "secrets"})
    listed = _secrets(top)
    images: list[Image] = []
    raw_images = top.get("images", dict, {})
    for tag, raw in raw_images.items():
        problem = line_problem(str(tag)) or image_problem(str(tag), IMAGE_TAG_RE)
        if problem:
            raise top.fail(f"images.{tag}", problem, "name it NAME:TAG, e.g. dockstack/base:bookworm")
        images.append(_image(_Reader(p, f"images.{tag}", raw), str(tag), path.parent))
    roles: list[Role] = []
    for i, raw in enumerate(top.get("roles", list, required=True)):
        roles.append(_role(_Reader(p, f"roles[{i}]", raw if isinstance(raw, dict) else {"name": raw}), roles,
                           inventory, services))
    ports: dict[int, str] = {}
    balanced: dict[str, str] = {}
    for i, role in enumerate(roles):
        for b in role.balance:
            if b.port in ports:
                raise ConfigError(p, f"roles[{i}].balance", f"port {b.port} is already balanced for {ports[b.port]}",
                                  "haproxy binds one frontend per port")
            if b.name in balanced:
                raise ConfigError(p, f"roles[{i}].balance", f"service name {b.name!r} is already used by "
                                  f"{balanced[b.name]}", "haproxy needs unique frontend and backend names")
            ports[b.port], balanced[b.name] = role.name, role.name
    role_names = {x.name for x in roles}
    host_names = {h.name for h in inventory.hosts}
    net = inventory.network
    containers: list[Container] = []
    generated: GeneratedSecrets | None = None
    for i, raw in enumerate(top.get("containers", list, required=True)):
        r = _Reader(p, f"containers[{i}]", raw)
        r.unknown({"name", "role", "host", "image", "mac", "ip", "volumes", "env", "command"})
        name = r.name("name")
        if any(c.name == name for c in containers):
            raise r.fail("name", f"duplicate container name {name!r}", "container names must be unique")
        if len(f"{name}.{net.domain}") > DNS_NAME_MAX:
            raise r.fail("name", f"{name}.{net.domain} is longer than {DNS_NAME_MAX} characters",
                         f"shorten the name or network.domain in {inventory.path}")
        role = r.name("role")
        if role not in role_names:
            raise r.fail("role", f"unknown role {role!r}", f"declare it under roles: ({', '.join(role_names)})")
        host = r.name("host")
        if host not in host_names:
            raise r.fail("host", f"unknown host {host!r}",
                         f"hosts in {inventory.path}: {', '.join(sorted(host_names))}")
        image = r.get("image", str, required=True)
        problem = image_problem(image, IMAGE_RE)
        if problem:
            raise r.fail("image", problem, "use an image reference like dockstack/base:bookworm")
        mac = r.get("mac", str, None)
        if mac is not None:
            mac = mac.lower()
            if not MAC_RE.fullmatch(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
                raise r.fail("mac", f"{mac!r} is not a unicast MAC address",
                              "write six hex pairs, e.g. 02:00:0a:64:00:0a")
        ip = r.ip("ip", None)
        if ip is not None:
            if ip not in net.subnet or ip in (net.subnet.network_address, net.subnet.broadcast_address):
                raise r.fail("ip", f"{ip} is outside the container subnet {net.subnet}",
                              f"pick a host address in {net.subnet} ({inventory.path}: network.subnet)")
            if net.gateway is not None and ip == net.gateway:
                raise r.fail("ip", f"{ip} is the network gateway", "pick another address")
        of_role = next(x for x in roles if x.name == role)
        traits = of_role.traits
        if traits and traits.serves_addresses and (mac is None or ip is None):
            raise r.fail("ip" if ip is None else "mac", f"a {traits.name} container needs a static mac and ip",
                         "set both: every other container gets its address from it")
        env = _env(r, listed)
        if traits and traits.generated_env:
            if generated is None:
                generated = generated_secrets(path, generated_keys(services.values()))
            env += tuple((k, v) for k, v in generated.env_for(traits) if k not in dict(env))
        containers.append(Container(name=name, role=role, host=host, image=image, mac=mac, ip=ip,
                                    volumes=_volumes(r), env=env, command=_command(r),
                                    service=of_role.service, vip=of_role.vip, traits=traits))
    _check_collisions(p, containers)
    _check_vips(p, roles, containers)
    env_keys = {k for c in containers for k, _ in c.env}
    for j, k in enumerate(listed):
        if k not in env_keys:
            raise top.fail(f"secrets[{j}]", f"{k!r} is not an env key of any container",
                           "list keys of containers[].env (a misspelt name would leave the real key's value "
                           "unmasked), or remove it")
    dnsmasqs = [c for c in containers if c.is_dnsmasq]
    if len(dnsmasqs) > int(net.dhcp_end) - int(net.dhcp_start) + 1:
        raise ConfigError(inventory.path, "network.dhcp_range", f"too small to give each of the {len(dnsmasqs)} "
                          "dnsmasq containers its own slice", "widen the range or use fewer dnsmasq containers")
    stack = Stack(path=p, images=tuple(images), roles=tuple(roles), containers=tuple(containers),
                  secrets=tuple(listed), generated=generated)
    _check_puppet(stack)
    return stack


def _check_puppet(stack: Stack) -> None:
    """A role with classes runs the Puppet agent: a Puppet server must exist and be up in an earlier tier."""
    level = {r.name: i for i, tier in enumerate(tiers(stack)) for r in tier}
    server = stack.puppet_server()
    for i, role in enumerate(stack.roles):
        if not role.classes or not stack.of_role(role.name):
            continue
        if server is None:
            raise ConfigError(stack.path, f"roles[{i}].classes", f"role {role.name!r} has Puppet classes but no "
                              "container runs a Puppet server", "add a role with service: puppet and a container "
                              "of it, or drop the classes")
        if level[role.name] <= level[server.role]:
            raise ConfigError(stack.path, f"roles[{i}].depends_on", f"role {role.name!r} runs the Puppet agent but "
                              f"deploys no later than the Puppet server's role {server.role!r}",
                              f"make it depend on {server.role!r} (or on a role deployed after it)")


def image_problem(v: str, pattern: re.Pattern[str]) -> str | None:
    """Why v is not an image reference (IMAGE_RE) or a tag dockstack builds (IMAGE_TAG_RE), None if it is."""
    if v.startswith("-"):
        return f"{v!r} starts with '-' (docker would take it for an option)"
    m = pattern.fullmatch(v) if len(v) <= 600 else None  # longer than any valid reference: no regex work
    if m is None and pattern is IMAGE_TAG_RE and IMAGE_RE.fullmatch(v):
        return f"{v!r} has a digest: images dockstack builds are named NAME[:TAG]"
    if m is None:
        return (f"{v!r} is not an image reference ([REGISTRY/]PATH[:TAG][@DIGEST], PATH of lowercase letters, "
                "digits and '.', '_', '-' separators, TAG of [A-Za-z0-9_.-] up to 128 characters)")
    if len(m["name"]) > IMAGE_NAME_MAX:
        return f"{v!r} has a name longer than {IMAGE_NAME_MAX} characters"
    return None


def _image(r: _Reader, tag: str, base: Path) -> Image:
    """images.TAG: a Debian recipe (suite, packages) dockstack builds, or an archive the operator brings."""
    r.unknown({"suite", "packages", "placeholders", "archive"})
    if "archive" in r.data:
        recipe = sorted(k for k in ("suite", "packages", "placeholders") if k in r.data)
        if recipe:
            raise r.fail(recipe[0], "an image is either built (suite, packages) or brought as an archive, not both",
                         "drop suite and packages to ship the archive, or archive to build from Debian packages")
        return _archive(r, tag, base)
    suite = r.get("suite", str, "bookworm")
    if not SUITE_RE.fullmatch(suite) or len(suite) > SUITE_MAX:
        raise r.fail("suite", f"{suite!r} is not a Debian suite or codename",
                     "e.g. bookworm, trixie, stable, bookworm-backports (lowercase words joined by '-')")
    lists = {}
    for key in ("packages", "placeholders"):
        lists[key] = r.get(key, list, [])
        for j, x in enumerate(lists[key]):
            if not (isinstance(x, str) and PACKAGE_RE.fullmatch(x)):
                raise r.fail(f"{key}[{j}]", f"{x!r} is not a Debian package name",
                             "must be a list of Debian package names: 2+ of a-z, 0-9, '+', '-', '.', "
                             "starting with a letter or digit")
    both = sorted(set(lists["packages"]) & set(lists["placeholders"]))
    if both:
        raise r.fail("placeholders", f"{', '.join(both)} is also under packages",
                     "list a package under placeholders only when the suite lacks it")
    return Image(tag=tag, suite=suite, packages=tuple(lists["packages"]), placeholders=tuple(lists["placeholders"]))


def _archive(r: _Reader, tag: str, base: Path) -> Image:
    """images.TAG.archive: a `docker save` archive on this machine holding the image (tagged TAG, or its only
    image, which the hosts then tag TAG); its image ID read from the archive, which is never loaded here."""
    fix = "give the path of a `docker save` archive (e.g. docker save -o contrail-config.tar IMAGE); a relative " \
          "path is relative to this file's folder"
    v = r.file_path("archive")
    if not v:
        raise r.fail("archive", "missing", fix)
    path = Path(os.path.normpath(base / v))  # an absolute v stays itself
    try:
        if not path.exists():
            raise r.fail("archive", f"{path} does not exist", fix)
        if not path.is_file():
            raise r.fail("archive", f"{path} is not a file", fix)
        held = imagearchive.read(path)
        chosen = imagearchive.pick(held, tag)
    except OSError as exc:
        raise r.fail("archive", f"{path} cannot be read: {exc.strerror}",
                     "make it readable by the user running dockstack") from None
    except imagearchive.ArchiveError as exc:
        raise r.fail("archive", f"{path}: {exc}", fix) from None
    return Image(tag=tag, archive=str(path), archive_id=chosen.id)


def _volumes(r: _Reader) -> tuple[str, ...]:
    out = []
    for j, v in enumerate(r.get("volumes", list, [])):
        if not isinstance(v, str):
            raise r.fail(f"volumes[{j}]", f"{v!r} is not a string", "must be a list of 'SOURCE:TARGET[:MODE]' strings")
        problem = line_problem(v) or volume_problem(v)
        if problem:
            raise r.fail(f"volumes[{j}]", problem,
                         "write SOURCE:TARGET[:MODE]: SOURCE an absolute path or a volume name, TARGET an absolute "
                         "path, MODE ro, rw, z, Z or a combination like ro,z")
        out.append(v)
    return tuple(out)


def _secrets(top: _Reader) -> tuple[str, ...]:
    """`secrets:`: env keys whose values are secret although SECRET_KEY_RE does not match their names."""
    out: list[str] = []
    for j, k in enumerate(top.get("secrets", list, [])):
        if not (isinstance(k, str) and ENV_KEY_RE.fullmatch(k)):
            raise top.fail(f"secrets[{j}]", f"{k!r} is not an environment variable name",
                           "list env keys (letters, digits and '_', not starting with a digit), e.g. [DB_PASS]")
        if k in out:
            raise top.fail(f"secrets[{j}]", f"{k!r} is listed twice", "list each key once")
        out.append(k)
    return tuple(out)


def _env(r: _Reader, listed: Collection[str]) -> tuple[tuple[str, str], ...]:
    """containers[].env; an error about a secret value (is_secret) never quotes it."""
    out = []
    for k, v in r.get("env", dict, {}, hide=True).items():  # a list like [DB_PASSWORD=x] is not echoed
        if not (isinstance(k, str) and ENV_KEY_RE.fullmatch(k)):
            raise r.fail(f"env.{k}", f"{k!r} is not an environment variable name",
                         "use letters, digits and '_', not starting with a digit")
        secret = is_secret(k, listed)
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            shown = f"the secret value (a {type(v).__name__})" if secret else repr(v)
            raise r.fail(f"env.{k}", f"{shown} is not a string or a number",
                         "quote the value, e.g. 'true' or '' (YAML reads true, yes and an empty value otherwise)")
        problem = line_problem(str(v), secret)
        if problem:
            raise r.fail(f"env.{k}", problem, "write it on one line, without control characters")
        out.append((k, str(v)))
    return tuple(out)


def generated_keys(services: Iterable[ServiceTraits]) -> tuple[str, ...]:
    """The secrets file's keys: every password some service's containers get from it (ServiceTraits.generated_env)."""
    return tuple(sorted({k for t in services for k, _ in t.generated_env}))


GENERATED_RE = re.compile(r"[A-Za-z0-9]{24,128}")  # what a generated secret looks like (safe in SQL and shell)


@dataclass(frozen=True)
class GeneratedSecrets:
    """Passwords dockstack made itself (secrets_file_for): never in containers.yaml, so never committed."""

    path: str
    values: dict[str, str]
    made: tuple[str, ...] = ()  # keys made by this load, not yet in the file: save() writes them

    def env_for(self, service: ServiceTraits | None) -> tuple[tuple[str, str], ...]:
        """The env a container of this service gets from the secrets file (none for a role without a service)."""
        return tuple((env, self.values[k]) for k, env in (service.generated_env if service else ()))

    def save(self) -> bool:
        """Write the file with the passwords made by this load, readable by its owner only (0600); called by the
        commands that start containers with them, never by loading. False when there was nothing to write."""
        if not self.made:
            return False
        stack_file = Path(self.path).name.replace(".secrets.yaml", ".yaml")
        text = (f"# Passwords dockstack generated for this stack ({stack_file}): keep this file, never commit it.\n"
                + yaml.safe_dump(self.values, sort_keys=True))
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise ConfigError(self.path, "", f"cannot write it: {exc.strerror}",
                              "make its folder writable, or create the file yourself") from None
        return True


def keep_generated_secrets(stack: Stack) -> str | None:
    """Before a command starts containers with generated passwords: write those this load made to the secrets
    file, so the next command reads the same ones. Returns the file's path when it wrote it."""
    if stack.generated is not None and stack.generated.save():
        return stack.generated.path
    return None


def secrets_file_for(containers_file: Path) -> Path:
    """containers.yaml -> containers.secrets.yaml beside it (git-ignored: `*.secrets.yaml`)."""
    return containers_file.with_name(containers_file.stem + ".secrets.yaml")


def generated_secrets(containers_file: Path, keys: tuple[str, ...] | None = None) -> GeneratedSecrets:
    """The stack's generated passwords: read from the secrets file, the missing ones made (random, 32
    characters) in memory: loading never writes; the commands that start containers with them save() them
    (keep_generated_secrets). They reach a container as env values that config.is_secret masks (their keys say
    PASSWORD), so no output, label or log shows them."""
    if keys is None:  # every service's (the definitions import this module: looked up at call time)
        from dockstack.services.registry import GENERATED_KEYS as keys
    path = secrets_file_for(containers_file)
    data: dict[str, Any] = {}
    if path.exists() or path.is_symlink():
        data = yamlfile.load(path)
        if not isinstance(data, dict):
            raise ConfigError(str(path), "(file)", f"is not a mapping of KEY: VALUE lines, but a {type(data).__name__}",
                              "fix it, or delete it to have it made again (deleting it makes new passwords, which "
                              "a running cluster does not have)")
        unknown = sorted((k for k in data if k not in keys), key=str)
        if unknown:
            raise ConfigError(str(path), str(unknown[0]), "unknown key (a misspelt key would have a new password "
                              "made beside it)", f"allowed keys: {', '.join(keys)}")
    for k in keys:
        v = data.get(k)
        if v is not None and not (isinstance(v, str) and GENERATED_RE.fullmatch(v)):
            raise ConfigError(str(path), k, "is not 24-128 letters and digits",
                              "put such a value there, or delete the key to have one made")
    missing = tuple(k for k in keys if data.get(k) is None)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    data.update({k: "".join(secrets_module.choice(alphabet) for _ in range(32)) for k in missing})
    return GeneratedSecrets(str(path), {k: str(data[k]) for k in keys}, missing)


def _command(r: _Reader) -> tuple[str, ...]:
    raw = r.get("command", (list, str), [])
    items = [("command", raw)] if isinstance(raw, str) else [(f"command[{j}]", x) for j, x in enumerate(raw)]
    out = []
    for k, x in items:
        if isinstance(x, bool) or not isinstance(x, (str, int)):
            raise r.fail(k, f"{x!r} is not a string", "must be a string or a list of strings")
        out.append(r.line(k, str(x)))
    if out and (not out[0] or out[0].startswith("-")):
        raise r.fail(items[0][0], f"the program {out[0]!r} is empty or starts with '-'",
                     "start the command with the program to run, e.g. [sleep, infinity]")
    return tuple(out)


def static_mac_for(ip: ipaddress.IPv4Address) -> str:
    """A stable locally-administered MAC for a container with a static IP but no static MAC."""
    return "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)


def effective_mac(c: Container) -> str | None:
    """The MAC a container starts with when the config fixes it (given, or derived from a static IP)."""
    return c.mac or (static_mac_for(c.ip) if c.ip is not None else None)


def _role(r: _Reader, earlier: list[Role], inventory: Inventory, services: Mapping[str, ServiceTraits]) -> Role:
    r.unknown({"name", "depends_on", "check", "check_timeout", "classes", "balance", "service", "vip"})
    name = r.name("name")
    if any(x.name == name for x in earlier):
        raise r.fail("name", f"duplicate role {name!r}", "role names must be unique")
    default = [earlier[-1].name] if earlier else []
    deps = r.get("depends_on", list, default)
    known = [x.name for x in earlier]
    for j, d in enumerate(deps):
        if d not in known:
            raise r.fail(f"depends_on[{j}]", f"{d!r} is not a role listed before {name!r}",
                         "roles are listed in deploy order; a role can only depend on earlier ones")
    service = r.get("service", str, None)
    if service is not None and service not in services:
        raise r.fail("service", f"{service!r} is not a service dockstack runs",
                     f"use one of {', '.join(services)}, or leave it out for your own image's command")
    traits = services[service] if service is not None else None
    timeout = r.get("check_timeout", (int, float), traits.check_timeout if traits else 60)
    if not (math.isfinite(timeout) and 0 < timeout <= CHECK_TIMEOUT_MAX):
        raise r.fail("check_timeout", f"{short(str(timeout))} is not a number of seconds from 0 to {CHECK_TIMEOUT_MAX}",
                     "e.g. 60")
    classes = r.get("classes", list, [])
    for j, c in enumerate(classes):
        if not (isinstance(c, str) and PUPPET_CLASS_RE.fullmatch(c)):
            raise r.fail(f"classes[{j}]", f"{c!r} is not a puppet class name",
                         "must be a list of puppet class names: [a-z][a-z0-9_]* joined by '::', e.g. profile::galera")
    balance = []
    for j, raw in enumerate(r.get("balance", list, [])):
        b = _Reader(r.path, f"{r.where}.balance[{j}]", raw)
        b.unknown({"name", "port", "mode"})
        port = b.get("port", int, required=True)
        if not 0 < port < 65536:
            raise b.fail("port", f"{port} is not a TCP port", "use 1-65535")
        if port == HAPROXY_STATS_PORT:
            raise b.fail("port", f"{port} is haproxy's runtime API port in dockstack's haproxy containers",
                         "balance the service on another port")
        mode = b.get("mode", str, "tcp")
        if mode not in ("tcp", "http"):
            raise b.fail("mode", f"{mode!r} is not tcp or http", "use tcp or http")
        balance.append(Balanced(name=b.name("name"), port=port, mode=mode))
    ports = [x.port for x in balance]
    if len(ports) != len(set(ports)):
        raise r.fail("balance", "two services on the same port", "give each balanced service its own port")
    check = r.get("check", str, None)  # free shell text, one argument of `sh -c`: get() refuses newlines and NUL
    if check is not None and not check.strip():
        raise r.fail("check", "is empty (it would pass at once, whatever runs)",
                     "write the readiness command, or leave the key out for a role without one")
    if check is None and traits is not None:
        check = traits.check  # the service's own readiness check
    if traits and traits.agents_ask and any(x.traits and x.traits.agents_ask for x in earlier):
        first = next(x.name for x in earlier if x.traits and x.traits.agents_ask)
        raise r.fail("service", f"role {first!r} already runs the Puppet server (the agents ask only one)",
                     f"put the Puppet server's containers in role {first!r}")
    vip = None
    if r.data.get("vip") is not None:
        if not (traits and traits.holds_vip):
            holders = ", ".join(t.name for t in services.values() if t.holds_vip)
            raise r.fail("vip", "a virtual IP needs the role's containers to run haproxy and keepalived",
                         f"set service: {holders} on this role, or move vip: to that role")
        vip = _vip(_Reader(r.path, f"{r.where}.vip", r.data["vip"]), inventory)
    return Role(name=name, depends_on=tuple(deps), check=check, check_timeout=float(timeout), traits=traits,
                classes=tuple(classes), balance=tuple(balance), service=service, vip=vip)


def _vip(r: _Reader, inventory: Inventory) -> Vip:
    """roles[].vip: an address of the container subnet that DHCP never hands out, its DNS name, the VRRP router
    id and password; an error about the password never quotes it."""
    r.unknown({"ip", "name", "router_id", "password"})
    net = inventory.network
    ip = r.ip("ip")
    if ip is None:  # r.ip without a default raises on a missing key; this keeps the type checker told
        raise r.fail("ip", "missing", "add this key")
    where = f"{inventory.path}: network"
    if ip not in net.subnet or ip in (net.subnet.network_address, net.subnet.broadcast_address):
        raise r.fail("ip", f"{ip} is outside the container subnet {net.subnet}",
                     f"pick a host address in {net.subnet} ({where}.subnet)")
    if net.dhcp_start <= ip <= net.dhcp_end:
        raise r.fail("ip", f"{ip} is inside dhcp_range {net.dhcp_start}-{net.dhcp_end}",
                     f"pick an address of {net.subnet} outside the range dnsmasq leases ({where}.dhcp_range)")
    if net.gateway is not None and ip == net.gateway:
        raise r.fail("ip", f"{ip} is the network gateway", "pick another address")
    name = r.name("name") if r.data.get("name") is not None else "vip"
    rid = r.get("router_id", int, required=True)
    if not 1 <= rid <= 255:
        raise r.fail("router_id", f"{rid} is not a VRRP virtual router id",
                     "use 1-255, one no other VRRP router on the segment uses")
    password = r.data.get("password")  # not r.get(): its one-line check quotes the value
    if password is None:
        raise r.fail("password", "missing", "add this key (4-8 characters; a secret, never printed)")
    if not isinstance(password, str):
        raise r.fail("password", f"the secret value (a {type(password).__name__}) is not a string",
                     "quote the password in YAML")
    problem = line_problem(password, secret=True)
    if problem:
        raise r.fail("password", problem, "write it on one line, without control characters")
    if not VRRP_PASSWORD_RE.fullmatch(password):
        raise r.fail("password", f"the secret value {masking.MASK} is not 4-8 characters of letters, digits and "
                     "_ . , : + = % @ / -", "keepalived uses 8 characters at most; choose another password")
    return Vip(ip=ip, name=name, router_id=rid, password=password)


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


def _check_vips(path: str, roles: list[Role], containers: list[Container]) -> None:
    """A VIP's address, DNS name, router id and MAC belong to it alone."""
    seen: dict[object, str] = {}
    for i, role in enumerate(roles):
        if role.vip is None:
            continue
        key = f"roles[{i}].vip"
        for c in containers:
            if c.ip == role.vip.ip:
                raise ConfigError(path, f"{key}.ip", f"{role.vip.ip} is already the static ip of container {c.name}",
                                  "give the VIP an address no container uses")
            if c.name == role.vip.name:
                raise ConfigError(path, f"{key}.name", f"{role.vip.name!r} is already the name of a container",
                                  "give the VIP a DNS name no container uses (e.g. vip)")
            if effective_mac(c) == role.vip.mac:
                raise ConfigError(path, f"{key}.router_id", f"container {c.name}'s MAC {role.vip.mac} is the VRRP "
                                  f"MAC of router id {role.vip.router_id}", "change the MAC or the router id")
        for what, value in (("ip", role.vip.ip), ("name", role.vip.name), ("router_id", role.vip.router_id)):
            if (what, value) in seen:
                raise ConfigError(path, f"{key}.{what}", f"{value} is already used by the vip of role "
                                  f"{seen[what, value]}", "each virtual IP needs its own address, name and router id")
            seen[what, value] = role.name


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
