"""The executor: runs container actions over SSH and records their results.

Decisions come from ipam.plan_address and plan.plan_container; this module reads facts, runs the
commands, and keeps dnsmasq's files and the puppet/haproxy registries in step. One Executor serves
one command: one address book, one lock, persistent connections, safe to use from several threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dockstack import dockercli, facts, ipam, network, registries
from dockstack.addressbook import AddressBook
from dockstack.config import Container, Inventory, Stack
from dockstack.errors import DockstackError, RemoteError
from dockstack.remote import Remote, Remotes, parallel

Say = Callable[[str], None]
CHECK_POLL = 0.5
PROGRESS_EVERY = 5.0


def inspect(remote: Remote, name: str) -> facts.ContainerState | None:
    r = remote.run(dockercli.inspect_argv(name), f"inspect {name}", check=False)
    return facts.parse_inspect(r.stdout) if r.ok else None


class Executor:
    """Container actions for one command, over the given connections."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes, say: Say) -> None:
        self.inv, self.stack, self.remotes, self.say = inv, stack, remotes, say
        self.lock = threading.RLock()
        self._book: AddressBook | None = None
        self._network_ready = False

    @property
    def book(self) -> AddressBook:
        with self.lock:
            if self._book is None:
                self._book = AddressBook(self.inv, self.stack, self.remotes)
            return self._book

    # --- observing ---------------------------------------------------------------------

    def observe(self) -> dict[str, facts.HostFacts]:
        """Every host's dockstack containers, their addresses and image IDs (one round trip each)."""
        tags = sorted({c.image for c in self.stack.containers})
        out = parallel(self.remotes.all(), lambda r: r.run(dockercli.observe_argv(tags), "observe host").stdout)
        return {r.name: facts.parse_host_facts(o) for r, o in zip(self.remotes.all(), out)}

    def containers_by_host(self) -> dict[str, dict[str, str]]:
        """host -> {container name -> running|stopped} for dockstack's containers (one `docker ps` each)."""
        found = parallel(self.remotes.all(),
                         lambda r: facts.parse_ps(r.run(dockercli.ps_argv(), "list containers").stdout))
        return {r.name: ps for r, ps in zip(self.remotes.all(), found)}

    def locate(self, name: str) -> dict[str, str]:
        """host -> running|stopped for every host that has a dockstack container of that name."""
        return {h: ps[name] for h, ps in self.containers_by_host().items() if name in ps}

    def running_names(self) -> set[str]:
        return {n for ps in self.containers_by_host().values() for n, s in ps.items() if s == "running"}

    def running_record(self, c: Container) -> ipam.Record | None:
        """The registry record, if the container runs on its host and its eth0 has exactly that address."""
        remote = self.remotes[c.host]
        state = inspect(remote, c.name)
        rec = self.book.registry.get(c.name)
        if not (state and state.running and rec):
            return None
        out = remote.shell(network.container_addr_command(state.pid), f"{c.name}: read IP", check=False).stdout
        return rec if (facts.parse_ipv4(out), facts.parse_link_mac(out)) == (rec.ip, rec.mac) else None

    # --- preconditions -----------------------------------------------------------------

    def ensure_networks(self) -> None:
        """Bridge, VXLAN mesh and FORWARD rule on every host (idempotent), once per command."""
        with self.lock:
            if self._network_ready:
                return
            parallel(self.inv.hosts, lambda h: self.remotes[h.name].shell(
                network.host_network_command(self.inv.network, h, network.peers(self.inv, h)),
                "set up container network"))
            self._network_ready = True

    def require_image(self, c: Container) -> None:
        if not self.remotes[c.host].ok(["docker", "image", "inspect", c.image]):
            raise DockstackError(f"{c.host}: image {c.image} (for {c.name}) is not on the host: "
                                 "run `inv images.sync`")

    def require_dnsmasq(self, c: Container) -> None:
        if c.is_dnsmasq:
            return
        ds = self.stack.dnsmasq_containers()
        if not ds:
            raise DockstackError(f"{self.stack.path}: no container has role dnsmasq: addresses come from it, add one")
        for d in ds:
            state = inspect(self.remotes[d.host], d.name)
            if state and state.running:
                return
        raise DockstackError(f"no dnsmasq container is running ({', '.join(d.name for d in ds)}): "
                             f"`inv create --name={ds[0].name}` (or start) first")

    def plan_address(self, c: Container) -> ipam.AddressPlan:
        plan = ipam.plan_address(c, self.book.known())
        if plan.static_ip:
            rec = ipam.Record(c.name, c.role, c.host, plan.mac or "", plan.static_ip, plan.source)
            try:
                ipam.check_record(self.book.registry, rec)
            except ipam.ConflictError as exc:
                raise DockstackError(f"{self.stack.path}: {c.name}: {exc} (registry on the dnsmasq host); "
                                     f"pick another ip or `inv ipam.release` the other one") from None
        return plan

    # --- actions -----------------------------------------------------------------------

    def create(self, c: Container) -> ipam.Record:
        """docker run on its host, then the address flow; removes the container again on failure."""
        remote = self.remotes[c.host]
        self.require_image(c)
        self.require_dnsmasq(c)
        plan = self.plan_address(c)
        self.say(f"  {c.name}: create on {c.host} ({plan.why})")
        self.ensure_networks()
        self.prepare_service(c)
        remote.run(dockercli.run_argv(c, self.inv.network, self.book.dns_servers()), f"{c.name}: docker run")
        try:
            record = self.attach(c, plan)
        except DockstackError:
            remote.run(["docker", "rm", "--force", c.name], f"{c.name}: clean up after failure", check=False)
            raise
        self.record(record)
        return record

    def start(self, c: Container) -> ipam.Record:
        """Start a stopped container (or re-address a running one) and give it back its address."""
        remote = self.remotes[c.host]
        self.require_dnsmasq(c)
        plan = self.plan_address(c)
        self.ensure_networks()
        self.prepare_service(c)
        state = inspect(remote, c.name)
        if not (state and state.running):
            remote.run(["docker", "start", c.name], f"{c.name}: docker start")
        self.say(f"  {c.name}: started on {c.host} ({plan.why})")
        record = self.attach(c, plan)
        self.record(record)
        return record

    def remove(self, host: str, name: str) -> None:
        self.remotes[host].run(["docker", "rm", "--force", name], f"{name}: docker rm")
        self.say(f"  {name}: removed from {host} (address kept)")

    def attach(self, c: Container, plan: ipam.AddressPlan) -> ipam.Record:
        """Give the running container its eth0 and address, following the plan; returns what it got."""
        remote = self.remotes[c.host]
        state = inspect(remote, c.name)
        if state is None or not state.running:
            raise RemoteError(remote.name, f"start {c.name}", "container is not running (see `docker logs`)")
        out = remote.shell(network.plumb_command(self.inv.network, state.pid, c.name, plan.mac),
                           f"{c.name}: plumb eth0")
        mac = facts.parse_link_mac(out.stdout)
        if plan.static_ip:
            remote.shell(network.static_ip_command(self.inv.network, state.pid, plan.static_ip),
                         f"{c.name}: static IP")
        else:
            remote.run(dockercli.dhclient_argv(c.name), f"{c.name}: dhclient")
        ip = facts.parse_ipv4(remote.shell(network.container_addr_command(state.pid), f"{c.name}: read IP").stdout)
        if ip is None or mac is None:
            raise RemoteError(remote.name, f"{c.name}: address", "eth0 has no IPv4 address after configuration")
        if plan.expected_ip and ip != plan.expected_ip:
            raise RemoteError(remote.name, f"{c.name}: address",
                              f"got {ip}, expected {plan.expected_ip} from dnsmasq's lease data")
        self.say(f"  {c.name}: {ip} on {mac} ({plan.source})")
        return ipam.Record(c.name, c.role, c.host, mac, ip, plan.source)

    def record(self, record: ipam.Record) -> None:
        with self.lock:
            self.book.put(record)
            self.book.publish(self.say)

    def wait_ready(self, c: Container) -> None:
        """The role's readiness check, retried until it passes or its timeout ends."""
        role = self.stack.role(c.role)
        if not role.check:
            return
        remote = self.remotes[c.host]
        start = time.monotonic()
        last_said = start
        while True:
            r = remote.run(["docker", "exec", c.name, "sh", "-c", role.check], f"{c.name}: readiness check",
                           check=False, timeout=role.check_timeout)
            if r.ok:
                return
            now = time.monotonic()
            if now - start >= role.check_timeout:
                said = (r.stderr or r.stdout).strip().splitlines()
                raise RemoteError(c.host, f"{c.name}: readiness check `{role.check}`",
                                  f"not passing after {role.check_timeout:g}s"
                                  + (f" (last said: {said[-1]})" if said else f" (exit {r.exit_code})"))
            if now - last_said >= PROGRESS_EVERY:
                self.say(f"  {c.name}: waiting for `{role.check}` ({now - start:.0f}s of {role.check_timeout:g}s)")
                last_said = now
            time.sleep(CHECK_POLL)  # poll interval between readiness probes

    # --- service registries ------------------------------------------------------------

    def prepare_service(self, c: Container) -> None:
        """A service container's files must exist before it starts."""
        if c.is_dnsmasq:
            with self.lock:
                self.book.publish(self.say)
        elif c.role in ("puppet", "haproxy"):
            self.publish_services(only=c)

    def publish_services(self, only: Container | None = None) -> None:
        """site.pp + hieradata into puppet containers, haproxy.cfg into haproxy containers (reloaded)."""
        with self.lock:
            regs = registries.registered(self.stack, self.book.registry, self.running_names(),
                                         self.inv.network.domain)
            targets = [only] if only else [c for c in self.stack.containers if c.role in ("puppet", "haproxy")]
            for c in targets:
                if c.role == "puppet":
                    self._push_puppet(c, regs)
                else:
                    self._push_haproxy(c, regs)

    def _push_puppet(self, c: Container, regs: list[registries.Registered]) -> None:
        r, base = self.remotes[c.host], dockercli.service_dir(c)
        files = {"manifests/site.pp": registries.render_site_pp(self.stack, regs),
                 "data/common.yaml": registries.render_hieradata(self.stack, regs, self.inv.network.domain),
                 "hiera.yaml": registries.render_hiera_config()}
        if r.sync_files(base, files, "push puppet's files"):
            self.say(f"  {c.name}: site.pp and hieradata updated ({len(regs)} node(s))")

    def _push_haproxy(self, c: Container, regs: list[registries.Registered]) -> None:
        r, base = self.remotes[c.host], dockercli.service_dir(c)
        text = registries.render_haproxy(self.stack, regs)
        if r.get_text(f"{base}/haproxy.cfg", "read haproxy.cfg") == text:
            return
        state = inspect(r, c.name)
        if not (state and state.running):
            r.put_text(f"{base}/haproxy.cfg", text, "push haproxy.cfg")
            return
        r.put_text(f"{base}/haproxy.cfg.new", text, "push haproxy.cfg")
        check = r.run(["docker", "exec", c.name, "haproxy", "-c", "-f", f"{dockercli.HAPROXY_MOUNT}/haproxy.cfg.new"],
                      "validate haproxy.cfg", check=False)
        if not check.ok:
            raise RemoteError(c.host, f"{c.name}: haproxy -c", (check.stderr or check.stdout).strip())
        r.run(["mv", "-f", f"{base}/haproxy.cfg.new", f"{base}/haproxy.cfg"], "install haproxy.cfg")
        r.run(["docker", "kill", "--signal", "USR2", c.name], "reload haproxy")
        self.say(f"  {c.name}: haproxy.cfg updated, validated and reloaded")


# --- single-container commands (inv create/start/stop/remove/ipam.release) -------------------


def create(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> ipam.Record:
    c = stack.container(name)
    ex = Executor(inv, stack, remotes, say)
    where = ex.locate(name)
    if where.get(c.host) == "running":
        current = ex.running_record(c)
        if current:
            say(f"{name}: already running on {c.host} with {current.ip}, nothing to do")
            return current
    if c.host in where:
        raise DockstackError(f"{name} already exists on {c.host} ({where[c.host]}): "
                             f"`inv start --name={name}`, or `inv remove --name={name}` first")
    if where:
        raise DockstackError(f"{name} exists on {next(iter(where))}, but {stack.path} puts it on {c.host}: "
                             f"`inv remove --name={name}` first")
    record = ex.create(c)
    ex.publish_services()
    say(f"{name}: {record.ip} ({record.mac}, {record.source}) on {c.host}")
    return record


def start(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> ipam.Record:
    c = stack.container(name)
    ex = Executor(inv, stack, remotes, say)
    where = ex.locate(name)
    if c.host not in where:
        hint = f"it is on {next(iter(where))}: `inv remove --name={name}`, then create" if where else \
            f"`inv create --name={name}`"
        raise DockstackError(f"{name} does not exist on {c.host}: {hint}")
    current = ex.running_record(c)
    if current:
        say(f"{name}: already running with {current.ip}, nothing to do")
        return current
    record = ex.start(c)
    ex.publish_services()
    say(f"{name}: {record.ip} ({record.mac}, {record.source}) on {c.host}")
    return record


def stop(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    stack.container(name)
    ex = Executor(inv, stack, remotes, say)
    where = ex.locate(name)
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
    ex = Executor(inv, stack, remotes, say)
    where = ex.locate(name)
    if not where:
        say(f"{name}: not on any host, nothing to remove")
        return
    for host in where:
        ex.remove(host, name)
    ex.publish_services()
    say(f"{name}: removed (`inv ipam.release --name={name}` forgets its address)")


def release(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    """Forget an address on purpose: drop it from the registry and from dnsmasq's leases."""
    try:
        c: Container | None = stack.container(name)
    except DockstackError:
        c = None  # a container no longer in the config may still hold an address
    if c is not None and (c.mac or c.ip):
        raise DockstackError(f"{stack.path}: {name} has a static mac/ip in the config: "
                             "remove them there to change its address")
    ex = Executor(inv, stack, remotes, say)
    running = [h for h, s in ex.locate(name).items() if s == "running"]
    if running:
        raise DockstackError(f"{name} is running on {running[0]} with that address: `inv remove --name={name}` first")
    release_address(ex, name)


def release_address(ex: Executor, name: str) -> None:
    book = ex.book
    known = book.known().get(name)
    if known is None:
        ex.say(f"{name}: no address known, nothing to release")
        return
    mac, ip = known
    with ex.lock:
        book.registry.pop(name, None)
        book.released = ipam.quarantine(book.released, ip)
        for d in ex.stack.dnsmasq_containers():
            r = ex.remotes[d.host]
            state = inspect(r, d.name)
            if state and state.running:  # dhcp_release makes the running dnsmasq drop the lease
                r.run(["docker", "exec", d.name, "dhcp_release", "eth0", ip, mac], f"{d.name}: release lease")
            else:  # dnsmasq is down, so its lease file can be edited safely
                path = f"{dockercli.service_dir(d)}/leases"
                lines = (r.get_text(path, "read dnsmasq leases") or "").splitlines(keepends=True)
                kept = [line for line in lines if f" {mac} {ip} " not in line]
                if kept != lines:
                    r.put_text(path, "".join(kept), "drop the lease")
        book.publish(ex.say)
    ex.say(f"{name}: released {ip} ({mac})")
