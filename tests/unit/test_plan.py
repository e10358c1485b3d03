"""dockstack.plan: the converge planner, one test per branch of plan_container (adopt included), plan_stack/prune."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

import pytest

from dockstack import dockercli, plan
from dockstack.config import Container, Role, Stack
from dockstack.facts import ContainerState, HostFacts
from dockstack.ipam import LEASE, STATIC, Record
from dockstack.services import registry

IMAGE = "test/base:bookworm"
IMAGE_ID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
NEW_IMAGE_ID = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
MAC = "02:42:0a:64:00:96"
IP = "10.100.0.150"


def state(c: Container, running: bool = True, pid: int = 4242, image_id: str = IMAGE_ID,
          labels: dict[str, str] | None = None) -> ContainerState:
    """A ContainerState as docker inspect reports a container created from config c."""
    if labels is None:
        labels = {dockercli.LABEL_MANAGED: "true", dockercli.LABEL_ROLE: c.role,
                  dockercli.LABEL_SPEC: dockercli.spec_label(c)}
    return ContainerState(c.name, running, pid, c.image, image_id, labels)


def created_from(c: Container, old: Container, **kw) -> ContainerState:
    """c's container as it runs when it was created from the config `old` (its spec label says old)."""
    return state(c, labels={dockercli.LABEL_SPEC: dockercli.spec_label(old)}, **kw)


def host(*states: ContainerState, addresses: dict | None = None, images: dict | None = None) -> HostFacts:
    """HostFacts with the given containers; running ones get (MAC, IP) unless addresses says otherwise."""
    if addresses is None:
        addresses = {s.name: (MAC, IP) if s.running else (None, None) for s in states}
    return HostFacts({s.name: s for s in states}, addresses, {IMAGE: IMAGE_ID} if images is None else images)


def record(c: Container, mac: str = MAC, ip: str = IP, source: str = LEASE) -> Record:
    return Record(c.name, c.role, c.host, mac, ip, source)


@pytest.fixture
def web(container) -> Container:
    return container("web", role="webui", host="h1", image=IMAGE)


def test_missing_everywhere_is_create(web):
    action = plan.plan_container(web, {"h1": host(), "h2": host()}, None)
    assert (action.kind, action.why, action.remove_from) == (plan.CREATE, "missing", ())
    assert action.changes


def test_missing_with_a_record_is_still_create(web):
    action = plan.plan_container(web, {"h1": host()}, record(web))
    assert (action.kind, action.why) == (plan.CREATE, "missing")


def test_on_another_host_only_is_recreate_moved(web):
    action = plan.plan_container(web, {"h1": host(), "h2": host(state(web))}, record(web))
    assert action.kind == plan.RECREATE
    assert action.why == "moved from h2 to h1"
    assert action.remove_from == ("h2",)


def test_on_two_other_hosts_names_both(web):
    hosts = {"h1": host(), "h2": host(state(web)), "h3": host(state(web, running=False))}
    action = plan.plan_container(web, hosts, None)
    assert action.kind == plan.RECREATE
    assert action.why == "moved from h2, h3 to h1"
    assert action.remove_from == ("h2", "h3")


def test_image_changed_in_config_is_recreate(web):
    old = replace(web, image="test/old:bullseye")
    action = plan.plan_container(web, {"h1": host(created_from(web, old))}, record(web))
    assert action.kind == plan.RECREATE
    assert "image changed" in action.why
    assert action.remove_from == ()


def test_image_changed_does_not_also_report_host_update(web):
    old = replace(web, image="test/old:bullseye")
    st = created_from(web, old, image_id=NEW_IMAGE_ID)
    action = plan.plan_container(web, {"h1": host(st)}, record(web))
    assert action.why == "image changed"


@pytest.mark.parametrize(("field", "old_value"), [
    ("env", (("MODE", "dev"),)),
    ("volumes", ("/srv/old:/data",)),
    ("command", ("sleep", "infinity")),
])
def test_option_changed_in_config_is_recreate_naming_the_key(web, field, old_value):
    old = replace(web, **{field: old_value})
    action = plan.plan_container(web, {"h1": host(created_from(web, old))}, record(web))
    assert action.kind == plan.RECREATE
    assert action.why == f"{field} changed"


def test_several_changes_are_all_named(web):
    old = replace(web, image="test/old:bullseye", env=(("A", "1"),), command=("true",))
    action = plan.plan_container(web, {"h1": host(created_from(web, old))}, record(web))
    assert action.kind == plan.RECREATE
    for part in ("image changed", "env changed", "command changed"):
        assert part in action.why
    assert "volumes changed" not in action.why


@pytest.mark.parametrize("labels", [
    {},
    {dockercli.LABEL_MANAGED: "true"},
    {dockercli.LABEL_SPEC: ""},
    {dockercli.LABEL_SPEC: '{"image": "test/base:book'},
], ids=["no-labels", "no-spec-label", "empty-spec", "truncated-json"])
def test_missing_or_garbled_spec_label_is_recreate(web, labels):
    action = plan.plan_container(web, {"h1": host(state(web, labels=labels))}, record(web))
    assert action.kind == plan.RECREATE
    assert "created without a dockstack spec" in action.why


def test_missing_spec_label_reason_reads_correctly(web):
    action = plan.plan_container(web, {"h1": host(state(web, labels={}))}, record(web))
    assert "spec changed" not in action.why


@pytest.mark.parametrize("label", ["null", "[]", "42"])
def test_spec_label_that_is_json_but_not_an_object_is_recreate(web, label):
    action = plan.plan_container(web, {"h1": host(state(web, labels={dockercli.LABEL_SPEC: label}))}, record(web))
    assert action.kind == plan.RECREATE


def test_image_updated_on_the_host_is_recreate(web):
    action = plan.plan_container(web, {"h1": host(state(web), images={IMAGE: NEW_IMAGE_ID})}, record(web))
    assert action.kind == plan.RECREATE
    assert action.why == f"image {IMAGE} was updated on the host"


def test_image_absent_on_the_host_is_not_an_update(web):
    action = plan.plan_container(web, {"h1": host(state(web), images={IMAGE: None})}, record(web))
    assert action.kind == plan.NOTHING


def test_static_ip_differs_from_record_is_recreate(container):
    c = container("db", host="h1", image=IMAGE, ip="10.100.0.10")
    rec = record(c, mac="02:00:0a:64:00:0a", ip="10.100.0.150", source=STATIC)
    action = plan.plan_container(c, {"h1": host(state(c), addresses={"db": ("02:00:0a:64:00:0a", "10.100.0.150")})},
                                 rec)
    assert action.kind == plan.RECREATE
    assert action.why == "static ip 10.100.0.10 differs from its address 10.100.0.150"


def test_static_ip_changed_in_config_reports_only_ip_changed(container):
    c = container("db", host="h1", image=IMAGE, ip="10.100.0.10")
    old = replace(c, ip=ipaddress.IPv4Address("10.100.0.11"))
    st = created_from(c, old)
    rec = record(c, mac="02:00:0a:64:00:0b", ip="10.100.0.11", source=STATIC)
    action = plan.plan_container(c, {"h1": host(st)}, rec)
    assert action.kind == plan.RECREATE
    assert "ip changed" in action.why
    assert "static ip" not in action.why


def test_static_mac_differs_from_record_is_recreate(container):
    c = container("db", host="h1", image=IMAGE, mac="02:00:00:00:00:0a")
    rec = record(c, mac="02:00:00:00:00:0b", ip="10.100.0.120")
    action = plan.plan_container(c, {"h1": host(state(c), addresses={"db": ("02:00:00:00:00:0b", "10.100.0.120")})},
                                 rec)
    assert action.kind == plan.RECREATE
    assert action.why == "static mac 02:00:00:00:00:0a differs from its MAC 02:00:00:00:00:0b"


def test_stopped_is_start(web):
    action = plan.plan_container(web, {"h1": host(state(web, running=False, pid=0))}, record(web))
    assert (action.kind, action.why, action.remove_from) == (plan.START, "stopped", ())


def test_stopped_without_record_is_start(web):
    action = plan.plan_container(web, {"h1": host(state(web, running=False, pid=0))}, None)
    assert (action.kind, action.why) == (plan.START, "stopped")


def test_stopped_on_its_host_and_present_elsewhere_starts_and_removes_the_other(web):
    hosts = {"h1": host(state(web, running=False, pid=0)), "h2": host(state(web))}
    action = plan.plan_container(web, hosts, record(web))
    assert (action.kind, action.why, action.remove_from) == (plan.START, "stopped", ("h2",))


def test_running_with_another_address_is_start(web):
    rec = record(web, ip="10.100.0.120")
    action = plan.plan_container(web, {"h1": host(state(web))}, rec)
    assert action.kind == plan.START
    assert action.why == f"running without its address ({IP}, registry says 10.100.0.120)"


def test_running_with_another_mac_is_start(web):
    rec = record(web, mac="02:42:0a:64:00:99")
    action = plan.plan_container(web, {"h1": host(state(web))}, rec)
    assert action.kind == plan.START
    assert action.why.startswith("running without its address")


def test_running_without_an_address_is_start(web):
    action = plan.plan_container(web, {"h1": host(state(web), addresses={"web": (None, None)})}, record(web))
    assert action.kind == plan.START
    assert action.why == f"running without its address (no address, registry says {IP})"


def test_running_with_an_address_but_no_record_is_adopt(web):
    action = plan.plan_container(web, {"h1": host(state(web))}, None)
    assert action.kind == plan.ADOPT
    assert action.observed == (MAC, IP)
    assert action.why == f"running with {IP} ({MAC}) but not in the registry: record it"
    assert action.remove_from == ()
    assert action.changes  # recording it is a change


def test_adopt_a_static_container_running_with_its_config_address(container):
    c = container("db", host="h1", image=IMAGE, ip="10.100.0.10")
    hosts = {"h1": host(state(c), addresses={"db": ("02:00:0a:64:00:0a", "10.100.0.10")})}
    action = plan.plan_container(c, hosts, None)
    assert (action.kind, action.observed) == (plan.ADOPT, ("02:00:0a:64:00:0a", "10.100.0.10"))


def test_adopt_a_static_mac_container_running_with_that_mac(container):
    c = container("db", host="h1", image=IMAGE, mac="02:00:00:00:00:0a")
    hosts = {"h1": host(state(c), addresses={"db": ("02:00:00:00:00:0a", "10.100.0.120")})}
    action = plan.plan_container(c, hosts, None)
    assert (action.kind, action.observed) == (plan.ADOPT, ("02:00:00:00:00:0a", "10.100.0.120"))


@pytest.mark.parametrize(("kw", "address"), [
    ({"ip": "10.100.0.10"}, ("02:00:0a:64:00:0a", "10.100.0.150")),  # another IP than its static one
    ({"ip": "10.100.0.10"}, ("02:42:0a:64:00:96", "10.100.0.10")),  # its IP, but not its derived MAC
    ({"mac": "02:00:00:00:00:0a"}, ("02:00:00:00:00:0b", "10.100.0.120")),  # another MAC than its static one
], ids=["static-ip-differs", "derived-mac-differs", "static-mac-differs"])
def test_running_without_a_record_and_not_fitting_the_config_is_start(container, kw, address):
    c = container("db", host="h1", image=IMAGE, **kw)
    action = plan.plan_container(c, {"h1": host(state(c), addresses={"db": address})}, None)
    assert action.kind == plan.START
    assert action.why == f"running without its address ({address[1]}, not in the registry)"
    assert action.observed is None


@pytest.mark.parametrize("address", [(None, None), (MAC, None), (None, IP)], ids=["none", "mac-only", "ip-only"])
def test_running_without_an_address_nor_a_record_is_start(web, address):
    action = plan.plan_container(web, {"h1": host(state(web), addresses={"web": address})}, None)
    assert action.kind == plan.START
    assert action.why == f"running without its address ({address[1] or 'no address'}, not in the registry)"


def test_running_without_a_record_but_also_elsewhere_is_not_adopted(web):
    hosts = {"h1": host(state(web)), "h2": host(state(web, running=False, pid=0))}
    action = plan.plan_container(web, hosts, None)
    assert action.kind == plan.START
    assert action.remove_from == ("h2",)
    assert action.observed is None


def test_stopped_without_a_record_is_never_adopted(web):
    hosts = {"h1": host(state(web, running=False, pid=0), addresses={"web": (MAC, IP)})}
    action = plan.plan_container(web, hosts, None)
    assert (action.kind, action.observed) == (plan.START, None)


def test_spec_drift_wins_over_adopt(web):
    old = replace(web, command=("true",))
    action = plan.plan_container(web, {"h1": host(created_from(web, old))}, None)
    assert (action.kind, action.why, action.observed) == (plan.RECREATE, "command changed", None)


def test_plan_stack_adopts_running_containers_missing_from_the_registry(container):
    a = container("a", host="h1", image=IMAGE)
    b = container("b", host="h1", image=IMAGE)
    hosts = {"h1": host(state(a), state(b), addresses={"a": (MAC, IP), "b": ("02:42:0a:64:00:97", "10.100.0.151")})}
    actions = plan.plan_stack(make_stack(a, b), hosts, {"a": record(a)})
    assert [(x.kind, x.observed) for x in actions] == [(plan.NOTHING, None),
                                                       (plan.ADOPT, ("02:42:0a:64:00:97", "10.100.0.151"))]


def test_running_and_matching_is_nothing(web):
    action = plan.plan_container(web, {"h1": host(state(web)), "h2": host()}, record(web))
    assert action.kind == plan.NOTHING
    assert action.why.startswith(f"running with {IP}")
    assert action.why == f"running with {IP}, image and options unchanged"
    assert not action.changes
    assert action.remove_from == ()


def test_running_static_container_matching_is_nothing(container):
    c = container("db", host="h1", image=IMAGE, ip="10.100.0.10")
    rec = record(c, mac="02:00:0a:64:00:0a", ip="10.100.0.10", source=STATIC)
    hosts = {"h1": host(state(c), addresses={"db": ("02:00:0a:64:00:0a", "10.100.0.10")})}
    action = plan.plan_container(c, hosts, rec)
    assert (action.kind, action.why) == (plan.NOTHING, "running with 10.100.0.10, image and options unchanged")


def test_running_and_matching_but_also_on_another_host_is_recreate(web):
    hosts = {"h1": host(state(web)), "h2": host(state(web, running=False, pid=0))}
    action = plan.plan_container(web, hosts, record(web))
    assert action.kind == plan.RECREATE
    assert action.why == "also present on h2"
    assert action.remove_from == ("h2",)


def test_spec_drift_with_stray_copy_elsewhere_removes_it_too(web):
    old = replace(web, command=("true",))
    hosts = {"h1": host(created_from(web, old)), "h2": host(state(web))}
    action = plan.plan_container(web, hosts, record(web))
    assert (action.kind, action.why, action.remove_from) == (plan.RECREATE, "command changed", ("h2",))


def test_describe(web):
    action = plan.Action(web, plan.CREATE, "missing")
    assert action.describe() == "web (h1): create (missing)"


def test_spec_label_roundtrip_matches_spec_digests(web):
    # what _spec_drift compares: the label decoded is exactly spec_digests(c)
    assert json.loads(dockercli.spec_label(web)) == dockercli.spec_digests(web)


# --- plan_stack / plan_prune ------------------------------------------------------------------


def make_stack(*containers: Container) -> Stack:
    roles = tuple(Role(r) for r in dict.fromkeys(c.role for c in containers))
    return Stack(path="containers.yaml", images=(), roles=roles, containers=containers)


def test_plan_stack_one_action_per_container_in_config_order(container):
    a = container("zeta", host="h1", image=IMAGE)
    b = container("alpha", host="h2", image=IMAGE)
    c = container("mid", host="h1", image=IMAGE)
    stack = make_stack(a, b, c)
    hosts = {"h1": host(state(a), state(c, running=False, pid=0)), "h2": host()}
    actions = plan.plan_stack(stack, hosts, {"zeta": record(a), "mid": record(c)})
    assert [x.container.name for x in actions] == ["zeta", "alpha", "mid"]
    assert [x.kind for x in actions] == [plan.NOTHING, plan.CREATE, plan.START]


def test_plan_stack_uses_each_containers_own_record(container):
    a = container("a", host="h1", image=IMAGE)
    b = container("b", host="h1", image=IMAGE)
    hosts = {"h1": host(state(a), state(b), addresses={"a": (MAC, IP), "b": ("02:42:0a:64:00:97", "10.100.0.151")})}
    registry = {"a": record(a), "b": record(b, mac="02:42:0a:64:00:97", ip="10.100.0.151")}
    actions = plan.plan_stack(make_stack(a, b), hosts, registry)
    assert [(x.kind, x.why) for x in actions] == [
        (plan.NOTHING, f"running with {IP}, image and options unchanged"),
        (plan.NOTHING, "running with 10.100.0.151, image and options unchanged"),
    ]


def test_plan_stack_empty_hosts_creates_everything(container):
    stack = make_stack(container("a", host="h1"), container("b", host="h2"))
    actions = plan.plan_stack(stack, {"h1": host(), "h2": host()}, {})
    assert [(x.container.name, x.kind) for x in actions] == [("a", plan.CREATE), ("b", plan.CREATE)]


def test_plan_prune_lists_only_unknown_containers_sorted(container):
    keep = container("keep", host="h1", image=IMAGE)
    stack = make_stack(keep)
    stray = [container(n, host="h1", image=IMAGE) for n in ("zz", "old")]
    other = container("aa", host="h2", image=IMAGE)
    hosts = {"h2": host(state(other)), "h1": host(*(state(s) for s in stray), state(keep))}
    assert plan.plan_prune(stack, hosts) == [("h1", "old"), ("h1", "zz"), ("h2", "aa")]


def test_plan_prune_keeps_a_config_container_on_the_wrong_host(container):
    keep = container("keep", host="h1", image=IMAGE)
    hosts = {"h1": host(), "h2": host(state(keep))}
    assert plan.plan_prune(make_stack(keep), hosts) == []


def test_plan_prune_nothing_to_prune(container):
    keep = container("keep", host="h1", image=IMAGE)
    assert plan.plan_prune(make_stack(keep), {"h1": host(state(keep))}) == []
    assert plan.plan_prune(make_stack(keep), {}) == []


@pytest.mark.parametrize("service", ["galera", "zookeeper", "openstack", "haproxy"])
def test_a_supervisor_that_differs_from_this_dockstacks_is_recreate(container, monkeypatch, service):
    """A service container started from an older dockstack's supervisor (written only at create, read by its PID 1)
    gets the current one only as a new container: deploy-all recreates it, naming the reason."""

    c = container(f"{service}1", role=service, host="h1", image=IMAGE)
    assert "supervisor" in dockercli.spec(c)
    running = state(c)  # created by this dockstack: nothing to do
    assert plan.plan_container(c, {"h1": host(running)}, record(c)).kind == plan.NOTHING
    d = registry.definition(c)
    current = d.start_files(c)
    monkeypatch.setattr(type(d), "start_files", lambda self, c: {**current, next(iter(current)): "# an older one\n"})
    older = state(c)  # the label of a container the older supervisor started
    monkeypatch.undo()
    action = plan.plan_container(c, {"h1": host(older)}, record(c))
    assert (action.kind, action.why) == (plan.RECREATE, "supervisor changed")


def test_a_container_without_a_dockstack_supervisor_has_none_in_its_spec(web, container):
    for c in (web, container("pp", role="puppet", host="h1")):
        assert "supervisor" not in dockercli.spec(c)
    # dnsmasq runs as its own PID 1, but its readiness check is a script of its folder: a start file, in its spec
    assert dict(dockercli.spec(container("dnsmasq", host="h1"))["supervisor"]).keys() == {"check"}


# --- every decision made in the plan: what the action script runs, its fallbacks, whether it drains and rolls -----

def decision(a: plan.Action) -> tuple:
    return a.kind, a.mode, a.fallbacks, a.drain, a.rolls, a.remove_from, a.stop_on


def test_decision_create(web):
    a = plan.plan_container(web, {"h1": host()}, None)
    assert decision(a) == (plan.CREATE, plan.RUN_CREATE, (), False, False, (), ())


def test_decision_start_of_a_stopped_container_drains_nothing(web):
    a = plan.plan_container(web, {"h1": host(state(web, running=False))}, record(web))
    assert decision(a) == (plan.START, plan.RUN_START, (), False, False, (), ())


def test_decision_repair_resumes_then_starts_drained_then_recreates(web, monkeypatch):
    from dockstack.health import FAIL, Health
    a = plan.plan_container(web, {"h1": host(state(web))}, record(web), Health(FAIL, "exit 1"))
    assert decision(a) == (plan.REPAIR, plan.RUN_RESUME, (plan.RUN_START, plan.RUN_RECREATE), True, True, (), ())
    assert a.why == "unhealthy: exit 1"


def test_decision_recreate_of_a_running_container_drains_it_and_rolls(web):
    old = replace(web, env=(("A", "1"),))
    a = plan.plan_container(web, {"h1": host(created_from(web, old))}, record(web))
    assert decision(a) == (plan.RECREATE, plan.RUN_RECREATE, (), True, True, (), ())


def test_decision_recreate_of_a_stopped_container_neither_drains_nor_rolls(web):
    old = replace(web, env=(("A", "1"),))
    a = plan.plan_container(web, {"h1": host(created_from(web, old, running=False))}, record(web))
    assert decision(a) == (plan.RECREATE, plan.RUN_RECREATE, (), False, False, (), ())


def test_decision_move_creates_on_the_new_host_and_rolls_while_the_old_one_serves(web):
    a = plan.plan_container(web, {"h1": host(), "h2": host(state(web))}, record(web))
    assert decision(a) == (plan.RECREATE, plan.RUN_CREATE, (), False, True, ("h2",), ())
    stopped = plan.plan_container(web, {"h1": host(), "h2": host(state(web, running=False))}, record(web))
    assert decision(stopped) == (plan.RECREATE, plan.RUN_CREATE, (), False, False, ("h2",), ())


def test_decision_stop_drains_each_running_copy(web):
    a = plan.plan_stop(web, {"h1": host(state(web)), "h2": host()})
    assert decision(a) == (plan.STOP, None, (), False, False, (), ("h1",))
    assert plan.plan_stop(web, {"h1": host(state(web, running=False))}).why == "already stopped on h1"
    assert plan.plan_stop(web, {"h1": host()}).kind == plan.NOTHING


def test_decision_remove_takes_every_copy_the_running_ones_drained(web):
    a = plan.plan_remove(web, {"h1": host(state(web)), "h2": host(state(web, running=False))})
    assert decision(a) == (plan.REMOVE, None, (), False, False, ("h1", "h2"), ("h1",))
    assert plan.plan_remove(web, {"h1": host()}).kind == plan.NOTHING


def test_create_and_start_commands_refuse_what_they_must_not_change(web):
    """`inv create` never replaces or moves; `inv start` never creates; both leave what runs as configured."""
    assert plan.plan_create(web, {"h1": host(state(web, running=False))}, record(web)).kind == plan.REFUSE
    assert plan.plan_create(web, {"h1": host(), "h2": host(state(web))}, record(web)).kind == plan.REFUSE
    running = plan.plan_create(web, {"h1": host(state(web))}, record(web))
    assert (running.kind, running.why) == (plan.NOTHING, f"already running on h1 with {IP}, nothing to do")
    assert plan.plan_start(web, {"h1": host()}, None).why == "web does not exist on h1: `inv create --name=web`"
    old = replace(web, env=(("A", "1"),))
    changed = plan.plan_start(web, {"h1": host(created_from(web, old, running=False))}, record(web))
    assert decision(changed)[:4] == (plan.START, plan.RUN_START, (), False)  # a spec change waits for deploy-all


def test_actions_are_frozen_values(web):
    import dataclasses
    a = plan.plan_container(web, {"h1": host()}, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.mode = plan.RUN_START  # type: ignore[misc]


# --- reconfigure: what a running container's Puppet catalog depends on changed ---------------------------------

DIGEST, OTHER = "a" * 64, "b" * 64


def recorded(c: Container, digest: str | None, *states: ContainerState) -> HostFacts:
    """c's host, with the digest its folder holds of its last passing agent run (None: a file that holds none)."""
    return replace(host(state(c), *states), catalogs={f"{c.role}/{c.name}": digest})


def test_a_running_container_whose_catalog_digest_differs_is_reconfigured_in_place_drained_and_rolled(web):
    a = plan.plan_container(web, {"h1": recorded(web, OTHER)}, record(web), catalog=DIGEST)
    assert decision(a) == (plan.RECONFIGURE, plan.RUN_AGENT, (), True, True, (), ())
    assert a.why.startswith("puppet settings changed: ") and a.changes
    assert a.describe().startswith("web (h1): reconfigure (puppet settings changed: ")
    assert plan.RUN_AGENT in plan.IN_PLACE and plan.RECONFIGURE in plan.RUNS_AGENT


def test_the_same_digest_is_nothing_and_a_caller_that_does_not_compare_never_reconfigures(web):
    assert plan.plan_container(web, {"h1": recorded(web, DIGEST)}, record(web), catalog=DIGEST).kind == plan.NOTHING
    assert plan.plan_container(web, {"h1": recorded(web, OTHER)}, record(web)).kind == plan.NOTHING


@pytest.mark.parametrize(("facts", "said"), [
    (lambda web: host(state(web)), "no digest of its last agent run is recorded (made by an older dockstack)"),
    (lambda web: recorded(web, None), "its recorded digest is no digest"),
])
def test_an_unknown_digest_counts_as_changed_one_agent_run(web, facts, said):
    a = plan.plan_container(web, {"h1": facts(web)}, record(web), catalog=DIGEST)
    assert (a.kind, a.mode) == (plan.RECONFIGURE, plan.RUN_AGENT)
    assert a.why.startswith("puppet settings unknown: ") and said in a.why


def test_the_digest_is_read_from_the_containers_own_folder_by_service_or_role(container):
    """A role's folder is its service's name (galera/NAME) or, without one, the role's (webui/NAME): a digest left
    in a folder of another name (the role was renamed) is not its."""
    db = container("db1", role="db", service="galera", host="h1", image=IMAGE)
    hosts = {"h1": replace(host(state(db)), catalogs={"galera/db1": DIGEST, "db/db1": OTHER})}
    assert plan.plan_container(db, hosts, record(db), catalog=DIGEST).kind == plan.NOTHING


def test_what_else_is_wrong_comes_first_a_repair_or_a_recreate_runs_the_agent_anyway(web):
    from dockstack.health import FAIL, Health
    unhealthy = plan.plan_container(web, {"h1": recorded(web, OTHER)}, record(web), Health(FAIL, "exit 1"),
                                    catalog=DIGEST)
    assert unhealthy.kind == plan.REPAIR
    old = replace(web, env=(("A", "1"),))
    drifted = replace(recorded(web, OTHER), containers={"web": created_from(web, old)})
    assert plan.plan_container(web, {"h1": drifted}, record(web), catalog=DIGEST).kind == plan.RECREATE
    stopped = replace(recorded(web, OTHER), containers={"web": state(web, running=False)})
    assert plan.plan_container(web, {"h1": stopped}, record(web), catalog=DIGEST).kind == plan.START


def test_plan_stack_compares_each_containers_own_digest(container):
    a = container("a", role="app", host="h1", image=IMAGE)
    b = container("b", role="app", host="h1", image=IMAGE)
    hosts = {"h1": replace(host(state(a), state(b), addresses={"a": (MAC, IP), "b": ("02:42:0a:64:00:97",
                                                                                          "10.100.0.151")}),
                           catalogs={"app/a": DIGEST, "app/b": DIGEST})}
    records = {"a": record(a), "b": record(b, mac="02:42:0a:64:00:97", ip="10.100.0.151")}
    got = plan.plan_stack(make_stack(a, b), hosts, records, catalogs={"a": DIGEST, "b": OTHER})
    assert [x.kind for x in got] == [plan.NOTHING, plan.RECONFIGURE]
