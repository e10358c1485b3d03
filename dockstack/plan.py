"""Converge, as pure decisions: (config, observed hosts, address registry) -> one action per container.

Every action carries its reason, including "nothing", so a re-run can say why it changed nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from dockstack.config import Container, Stack, effective_mac
from dockstack.dockercli import LABEL_SPEC, spec_digests
from dockstack.facts import HostFacts
from dockstack.health import FAIL, PASS, Health
from dockstack.ipam import Record
from dockstack.services import folder_name

CREATE, START, RECREATE, ADOPT, NOTHING = "create", "start", "recreate", "adopt", "nothing"
REPAIR = "repair"  # running, but its readiness check fails: resumed, else stopped cleanly and started, else re-created
# running and otherwise as the config wants, but what its Puppet catalog depends on changed since its agent last
# passed: drained, its agent runs again in the running container, then its readiness check
RECONFIGURE = "reconfigure"
REFUSE = "refuse"  # a change that is not safe to make now (said why): the container fails, nothing is touched
STOP, REMOVE = "stop", "remove"  # `inv stop` / `inv remove`: its running copies drained and stopped (or removed)
STARTS = (CREATE, RECREATE, START, REPAIR)  # the kinds that start a container (its service's hooks come first)
RUNS_AGENT = (*STARTS, RECONFIGURE)  # the kinds whose action runs its Puppet agent (roles with classes)

# What the action script does on the container's host (actions.ActionSpec.mode): each kind that changes a
# container maps to one of these in the plan, never later.
RUN_CREATE, RUN_RECREATE, RUN_START, RUN_RESTART = "create", "recreate", "start", "restart"
RUN_RESUME = "resume"  # a paused container unpaused, its stopped processes continued: nothing else changes
RUN_AGENT = "agent"  # the running container as it is (no start, no new address): its agent, then its check
IN_PLACE = (RUN_AGENT,)  # the modes that work on the running container: drained first, never stopped


@dataclass(frozen=True)
class Action:
    """One container's decision, with every choice made: what runs (mode), what is tried in turn if that fails
    (fallbacks), whether it serves now and must leave its balancers first (drain), and why."""

    container: Container
    kind: str  # create | start | recreate | repair | reconfigure | adopt | refuse | nothing
    why: str
    remove_from: tuple[str, ...] = ()  # hosts to remove the old container from first (a move, a duplicate)
    observed: tuple[str, str] | None = None  # adopt: the (mac, ip) it runs with, to record
    mode: str | None = None  # what the action script does (RUN_*); None: no script runs (adopt, refuse, nothing)
    # the modes tried in turn when `mode` fails, each after a clean stop (a repair: start, then re-create, address kept)
    fallbacks: tuple[str, ...] = ()
    # running on its host now: drained from every balancer first, and stopped cleanly unless its mode is IN_PLACE
    # (a resume is neither: it takes nothing down, only a fallback after it does)
    drain: bool = False
    rolls: bool = False  # takes a copy of it that serves now down (here or where it moves from): a rolling change
    stop_on: tuple[str, ...] = ()  # stop, remove: the hosts where a copy runs (drained from the balancers first)

    @property
    def changes(self) -> bool:
        return self.kind != NOTHING

    def describe(self) -> str:
        return f"{self.container.name} ({self.container.host}): {self.kind} ({self.why})"


def create(c: Container, why: str, remove_from: tuple[str, ...] = (), serving_elsewhere: bool = False) -> Action:
    """A new container on its host (one left elsewhere is removed first: nothing to replace where it goes)."""
    return Action(c, RECREATE if remove_from else CREATE, why, remove_from, mode=RUN_CREATE,
                  rolls=serving_elsewhere)


def recreate(c: Container, why: str, running: bool, remove_from: tuple[str, ...] = (),
             serving_elsewhere: bool = False) -> Action:
    """The container on its host replaced by a new one with its address (drained first when it runs)."""
    return Action(c, RECREATE, why, remove_from, mode=RUN_RECREATE, drain=running,
                  rolls=running or serving_elsewhere)


def start(c: Container, why: str, remove_from: tuple[str, ...] = ()) -> Action:
    """Started (or given its address again): its container and its files stay."""
    return Action(c, START, why, remove_from, mode=RUN_START)


def repair(c: Container, why: str) -> Action:
    """A running container whose check fails, by the smallest step that brings it back: resumed (a paused
    container, a service stopped by SIGSTOP: its processes and connections stay; fails at once when nothing in it
    was paused or stopped), else drained, stopped cleanly and started, else re-created (address kept)."""
    return Action(c, REPAIR, why, mode=RUN_RESUME, fallbacks=(RUN_START, RUN_RECREATE), drain=True, rolls=True)


def reconfigure(c: Container, why: str) -> Action:
    """A running container whose Puppet settings changed: drained, its agent run again where it runs (no stop, no
    start, its address kept), then its readiness check; a rolling change for the roles that roll."""
    return Action(c, RECONFIGURE, why, mode=RUN_AGENT, drain=True, rolls=True)


def catalog_drift(recorded: str | None, wanted: str, present: bool) -> str | None:
    """Why a running container's agent must run again (None: what it last applied is what its catalog depends on
    now). recorded: the digest its host holds of its last agent run that passed (present: the file is there; None:
    it holds no valid digest).

    A container with no recorded digest (made by a dockstack before this one) counts as changed: one agent run,
    drained and rolled like any reconfigure, listed by --dry-run. Recording the current digest without that run
    would be safe only if the container already runs exactly this catalog, which nothing here can tell (a newer
    dockstack ships newer profiles: taking them as applied is the very bug this digest ends); a run whose catalog
    is unchanged changes no file, so no service restarts, and it costs each such container one agent run, once."""
    if not present:
        return ("puppet settings unknown: no digest of its last agent run is recorded (made by an older dockstack): "
                "its agent runs again")
    if recorded is None:
        return "puppet settings unknown: its recorded digest is no digest: its agent runs again"
    if recorded != wanted:
        return ("puppet settings changed: what its catalog depends on (its classes, their profiles and templates, "
                "its hieradata, its node block) differs from its last agent run's")
    return None


def _spec_drift(c: Container, labels: dict[str, str]) -> list[str]:
    """Why the container differs from the config it should have been created from (empty: it does not)."""
    try:
        old = json.loads(labels.get(LABEL_SPEC, ""))
    except json.JSONDecodeError:
        old = None
    if not isinstance(old, dict):
        return ["created without a dockstack spec"]
    new = spec_digests(c)
    return [f"{k} changed" for k in new if old.get(k) != new[k]]


def plan_container(c: Container, hosts: dict[str, HostFacts], record: Record | None,
                   health: Health | None = None, unreachable: Collection[str] = (),
                   catalog: str | None = None) -> Action:
    """What brings one container to the config: create, start, recreate, repair, reconfigure (why) or nothing
    (why); refuse when it was last recorded on a host that does not answer now and the config puts it elsewhere (its
    old copy may still run there: the same MAC and IP twice on the segment). catalog: the digest of what its Puppet
    catalog depends on now (None: it asks for none, or the caller does not compare)."""
    where = [h for h, f in hosts.items() if c.name in f.containers]
    elsewhere = tuple(h for h in where if h != c.host)
    serving_elsewhere = any(hosts[h].containers[c.name].running for h in elsewhere)
    if record is not None and record.host != c.host and record.host in unreachable:
        return Action(c, REFUSE, f"recorded on {record.host}, which does not answer: a move off a host that cannot "
                                 "be asked could run it twice with the same MAC and IP; bring the host back (or "
                                 f"`inv ipam.release --name={c.name}` once it is gone for good)")
    if c.host not in where:
        if elsewhere:
            return create(c, f"moved from {', '.join(elsewhere)} to {c.host}", elsewhere, serving_elsewhere)
        return create(c, "missing")
    facts = hosts[c.host]
    state = facts.containers[c.name]
    reasons = _spec_drift(c, state.labels)
    host_image = facts.images.get(c.image)
    if "image changed" not in reasons and host_image and state.image_id != host_image:
        reasons.append(f"image {c.image} was updated on the host")
    mac, ip = facts.addresses.get(c.name, (None, None))
    static_mac = effective_mac(c)
    if c.ip is not None and record is not None and record.ip != str(c.ip) and "ip changed" not in reasons:
        reasons.append(f"static ip {c.ip} differs from its address {record.ip}")
    if static_mac and record is not None and record.mac != static_mac and "mac changed" not in reasons:
        reasons.append(f"static mac {static_mac} differs from its MAC {record.mac}")
    if reasons:
        return recreate(c, "; ".join(reasons), state.running, elsewhere, serving_elsewhere)
    if not state.running:
        return start(c, "stopped", elsewhere)
    fits_config = (c.ip is None or ip == str(c.ip)) and (static_mac is None or mac == static_mac)
    if record is None and mac and ip and fits_config and not elsewhere:  # a run killed before it recorded it
        return Action(c, ADOPT, f"running with {ip} ({mac}) but not in the registry: record it",
                      observed=(mac, ip))
    if record is None or (mac, ip) != (record.mac, record.ip):
        have = f"{ip or 'no address'}" + (f", registry says {record.ip}" if record else ", not in the registry")
        return start(c, f"running without its address ({have})", elsewhere)
    if elsewhere:
        return recreate(c, f"also present on {', '.join(elsewhere)}", True, elsewhere, serving_elsewhere)
    if health is not None and health.state == FAIL:
        return repair(c, f"unhealthy: {health.detail}")
    key = folder_name(c)
    if catalog is not None and (why := catalog_drift(facts.catalogs.get(key), catalog, key in facts.catalogs)):
        return reconfigure(c, why)
    passing = health is not None and health.state == PASS
    return Action(c, NOTHING, f"running with {ip}, image and options unchanged"
                  + ((f", its check {health.detail}" if health.detail else ", healthy") if passing else ""))


def plan_stack(stack: Stack, hosts: dict[str, HostFacts], registry: dict[str, Record],
               health: Callable[[Container], Health | None] = lambda c: None,
               unreachable: Collection[str] = (), catalogs: Mapping[str, str] | None = None) -> list[Action]:
    """deploy-all's plan; catalogs: container -> the digest of what its Puppet catalog depends on now (the catalog
    service's catalog_digests), compared with what its host recorded."""
    catalogs = catalogs or {}
    return [plan_container(c, hosts, registry.get(c.name), health(c), unreachable, catalogs.get(c.name))
            for c in stack.containers]


@dataclass(frozen=True)
class Recovery:
    """A cluster role with no member passing its check: its running members are stopped cleanly (each resumed
    first) before the plan is made again, so the role starts as from a full stop and its service's hook decides from
    every member's data who starts it. Repaired one at a time, each member would wait for a cluster that is gone."""

    role: str
    stop: tuple[Container, ...]  # its running members, in config order
    why: str


def plan_recoveries(stack: Stack, actions: Collection[Action], unreachable: Collection[str] = ()) -> list[Recovery]:
    """The roles to recover as a whole: a cluster by quorum (it stays available with fewer than all of its members
    but needs more than one) none of whose members passes, at least one of them running (repaired), the others
    stopped or missing, and every member's host answering (a member on a host that does not answer may be serving)."""
    by_role: dict[str, list[Action]] = {}
    for a in actions:
        by_role.setdefault(a.container.role, []).append(a)
    out = []
    for role in stack.roles:
        acts, members = by_role.get(role.name, []), stack.of_role(role.name)
        need = role.quorum_of(len(members))
        if not 1 < need < len(members) or len(acts) != len(members):
            continue
        repaired = [a.container for a in acts if a.kind == REPAIR]
        if (not repaired or any(a.kind not in (REPAIR, START, CREATE) for a in acts)
                or any(c.host in unreachable for c in members)):
            continue
        out.append(Recovery(role.name, tuple(repaired), f"role {role.name}: none of its {len(members)} members "
                            f"passes its check (quorum {need}): {', '.join(c.name for c in repaired)} stopped "
                            "cleanly, then the role started as from a full stop"))
    return out


def plan_prune(stack: Stack, hosts: dict[str, HostFacts]) -> list[tuple[str, str]]:
    """(host, name) of dockstack containers that the config does not list."""
    names = {c.name for c in stack.containers}
    return sorted((h, n) for h, f in hosts.items() for n in f.containers if n not in names)


def plan_create(c: Container, hosts: dict[str, HostFacts], record: Record | None) -> Action:
    """`inv create`: a missing container is created; one that runs as the config wants is left (or adopted);
    any other state of it is refused with the command that fits (create never replaces or moves one)."""
    where = {h: f.containers[c.name] for h, f in hosts.items() if c.name in f.containers}
    if c.host in where:
        action = plan_container(c, hosts, record)
        if action.kind == NOTHING and record is not None:
            return Action(c, NOTHING, f"already running on {c.host} with {record.ip}, nothing to do")
        if action.kind == ADOPT:
            return action
        return Action(c, REFUSE, f"{c.name} already exists on {c.host} ({where[c.host].status}): "
                                 f"`inv start --name={c.name}`, or `inv remove --name={c.name}` first")
    if where:
        return Action(c, REFUSE, f"{c.name} exists on {next(iter(where))}, but the config puts it on {c.host}: "
                                 f"`inv remove --name={c.name}` first")
    return create(c, "missing")


def plan_start(c: Container, hosts: dict[str, HostFacts], record: Record | None) -> Action:
    """`inv start`: an existing container is started (or given its address again), never replaced: a change of
    its spec waits for deploy-all; one already running with its address is left."""
    where = [h for h, f in hosts.items() if c.name in f.containers]
    if c.host not in where:
        hint = (f"it is on {where[0]}: `inv remove --name={c.name}`, then create" if where else
                f"`inv create --name={c.name}`")
        return Action(c, REFUSE, f"{c.name} does not exist on {c.host}: {hint}")
    action = plan_container(c, hosts, record)
    if action.kind == NOTHING and record is not None:
        return Action(c, NOTHING, f"already running with {record.ip}, nothing to do")
    if action.kind in (ADOPT, NOTHING):
        return action
    return start(c, action.why)


def plan_stop(c: Container, hosts: dict[str, HostFacts]) -> Action:
    """`inv stop`: every running copy of it drained and stopped cleanly; nothing when none runs."""
    where = {h: f.containers[c.name] for h, f in hosts.items() if c.name in f.containers}
    running = tuple(h for h, state in where.items() if state.running)
    if not where:
        return Action(c, NOTHING, "not on any host, nothing to stop")
    if not running:
        return Action(c, NOTHING, f"already stopped on {', '.join(where)}")
    return Action(c, STOP, f"running on {', '.join(running)}", stop_on=running)


def plan_remove(c: Container, hosts: dict[str, HostFacts]) -> Action:
    """`inv remove`: every copy of it removed, a running one drained and stopped cleanly first; its address stays
    in the book (`inv ipam.release` forgets it)."""
    where = {h: f.containers[c.name] for h, f in hosts.items() if c.name in f.containers}
    if not where:
        return Action(c, NOTHING, "not on any host, nothing to remove")
    running = tuple(h for h, state in where.items() if state.running)
    return Action(c, REMOVE, f"on {', '.join(where)}", remove_from=tuple(where), stop_on=running)
