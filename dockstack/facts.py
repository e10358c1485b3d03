"""Facts: what a host reports, read in one round trip (HOST_FACTS_SCRIPT), and pure parsers for it.

One host's facts: whether dockerd answers, its dockstack containers (labels, state, PID, eth0 MAC/IP),
the image IDs of the stack's tags, its container network, the address-book copies of the dnsmasq
containers it holds (registry records, quarantine, leases, generation) and digests of the service files.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from dockstack.config.grammar import MAC_RE, NAME_RE
from dockstack.firewall import Chains, parse_chains
from dockstack.scripts import script

# a registry record's source: the flowchart path that gave the address (Record.source)
SOURCES = frozenset({"static", "lease", "new", "adopted", "vip"})
NO_HOST = "-"  # a VIP's record names no host: it moves between its role's containers (ipam.NO_HOST)
MAC_IN_LINK = re.compile(r"link/ether ([0-9a-fA-F:]{17})")
IPV4_IN_ADDR = re.compile(r"\binet (\d+\.\d+\.\d+\.\d+)/(\d+)")


@dataclass(frozen=True)
class Record:
    """A container's address as dnsmasq knows it (one file per container in the registry)."""

    name: str
    role: str
    host: str
    mac: str
    ip: str
    source: str  # static | lease | new | adopted: the flowchart path that gave the address; vip: a virtual IP


@dataclass(frozen=True)
class Lease:
    """One line of dnsmasq's lease file: `expiry mac ip hostname client-id`."""

    expiry: int
    mac: str
    ip: str
    hostname: str | None
    client_id: str | None = None  # dhcp_release needs it to drop a lease the client made with one


def parse_leases(text: str) -> list[Lease]:
    return parse_lease_file(text)[0]


def parse_lease_file(text: str) -> tuple[list[Lease], list[str]]:
    """The IPv4 leases of a dnsmasq lease file, and the lines that are no lease at all (a truncated or
    hand-broken file): dnsmasq's own `duid` and DHCPv6 lines are neither; blank lines are skipped."""
    leases, bad = [], []
    for line in text.splitlines():
        parts = line.split()
        if not parts or (parts[0] == "duid" and len(parts) == 2):
            continue
        lease = _lease(parts)
        if lease:
            leases.append(lease)
        elif not _dhcpv6_lease(parts):
            bad.append(line)
    return leases, bad


def _lease(parts: list[str]) -> Lease | None:
    """`expiry mac ip hostname [client-id]`, every field checked (a garbled MAC or IP would be handed to docker)."""
    if len(parts) not in (4, 5) or not parts[0].isdigit() or not MAC_RE.fullmatch(parts[1].lower()):
        return None
    try:
        ipaddress.IPv4Address(parts[2])
    except ValueError:
        return None
    hostname = None if parts[3] == "*" else parts[3]
    client_id = parts[4] if len(parts) > 4 and re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*", parts[4]) else None
    return Lease(int(parts[0]), parts[1].lower(), parts[2], hostname, client_id)


def _dhcpv6_lease(parts: list[str]) -> bool:
    """`expiry iaid ipv6 hostname duid`: dnsmasq writes these when it serves DHCPv6 (dockstack does not)."""
    if len(parts) != 5 or not parts[0].isdigit() or not parts[1].isdigit():
        return False
    try:
        ipaddress.IPv6Address(parts[2])
    except ValueError:
        return False
    return True


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
    paused: bool = False  # `docker pause`: running to Docker, every process frozen (no check can answer)

    @property
    def status(self) -> str:
        return "paused" if self.running and self.paused else "running" if self.running else "stopped"


def _container_state(d: dict) -> ContainerState:
    return ContainerState(
        name=d["Name"].lstrip("/"), running=bool(d["State"]["Running"]), pid=int(d["State"]["Pid"]),
        image=d["Config"]["Image"], image_id=d["Image"], labels=d["Config"].get("Labels") or {},
        paused=bool(d["State"].get("Paused")))


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


# Everything dockstack needs to know about one host, in one round trip. Constant text: the values
# arrive as positional arguments. Sections start with `#name` lines; see parse_host_facts.
# The text: dockstack/scripts/host_facts.sh.
HOST_FACTS_SCRIPT = script("host_facts.sh")


def host_facts_argv(label: str, service_root: str, bridge: str, vxlan_device: str, uplink: str | None,
                    image_tags: list[str], books: str = "", state: Sequence[tuple[str, str]] = (),
                    digests: Sequence[tuple[str, str]] = (), replica: str = "", catalog: str = "") -> list[str]:
    """books: the service folder holding address books; state: (service, file) whose text each of its containers'
    folders holds; digests: (service, glob) of the rendered files to digest (services.registry.facts_wanted);
    replica: the folder of the host's own replica of the address book (addressbook.REPLICA_DIR); catalog: the file
    of a container's folder that holds the digest of its last passing agent run's catalog (agent.DIGEST_FILE)."""
    return ["sh", "-c", HOST_FACTS_SCRIPT, "sh", label, service_root, bridge, vxlan_device, uplink or "", books,
            replica, catalog, str(len(state)), *(x for pair in state for x in pair), str(len(digests)),
            *(x for pair in digests for x in pair), *image_tags]


@dataclass(frozen=True)
class NetworkFacts:
    """The container network as `ip`, `bridge fdb` and `iptables -S` show it on one host."""

    bridge_up: bool = False
    vxlan_master: str | None = None  # bridge the VXLAN device is enslaved to (None: no device)
    peers: frozenset[str] = frozenset()  # VXLAN flood destinations
    uplink_master: str | None = None
    firewall: Chains = field(default_factory=Chains)  # the chains with the rules dockstack owns, whole


@dataclass(frozen=True)
class BookCopy:
    """One copy of the address book, as found on its host: a dnsmasq container's, or the host's replica."""

    dnsmasq: str  # the dnsmasq container whose folder holds it; "" for a host's replica
    generation: int
    records: dict[str, Record]
    released: tuple[str, ...]
    leases: tuple[Lease, ...]
    damaged: dict[str, str] = field(default_factory=dict)  # registry file name -> what it holds instead
    last_good: dict[str, Record] = field(default_factory=dict)  # damaged name -> its intact last good copy
    unbacked: frozenset[str] = frozenset()  # intact records whose last good copy is missing or differs
    bad_leases: tuple[str, ...] = ()  # lease-file lines that are no lease (printable-escaped, cut)
    host: str = ""  # where the copy lives, for messages (world.read_world fills these in)
    folder: str = ""


@dataclass(frozen=True)
class HostFacts:
    """One host as dockstack sees it."""

    containers: dict[str, ContainerState]
    addresses: dict[str, tuple[str | None, str | None]]  # container name -> (mac, ip) of eth0
    images: dict[str, str | None]  # tag -> image ID on the host (None: absent)
    dockerd: bool = True
    dockerd_said: str = ""  # what `docker version` said when dockerd did not answer
    network: NetworkFacts = NetworkFacts()
    books: dict[str, BookCopy] = field(default_factory=dict)  # dnsmasq container name -> its copy
    replica: BookCopy | None = None  # the host's replica of the address book (None: it has none)
    files: dict[str, str] = field(default_factory=dict)  # service file path -> sha256
    foreign: frozenset[str] = frozenset()  # names of containers on the host that dockstack did not make
    secondary: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> its other eth0 IPv4s (a VIP)
    state: dict[str, str | None] = field(default_factory=dict)  # container -> its service's state file (None: none)
    # container -> why its state file was not read (a symlink, a FIFO, ... in its place: its container may write
    # there); such a container's `state` is None
    state_problems: dict[str, str] = field(default_factory=dict)
    # its folder (SERVICE/NAME, under the service root) -> the digest of what its container's catalog depended on
    # at its last agent run that passed (None: the file holds no such digest)
    catalogs: dict[str, str | None] = field(default_factory=dict)


def _sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#") and line[1:].isalpha():
            current = line[1:]
            out.setdefault(current, [])
        else:
            out.setdefault(current, []).append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _ipv4(text: str) -> bool:
    """text is an IPv4 address written as Python writes it (no leading zeros, nothing around it)."""
    try:
        return str(ipaddress.IPv4Address(text)) == text
    except ValueError:
        return False


def parse_record(line: str) -> Record | None:
    """A registry line `name role host mac ip source`, every field whole-string checked as the config's are (the
    registry lives in a folder its dnsmasq container can write: a forged value must not reach dnsmasq's files or a
    command); None for anything else."""
    parts = line.removesuffix("\n").split(" ")
    if len(parts) != 6 or not (NAME_RE.fullmatch(parts[0]) and NAME_RE.fullmatch(parts[1])) \
            or not (NAME_RE.fullmatch(parts[2]) or parts[2] == NO_HOST) or parts[5] not in SOURCES \
            or not MAC_RE.fullmatch(parts[3].lower()):
        return None
    if not _ipv4(parts[4]):
        return None
    return Record(*parts[:3], parts[3].lower(), parts[4], parts[5])


def _registry_file(fname: str, content: str) -> Record | None:
    """A registry file's record as the facts show it (its final newline as "?"), if the file is intact."""
    rec = parse_record(content.rstrip("?"))
    return rec if rec and rec.name == fname else None


def parse_books(text: str) -> dict[str, BookCopy]:
    raw: dict[str, dict] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        kind, _, value = rest.partition(" ")
        if not name:
            continue
        book = raw.setdefault(name, {"generation": 0, "records": {}, "released": [], "leases": "", "damaged": {},
                                     "last_good": {}, "differs": set()})
        fname, _, content = value.partition(" ")
        if kind == "generation":
            book["generation"] = int(value) if value.strip().isdigit() else 0
        elif kind == "record" and (rec := parse_record(value)):
            book["records"][rec.name] = rec
        elif kind == "file" and NAME_RE.fullmatch(fname):  # a file not named as a record could: ignored
            if rec := _registry_file(fname, content):
                book["records"][rec.name] = rec
            else:
                book["damaged"][fname] = content.strip()[:60]
        elif kind == "last-good" and NAME_RE.fullmatch(fname):
            book["differs"].add(fname)
            if rec := _registry_file(fname, content):
                book["last_good"][fname] = rec
        elif kind == "released" and _ipv4(value.strip()):
            book["released"].append(value.strip())
        elif kind == "lease":
            book["leases"] += value + "\n"
    out = {}
    for n, b in raw.items():
        leases, bad = parse_lease_file(b["leases"])
        out[n] = BookCopy(n, b["generation"], b["records"], tuple(b["released"]), tuple(leases), b["damaged"],
                          {f: r for f, r in b["last_good"].items() if f in b["damaged"]},
                          frozenset(f for f in b["differs"] if f in b["records"]), tuple(bad))
    return out


def parse_replica(text: str) -> BookCopy | None:
    """The #replica section: the host's replica, its lines as a dnsmasq copy's, each after `replica`."""
    found = parse_books(text).get("replica")
    return replace(found, dnsmasq="") if found else None


def parse_state(text: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """The #state section: `NAME dir` per container folder of a service with a state file, then `NAME = LINE` per
    line of that file, or `NAME refused WHY` when it was not read. Returns (name -> its text, None for a folder
    without the file or whose file was refused; name -> why it was refused)."""
    lines: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name:
            continue
        got = lines.setdefault(name, [])
        kind, _, value = rest.partition(" ")
        if kind == "=":
            got.append(value)
        elif kind == "refused":
            refused[name] = value
    return {n: "\n".join(v) + "\n" if v and n not in refused else None for n, v in lines.items()}, refused


CATALOG_DIGEST_RE = re.compile(r"[0-9a-f]{64}")  # a sha256, in hex


def parse_catalogs(text: str) -> dict[str, str | None]:
    """The #catalogs section: `SERVICE/NAME DIGEST` per container folder with a digest file; a folder that is not
    two names, or a digest that is not 64 hex digits, is unknown (None), never taken as it is."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        folder, _, value = line.partition(" ")
        service, _, name = folder.partition("/")
        if NAME_RE.fullmatch(service) and NAME_RE.fullmatch(name):
            out[folder] = value if CATALOG_DIGEST_RE.fullmatch(value) else None
    return out


def parse_network(text: str) -> NetworkFacts:
    def master(line: str) -> str | None:
        m = re.search(r" master (\S+) ", line)
        return m.group(1) if m else None

    bridge_up, vx_master, up_master = False, None, None
    peers: set[str] = set()
    rules: list[str] = []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "bridge":
            bridge_up = bool(re.search(r"<([^>]*,)?UP(,[^>]*)?>", rest))
        elif kind == "vxlan":
            vx_master = master(rest) or ""
        elif kind == "peer":
            peers.add(rest.strip())
        elif kind == "uplink":
            up_master = master(rest)
        elif kind == "rule":
            rules.append(rest)
    return NetworkFacts(bridge_up, vx_master, frozenset(peers), up_master, parse_chains(rules))


def parse_host_facts(text: str) -> HostFacts:
    """Output of HOST_FACTS_SCRIPT (or of the older inspect/#addresses/#images form)."""
    sec = _sections(text)
    containers = {c.name: c for c in parse_inspect_all(sec.get("containers", sec.get("", "")))}
    by_pid: dict[int, list[str]] = {}
    for line in sec.get("addresses", "").splitlines():
        pid, _, tail = line.partition(" ")
        if pid.isdigit():
            by_pid.setdefault(int(pid), []).append(tail)
    addresses, secondary = {}, {}
    for c in containers.values():
        lines = "\n".join(by_pid.get(c.pid, [])) if c.running else ""
        addresses[c.name] = (parse_link_mac(lines), parse_ipv4(lines))
        others = tuple(m.group(1) for m in IPV4_IN_ADDR.finditer(lines))[1:]
        if others:
            secondary[c.name] = others
    images: dict[str, str | None] = {}
    for line in sec.get("images", "").splitlines():
        tag, _, image_id = line.partition(" ")
        if tag:
            images[tag] = image_id.strip() or None
    files = {}
    for line in sec.get("files", "").splitlines():
        digest, _, path = line.partition("  ")
        if path:
            files[path] = digest
    dockerd = sec.get("dockerd", "up").strip()
    state, refused = parse_state(sec.get("state", ""))
    return HostFacts(containers, addresses, images, dockerd=not dockerd.startswith("down"),
                     dockerd_said=dockerd.removeprefix("down").strip() if dockerd.startswith("down") else "",
                     network=parse_network(sec.get("network", "")), books=parse_books(sec.get("books", "")),
                     replica=parse_replica(sec.get("replica", "")),
                     files=files, foreign=frozenset(sec.get("names", "").split()) - set(containers),
                     secondary=secondary, state=state, state_problems=refused,
                     catalogs=parse_catalogs(sec.get("catalogs", "")))


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


def file_digest(text: str) -> str:
    """A service file's digest as the host facts print it (sha256sum of the file dockstack wrote): what the
    converge compares before a push, and secretcheck compares with what a balancer serves."""
    return hashlib.sha256(text.encode()).hexdigest()
