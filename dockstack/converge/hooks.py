"""Services' hooks, run before their containers start: each definition's `prepare` (which galera node starts the
cluster) and `first` (the order a command takes a role's containers in), the Puppet CA the agents are handed (read
once per command from the service that provides the catalog) with each agent's own challenge and the digest of what
its catalog depends on (recorded once the run passed), and the old certificate the server forgets before a new
container's agent asks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from dockstack.agent import AgentPin
from dockstack.config import Container, Inventory, Stack
from dockstack.converge.ledger import Ledger
from dockstack.errors import DockstackError
from dockstack.remote import Remotes
from dockstack.services.base import Cluster, Service
from dockstack.services.registry import DEFINITIONS, definition
from dockstack.settings import agent_timeout, step_timeout
from dockstack.world import World

Say = Callable[[str], None]


def catalog_digests(stack: Stack, domain: str) -> dict[str, str]:
    """Each container whose agent asks for a catalog -> the digest of what that catalog depends on now, as the
    catalog service's definition computes it ({} for a stack without one)."""
    server = stack.catalog_provider()
    d = definition(server) if server else None
    return d.catalog_digests(stack, domain) if d else {}


class ServiceHooks:
    """What the definitions decide before their containers start, kept for the actions that start them."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes, world: World, ledger: Ledger,
                 say: Say) -> None:
        self.inv, self.stack, self.remotes, self.world, self.ledger, self.say = inv, stack, remotes, world, ledger, say
        self._lock = threading.Lock()
        self._prepared: dict[str, dict[str, str]] = {}  # container -> files its prepare hook gave it (next start)
        self._memos: dict[str, dict[str, object]] = {}  # service -> what its hooks keep during this command
        self._catalog: tuple[str, str] | None = None  # the catalog server's DNS name and its CA, read once
        self._digests: dict[str, str] | None = None  # container -> its catalog's digest, computed once

    def cluster(self, service: Service) -> Cluster:
        """What a service's hooks see: its configured containers, which run, the facts, a way to ask a host."""
        def ask(c: Container, argv: list[str], step: str) -> str:
            return self.remotes[c.host].run(argv, step, timeout=step_timeout()).stdout

        members = tuple(c for c in self.stack.containers if c.service == service.name)
        with self._lock:
            memo = self._memos.setdefault(service.name, {})
        return Cluster(members, self.ledger.running_of(c.name for c in members), self.world.hosts,
                       self.world.unreachable, ask, self.say, memo)

    def prepare(self, acting: Iterable[Container], whole: bool = False) -> None:
        """Before these containers start: each service's prepare hook, its files kept for their actions. A hook's
        DockstackError stops the caller before anything starts."""
        by_service: dict[str, list[Container]] = {}
        for c in acting:
            if c.service:
                by_service.setdefault(c.service, []).append(c)
        for name, containers in by_service.items():
            ready = DEFINITIONS[name].prepare(self.cluster(DEFINITIONS[name]), tuple(containers), whole)
            if ready:
                with self._lock:
                    self._prepared.update({n: dict(f) for n, f in ready.files.items()})

    def prepared(self, name: str) -> Mapping[str, str]:
        """The files c's prepare hook gave it for its next start (relative to its service folder)."""
        with self._lock:
            return dict(self._prepared.get(name, {}))

    def in_order(self, targets: tuple[Container, ...]) -> tuple[Container, ...]:
        """targets (one role's) in the order their service wants them taken one by one."""
        d = definition(targets[0]) if targets else None
        return d.first(self.cluster(d), targets) if d else targets

    def agent_pin(self, c: Container) -> AgentPin | None:
        """What c's Puppet agent is given when it runs (None when c's role has no classes): the server's name, the
        CA read from the server's container on its host (one round trip, once per command: agents never learn a CA
        from the network), c's certname and that name's own challenge (derived from the stack's secret, which
        never goes to an agent), and the digest of what its catalog depends on, to record once it passed."""
        server = self.stack.catalog_provider()
        if server is None or not self.stack.asks_catalog(c):
            return None
        with self._lock:
            if self._catalog is None:
                self._catalog = self._read_ca(c, server)
            if self._digests is None:
                self._digests = catalog_digests(self.stack, self.inv.network.domain)
            (name, ca), digest = self._catalog, self._digests.get(c.name, "")
        certname = f"{c.name}.{self.inv.network.domain}"
        return AgentPin(name, ca, certname, self._catalog_definition(c, server).agent_challenge(self.stack, certname),
                        digest)

    def forget_certificate(self, c: Container) -> None:
        """Before c's agent asks with a new key (c created or re-created): the server forgets c's name's certificate
        and any request pending under it (one round trip to the server's host). It signs no second certificate
        for a name, so the new agent would be refused otherwise; the old key's certificate is revoked; and a
        request another container planted under c's name is gone. Nothing to do when c runs no agent."""
        pin = self.agent_pin(c)
        server = self.stack.catalog_provider()
        if pin is None or server is None:
            return
        argv = self._catalog_definition(c, server).agent_forget_argv(server, pin.certname,
                                                                        self.inv.network.domain)
        r = self.remotes[server.host].run(argv, f"{c.name}: forget its old Puppet certificate", check=False,
                                          timeout=step_timeout() + agent_timeout())
        if not r.ok:
            raise DockstackError(f"{c.name}: {server.name} on {server.host} could not forget the Puppet certificate "
                                 f"of {pin.certname} before its new agent asks for one: "
                                 f"{(r.stderr or r.stdout).strip()[-300:]} (is it running? `inv status`)")

    def _catalog_definition(self, c: Container, server: Container) -> Service:
        d = definition(server)
        if d is None or server.host in self.world.unreachable:
            raise DockstackError(f"{c.name}: its Puppet agent needs {server.name} on {server.host}, which cannot be "
                                 f"asked: {self.world.unreachable.get(server.host, 'no service definition')}")
        return d

    def _read_ca(self, c: Container, server: Container) -> tuple[str, str]:
        """The server's DNS name and the CA certificate(s) read from its container."""
        d = self._catalog_definition(c, server)
        r = self.remotes[server.host].run(d.agent_ca_argv(server), f"{server.name}: read the Puppet CA", check=False)
        if not r.ok:
            raise DockstackError(f"{c.name}: its Puppet agent needs the CA of {server.name} on {server.host}: "
                                 f"{(r.stderr or r.stdout).strip()[-300:]} (is it running? "
                                 f"`inv create --name={server.name}`)")
        return f"{server.name}.{self.inv.network.domain}", d.parse_agent_ca(server, r.stdout)
