"""The one converge: (config, facts, plan) -> the changes made, tier by tier. Every command that changes containers
(create, start, deploy-all, Galera's restore) plans its actions (dockstack.plan) and hands them here; nothing else
runs the recipe.

Per tier: the Puppet server gets the files its agents will ask for, the services' hooks decide what their starting
containers need, the actions run (those that take no serving container down at once, then each role's rolling
change, which does not begin for a role whose at-once part failed), the tier's addresses go to the address book in
one transaction, and the services' files are published. A tier in which something failed is the last (unless only
unreachable hosts failed and every role keeps its quorum), so a re-run converges from there.

The parts, one job each: ledger (what the command knows of its hosts), book (address-book commits), members
(balancer membership), publish (file publication), hooks (services' prepare hooks, the agents' pin), runner (one
action over SSH).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import partial

from dockstack import network, rolling
from dockstack.addressbook import Change
from dockstack.cacheck import check_ca
from dockstack.config import Inventory, Role, Stack, tiers
from dockstack.converge.book import AddressBook
from dockstack.converge.hooks import ServiceHooks
from dockstack.converge.ledger import Ledger
from dockstack.converge.members import READY, Balancers
from dockstack.converge.publish import Publisher
from dockstack.converge.runner import Done, Runner
from dockstack.errors import DockstackError
from dockstack.health import NO_SERVICE, PASS
from dockstack.plan import RUN_RECREATE, RUNS_AGENT, STARTS, Action
from dockstack.remote import Remotes, parallel
from dockstack.settings import step_timeout
from dockstack.stopping import StopRequest
from dockstack.world import World

Say = Callable[[str], None]


@dataclass
class Outcome:
    ok: int = 0
    changed: int = 0
    failed: list[str] = field(default_factory=list)
    pruned: int = 0
    interrupted: str = ""  # the signal that stopped the run after a tier (SIGINT, SIGTERM)
    errors: dict[str, str] = field(default_factory=dict, compare=False)  # container -> why it failed
    done: list[Done] = field(default_factory=list, compare=False)  # each action's outcome, in the order they ended

    def summary(self) -> str:
        text = f"{self.ok} ok, {self.changed} changed, {len(self.failed)} failed"
        return text + (f", {self.pruned} pruned" if self.pruned else "")


@dataclass(frozen=True)
class Session:
    """One command's connections and what it learns while it runs: the parts of the converge, built once."""

    inv: Inventory
    stack: Stack
    remotes: Remotes
    world: World
    say: Say
    book: AddressBook
    ledger: Ledger
    hooks: ServiceHooks
    publisher: Publisher
    balancers: Balancers
    runner: Runner


def open_session(inv: Inventory, stack: Stack, remotes: Remotes, world: World, say: Say) -> Session:
    """The parts of one command that changes the hosts, from the facts it read; before any change, a CA this load
    made is refused unless the stack is new (dockstack.cacheck): nothing publishes a certificate no client trusts."""
    check_ca(stack, world.hosts, world.unreachable)
    book = AddressBook(inv, stack, remotes, world, say)
    ledger = Ledger(world, book.records)
    hooks = ServiceHooks(inv, stack, remotes, world, ledger, say)
    publisher = Publisher(inv, stack, remotes, ledger, say)
    balancers = Balancers(stack, remotes, ledger, world.unreachable, say)
    runner = Runner(inv, stack, remotes, world, ledger, book, hooks, publisher, balancers, say)
    return Session(inv, stack, remotes, world, say, book, ledger, hooks, publisher, balancers, runner)


def ensure_network(s: Session, host_names: Iterable[str]) -> None:
    """Bridge, VXLAN mesh and FORWARD rule, on the hosts whose facts show them missing or different."""
    wanted = set(host_names)
    needed = [(h, reason) for h in s.inv.hosts if h.name in wanted
              if (reason := network.network_needs(s.inv.network, h, network.peers(s.inv, h),
                                                  s.world.hosts[h.name].network))]

    def setup(item) -> None:
        h, reason = item
        s.remotes[h.name].shell(network.host_network_command(s.inv.network, h, network.peers(s.inv, h)),
                                "set up container network", timeout=step_timeout())
        s.say(f"  {h.name}: container network set up ({reason})")

    parallel(needed, setup)


def publish(s: Session, ahead: Collection[str] = ()) -> None:
    """The services' files that follow the config, where they changed: a service that never re-reads a changed file
    is restarted (given its eth0 back), the others get the new files (`ahead`: containers this command re-creates
    next, whose files travel with their action)."""
    for c in s.publisher.needing_restart():
        s.runner.restart(c)
    s.publisher.push(lambda d: d.follows_stack, skip=ahead)


def push_agent_server(s: Session, acts: Iterable[Action], ahead: Collection[str] = ()) -> None:
    """Before agents run (a start, or a reconfigure: its settings changed): the Puppet server gets the config's
    site.pp, hieradata, autosign list and profiles where they differ from its host's (only after they changed;
    else no round trip)."""
    if any(a.kind in RUNS_AGENT and s.stack.asks_catalog(a.container) for a in acts):
        s.publisher.push(lambda d: d.provides_catalog, skip=ahead)


def converge(s: Session, actions: list[Action], *, whole: bool, network_hosts: Iterable[str],
             stop: StopRequest | None = None, announce: bool = True, force_below_quorum: bool = False) -> Outcome:
    """Apply the plan tier by tier (see the module); whole: the actions are whole roles (deploy-all, a restore), so
    the services' hooks decide for every member at once; announce: say each tier (a command of one container does
    not); force_below_quorum: the operator asked (deploy-all --force-below-quorum) that a roll go on where it would
    take down a passing member of a role below its quorum, or take a role below it. Failures are counted in the
    outcome, never raised."""
    try:
        return _converge(s, actions, whole, network_hosts, stop, announce, force_below_quorum)
    finally:
        s.book.settle()  # the replicas the last tier's commit still writes


def _converge(s: Session, actions: list[Action], whole: bool, network_hosts: Iterable[str],
              stop: StopRequest | None, announce: bool, force_below_quorum: bool) -> Outcome:
    ensure_network(s, network_hosts)
    outcome = Outcome()
    healthy = _healthy(s)
    by_role: dict[str, list[Action]] = {}
    for a in actions:
        by_role.setdefault(a.container.role, []).append(a)
    role_tiers = [t for t in tiers(s.stack) if any(r.name in by_role for r in t)]
    ahead = {a.container.name for a in actions if a.mode == RUN_RECREATE}
    for i, tier in enumerate(role_tiers, 1):
        members = [a for r in tier for a in by_role.get(r.name, [])]
        if stop is not None and stop.signal:  # asked before this tier ran
            outcome.interrupted = stop.signal
            s.say(f"{stop.signal}: stopped before tier {i}; no container was touched")
            break
        if announce:
            s.say(f"[{i}/{len(role_tiers)}] {', '.join(r.name for r in tier)}: "
                  f"{', '.join(f'{a.container.name}@{a.container.host}' for a in members)}")
        try:  # a node's block and its profiles are on the server before its agent asks; then the services' hooks
            push_agent_server(s, members, ahead)
            s.hooks.prepare([a.container for a in members if a.kind in STARTS], whole=whole)
        except DockstackError as exc:
            outcome.errors.update({a.container.name: str(exc) for a in members if a.changes})
            outcome.failed += [f"{a.container.name} on {a.container.host}: {exc}" for a in members if a.changes]
            if announce:
                s.say(f"FAILED in tier {i}: {exc}")
            break
        tier_started = time.monotonic()
        done = _apply_tier(s, members, healthy, force_below_quorum)
        ahead -= {a.container.name for a in members}
        failed = _commit_tier(s, done, ahead)
        if announce and any(d.changed for d in done):
            s.say(f"  [{i}/{len(role_tiers)}] took {time.monotonic() - tier_started:.1f}s")
        for d in done:
            if d.name in failed and not d.untouched:  # one its stopped roll left as it was serves as before
                healthy.discard(d.name)
        _tally(outcome, done, failed)
        if failed and not (announce and _goes_on(s, i, tier, role_tiers, done, failed, healthy)):
            break
        if stop is not None and stop.signal:
            later = ', '.join(r.name for t in role_tiers[i:] for r in t) or '-'
            outcome.interrupted = stop.signal
            s.say(f"{stop.signal}: tier {i} finished and its addresses are recorded; later tiers not started: {later}")
            break
    return outcome


def _healthy(s: Session) -> set[str]:
    """The containers whose checks passed (or that have none) as the facts were read, on whichever host a copy of
    each runs: one the config moves elsewhere serves from its old host until the move."""
    return {c.name for c in s.stack.containers
            if any(s.world.health(s.stack, c.name, h).state in (PASS, NO_SERVICE) for h in s.world.where(c.name))}


def _tally(outcome: Outcome, done: list[Done], failed: dict[str, str]) -> None:
    outcome.done += done
    outcome.errors.update(failed)
    for d in done:
        if d.name in failed:
            outcome.failed.append(f"{d.name} on {d.host}: {failed[d.name]}")
        else:
            outcome.ok += 1
            outcome.changed += d.changed


def _goes_on(s: Session, i: int, tier: list[Role], role_tiers: list[list[Role]], done: list[Done],
             failed: dict[str, str], healthy: set[str]) -> bool:
    """After a tier with failures: the later tiers go on only when nothing but containers on hosts that do not
    answer failed and every role of the tier keeps its quorum."""
    later = ', '.join(r.name for t in role_tiers[i:] for r in t) or '-'
    s.say(f"FAILED in tier {i}: " + "; ".join(f"{d.name} on {d.host}: {failed[d.name]}" for d in done
                                              if d.name in failed))
    skipped = {d.name for d in done if d.unreachable and d.name in failed and failed[d.name] == d.error}
    short = [why for role in tier if (why := rolling.below_quorum(role, s.stack.of_role(role.name), healthy))]
    if {d.name for d in done if d.name in failed} <= skipped and not short:
        s.say(f"  only containers on hosts that do not answer failed, and every role of tier {i} has its quorum: "
              "the later tiers go on")
        return True
    s.say(f"later tiers not started: {later}")
    if short:
        s.say(f"  below quorum: {'; '.join(short)}")
    return False


def _apply_tier(s: Session, members: list[Action], healthy: set[str], force_below_quorum: bool) -> list[Done]:
    """The tier's actions: those that take no serving container down all at once, then each role's rolling change
    (rolling.roll: a few running containers at a time, in its order, each ready before the next; the roles of a
    tier roll side by side). A role whose at-once part failed does not begin its roll, and a role's first failure
    ends its roll: the rest keep running as they are."""
    by_role: dict[str, list[Action]] = {}
    for a in members:
        by_role.setdefault(a.container.role, []).append(a)
    rolls, at_once = [], []
    for role, acts in by_role.items():
        batches, rest = rolling.roll(s.stack, s.stack.role(role), acts, healthy, s.world.hosts)
        at_once += rest
        if batches:
            rolls.append((role, batches))
    done = parallel(at_once, s.runner.apply)
    healthy -= {d.name for d in done if d.error}
    healthy |= {d.name for d in done if not d.error and d.changed}
    failed = {d.name: d for d in done if d.error}
    go = []
    for role, batches in rolls:
        first = [c.name for c in s.stack.of_role(role) if c.name in failed]
        why = rolling.not_started(s.stack.role(role), first, [a.container.name for b in batches for a in b])
        if why is None:
            go.append((role, batches))
            continue
        s.say(f"  {role}: rolling change not started: {why}")
        # held only by hosts that do not answer: nothing was tried because of them (the later tiers may go on)
        held_by_hosts = all(failed[n].unreachable for n in first)
        done += [Done(a.container.name, a.container.host, None, "not changed: the rolling change did not begin: "
                      f"{', '.join(first)} failed before it", True, unreachable=held_by_hosts, untouched=True)
                 for b in batches for a in b]
    for results in parallel(go, lambda item: _roll_role(s, item[0], item[1], healthy, force_below_quorum)):
        done += results
    return done


def _roll_role(s: Session, role: str, batches: list[list[Action]], healthy: set[str],
               force_below_quorum: bool) -> list[Done]:
    out: list[Done] = []
    for k, batch in enumerate(batches):
        why = rolling.unsafe(s.stack.of_role(role), s.stack.role(role), batch, healthy)
        if why and force_below_quorum:
            s.say(f"  {role}: {why}; changed anyway ({rolling.FORCE_FLAG})")
        elif why:
            why = rolling.refusal(why)
            s.say(f"  {role}: rolling change stopped: {why}")
            return out + [Done(a.container.name, a.container.host, None, f"not changed: {why}", True,
                               untouched=True) for b in batches[k:] for a in b]
        s.say(f"  {role}: rolling change {k + 1}/{len(batches)}: {', '.join(a.container.name for a in batch)}")
        results = parallel(batch, s.runner.apply)
        out += results
        healthy.difference_update(d.name for d in results if d.error)
        healthy.update(d.name for d in results if not d.error)
        failed = [d for d in results if d.error]
        if failed:
            left = [a.container for b in batches[k + 1:] for a in b]
            s.say(f"  {role}: rolling change stopped at {failed[0].name}"
                  + (f"; {', '.join(c.name for c in left)} keep running as they are" if left else ""))
            return out + [Done(c.name, c.host, None, f"not changed: the rolling change stopped at {failed[0].name}",
                               True, untouched=True) for c in left]
    return out


def _commit_tier(s: Session, done: list[Done], ahead: Collection[str]) -> dict[str, str]:
    """The tier's addresses in one address-book transaction, its new members' balancers told they are ready beside
    it (set_member never raises), then the services' files; name -> error."""
    failed = {d.name: d.error for d in done if d.error}
    ready = [s.stack.container(d.name) for d in done if d.ready_later]

    def commit() -> dict[str, str]:
        return s.book.commit(Change(puts=tuple(d.record for d in done if d.record)), lag_replicas=True)

    jobs: list[Callable[[], object]] = [commit, *(partial(s.balancers.set_member, c, READY) for c in ready)]
    try:
        conflicts = parallel(jobs, lambda job: job())[0]
        failed.update({n: f"address refused by the address book: {why}" for n, why in conflicts.items()})
        publish(s, ahead)
    except DockstackError as exc:
        for d in done:
            failed.setdefault(d.name, str(exc))
    return failed
