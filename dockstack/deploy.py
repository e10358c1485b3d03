"""deploy-all and destroy-all: the whole stack, tier by tier, containers of a tier in parallel.

The plan comes from plan.plan_stack (pure); this module runs it, reports progress, and stops
after a tier in which something failed, so a re-run converges from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockstack import plan as planner
from dockstack.config import Container, Inventory, Stack, tiers
from dockstack.errors import DockstackError, RemoteError
from dockstack.lifecycle import Executor, release_address
from dockstack.remote import Remotes, parallel

Say = Callable[[str], None]


@dataclass
class Outcome:
    ok: int = 0
    changed: int = 0
    failed: list[str] = field(default_factory=list)
    pruned: int = 0

    def summary(self) -> str:
        text = f"{self.ok} ok, {self.changed} changed, {len(self.failed)} failed"
        return text + (f", {self.pruned} pruned" if self.pruned else "")


def format_plan(actions: list[planner.Action], prune: list[tuple[str, str]]) -> str:
    lines = [f"  {a.describe()}" for a in actions]
    lines += [f"  {name} ({host}): remove (not in the config, --prune)" for host, name in prune]
    return "\n".join(lines)


def deploy_all(inv: Inventory, stack: Stack, remotes: Remotes, say: Say, dry_run: bool = False,
               prune: bool = False) -> Outcome:
    ex = Executor(inv, stack, remotes, say)
    hosts = ex.observe()
    actions = planner.plan_stack(stack, hosts, ex.book.registry)
    to_prune = planner.plan_prune(stack, hosts) if prune else []
    if dry_run:
        say("deploy-all --dry-run: the plan (nothing is changed)")
        say(format_plan(actions, to_prune))
        unchanged = sum(not a.changes for a in actions)
        say(f"{unchanged} ok, {len(actions) - unchanged + len(to_prune)} to change")
        return Outcome(ok=unchanged)
    _check_images(ex, actions, hosts)
    outcome = Outcome()
    by_name = {a.container.name: a for a in actions}
    role_tiers = tiers(stack)
    started = time.monotonic()
    for i, tier in enumerate(role_tiers, 1):
        members = [by_name[c.name] for r in tier for c in stack.of_role(r.name)]
        if not members:
            continue
        say(f"[{i}/{len(role_tiers)}] {', '.join(r.name for r in tier)}: "
            f"{', '.join(f'{a.container.name}@{a.container.host}' for a in members)}")
        results = parallel(members, lambda a: _converge(ex, a))
        changed_here = False
        for a, error in zip(members, results):
            if error is None:
                outcome.ok += 1
                outcome.changed += a.changes
                changed_here |= a.changes
            else:
                outcome.failed.append(f"{a.container.name} on {a.container.host}: {error}")
        if changed_here:
            ex.publish_services()
        if outcome.failed:
            say(f"FAILED in tier {i}: " + "; ".join(outcome.failed))
            say(f"later tiers not started: {', '.join(r.name for t in role_tiers[i:] for r in t) or '-'}")
            break
    else:
        for host, name in to_prune:
            ex.remove(host, name)
            outcome.pruned += 1
        if to_prune:
            ex.publish_services()
    say(f"deploy-all: {outcome.summary()} ({time.monotonic() - started:.1f}s)")
    return outcome


def _check_images(ex: Executor, actions: list[planner.Action], hosts: dict) -> None:
    """Refuse before changing anything when an image a new container needs is not on its host."""
    missing = sorted({(a.container.host, a.container.image) for a in actions
                      if a.kind in (planner.CREATE, planner.RECREATE)
                      and not hosts[a.container.host].images.get(a.container.image)})
    if missing:
        raise DockstackError("images missing on hosts: " + ", ".join(f"{img} on {h}" for h, img in missing)
                             + ": run `inv images.sync` (containers.yaml lists how to build them)")


def _converge(ex: Executor, a: planner.Action) -> str | None:
    """Run one container's action and readiness check; returns the error, or None."""
    c = a.container
    try:
        if a.kind == planner.NOTHING:
            ex.say(f"  {c.name}: ok, {a.why}")
        else:
            ex.say(f"  {c.name}: {a.kind} ({a.why})")
            for host in a.remove_from:
                ex.remove(host, c.name)
            if a.kind == planner.RECREATE and c.host not in a.remove_from:
                ex.remove(c.host, c.name)
            if a.kind in (planner.CREATE, planner.RECREATE):
                ex.create(c)
            elif a.kind == planner.START:
                ex.start(c)
        ex.wait_ready(c)
        if a.changes:
            ex.say(f"  {c.name}: done")
        return None
    except RemoteError as exc:
        ex.say(f"  {c.name}: FAILED at {exc.step}: {exc.detail.strip()}")
        return f"step '{exc.step}': {exc.detail.strip()}"
    except DockstackError as exc:
        ex.say(f"  {c.name}: FAILED: {exc}")
        return str(exc)


def destroy_all(inv: Inventory, stack: Stack, remotes: Remotes, say: Say, release: bool = False) -> int:
    """Remove the stack's containers in reverse deploy order; addresses are kept unless release."""
    ex = Executor(inv, stack, remotes, say)
    hosts = ex.observe()
    removed = 0
    for tier in reversed(tiers(stack)):
        members: list[tuple[str, Container]] = [(h, c) for r in tier for c in stack.of_role(r.name)
                                                for h, f in hosts.items() if c.name in f.containers]
        if members:
            say(f"removing {', '.join(r.name for r in tier)}")
            parallel(members, lambda hc: ex.remove(hc[0], hc[1].name))
            removed += len(members)
    if release:
        for c in stack.containers:
            if not (c.mac or c.ip):
                release_address(ex, c.name)
    say(f"destroy-all: {removed} container(s) removed" + ("" if release else ", addresses kept"))
    return removed
