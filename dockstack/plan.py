"""Converge, as pure decisions: (config, observed hosts, address registry) -> one action per container.

Every action carries its reason, including "nothing", so a re-run can say why it changed nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass

from dockstack.config import Container, Stack, effective_mac
from dockstack.dockercli import LABEL_SPEC, spec_digests
from dockstack.facts import HostFacts
from dockstack.health import FAIL, PASS, Health
from dockstack.ipam import Record

CREATE, START, RECREATE, ADOPT, NOTHING = "create", "start", "recreate", "adopt", "nothing"
REPAIR = "repair"  # running, but its readiness check fails: stop it cleanly and start it again (else re-create)
REFUSE = "refuse"  # a change that is not safe to make now (said why): the container fails, nothing is touched


@dataclass(frozen=True)
class Action:
    container: Container
    kind: str  # create | start | recreate | repair | adopt | refuse | nothing
    why: str
    remove_from: tuple[str, ...] = ()  # hosts to remove the old container from first (recreate)
    observed: tuple[str, str] | None = None  # adopt: the (mac, ip) it runs with, to record

    @property
    def changes(self) -> bool:
        return self.kind != NOTHING

    def takes_down(self, running: bool) -> bool:
        """Whether it stops a container that serves now (a rolling change takes such ones a few at a time)."""
        return running and self.kind in (RECREATE, REPAIR, START)

    def describe(self) -> str:
        return f"{self.container.name} ({self.container.host}): {self.kind} ({self.why})"


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
                   health: Health | None = None, unreachable: Collection[str] = ()) -> Action:
    """What brings one container to the config: create, start, recreate, repair (why) or nothing (why); refuse
    when it was last recorded on a host that does not answer now and the config puts it elsewhere (its old copy
    may still run there: the same MAC and IP twice on the segment)."""
    where = [h for h, f in hosts.items() if c.name in f.containers]
    elsewhere = tuple(h for h in where if h != c.host)
    if record is not None and record.host != c.host and record.host in unreachable:
        return Action(c, REFUSE, f"recorded on {record.host}, which does not answer: a move off a host that cannot "
                                 "be asked could run it twice with the same MAC and IP; bring the host back (or "
                                 f"`inv ipam.release --name={c.name}` once it is gone for good)")
    if c.host not in where:
        if elsewhere:
            return Action(c, RECREATE, f"moved from {', '.join(elsewhere)} to {c.host}", elsewhere)
        return Action(c, CREATE, "missing")
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
        return Action(c, RECREATE, "; ".join(reasons), elsewhere)
    if not state.running:
        return Action(c, START, "stopped", elsewhere)
    fits_config = (c.ip is None or ip == str(c.ip)) and (static_mac is None or mac == static_mac)
    if record is None and mac and ip and fits_config and not elsewhere:  # a run killed before it recorded it
        return Action(c, ADOPT, f"running with {ip} ({mac}) but not in the registry: record it",
                      observed=(mac, ip))
    if record is None or (mac, ip) != (record.mac, record.ip):
        have = f"{ip or 'no address'}" + (f", registry says {record.ip}" if record else ", not in the registry")
        return Action(c, START, f"running without its address ({have})", elsewhere)
    if elsewhere:
        return Action(c, RECREATE, f"also present on {', '.join(elsewhere)}", elsewhere)
    if health is not None and health.state == FAIL:
        return Action(c, REPAIR, f"unhealthy: {health.detail}")
    passing = health is not None and health.state == PASS
    return Action(c, NOTHING, f"running with {ip}, image and options unchanged"
                  + ((f", its check {health.detail}" if health.detail else ", healthy") if passing else ""))


def plan_stack(stack: Stack, hosts: dict[str, HostFacts], registry: dict[str, Record],
               health: Callable[[Container], Health | None] = lambda c: None,
               unreachable: Collection[str] = ()) -> list[Action]:
    return [plan_container(c, hosts, registry.get(c.name), health(c), unreachable) for c in stack.containers]


def plan_prune(stack: Stack, hosts: dict[str, HostFacts]) -> list[tuple[str, str]]:
    """(host, name) of dockstack containers that the config does not list."""
    names = {c.name for c in stack.containers}
    return sorted((h, n) for h, f in hosts.items() for n in f.containers if n not in names)
