"""Container commands: inv create / start / stop / remove / ipam.release, for one container or a role's.

Each is one pass: facts (one read per host) -> plan (pure: plan.plan_create / plan_start) -> the one converge
(dockstack.converge) for each container in turn: its action script on its host, one address-book transaction, the
services' files pushed where they changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dockstack import plan as planner
from dockstack.addressbook import Change
from dockstack.cacheck import check_ca
from dockstack.config import CONTAINER_NAME_RE, Container, Inventory, Stack, keep_generated_secrets
from dockstack.converge import Session, converge, open_session, publish
from dockstack.errors import DockstackError
from dockstack.facts import HostFacts, Record
from dockstack.remote import Remotes
from dockstack.secretcheck import check_deployed
from dockstack.world import read_world

Say = Callable[[str], None]
Planner = Callable[[Container, dict, Record | None], planner.Action]


def _session(inv: Inventory, stack: Stack, remotes: Remotes, say: Say) -> Session:
    return open_session(inv, stack, remotes, read_world(inv, stack, remotes), say)


def _converge_one(s: Session, c: Container, plan: Planner) -> Record:
    """Plan one container against what this command knows now, converge it, and say the address it holds; a
    refusal or a failure is raised with its reason."""
    action = plan(c, s.world.hosts, s.book.record(c.name))
    if action.kind == planner.REFUSE:
        raise DockstackError(action.why)
    if action.kind == planner.NOTHING:
        s.say(f"{c.name}: {action.why}")
    outcome = converge(s, [action], whole=False, network_hosts=[c.host], announce=False)
    if c.name in outcome.errors:
        raise DockstackError(f"{c.name} on {c.host}: {outcome.errors[c.name]}")
    record = s.book.record(c.name)
    if record is None:
        raise DockstackError(f"{c.name} on {c.host}: no address recorded")
    s.say(f"{c.name}: {record.ip} ({record.mac}, {record.source}) on {c.host}")
    return record


def _targets(stack: Stack, name: str, say: Say, reverse: bool = False) -> tuple[Container, ...]:
    """The containers `--name` names; a role's are acted on one after another, in config order (reversed
    for stop and remove: the first node a clustered role starts is the last it stops)."""
    targets = stack.select(name)
    if reverse:
        targets = tuple(reversed(targets))
    if len(targets) > 1 or targets[0].name != name:
        say(f"role {name}: {', '.join(c.name for c in targets)}, one after another")
    return targets


def create(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    _bring_up(inv, stack, remotes, name, say, planner.plan_create)


def start(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    _bring_up(inv, stack, remotes, name, say, planner.plan_start)


def _bring_up(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say, plan: Planner) -> None:
    targets = _targets(stack, name, say)
    s = _session(inv, stack, remotes, say)
    check_deployed(stack, s.world.hosts)  # before the secrets file is written or a container starts
    keep_secrets(stack, say)
    for c in s.hooks.in_order(targets):
        _converge_one(s, c, plan)


def keep_secrets(stack: Stack, say: Say) -> None:
    """The passwords this load made are written before any container starts with them."""
    written = keep_generated_secrets(stack)
    if written:
        say(f"generated passwords written to {written} (keep it, never commit it)")


def stop(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    targets = _targets(stack, name, say, reverse=True)
    s = _session(inv, stack, remotes, say)
    for c in targets:
        action = planner.plan_stop(c, s.world.hosts)
        if not s.world.where(c.name) and len(targets) == 1:
            raise DockstackError(f"{c.name} does not exist on any host: nothing to stop")
        if action.kind == planner.NOTHING:
            say(f"{c.name}: {action.why}")
        s.runner.retire(action)  # out of haproxy first: a planned stop cuts no connection
    publish(s)


def remove(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    targets = _targets(stack, name, say, reverse=True)
    s = _session(inv, stack, remotes, say)
    for c in targets:
        action = planner.plan_remove(c, s.world.hosts)
        if action.kind == planner.NOTHING:
            say(f"{c.name}: {action.why}")
            continue
        s.runner.retire(action)
        say(f"{c.name}: removed (`inv ipam.release --name={c.name}` forgets its address)")
    publish(s)


def release(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    """Forget addresses on purpose: drop them from the registry and from dnsmasq's leases. A name no longer
    in the config may still hold an address, so any container name is accepted here."""
    if not CONTAINER_NAME_RE.fullmatch(name):  # never in the address book: a typo, or a path or option by mistake
        raise DockstackError(f"--name {name[:80]!r} is not a container name (2-32 of a-z, 0-9 and '-', not at either "
                             f"end); containers: {', '.join(c.name for c in stack.containers)}")
    try:
        targets = _targets(stack, name, say)
    except DockstackError:
        targets = ()
    static = [c.name for c in targets if c.mac or c.ip]
    if static and len(targets) == 1:
        raise DockstackError(f"{stack.path}: {name} has a static mac/ip in the config: "
                             "remove them there to change its address")
    for n in static:
        say(f"{n}: static mac/ip in the config, not released")
    names = [c.name for c in targets if c.name not in static] if targets else [name]
    s = _session(inv, stack, remotes, say)
    for n in names:
        running = [h for h, st in s.world.where(n).items() if st.running]
        if running:
            raise DockstackError(f"{n} is running on {running[0]} with that address: `inv remove --name={name}` first")
    release_addresses(s, names)


def release_addresses(s: Session, names: list[str]) -> None:
    """One transaction that forgets these names' addresses and holds their IPs back for a while."""
    known = s.world.book.known()
    client_ids = {(lease.mac, lease.ip): lease.client_id for lease in s.world.book.leases if lease.client_id}
    releases = tuple((n, known[n][1], known[n][0], *filter(None, [client_ids.get(known[n])]))
                     for n in names if n in known)
    for n in names:
        if n not in known:
            s.say(f"{n}: no address known, nothing to release")
    if releases:
        s.book.commit(Change(releases=releases))
        for n, ip, mac, *_ in releases:
            s.say(f"{n}: released {ip} ({mac})")


@dataclass(frozen=True)
class RoleEngine:
    """The engine as a service's own commands see it (services.base.Engine: galera's backup and restore): the facts,
    the secrets check, a role's clean stop, and a role's start through the one converge."""

    inv: Inventory
    stack: Stack
    remotes: Remotes
    say: Say

    def facts(self, tolerate: bool = False) -> tuple[Mapping[str, HostFacts], Mapping[str, str]]:
        world = read_world(self.inv, self.stack, self.remotes, tolerate=tolerate)
        return world.hosts, world.unreachable

    def check_secrets(self, hosts: Mapping[str, HostFacts]) -> None:
        check_ca(self.stack, hosts)  # the stack's CA too: a restore publishes haproxy's files like any start
        check_deployed(self.stack, hosts)

    def stop(self, role: str) -> None:
        stop(self.inv, self.stack, self.remotes, role, self.say)

    def start(self, members: tuple[Container, ...]) -> None:
        """As deploy-all starts a tier: the facts read again, the service's hook told the whole role starts, then
        every member at once, each waiting for its readiness check."""
        s = _session(self.inv, self.stack, self.remotes, self.say)
        check_deployed(self.stack, s.world.hosts)
        todo = [planner.plan_container(c, s.world.hosts, s.book.record(c.name)) for c in members]
        outcome = converge(s, todo, whole=True, network_hosts={c.host for c in members}, announce=False)
        if outcome.errors:
            raise DockstackError("; ".join(f"{name}: {why}" for name, why in outcome.errors.items()))
