"""deploy-all and destroy-all: the whole stack, tier by tier, containers of a tier in parallel.

Facts are read once (world.read_world), the plan comes from plan.plan_stack (pure), the executor runs
each container's action as one script; a tier's addresses are committed in one address-book
transaction and the services' files pushed once per tier. A tier in which something failed is the last,
so a re-run converges from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockstack import plan as planner
from dockstack import rolling
from dockstack.addressbook import Change
from dockstack.config import Container, Inventory, Stack, tiers
from dockstack.errors import DockstackError
from dockstack.executor import Done, Executor
from dockstack.health import NO_SERVICE, PASS, Health
from dockstack.lifecycle import keep_secrets, release_addresses
from dockstack.remote import Remotes, parallel
from dockstack.secretcheck import check_deployed
from dockstack.stopping import StopRequest
from dockstack.world import World, read_world

Say = Callable[[str], None]


@dataclass
class Outcome:
    ok: int = 0
    changed: int = 0
    failed: list[str] = field(default_factory=list)
    pruned: int = 0
    interrupted: str = ""  # the signal that stopped the run after a tier (SIGINT, SIGTERM)

    def summary(self) -> str:
        text = f"{self.ok} ok, {self.changed} changed, {len(self.failed)} failed"
        return text + (f", {self.pruned} pruned" if self.pruned else "")


def format_plan(actions: list[planner.Action], prune: list[tuple[str, str]]) -> str:
    lines = [f"  {a.describe()}" for a in actions]
    lines += [f"  {name} ({host}): remove (not in the config, --prune)" for host, name in prune]
    return "\n".join(lines)


def deploy_all(inv: Inventory, stack: Stack, remotes: Remotes, say: Say, dry_run: bool = False,
               prune: bool = False) -> Outcome:
    """SIGINT/SIGTERM from here on stop the run between steps: what is in flight finishes and is recorded."""
    with StopRequest() as stop:
        return _deploy_all(inv, stack, remotes, say, stop, dry_run, prune)


def _deploy_all(inv: Inventory, stack: Stack, remotes: Remotes, say: Say, stop: StopRequest, dry_run: bool,
                prune: bool) -> Outcome:
    started = time.monotonic()
    world = read_world(inv, stack, remotes, tolerate=True, health=True, confirm=True)
    check_deployed(stack, world.hosts)  # a missing or changed secrets file: refused, dry run included
    for host, why in world.unreachable.items():
        say(f"{host}: not answering, its containers fail: {why}")

    def health(c: Container) -> Health | None:
        return world.health(stack, c.name, c.host) if c.host in world.hosts and c.name in world.hosts[
            c.host].containers else None

    actions = planner.plan_stack(stack, world.hosts, world.book.records, health, world.unreachable)
    healthy = {c.name for c in stack.containers if (h := health(c)) and h.state in (PASS, NO_SERVICE)}
    to_prune = planner.plan_prune(stack, world.hosts) if prune else []
    if dry_run:
        say("deploy-all --dry-run: the plan (nothing is changed)")
        say(format_plan(actions, to_prune))
        unchanged = sum(not a.changes for a in actions)
        say(f"{unchanged} ok, {len(actions) - unchanged + len(to_prune)} to change")
        return Outcome(ok=unchanged)
    _check_images(actions, world)
    keep_secrets(stack, say)  # before any container starts with the passwords this load made
    ex = Executor(inv, stack, remotes, world, say)
    ex.to_recreate = {a.container.name for a in actions if a.kind == planner.RECREATE}
    # every reachable host, not only those with a change: a host's network drift (a lost VXLAN filter, a missing
    # peer) is repaired by the next deploy-all like a container's (network_needs: nothing to do when it is as wanted)
    ex.ensure_network({h.name for h in inv.hosts} - set(world.unreachable))
    outcome = Outcome()
    by_name = {a.container.name: a for a in actions}
    role_tiers = tiers(stack)
    for i, tier in enumerate(role_tiers, 1):
        members = [by_name[c.name] for r in tier for c in stack.of_role(r.name)]
        if not members:
            continue
        if stop.signal:  # asked before any tier ran (while facts were read or the network set up)
            outcome.interrupted = stop.signal
            say(f"{stop.signal}: stopped before tier {i}; no container was touched")
            break
        say(f"[{i}/{len(role_tiers)}] {', '.join(r.name for r in tier)}: "
            f"{', '.join(f'{a.container.name}@{a.container.host}' for a in members)}")
        try:
            ex.push_agent_server(members)  # a node's block and its profiles are on the server before its agent asks
        except DockstackError as exc:
            outcome.failed += [f"{a.container.name} on {a.container.host}: {exc}" for a in members if a.changes]
            say(f"FAILED in tier {i}: the Puppet server's files: {exc}")
            break
        try:  # services' hooks before any of their containers starts (e.g. which galera node starts the cluster)
            ex.prepare([a.container for a in members
                        if a.kind in (planner.CREATE, planner.RECREATE, planner.START, planner.REPAIR)], whole=True)
        except DockstackError as exc:
            outcome.failed += [f"{a.container.name} on {a.container.host}: {exc}" for a in members if a.changes]
            say(f"FAILED in tier {i}: {exc}")
            break
        tier_started = time.monotonic()
        done = _apply_tier(ex, members, healthy)
        failed = _commit_tier(ex, done)
        if any(d.changed for d in done):
            say(f"  [{i}/{len(role_tiers)}] took {time.monotonic() - tier_started:.1f}s")
        for d in done:
            if d.name in failed:
                outcome.failed.append(f"{d.name} on {d.host}: {failed[d.name]}")
                if not d.untouched:  # one its role's stopped roll left as it was still serves (or does not) as before
                    healthy.discard(d.name)
            else:
                outcome.ok += 1
                outcome.changed += d.changed
        later = ', '.join(r.name for t in role_tiers[i:] for r in t) or '-'
        tier_failed = [f"{d.name} on {d.host}: {failed[d.name]}" for d in done if d.name in failed]
        if tier_failed:
            say(f"FAILED in tier {i}: " + "; ".join(tier_failed))
            skipped = {d.name for d in done if d.unreachable and d.name in failed and failed[d.name] == d.error}
            short = [why for role in tier if (why := rolling.below_quorum(role, stack.of_role(role.name), healthy))]
            if {d.name for d in done if d.name in failed} <= skipped and not short:
                say(f"  only containers on hosts that do not answer failed, and every role of tier {i} has its "
                    "quorum: the later tiers go on")
            else:
                say(f"later tiers not started: {later}")
                if short:
                    say(f"  below quorum: {'; '.join(short)}")
                break
        if stop.signal:
            outcome.interrupted = stop.signal
            say(f"{stop.signal}: tier {i} finished and its addresses are recorded; later tiers not started: {later}")
            break
    else:
        for host, name in (to_prune if not outcome.failed else []):
            ex.remove(host, name)
            outcome.pruned += 1
        if to_prune:
            ex.publish_services()
    say(f"deploy-all: {outcome.summary()} ({time.monotonic() - started:.1f}s)")
    return outcome


def _apply_tier(ex: Executor, members: list[planner.Action], healthy: set[str]) -> list[Done]:
    """The tier's actions: those that take no serving container down all at once, then each role's rolling change
    (rolling.roll: a few running containers at a time, in its order, each ready before the next; the roles of a
    tier roll side by side). A role's first failure ends its roll: the rest keep running as they are."""
    by_role: dict[str, list[planner.Action]] = {}
    for a in members:
        by_role.setdefault(a.container.role, []).append(a)
    rolls, at_once = [], []
    for role, acts in by_role.items():
        batches, rest = rolling.roll(ex.stack, ex.stack.role(role), acts, ex.running, healthy, ex.world.hosts)
        at_once += rest
        if batches:
            rolls.append((role, batches))
    done = parallel(at_once, ex.apply)
    healthy -= {d.name for d in done if d.error}
    healthy |= {d.name for d in done if not d.error and d.changed}

    def roll_role(item: tuple[str, list[list[planner.Action]]]) -> list[Done]:
        role, batches = item
        out: list[Done] = []
        for k, batch in enumerate(batches):
            why = rolling.unsafe(ex.stack.of_role(role), ex.stack.role(role), batch, healthy)
            if why:
                ex.say(f"  {role}: rolling change stopped: {why}")
                return out + [Done(a.container.name, a.container.host, None, f"not changed: {why}", True,
                                   untouched=True) for b in batches[k:] for a in b]
            names = ", ".join(a.container.name for a in batch)
            ex.say(f"  {role}: rolling change {k + 1}/{len(batches)}: {names}")
            results = parallel(batch, ex.apply)
            out += results
            healthy.difference_update(d.name for d in results if d.error)
            healthy.update(d.name for d in results if not d.error)
            failed = [d for d in results if d.error]
            if failed:
                left = [a.container.name for b in batches[k + 1:] for a in b]
                ex.say(f"  {role}: rolling change stopped at {failed[0].name}"
                       + (f"; {', '.join(left)} keep running as they are" if left else ""))
                return out + [Done(n, ex.stack.container(n).host, None,
                                   f"not changed: the rolling change stopped at {failed[0].name}", True,
                                   untouched=True) for n in left]
        return out

    for results in parallel(rolls, roll_role):
        done += results
    return done


def _commit_tier(ex: Executor, done: list[Done]) -> dict[str, str]:
    """The tier's addresses in one address-book transaction, then the services' files; name -> error."""
    failed = {d.name: d.error for d in done if d.error}
    try:
        conflicts = ex.commit(Change(puts=tuple(d.record for d in done if d.record)))
        failed.update({n: f"address refused by the address book: {why}" for n, why in conflicts.items()})
        ex.publish_services()
    except DockstackError as exc:
        for d in done:
            failed.setdefault(d.name, str(exc))
    return failed


def _check_images(actions: list[planner.Action], world: World) -> None:
    """Refuse before changing anything when an image a new container needs is not on its host."""
    missing = sorted({(a.container.host, a.container.image) for a in actions
                      if a.kind in (planner.CREATE, planner.RECREATE)
                      and a.container.host not in world.unreachable
                      and not world.hosts[a.container.host].images.get(a.container.image)})
    if missing:
        raise DockstackError("images missing on hosts: " + ", ".join(f"{img} on {h}" for h, img in missing)
                             + ": run `inv images.sync` (containers.yaml lists how to build them)")


def destroy_all(inv: Inventory, stack: Stack, remotes: Remotes, say: Say, release: bool = False) -> int:
    """Remove the stack's containers in reverse deploy order; addresses are kept unless release."""
    world = read_world(inv, stack, remotes)
    ex = Executor(inv, stack, remotes, world, say)
    removed = 0
    for tier in reversed(tiers(stack)):
        members: list[tuple[str, Container]] = [(h, c) for r in tier for c in stack.of_role(r.name)
                                                for h in world.where(c.name)]
        if members:
            say(f"removing {', '.join(r.name for r in tier)}")
            parallel(members, lambda hc: ex.remove(hc[0], hc[1].name))
            removed += len(members)
    if release:
        release_addresses(ex, [c.name for c in stack.containers if not (c.mac or c.ip)])
    ex.publish_services()
    say(f"destroy-all: {removed} container(s) removed" + ("" if release else ", addresses kept"))
    return removed
