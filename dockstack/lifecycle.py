"""The executor for one container: create, start, stop, remove, release, over SSH.

Decisions come from ipam.plan_address; this module only reads facts, runs the plan and records
the result in the address book (dnsmasq's files on every dnsmasq host).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dockstack import dockercli, facts, ipam, network
from dockstack.config import Container, Inventory, Stack
from dockstack.errors import DockstackError, RemoteError
from dockstack.remote import Remote, Remotes, parallel

Say = Callable[[str], None]


class AddressBook:
    """The address registry and lease data, read from the dnsmasq hosts and written back to all."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes) -> None:
        self.inv, self.stack, self.remotes = inv, stack, remotes
        self.lock = threading.Lock()
        self.registry: dict[str, ipam.Record] = {}
        self.released: list[str] = []
        self.leases: list[facts.Lease] = []
        found = False
        for d in stack.dnsmasq_containers():
            r = remotes[d.host]
            base = dockercli.dnsmasq_dir(d)
            if not found:
                text = r.get_text(f"{base}/ipam.json", "read the address registry")
                if text is not None:
                    self.registry, self.released = ipam.registry_from_json(text)
                    found = True
            self.leases += facts.parse_leases(r.get_text(f"{base}/leases", "read dnsmasq leases") or "")

    def known(self) -> dict[str, tuple[str, str]]:
        return ipam.known_addresses(self.registry, self.leases)

    def dns_servers(self) -> list[str]:
        return [str(d.ip) for d in self.stack.dnsmasq_containers()]

    def put(self, record: ipam.Record) -> None:
        try:
            ipam.check_record(self.registry, record)
        except ipam.ConflictError as exc:
            raise DockstackError(f"{record.name}: {exc}") from None
        self.registry[record.name] = record

    def publish(self, say: Say) -> None:
        """Push registry, dhcp-hosts, hosts and dnsmasq.conf to every dnsmasq host; SIGHUP dnsmasq."""
        records = ipam.reserved_static(self.stack, self.registry)
        files = {
            "ipam.json": ipam.registry_to_json(self.registry, self.released),
            "dhcp-hosts": ipam.render_dhcp_hosts(records, self.released),
            "hosts": ipam.render_hosts(records, self.inv.network.domain),
        }

        def push(d: Container) -> None:
            r = self.remotes[d.host]
            base = dockercli.dnsmasq_dir(d)
            conf = ipam.render_dnsmasq_conf(self.inv.network, d, self.dns_servers())
            for fname, text in {**files, "dnsmasq.conf": conf}.items():
                r.put_text(f"{base}/{fname}", text, f"push dnsmasq {fname}")
            state = inspect(r, d.name)
            if state and state.running:
                r.run(["docker", "kill", "--signal", "HUP", d.name], "reload dnsmasq")

        parallel(self.stack.dnsmasq_containers(), push)
        say(f"  dnsmasq files updated ({len(records)} address(es)) and reloaded")


def inspect(remote: Remote, name: str) -> facts.ContainerState | None:
    r = remote.run(dockercli.inspect_argv(name), f"inspect {name}", check=False)
    return facts.parse_inspect(r.stdout) if r.ok else None


def locate(remotes: Remotes, name: str) -> dict[str, str]:
    """host -> running|stopped for every host that has a dockstack container of that name."""
    found = parallel(remotes.all(), lambda r: facts.parse_ps(r.run(dockercli.ps_argv(), "list containers").stdout))
    return {r.name: ps[name] for r, ps in zip(remotes.all(), found) if name in ps}


def ensure_networks(inv: Inventory, remotes: Remotes) -> None:
    """Bridge, VXLAN mesh and FORWARD rule on every host (idempotent)."""
    parallel(inv.hosts, lambda h: remotes[h.name].shell(
        network.host_network_command(inv.network, h, network.peers(inv, h)), "set up container network"))


def _require_image(remote: Remote, image: str) -> None:
    if not remote.ok(["docker", "image", "inspect", image]):
        raise DockstackError(f"{remote.name}: image {image} is not on the host: run `inv images.sync`")


def _require_dnsmasq(book: AddressBook, remotes: Remotes, c: Container) -> None:
    if c.is_dnsmasq:
        return
    ds = book.stack.dnsmasq_containers()
    if not ds:
        raise DockstackError(f"{book.stack.path}: no container has role dnsmasq: addresses come from it, add one")
    for d in ds:
        state = inspect(remotes[d.host], d.name)
        if state and state.running:
            return
    raise DockstackError(f"no dnsmasq container is running ({', '.join(d.name for d in ds)}): "
                         f"`inv create --name={ds[0].name}` (or start) first")


def _attach(inv: Inventory, remote: Remote, c: Container, plan: ipam.AddressPlan, say: Say) -> ipam.Record:
    """Give the running container its eth0 and address, following the plan; returns what it got."""
    state = inspect(remote, c.name)
    if state is None or not state.running:
        raise RemoteError(remote.name, f"start {c.name}", "container is not running (see `docker logs`)")
    out = remote.shell(network.plumb_command(inv.network, state.pid, c.name, plan.mac), f"{c.name}: plumb eth0")
    mac = facts.parse_link_mac(out.stdout)
    if plan.static_ip:
        remote.shell(network.static_ip_command(inv.network, state.pid, plan.static_ip), f"{c.name}: static IP")
        say(f"  {c.name}: static IP {plan.static_ip} on MAC {mac}")
    else:
        remote.run(["docker", "exec", c.name, "pkill", "-x", "dhclient"], "stop old dhclient", check=False)
        say(f"  {c.name}: dhclient on MAC {mac}")
        remote.run(dockercli.dhclient_argv(c.name), f"{c.name}: dhclient")
    ip = facts.parse_ipv4(remote.shell(network.container_addr_command(state.pid), f"{c.name}: read IP").stdout)
    if ip is None or mac is None:
        raise RemoteError(remote.name, f"{c.name}: address", "eth0 has no IPv4 address after configuration")
    if plan.expected_ip and ip != plan.expected_ip:
        raise RemoteError(remote.name, f"{c.name}: address",
                          f"got {ip}, expected {plan.expected_ip} from dnsmasq's lease data")
    return ipam.Record(c.name, c.role, c.host, mac, ip, plan.source)


def _running_record(book: AddressBook, remote: Remote, c: Container) -> ipam.Record | None:
    """The registry record, if the container runs and its eth0 has exactly that address."""
    state = inspect(remote, c.name)
    rec = book.registry.get(c.name)
    if not (state and state.running and rec):
        return None
    out = remote.shell(network.container_addr_command(state.pid), f"{c.name}: read IP", check=False).stdout
    return rec if (facts.parse_ipv4(out), facts.parse_link_mac(out)) == (rec.ip, rec.mac) else None


def _plan(book: AddressBook, c: Container) -> ipam.AddressPlan:
    plan = ipam.plan_address(c, book.known())
    if plan.static_ip:
        rec = ipam.Record(c.name, c.role, c.host, plan.mac or "", plan.static_ip, plan.source)
        try:
            ipam.check_record(book.registry, rec)
        except ipam.ConflictError as exc:
            raise DockstackError(f"{book.stack.path}: {c.name}: {exc} (registry on the dnsmasq host); "
                                 f"pick another ip or `inv ipam.release` the other one") from None
    return plan


def create(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> ipam.Record:
    c = stack.container(name)
    remote = remotes[c.host]
    where = locate(remotes, name)
    if where.get(c.host) == "running":
        current = _running_record(AddressBook(inv, stack, remotes), remote, c)
        if current:
            say(f"{name}: already running on {c.host} with {current.ip}, nothing to do")
            return current
    if c.host in where:
        raise DockstackError(f"{name} already exists on {c.host} ({where[c.host]}): "
                             f"`inv start --name={name}`, or `inv remove --name={name}` first")
    if where:
        other = next(iter(where))
        raise DockstackError(f"{name} exists on {other}, but {stack.path} puts it on {c.host}: "
                             f"`inv remove --name={name}` first")
    _require_image(remote, c.image)
    book = AddressBook(inv, stack, remotes)
    _require_dnsmasq(book, remotes, c)
    plan = _plan(book, c)
    say(f"{name}: create on {c.host} ({plan.why})")
    ensure_networks(inv, remotes)
    if c.is_dnsmasq:  # its configuration must exist before it starts
        book.publish(say)
    remote.run(dockercli.run_argv(c, inv.network, book.dns_servers()), f"{name}: docker run")
    try:
        record = _attach(inv, remote, c, plan, say)
    except DockstackError:
        remote.run(["docker", "rm", "--force", name], f"{name}: clean up after failure", check=False)
        raise
    book.put(record)
    book.publish(say)
    say(f"{name}: {record.ip} ({record.mac}, {record.source}) on {c.host}")
    return record


def start(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> ipam.Record:
    c = stack.container(name)
    remote = remotes[c.host]
    where = locate(remotes, name)
    if c.host not in where:
        hint = f"it is on {next(iter(where))}: `inv remove --name={name}`, then create" if where else \
            f"`inv create --name={name}`"
        raise DockstackError(f"{name} does not exist on {c.host}: {hint}")
    book = AddressBook(inv, stack, remotes)
    current = _running_record(book, remote, c)
    if current:
        say(f"{name}: already running with {current.ip}, nothing to do")
        return current
    state = inspect(remote, name)
    _require_dnsmasq(book, remotes, c)
    plan = _plan(book, c)
    ensure_networks(inv, remotes)
    if c.is_dnsmasq:  # its files may be gone (a new host disk): it cannot start without them
        book.publish(say)
    if not (state and state.running):
        remote.run(["docker", "start", name], f"{name}: docker start")
    say(f"{name}: started on {c.host} ({plan.why})")
    record = _attach(inv, remote, c, plan, say)
    book.put(record)
    book.publish(say)
    say(f"{name}: {record.ip} ({record.mac}, {record.source}) on {c.host}")
    return record


def stop(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    stack.container(name)
    where = locate(remotes, name)
    if not where:
        raise DockstackError(f"{name} does not exist on any host: nothing to stop")
    for host, state in where.items():
        if state == "running":
            remotes[host].run(["docker", "stop", name], f"{name}: docker stop")
            say(f"{name}: stopped on {host} (address kept)")
        else:
            say(f"{name}: already stopped on {host}")


def remove(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    stack.container(name)
    where = locate(remotes, name)
    if not where:
        say(f"{name}: not on any host, nothing to remove")
        return
    for host in where:
        remotes[host].run(["docker", "rm", "--force", name], f"{name}: docker rm")
        say(f"{name}: removed from {host} (address kept; `inv ipam.release --name={name}` forgets it)")


def release(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    """Forget an address on purpose: drop it from the registry and from dnsmasq's leases."""
    try:
        c: Container | None = stack.container(name)
    except DockstackError:
        c = None  # a container no longer in the config may still hold an address
    if c is not None and (c.mac or c.ip):
        raise DockstackError(f"{stack.path}: {name} has a static mac/ip in the config: "
                             "remove them there to change its address")
    running = [h for h, s in locate(remotes, name).items() if s == "running"]
    if running:
        raise DockstackError(f"{name} is running on {running[0]} with that address: `inv remove --name={name}` first")
    book = AddressBook(inv, stack, remotes)
    known = book.known().get(name)
    if known is None:
        say(f"{name}: no address known, nothing to release")
        return
    mac, ip = known
    book.registry.pop(name, None)
    book.released = ipam.quarantine(book.released, ip)
    for d in stack.dnsmasq_containers():
        state = inspect(remotes[d.host], d.name)
        if state and state.running:  # dhcp_release makes the running dnsmasq drop the lease
            remotes[d.host].run(["docker", "exec", d.name, "dhcp_release", "eth0", ip, mac],
                                f"{d.name}: release lease")
    book.publish(say)
    say(f"{name}: released {ip} ({mac})")
