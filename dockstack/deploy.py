"""deploy-all and destroy-all: the whole stack, tier by tier, containers of a tier in parallel.

Facts are read once (world.read_world), the plan comes from plan.plan_stack (pure), and the one converge
(dockstack.converge) applies it; this module only says what deploy-all plans, refuses and prunes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dockstack import plan as planner
from dockstack.cacheck import check_ca
from dockstack.config import Container, Inventory, Stack, tiers
from dockstack.converge import Outcome, converge, open_session, publish
from dockstack.converge.hooks import catalog_digests
from dockstack.dockercli import LABEL_MANAGED
from dockstack.errors import DockstackError
from dockstack.health import Health, health_timeout, read_health
from dockstack.lifecycle import keep_secrets, release_addresses
from dockstack.remote import Remotes, parallel
from dockstack.secretcheck import check_deployed
from dockstack.services.registry import definition
from dockstack.stopping import StopRequest
from dockstack.world import World, read_world

Say = Callable[[str], None]
__all__ = ["Outcome", "deploy_all", "destroy_all", "format_plan"]


def format_plan(actions: list[planner.Action], prune: list[tuple[str, str]]) -> str:
    lines = [f"  {a.describe()}" for a in actions]
    lines += [f"  {name} ({host}): remove (not in the config, --prune)" for host, name in prune]
    return "\n".join(lines)


def deploy_all(inv: Inventory, stack: Stack, remotes: Remotes, say: Say, dry_run: bool = False,
               prune: bool = False, force_below_quorum: bool = False) -> Outcome:
    """SIGINT/SIGTERM from here on stop the run between steps: what is in flight finishes and is recorded.
    force_below_quorum: a roll goes on where it would take down a passing member of a role below its quorum, or
    take a role below it (the operator asked: --force-below-quorum)."""
    with StopRequest() as stop:
        return _deploy_all(inv, stack, remotes, say, stop, dry_run, prune, force_below_quorum)


def _deploy_all(inv: Inventory, stack: Stack, remotes: Remotes, say: Say, stop: StopRequest, dry_run: bool,
                prune: bool, force_below_quorum: bool) -> Outcome:
    started = time.monotonic()
    world = read_world(inv, stack, remotes, tolerate=True, health=True, confirm=True, say=say,
                       stopping=lambda: bool(stop.signal))
    check_ca(stack, world.hosts, world.unreachable)  # a CA made for a stack that is not new: refused, dry run too
    check_deployed(stack, world.hosts)  # a missing or changed secrets file: refused, dry run included
    for host, why in world.unreachable.items():
        say(f"{host}: not answering, its containers fail: {why}")
    actions = _plan(inv, stack, world)
    recoveries = _unless_serving(planner.plan_recoveries(stack, actions, world.unreachable), remotes, say)
    to_prune = planner.plan_prune(stack, world.hosts) if prune else []
    if dry_run:
        say("deploy-all --dry-run: the plan (nothing is changed)")
        say(format_plan(actions, to_prune))
        for r in recoveries:
            say(f"  {r.why}")
        unchanged = sum(not a.changes for a in actions)
        say(f"{unchanged} ok, {len(actions) - unchanged + len(to_prune)} to change")
        return Outcome(ok=unchanged)
    _check_images(actions, world)
    keep_secrets(stack, say)  # before any container starts with the passwords this load made
    session = open_session(inv, stack, remotes, world, say)
    if recoveries:  # stopped cleanly, then everything read and planned again: the role starts as from a full stop
        for r in recoveries:
            say(f"recovering {r.why}")
            parallel(list(r.stop), session.runner.take_down)
        world = read_world(inv, stack, remotes, tolerate=True, health=True)
        actions = _plan(inv, stack, world)
        session = open_session(inv, stack, remotes, world, say)
    # every reachable host, not only those with a change: a host's network drift (a lost VXLAN filter, a missing
    # peer) is repaired by the next deploy-all like a container's (network_needs: nothing to do when it is as wanted)
    outcome = converge(session, actions, whole=True, network_hosts={h.name for h in inv.hosts} - set(world.unreachable),
                       stop=stop, force_below_quorum=force_below_quorum)
    if to_prune and not outcome.failed and not outcome.interrupted:
        for host, name in to_prune:
            session.runner.remove(host, name)
            outcome.pruned += 1
        publish(session)
    say(f"deploy-all: {outcome.summary()} ({time.monotonic() - started:.1f}s)")
    return outcome


def _plan(inv: Inventory, stack: Stack, world: World) -> list[planner.Action]:
    def health(c: Container) -> Health | None:
        return world.health(stack, c.name, c.host) if c.host in world.hosts and c.name in world.hosts[
            c.host].containers else None

    return planner.plan_stack(stack, world.hosts, world.book.records, health, world.unreachable,
                              catalog_digests(stack, inv.network.domain))


def _unless_serving(recoveries: list[planner.Recovery], remotes: Remotes, say: Say) -> list[planner.Recovery]:
    """The recoveries none of whose running members still serves as its service's serving_check says (a Galera
    node Primary on its own, its readiness check waiting for the others): such a role is not stopped as a whole;
    its stopped members join it. One round trip per host, only when a role is a candidate."""
    checks = [(c, check) for r in recoveries for c in r.stop if (d := definition(c)) and (check := d.serving_check)]
    hosts = sorted({c.host for c, _ in checks})
    said = dict(zip(hosts, parallel(hosts, lambda h: read_health(
        remotes[h], f"{LABEL_MANAGED}=true", [(c.name, check) for c, check in checks if c.host == h],
        health_timeout()))))
    serving = {c.name: said[c.host][c.name].line for c, _ in checks
               if c.name in said[c.host] and said[c.host][c.name].exit_code == 0}
    for r in recoveries:
        if names := [c.name for c in r.stop if c.name in serving]:
            say(f"role {r.role}: no member passes its check, but {', '.join(names)} still serves "
                f"({serving[names[0]] or 'its serving check passes'}): not recovered as a whole")
    return [r for r in recoveries if not any(c.name in serving for c in r.stop)]


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
    session = open_session(inv, stack, remotes, world, say)
    removed = 0
    for tier in reversed(tiers(stack)):
        members: list[tuple[str, Container]] = [(h, c) for r in tier for c in stack.of_role(r.name)
                                                for h in world.where(c.name)]
        if members:
            say(f"removing {', '.join(r.name for r in tier)}")
            parallel(members, lambda hc: session.runner.remove_copy(hc[1], hc[0]))  # drained first, if it serves
            removed += len(members)
    if release:
        release_addresses(session, [c.name for c in stack.containers if not (c.mac or c.ip)])
    publish(session)
    say(f"destroy-all: {removed} container(s) removed" + ("" if release else ", addresses kept"))
    return removed
