"""Container commands: inv create / start / stop / remove / ipam.release, for one container or a role's.

Each is one pass: facts (one read per host) -> plan (pure) -> one action script on the container's
host -> one address-book transaction -> puppet/haproxy files pushed where they changed.
"""

from __future__ import annotations

from collections.abc import Callable

from dockstack import plan as planner
from dockstack.addressbook import Change
from dockstack.config import CONTAINER_NAME_RE, Container, Inventory, Stack, keep_generated_secrets
from dockstack.errors import DockstackError
from dockstack.executor import Executor
from dockstack.facts import Record
from dockstack.remote import Remotes
from dockstack.secretcheck import check_deployed
from dockstack.world import read_world

Say = Callable[[str], None]


def _prepare(inv: Inventory, stack: Stack, remotes: Remotes, say: Say) -> Executor:
    return Executor(inv, stack, remotes, read_world(inv, stack, remotes), say)


def _converge_one(ex: Executor, action: planner.Action) -> Record:
    """Run one action, commit the address it ended with (also when a later step failed), push the services' files."""
    c = action.container
    ex.ensure_network([c.host])
    ex.push_agent_server([action])
    ex.prepare([c])  # its service's hook: e.g. a galera node joins the running cluster, or starts it if it must
    done = ex.apply(action)
    conflicts = ex.commit(Change(puts=(done.record,) if done.record else ()))
    ex.publish_services()
    if done.error:
        raise DockstackError(f"{c.name} on {c.host}: {done.error}")
    if c.name in conflicts:
        raise DockstackError(f"{c.name} on {c.host}: address refused by the address book: {conflicts[c.name]}")
    record = done.record or ex.records.get(c.name)
    if record is None:
        raise DockstackError(f"{c.name} on {c.host}: no address recorded")
    ex.say(f"{c.name}: {record.ip} ({record.mac}, {record.source}) on {c.host}")
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
    targets = _targets(stack, name, say)
    ex = _prepare(inv, stack, remotes, say)
    check_deployed(stack, ex.world.hosts)  # before the secrets file is written or a container starts
    keep_secrets(stack, say)
    for c in ex.in_order(targets):
        _create(ex, c)


def keep_secrets(stack: Stack, say: Say) -> None:
    """The passwords this load made are written before any container starts with them."""
    written = keep_generated_secrets(stack)
    if written:
        say(f"generated passwords written to {written} (keep it, never commit it)")


def _create(ex: Executor, c: Container) -> Record:
    name = c.name
    where = ex.world.where(name)
    if c.host in where:
        action = planner.plan_container(c, ex.world.hosts, ex.records.get(name))
        if action.kind == planner.NOTHING:
            ex.say(f"{name}: already running on {c.host} with {ex.records[name].ip}, nothing to do")
            ex.commit(Change())  # still repairs the address book if its copies differ
            return ex.records[name]
        if action.kind == planner.ADOPT:
            return _converge_one(ex, action)
        raise DockstackError(f"{name} already exists on {c.host} ({where[c.host].status}): "
                             f"`inv start --name={name}`, or `inv remove --name={name}` first")
    if where:
        raise DockstackError(f"{name} exists on {next(iter(where))}, but {ex.stack.path} puts it on {c.host}: "
                             f"`inv remove --name={name}` first")
    return _converge_one(ex, planner.Action(c, planner.CREATE, "missing"))


def start(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    targets = _targets(stack, name, say)
    ex = _prepare(inv, stack, remotes, say)
    check_deployed(stack, ex.world.hosts)  # before the secrets file is written or a container starts
    keep_secrets(stack, say)
    for c in ex.in_order(targets):
        _start(ex, c)


def _start(ex: Executor, c: Container) -> Record:
    name = c.name
    where = ex.world.where(name)
    if c.host not in where:
        hint = f"it is on {next(iter(where))}: `inv remove --name={name}`, then create" if where else \
            f"`inv create --name={name}`"
        raise DockstackError(f"{name} does not exist on {c.host}: {hint}")
    action = planner.plan_container(c, ex.world.hosts, ex.records.get(name))
    if action.kind == planner.NOTHING:
        ex.say(f"{name}: already running with {ex.records[name].ip}, nothing to do")
        return ex.records[name]
    if action.kind != planner.ADOPT:
        action = planner.Action(c, planner.START, action.why)
    return _converge_one(ex, action)


def stop(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    targets = _targets(stack, name, say, reverse=True)
    ex = _prepare(inv, stack, remotes, say)
    for c in targets:
        where = ex.world.where(c.name)
        if not where and len(targets) == 1:
            raise DockstackError(f"{c.name} does not exist on any host: nothing to stop")
        for host, state in where.items():
            if state.running:
                ex.take_down(c, host)  # out of haproxy first: a planned stop cuts no connection
            else:
                say(f"{c.name}: already stopped on {host}")
        if not where:
            say(f"{c.name}: not on any host, nothing to stop")
    ex.publish_services()


def remove(inv: Inventory, stack: Stack, remotes: Remotes, name: str, say: Say) -> None:
    targets = _targets(stack, name, say, reverse=True)
    ex = _prepare(inv, stack, remotes, say)
    for c in targets:
        where = ex.world.where(c.name)
        if not where:
            say(f"{c.name}: not on any host, nothing to remove")
            continue
        for host, state in where.items():
            if state.running:
                ex.take_down(c, host, remove=True)
            else:
                ex.remove(host, c.name)
        say(f"{c.name}: removed (`inv ipam.release --name={c.name}` forgets its address)")
    ex.publish_services()


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
    ex = _prepare(inv, stack, remotes, say)
    for n in names:
        running = [h for h, s in ex.world.where(n).items() if s.running]
        if running:
            raise DockstackError(f"{n} is running on {running[0]} with that address: `inv remove --name={name}` first")
    release_addresses(ex, names)


def release_addresses(ex: Executor, names: list[str]) -> None:
    """One transaction that forgets these names' addresses and holds their IPs back for a while."""
    known = ex.world.book.known()
    client_ids = {(lease.mac, lease.ip): lease.client_id for lease in ex.world.book.leases if lease.client_id}
    releases = tuple((n, known[n][1], known[n][0], *filter(None, [client_ids.get(known[n])]))
                     for n in names if n in known)
    for n in names:
        if n not in known:
            ex.say(f"{n}: no address known, nothing to release")
    if releases:
        ex.commit(Change(releases=releases))
        for n, ip, mac, *_ in releases:
            ex.say(f"{n}: released {ip} ({mac})")
