"""dockstack.rolling: the order and size of a role's rolling change, whether it may begin, and the quorum guard, on
the shipped stack."""

from __future__ import annotations

from dataclasses import replace

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


def test_a_batch_never_mixes_the_failing_and_the_passing(shipped_stack):
    """serial 2 (five nodes, say; here the role as a value): the failing go in batches of their own, so below
    quorum a repair is never held back with a passing member, nor run beside one."""
    role = replace(shipped_stack.role("galera"), serial=2)
    running = {c.name for c in shipped_stack.containers}
    batches, _ = rolling.roll(shipped_stack, role, acts(shipped_stack, "galera"), running - {"galera3"}, {})
    assert names(batches) == [["galera3"], ["galera2", "galera1"]]
    batches, _ = rolling.roll(shipped_stack, role, acts(shipped_stack, "galera"), running, {})
    assert names(batches) == [["galera2", "galera3"], ["galera1"]]


def test_the_quorum_guard(shipped_stack):
    galera, role = shipped_stack.of_role("galera"), shipped_stack.role("galera")
    batch = [Action(galera[0], RECREATE, "env changed")]
    assert rolling.unsafe(galera, role, batch, {"galera1", "galera2", "galera3"}) is None
    assert rolling.unsafe(galera, role, batch, {"galera1", "galera2"}) == (
        "taking galera1 down would leave role galera with 1 of 3 passing (galera2), below its quorum of 2")


def test_below_quorum_a_passing_member_is_kept(shipped_stack):
    """Issue 31: below its quorum a role keeps what passes (the old guard gave up there: nothing to protect)."""
    galera, role = shipped_stack.of_role("galera"), shipped_stack.role("galera")
    batch = [Action(galera[0], RECREATE, "image changed")]
    assert rolling.unsafe(galera, role, batch, {"galera1"}) == (
        "role galera is below its quorum (1 of 3 passing, quorum 2): taking down galera1, which passes its check, "
        "could leave nothing of it serving")
    both = [Action(galera[0], RECREATE, "x"), Action(galera[1], RECREATE, "x")]
    assert rolling.unsafe(galera, replace(role, quorum="3"), both, {"galera1", "galera2"}) == (
        "role galera is below its quorum (2 of 3 passing, quorum 3): taking down galera1, galera2, which pass their "
        "checks, could leave nothing of it serving")


def test_below_quorum_the_failing_members_are_changed(shipped_stack):
    """Their repair (or change) is what brings the role back: never held, whatever passes or not."""
    galera, role = shipped_stack.of_role("galera"), shipped_stack.role("galera")
    repair = [plan.repair(galera[1], "unhealthy: state=Initialized")]
    assert rolling.unsafe(galera, role, repair, {"galera1"}) is None
    assert rolling.unsafe(galera, role, repair, set()) is None
    assert rolling.unsafe(galera, role, [Action(galera[0], RECREATE, "image changed")], set()) is None


def test_a_single_container_role_is_changed_anyway(shipped_stack):
    members, role = shipped_stack.of_role("openstack"), shipped_stack.role("openstack")
    assert rolling.unsafe(members, role, [Action(members[0], RECREATE, "x")], {members[0].name}) is None
    assert rolling.unsafe(members, role, [Action(members[0], RECREATE, "x")], set()) is None  # failing: a repair


def test_the_refusal_says_both_ways_out():
    assert rolling.refusal("taking a down would ...") == (
        "taking a down would ...: bring the others back first (`inv status` shows which fail), or run "
        "`inv deploy-all --force-below-quorum` to change it anyway")


def test_a_roll_begins_only_when_nothing_of_its_role_failed_before_it(shipped_stack):
    role = shipped_stack.role("galera")
    assert rolling.not_started(role, [], ["galera1"]) is None
    assert rolling.not_started(role, ["galera3", "galera2"], ["galera1"]) == (
        "galera2, galera3 of role galera failed before its rolling change, so it does not begin: galera1 keeps "
        "running as it is; fix what failed them (said above), then run deploy-all again")
    assert rolling.not_started(role, ["galera3"], ["galera1", "galera2"]) == (
        "galera3 of role galera failed before its rolling change, so it does not begin: galera1, galera2 keep "
        "running as they are; fix what failed it (said above), then run deploy-all again")
