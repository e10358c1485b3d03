"""Rolling changes, as pure decisions: which of a role's actions take serving containers down, in which order and
how many at a time, and whether taking a batch down now would cost the role its quorum.

A change that takes a running container down (re-create, repair) goes a few at a time (the role's `serial`, 1 by
default), each ready before the next. The unhealthy go first (they serve nothing now), then the healthy; the one
holding the VIP and the one its balancer sends the writes to go last, so each moves once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from dockstack.config import Container, Role, Stack
from dockstack.facts import HostFacts
from dockstack.plan import Action
from dockstack.services.registry import definition


def holds_vip(c: Container, hosts: Mapping[str, HostFacts]) -> bool:
    """Whether c holds its role's virtual IP now (as its host's facts show its eth0)."""
    f = hosts.get(c.host)
    return bool(c.vip and f and str(c.vip.ip) in f.secondary.get(c.name, ()))


def takes_writes(stack: Stack, c: Container) -> bool:
    """Whether a balancer sends c's role's traffic to c alone (one_active: the role's first container)."""
    d = definition(c)
    return bool(d and d.balance_check and d.balance_check.one_active and stack.of_role(c.role)[0] == c)


def roll(stack: Stack, role: Role, actions: list[Action], healthy: Collection[str],
         hosts: Mapping[str, HostFacts]) -> tuple[list[list[Action]], list[Action]]:
    """(batches of the role's rolling change in order, the actions that can all run at once): the plan says which
    take a serving container down (Action.rolls)."""
    down = [a for a in actions if a.rolls]
    rest = [a for a in actions if a not in down]
    order = {c.name: i for i, c in enumerate(stack.of_role(role.name))}
    down.sort(key=lambda a: (a.container.name in healthy, holds_vip(a.container, hosts),
                             takes_writes(stack, a.container), order[a.container.name]))
    return [down[k:k + role.serial] for k in range(0, len(down), role.serial)], rest


def below_quorum(role: Role, members: tuple[Container, ...], healthy: Collection[str]) -> str | None:
    """How a role is short of its quorum (None: enough of its containers pass)."""
    need, passing = role.quorum_of(len(members)), sum(c.name in healthy for c in members)
    return None if passing >= need else f"role {role.name}: {passing} of {len(members)} passing, quorum {need}"


def unsafe(members: tuple[Container, ...], role: Role, batch: list[Action], healthy: Collection[str]) -> str | None:
    """Why taking this batch down now would drop an available role below its quorum (None: it would not, the role
    is not available now anyway (nothing to protect: its repair must go on), or it cannot stay available through
    this change at all: one container, or quorum all)."""
    need = role.quorum_of(len(members))
    names = [a.container.name for a in batch]
    if len(members) - len(names) < need or below_quorum(role, members, healthy):
        return None
    left = [c.name for c in members if c.name not in names and c.name in healthy]
    if len(left) >= need:
        return None
    return (f"taking {', '.join(names)} down would leave role {role.name} with {len(left)} of {len(members)} "
            f"passing ({', '.join(left) or 'none'}), below its quorum of {need}: bring the others back first")
