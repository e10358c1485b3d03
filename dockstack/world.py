"""What a command knows before it acts: every host's facts and the address book, read once.

One round trip per host (facts.HOST_FACTS_SCRIPT, in parallel); the address book comes with the
facts of the hosts that keep dnsmasq's folders. Nothing re-lists containers afterwards: the executor
keeps this picture current from what its own actions report.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockstack import addressbook, facts
from dockstack.config import Inventory, Stack
from dockstack.dockercli import LABEL_MANAGED, SERVICE_ROOT
from dockstack.errors import RemoteError
from dockstack.remote import Remotes, parallel


@dataclass(frozen=True)
class World:
    hosts: dict[str, facts.HostFacts]
    book: addressbook.Book
    copies: dict[str, facts.BookCopy]  # configured dnsmasq container -> its copy (absent: none yet)
    book_notes: tuple[str, ...]  # copies that differ from the newest

    def where(self, name: str) -> dict[str, facts.ContainerState]:
        """host -> state, for every host that has a dockstack container of that name."""
        return {h: f.containers[name] for h, f in self.hosts.items() if name in f.containers}

    def running(self) -> set[tuple[str, str]]:
        """(host, name) of every running dockstack container."""
        return {(h, n) for h, f in self.hosts.items() for n, s in f.containers.items() if s.running}


def read_world(inv: Inventory, stack: Stack, remotes: Remotes) -> World:
    tags = sorted({c.image for c in stack.containers})
    net = inv.network

    def read(host_name: str) -> facts.HostFacts:
        argv = facts.host_facts_argv(f"{LABEL_MANAGED}=true", SERVICE_ROOT, net.bridge, net.vxlan_device,
                                     net.uplink, tags)
        return facts.parse_host_facts(remotes[host_name].run(argv, "read host facts").stdout)

    names = [h.name for h in inv.hosts]
    found = dict(zip(names, parallel(names, read)))
    for name, f in found.items():
        if not f.dockerd:
            said = remotes[name].explain(f.dockerd_said) if f.dockerd_said else "`docker version` failed"
            raise RemoteError(name, "read host facts", f"dockerd on {name} is not answering: {said}")
    copies = {d.name: found[d.host].books[d.name] for d in stack.dnsmasq_containers()
              if d.name in found[d.host].books}
    book, notes = addressbook.merge(list(copies.values()))
    return World(found, book, copies, tuple(notes))
