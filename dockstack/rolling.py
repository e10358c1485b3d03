"""Rolling changes, as pure decisions: which of a role's actions take serving containers down, in which order and
how many at a time, whether the roll may begin at all, and whether taking a batch down now would cost the role its
quorum or take down what still serves a role already below it.

A change that takes a running container down (re-create, repair, a move) goes a few at a time (the role's `serial`,
1 by default), each ready before the next. The unhealthy go first (they serve nothing now), in batches of their
own, then the healthy; the one holding the VIP and the one its balancer sends the writes to go last, so each moves
once. A role whose stopped or missing members failed to start (they start at once, before the roll) rolls nothing:
what failed them may be what the roll would bring to the running ones.
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
    take a serving container down (Action.rolls). A batch never mixes the unhealthy and the healthy: below its
    quorum a role's repairs go on while its passing members wait (unsafe), and a repair that fails stops the roll
    before a passing member went down beside it."""
    down = [a for a in actions if a.rolls]
    rest = [a for a in actions if a not in down]
    order = {c.name: i for i, c in enumerate(stack.of_role(role.name))}
    down.sort(key=lambda a: (a.container.name in healthy, holds_vip(a.container, hosts),
                             takes_writes(stack, a.container), order[a.container.name]))
    batches: list[list[Action]] = []
    for passing in (False, True):
        part = [a for a in down if (a.container.name in healthy) == passing]
        batches += [part[k:k + role.serial] for k in range(0, len(part), role.serial)]
    return batches, rest


def below_quorum(role: Role, members: tuple[Container, ...], healthy: Collection[str]) -> str | None:
    """How a role is short of its quorum (None: enough of its containers pass)."""
    need, passing = role.quorum_of(len(members)), sum(c.name in healthy for c in members)
    return None if passing >= need else f"role {role.name}: {passing} of {len(members)} passing, quorum {need}"


def not_started(role: Role, failed: Collection[str], running: Collection[str]) -> str | None:
    """Why a role's rolling change must not begin (None: it may): `failed`, members of the role whose actions
    failed before the roll (its stopped and missing ones, started at once; one on a host that does not answer
    too), `running`, the members the roll would take down. A new image or setting that failed them may be what
    the roll would bring to the running ones, and a repair that restarts the last running node of a role whose
    others did not come up leaves nothing to join."""
    if not failed:
        return None
    return (f"{', '.join(sorted(failed))} of role {role.name} failed before its rolling change, so it does not begin: "
            f"{', '.join(running)} keep{'s' if len(running) == 1 else ''} running as "
            f"{'it is' if len(running) == 1 else 'they are'}; fix what failed {'it' if len(failed) == 1 else 'them'} "
            "(said above), then run deploy-all again")


def unsafe(members: tuple[Container, ...], role: Role, batch: list[Action], healthy: Collection[str]) -> str | None:
    """Why taking this batch down now would be unsafe (None: it is not), without the way out (refusal says it):
    - the role is below its quorum already and the batch takes down a member that passes its check (one of what
      may still serve it; its failing members' repairs and changes go on: they are what brings the role back);
    - the role is available and the batch would drop it below its quorum (a role that cannot stay available
      through any change, one container or quorum all, is changed anyway: one at a time is the best there is)."""
    need, passing = role.quorum_of(len(members)), sum(c.name in healthy for c in members)
    names = [a.container.name for a in batch]
    if passing < need:
        serving = [n for n in names if n in healthy]
        if not serving:
            return None
        return (f"role {role.name} is below its quorum ({passing} of {len(members)} passing, quorum {need}): taking "
                f"down {', '.join(serving)}, which {'passes its check' if len(serving) == 1 else 'pass their checks'}"
                ", could leave nothing of it serving")
    if len(members) - len(names) < need:
        return None
    left = [c.name for c in members if c.name not in names and c.name in healthy]
    if len(left) >= need:
        return None
    return (f"taking {', '.join(names)} down would leave role {role.name} with {len(left)} of {len(members)} "
            f"passing ({', '.join(left) or 'none'}), below its quorum of {need}")


FORCE_FLAG = "--force-below-quorum"  # deploy-all's: the operator takes a role below (or further below) its quorum


def refusal(why: str) -> str:
    """The operator's ways out of an unsafe batch: the role's other members back, or the flag."""
    return (f"{why}: bring the others back first (`inv status` shows which fail), or run "
            f"`inv deploy-all {FORCE_FLAG}` to change it anyway")
