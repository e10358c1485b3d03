"""dockstack.rolling: the order and size of a role's rolling change, and the quorum guard, on the shipped stack."""

from __future__ import annotations

from dockstack import plan, rolling
from dockstack.facts import HostFacts
from dockstack.plan import RECREATE, Action


def acts(stack, role: str) -> list[Action]:
    """Every container of the role re-created while it runs (the plan's decision: it rolls)."""
    return [plan.recreate(c, "env changed", running=True) for c in stack.of_role(role)]


def names(batches: list[list[Action]]) -> list[list[str]]:
    return [[a.container.name for a in b] for b in batches]


def test_galera_rolls_one_at_a_time_with_the_write_target_last(shipped_stack):
    running = {c.name for c in shipped_stack.containers}
    batches, rest = rolling.roll(shipped_stack, shipped_stack.role("galera"), acts(shipped_stack, "galera"), running,
                                 {})
    assert names(batches) == [["galera2"], ["galera3"], ["galera1"]] and rest == []


def test_the_unhealthy_go_first(shipped_stack):
    running = {c.name for c in shipped_stack.containers}
    batches, _ = rolling.roll(shipped_stack, shipped_stack.role("galera"), acts(shipped_stack, "galera"),
                              running - {"galera3"}, {})
    assert names(batches) == [["galera3"], ["galera2"], ["galera1"]]


def test_the_vip_holder_goes_last(shipped_stack):
    running = {c.name for c in shipped_stack.containers}
    vip = str(shipped_stack.role("haproxy").vip.ip)
    first = shipped_stack.of_role("haproxy")[0]
    hosts = {first.host: HostFacts({}, {}, {}, secondary={first.name: (vip,)})}
    batches, _ = rolling.roll(shipped_stack, shipped_stack.role("haproxy"), acts(shipped_stack, "haproxy"), running,
                              hosts)
    assert names(batches)[-1] == [first.name] and len(batches) == 2


def test_what_does_not_run_is_not_rolled(shipped_stack):
    a = [plan.repair(shipped_stack.container("galera1"), "unhealthy"),
         plan.create(shipped_stack.container("galera2"), "missing"),
         plan.recreate(shipped_stack.container("galera3"), "image changed", running=False)]
    batches, rest = rolling.roll(shipped_stack, shipped_stack.role("galera"), a, set(), {})
    assert names(batches) == [["galera1"]] and [x.container.name for x in rest] == ["galera2", "galera3"]


def test_the_quorum_guard(shipped_stack):
    galera, role = shipped_stack.of_role("galera"), shipped_stack.role("galera")
    batch = [Action(galera[0], RECREATE, "env changed")]
    assert rolling.unsafe(galera, role, batch, {"galera1", "galera2", "galera3"}) is None
    assert rolling.unsafe(galera, role, batch, {"galera1", "galera2"}) == (
        "taking galera1 down would leave role galera with 1 of 3 passing (galera2), below its quorum of 2: bring "
        "the others back first")
    # not available now (below quorum already): nothing to protect, the repair must go on
    assert rolling.unsafe(galera, role, batch, {"galera1"}) is None
    assert rolling.unsafe(galera, role, batch, set()) is None


def test_a_single_container_role_is_changed_anyway(shipped_stack):
    members, role = shipped_stack.of_role("openstack"), shipped_stack.role("openstack")
    assert rolling.unsafe(members, role, [Action(members[0], RECREATE, "x")], {members[0].name}) is None
