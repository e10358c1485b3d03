"""File publication: the files services render from the whole config (Puppet's site.pp and hieradata, haproxy's
configuration), pushed to their running containers only where their content differs from what the host holds,
each file checked in the container before it replaces the old one, and the service told to reload."""

from __future__ import annotations

from collections.abc import Callable, Collection

from dockstack import actions
from dockstack.config import Container, Inventory, Stack
from dockstack.converge.ledger import Ledger
from dockstack.errors import RemoteError
from dockstack.remote import Remotes, parallel
from dockstack.services import service_dir
from dockstack.services.base import Context, Service
from dockstack.services.registry import DEFINITIONS, definition
from dockstack.settings import step_timeout

Say = Callable[[str], None]


class Publisher:
    """Renders each service container's files and pushes those a host lacks."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes, ledger: Ledger, say: Say) -> None:
        self.inv, self.stack, self.remotes, self.ledger, self.say = inv, stack, remotes, ledger, say

    def dns_servers(self) -> list[str]:
        return [str(d.ip) for d in self.stack.address_providers()]

    def context(self) -> Context:
        return Context(self.stack, self.inv.network, tuple(self.dns_servers()), DEFINITIONS)

    def service_files(self, c: Container) -> tuple[dict[str, str], tuple[str, ...]]:
        """The files its service's definition renders for c (absolute paths on its host), and folders."""
        d = definition(c)
        if d is None:
            return {}, ()
        base = service_dir(c)
        return ({f"{base}/{p}": t for p, t in d.files(self.context(), c).items()},
                tuple(f"{base}/{f}" for f in d.folders(c)))

    def needing_restart(self) -> list[Container]:
        """Running containers of services whose process never re-reads a changed file (dnsmasq: SIGHUP does not
        re-read dnsmasq.conf) that hold an outdated one: each is restarted, not pushed to."""
        out = []
        for c in self.stack.containers:
            d = definition(c)
            if d and d.restart_on_change and self.ledger.serving(c.host, c.name):
                files, _ = self.service_files(c)
                if stale := self.ledger.stale(c.host, files):
                    self.say(f"  {c.name}: {', '.join(sorted(p.rpartition('/')[2] for p in stale))} changed: "
                             "restart")
                    out.append(c)
        return out

    def push(self, which: Callable[[Service], bool], skip: Collection[str] = ()) -> None:
        """Push the files of the services `which` picks where their content differs from what the host has; skip
        names containers this command re-creates next (their files travel with their action, never into the old
        container, whose image may lack what the new files need)."""
        todo = []
        for c in self.stack.containers:
            d = definition(c)
            if d is None or not which(d) or not self.ledger.present(c.host, c.name) or c.name in skip:
                continue
            files, _ = self.service_files(c)
            changed = self.ledger.stale(c.host, files)
            if changed:
                todo.append((c, d, changed))
        parallel(todo, self._push_one)

    def _push_one(self, item: tuple[Container, Service, dict[str, str]]) -> None:
        c, d, files = item
        base = service_dir(c)
        rel = {p[len(base) + 1:]: t for p, t in files.items()}
        r = self.remotes[c.host].run_with_input(actions.service_files_argv(c, d, sorted(rel)),
                                                actions.files_payload(rel, (), d.private_files),
                                                f"push {c.service} files to {c.name}", check=False,
                                                timeout=step_timeout())
        if "done" not in r.stdout.split():
            said = "; ".join(x.partition(" ")[2] for x in r.stdout.splitlines() if x.startswith("said "))
            raise RemoteError(c.host, f"{c.name}: {c.service} files", said or r.stderr.strip()
                              or f"exit code {r.exit_code}")
        self.ledger.written(c.host, files)
        checked = {x.file for x in d.file_checks} & set(rel)
        what = (f"{', '.join(sorted(rel))} updated" + (", validated" if checked else "") if len(rel) <= 3
                else f"{len(rel)} {c.service} file(s) updated")
        self.say(f"  {c.name}: {what}" + (" and reloaded" if "reloaded" in r.stdout.split() else ""))
