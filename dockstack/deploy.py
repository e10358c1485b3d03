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
from dockstack.addressbook import Change
from dockstack.config import Container, Inventory, Stack, tiers
from dockstack.errors import DockstackError
from dockstack.executor import Done, Executor
from dockstack.lifecycle import keep_secrets, release_addresses
from dockstack.remote import Remotes, parallel
from dockstack.secretcheck import check_deployed
from dockstack.services.registry import definition
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
    world = read_world(inv, stack, remotes, tolerate=True)
    check_deployed(stack, world.hosts)  # a missing or changed secrets file: refused, dry run included
    for host, why in world.unreachable.items():
        say(f"{host}: not answering, its containers fail: {why}")
    actions = planner.plan_stack(stack, world.hosts, world.book.records)
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
    ex.ensure_network({a.container.host for a in actions if a.kind not in (planner.NOTHING, planner.ADOPT)}
                      - set(world.unreachable))
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
            ex.prepare([a.container for a in members if a.kind in (planner.CREATE, planner.RECREATE, planner.START)],
                       whole=True)
        except DockstackError as exc:
            outcome.failed += [f"{a.container.name} on {a.container.host}: {exc}" for a in members if a.changes]
            say(f"FAILED in tier {i}: {exc}")
            break
        tier_started = time.monotonic()
        done = _apply_tier(ex, members)
        failed = _commit_tier(ex, done)
        if any(d.changed for d in done):
            say(f"  [{i}/{len(role_tiers)}] took {time.monotonic() - tier_started:.1f}s")
        for d in done:
            if d.name in failed:
                outcome.failed.append(f"{d.name} on {d.host}: {failed[d.name]}")
            else:
                outcome.ok += 1
                outcome.changed += d.changed
        later = ', '.join(r.name for t in role_tiers[i:] for r in t) or '-'
        if outcome.failed:
            say(f"FAILED in tier {i}: " + "; ".join(outcome.failed))
            say(f"later tiers not started: {later}")
            break
        if stop.signal:
            outcome.interrupted = stop.signal
            say(f"{stop.signal}: tier {i} finished and its addresses are recorded; later tiers not started: {later}")
            break
    else:
        for host, name in to_prune:
            ex.remove(host, name)
            outcome.pruned += 1
        if to_prune:
            ex.publish_services()
    say(f"deploy-all: {outcome.summary()} ({time.monotonic() - started:.1f}s)")
    return outcome


def _apply_tier(ex: Executor, members: list[planner.Action]) -> list[Done]:
    """The tier's actions in parallel, except running containers re-created of a service whose definition says
    how many may change at once (`serial`, galera's 1): those go afterwards, that many at a time, each batch
    re-joining the members still running (a rolling recreate), so a cluster never loses all its members at once."""
    rolling: dict[str, list[planner.Action]] = {}
    for a in members:
        d = definition(a.container)
        if d and d.serial and a.kind == planner.RECREATE and a.container.name in ex.running:
            rolling.setdefault(a.container.role, []).append(a)
    later = {a.container.name for batch in rolling.values() for a in batch}
    done = parallel([a for a in members if a.container.name not in later], ex.apply)
    for role_actions in rolling.values():
        step = definition(role_actions[0].container).serial or 1
        for k in range(0, len(role_actions), step):
            done += parallel(role_actions[k:k + step], ex.apply)
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
