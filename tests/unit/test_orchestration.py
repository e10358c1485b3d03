"""deploy-all's orchestration against fake hosts (tests/unit/fakeremote.py): the real deploy_all, world, planner and
executor, with every remote script answered the way it prints. Three hosts, three tiers:
dns (h1) | app1 (h1), app2 (h2), app3 (h3) | web1 (h2)."""

from __future__ import annotations

import collections
import copy
import json
import os
import re
import subprocess
import threading
import types
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from dockstack import actions, addressbook, agent, cacheck, deploy, facts, health, lifecycle
from dockstack.addressbook import REPLICA_DIR, Change
from dockstack.config import Inventory, Stack, keep_generated_secrets
from dockstack.converge import open_session
from dockstack.deploy import Outcome, deploy_all, destroy_all
from dockstack.errors import DockstackError
from dockstack.facts import Record
from dockstack.secretcheck import LABEL_SECRETS, fingerprint
from dockstack.services import SERVICE_ROOT
from dockstack.services import puppet as puppet_service
from dockstack.services.dnsmasq import DNSMASQ_DIR
from dockstack.services.registry import facts_wanted
from dockstack.world import read_world
from tests.unit.fakeremote import SERVING_CHECK, Call, FakeHost, Lab, action_values

BOOK = f"{DNSMASQ_DIR}/dns"  # the address book's copy on h1
CHECK = "test -e /ready"
DOWN = "cannot reach 10.99.0.13:22: timed out (is the host up? `inv lab.up` for the lab)"


@dataclass
class Scene:
    inv: Inventory
    stack: Stack
    lab: Lab

    def deploy(self, dry_run: bool = False, prune: bool = False,
               force_below_quorum: bool = False) -> tuple[Outcome, list[str]]:
        said: list[str] = []
        outcome = deploy_all(self.inv, self.stack, self.lab.remotes(), said.append, dry_run=dry_run, prune=prune,
                             force_below_quorum=force_below_quorum)
        return outcome, said

    def registry(self, host: str = "h1", folder: str = BOOK) -> dict[str, str]:
        """name -> registry line, as a copy of the address book holds it (dns's, on h1, unless told)."""
        files = self.lab.hosts[host].files
        return {p.rpartition("/")[2]: t.strip() for p, t in files.items() if p.startswith(f"{folder}/registry/")}


@pytest.fixture
def scene(cfg) -> Scene:
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    cfg.containers["roles"] = [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "app", "check": CHECK},
                               {"name": "web"}]
    dns, *_ = cfg.containers["containers"]  # static MAC and IP on h1
    image = dns["image"]
    cfg.containers["containers"] = [
        dns, *({"name": f"app{i}", "role": "app", "host": f"h{i}", "image": image} for i in (1, 2, 3)),
        {"name": "web1", "role": "web", "host": "h2", "image": image}]
    inv, stack = cfg.load()
    return Scene(inv, stack, Lab(inv, stack))


def tier_puts(lab: Lab) -> list[set[str]]:
    """The names each address-book transaction put into dns's copy, in order."""
    return [{op.split()[1] for op in c.detail if op.startswith("put ")} for c in lab.asked("txn") if c.name == "dns"]


def round_trips(calls: list[Call]) -> list[str]:
    """What was asked, each transaction's copies on one host counted once, a commit's hosts (in parallel, in any
    order) as one "txn*N" entry."""
    out: list[str] = []
    hosts: list[str] = []
    for c in calls:
        if c.what == "txn":
            hosts = hosts if out and out[-1].startswith("txn") else []
            if c.host not in hosts:
                hosts.append(c.host)
            if out and out[-1].startswith("txn"):
                out[-1] = f"txn*{len(hosts)}"
            else:
                out.append("txn*1")
        else:
            out.append(c.what)
    return out


def test_from_empty_each_tier_is_applied_then_committed_before_the_next(scene):
    outcome, said = scene.deploy()
    lab = scene.lab
    assert outcome == Outcome(ok=5, changed=5)
    assert sorted(c.what for c in lab.calls[:6]) == ["facts"] * 3 + ["health"] * 3  # at the same time
    # each commit: one round trip per host; the dnsmasq host's between the tiers, the hosts that keep only a
    # replica beside the next tier (they may come after its actions: the converge waits for them at its end)
    dns_host = [c for c in lab.calls[6:] if c.what != "txn" or c.host == "h1"]
    assert round_trips(dns_host) == ["network"] * 3 + [
        "action", "txn*1", "action", "action", "action", "txn*1", "action", "txn*1"]
    # (h1's round trip writes two copies: dns's and its replica)
    assert collections.Counter(c.host for c in lab.asked("txn")) == {"h1": 2 * 3, "h2": 3, "h3": 3}
    assert [(c.host, c.name) for c in lab.asked("txn")][:4].count(("h1", "dns")) == 1
    acted = lab.acted_on()
    assert acted[0] == "dns" and set(acted[1:4]) == {"app1", "app2", "app3"} and acted[4] == "web1"
    assert {c.detail for c in lab.asked("action")} == {("create",)}
    assert tier_puts(lab) == [{"dns"}, {"app1", "app2", "app3"}, {"web1"}]
    for name, host in (("app1", "h1"), ("app2", "h2"), ("app3", "h3"), ("web1", "h2")):  # as each got it
        c = lab.container(name)
        assert scene.registry()[name] == f"{name} {name[:3]} {host} {c.mac} {c.ip} new"
    assert scene.registry()["dns"] == "dns dnsmasq h1 02:00:0a:64:00:02 10.100.0.2 static"
    assert len({lab.container(n).ip for n in acted}) == 5  # dnsmasq leased each its own
    for host in ("h1", "h2", "h3"):  # every host keeps a replica, the same as dns's copy, as new
        assert scene.registry(host, REPLICA_DIR) == scene.registry()
        assert lab.hosts[host].files[f"{REPLICA_DIR}/generation"] == lab.hosts["h1"].files[f"{BOOK}/generation"]
    assert said[-1].startswith("deploy-all: 5 ok, 5 changed, 0 failed")


def test_every_leased_address_is_pinned_in_every_copy_so_no_lease_needs_renewing(scene):
    """udhcpc exits once bound and nothing renews a lease (dhcp_hook.sh): what keeps a leased address the container's
    for its whole life is the DHCP host entry (MAC -> IP) its tier's commit writes into every dnsmasq's copy and every
    replica. Every container that took a lease has one, the one whose readiness check failed included."""
    scene.lab.fail["app2"] = ("readiness check", "connection refused")
    scene.deploy()
    leased = ["app1", "app2", "app3"]  # web1's tier never began
    for host, folder in (("h1", BOOK), ("h1", REPLICA_DIR), ("h2", REPLICA_DIR), ("h3", REPLICA_DIR)):
        files = scene.lab.hosts[host].files
        for name in leased:
            c = scene.lab.container(name)
            assert files[f"{folder}/dhcp-hosts.d/{name}"].strip() == f"{c.mac},{name},{c.ip}", (host, folder, name)


@pytest.mark.parametrize(("step", "said", "error", "recorded"), [
    ("docker run", "no space left on device", "step 'app2: docker run': no space left on device", False),
    # it runs with its address, which is recorded: the next run finds it there
    ("readiness check", "connection refused",
     f"step 'app2: readiness check `{CHECK}`': not passing after 60s (last said: connection refused)", True),
])
def test_a_failed_action_ends_the_run_after_its_tier(scene, step, said, error, recorded):
    scene.lab.fail["app2"] = (step, said)
    outcome, lines = scene.deploy()
    lab = scene.lab
    assert outcome.failed == [f"app2 on h2: {error}"]
    assert (outcome.ok, outcome.changed) == (3, 3)  # dns, app1, app3
    assert "web1" not in lab.acted_on() and "web1" not in lab.hosts["h2"].containers  # the later tier never began
    assert sorted(lab.acted_on()[1:]) == ["app1", "app2", "app3"]
    assert tier_puts(lab)[1] == {"app1", "app3"} | ({"app2"} if recorded else set())  # recorded all the same
    assert ("app2" in lab.hosts["h2"].containers) == recorded  # a create that failed before it ran is undone
    assert f"FAILED in tier 2: app2 on h2: {error}" in lines
    assert "later tiers not started: web" in lines
    assert lines[-1].startswith("deploy-all: 3 ok, 3 changed, 1 failed")


def test_prune_removes_a_managed_container_the_config_no_longer_lists_after_the_last_tier(scene):
    lab = scene.lab
    lab.add_container("h2", "old1")
    lab.add_container("h1", "mine", managed=False)  # not dockstack's: never touched
    outcome, said = scene.deploy(prune=True)
    assert outcome == Outcome(ok=5, changed=5, pruned=1)
    assert lab.asked("rm") == [Call("h2", "rm", "old1")]
    assert lab.calls.index(Call("h2", "rm", "old1")) > max(lab.calls.index(c) for c in lab.asked("action", "txn"))
    assert "old1" not in lab.hosts["h2"].containers and "mine" in lab.hosts["h1"].containers
    assert "  old1: removed from h2 (address kept)" in said


def test_without_prune_an_unlisted_container_stays(scene):
    scene.lab.add_container("h2", "old1")
    outcome, _ = scene.deploy()
    assert outcome == Outcome(ok=5, changed=5)
    assert scene.lab.asked("rm") == [] and "old1" in scene.lab.hosts["h2"].containers


def test_prune_waits_for_every_tier_even_the_last(scene):
    lab = scene.lab
    lab.add_container("h2", "old1")
    lab.fail["web1"] = ("docker run", "pull access denied")
    outcome, _ = scene.deploy(prune=True)
    assert outcome.failed == ["web1 on h2: step 'web1: docker run': pull access denied"]
    assert outcome.pruned == 0 and lab.asked("rm") == [] and "old1" in lab.hosts["h2"].containers


def test_an_address_book_conflict_fails_that_container_with_the_reason(scene):
    def another_run(lab: Lab, host: FakeHost, dnsmasq: str, ops: list[str]) -> None:
        """Records app2's new address for a container of its own, between app2's action and its commit."""
        if "put app2" in ops:
            ip = lab.container("app2").ip
            host.files[f"{BOOK}/registry/intruder"] = f"intruder app h3 02:00:00:00:00:99 {ip} lease\n"

    scene.lab.before_txn.append(another_run)
    outcome, said = scene.deploy()
    ip = scene.lab.container("app2").ip
    error = f"app2 on h2: address refused by the address book: {ip} is already the address of intruder"
    assert outcome.failed == [error]
    assert (outcome.ok, outcome.changed) == (3, 3)
    assert "web1" not in scene.lab.acted_on()
    assert "app2" not in scene.registry() and {"app1", "app3", "intruder"} <= set(scene.registry())
    assert f"FAILED in tier 2: {error}" in said


def test_a_locked_address_book_fails_the_whole_tier(scene):
    scene.lab.locked_by = "ops@elsewhere pid 7 running `inv deploy-all` since 2026-01-01T00:00:00Z"
    outcome, _ = scene.deploy()
    assert outcome.ok == 0 and len(outcome.failed) == 1
    assert outcome.failed[0].startswith(f"dns on h1: h1: the address book of dns ({BOOK}/lock) is still locked after")
    assert "by ops@elsewhere pid 7" in outcome.failed[0]
    assert scene.lab.acted_on() == ["dns"]


def test_a_run_with_nothing_to_change_only_reads_the_facts(scene):
    assert scene.deploy()[0] == Outcome(ok=5, changed=5)
    scene.lab.calls.clear()
    outcome, said = scene.deploy(prune=True)
    assert outcome == Outcome(ok=5, changed=0)
    assert sorted((c.host, c.what) for c in scene.lab.calls) == [  # the facts and the checks, at the same time
        (h, what) for h in ("h1", "h2", "h3") for what in ("facts", "health")]
    assert "  dns: ok, running with 10.100.0.2, image and options unchanged, healthy" in said


def test_a_second_run_acts_only_on_what_differs(scene):
    """The no-change run above is no accident of the fake: a stopped container is started, alone."""
    scene.deploy()
    scene.lab.container("app3").running = False
    scene.lab.calls.clear()
    outcome, _ = scene.deploy()
    assert outcome == Outcome(ok=5, changed=1)
    assert [(c.host, c.name, c.detail) for c in scene.lab.asked("action")] == [("h3", "app3", ("start",))]
    assert tier_puts(scene.lab) == [{"app3"}]


def test_a_hosts_network_drift_is_repaired_when_no_container_changes(scene):
    """A host whose network lost something (here: all of it, so its VXLAN filter too) is set up again by a run that
    has no container to change (it was set up only where a container changed)."""
    scene.deploy()
    scene.lab.hosts["h2"].network = None
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=0)
    assert [c.host for c in scene.lab.calls if c.what == "network"] == ["h2"]
    assert "  h2: container network set up (bridge dsbr0 missing or down; VXLAN filter missing; FORWARD ACCEPT " \
           "rule for the bridge missing: -A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT)" in said


def test_a_rule_planted_in_the_vxlan_filter_is_drift_repaired_and_said(scene):
    """An extra `-j RETURN` first in the filter lets every sender in: the next deploy-all sets up that host's network
    again (the script writes the chain whole) and says what was extra, where; nothing else is done."""
    scene.deploy()
    scene.lab.hosts["h3"].planted = ["-A DOCKSTACK-VXLAN -j RETURN"]
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=0)
    assert [c.host for c in scene.lab.calls if c.what == "network"] == ["h3"]
    assert "  h3: container network set up (VXLAN filter: DOCKSTACK-VXLAN rule 1 is extra: -A DOCKSTACK-VXLAN -j " \
           "RETURN)" in said
    scene.lab.calls.clear()
    assert scene.deploy()[0] == Outcome(ok=5, changed=0)
    assert not [c for c in scene.lab.calls if c.what == "network"]  # repaired: no drift left


def test_dry_run_reads_the_facts_and_changes_nothing(scene):
    outcome, said = scene.deploy(dry_run=True)
    assert outcome == Outcome()
    assert {c.what for c in scene.lab.calls} == {"facts", "health"}
    assert said[1].splitlines() == [f"  {n} ({h}): create (missing)" for n, h in
                                    (("dns", "h1"), ("app1", "h1"), ("app2", "h2"), ("app3", "h3"), ("web1", "h2"))]
    assert said[2] == "0 ok, 5 to change"


def test_an_unreachable_host_fails_its_containers_and_the_rest_of_their_tier_is_still_done(scene):
    lab = scene.lab
    lab.hosts["h3"].down = DOWN
    outcome, said = scene.deploy()
    why = f"h3: ssh connect failed: {DOWN}"
    assert outcome.failed == [f"app3 on h3: {why}"]
    assert (outcome.ok, outcome.changed) == (3, 3)  # dns, app1, app2
    assert lab.acted_on()[0] == "dns" and sorted(lab.acted_on()[1:]) == ["app1", "app2"]  # web1: not started
    assert sorted(c.name for c in lab.calls if c.host == "h3") == ["read host facts", "run readiness checks"]
    assert {c.what for c in lab.calls if c.host == "h3"} == {"unanswered"}
    assert {c.host for c in lab.asked("network")} == {"h1", "h2"}
    assert tier_puts(lab) == [{"dns"}, {"app1", "app2"}]  # what was done is recorded
    assert f"h3: not answering, its containers fail: {why}" in said
    assert "later tiers not started: web" in said


def test_no_change_at_all_when_every_copy_of_the_address_book_is_unreachable(scene):
    scene.lab.hosts["h1"].down = DOWN
    with pytest.raises(DockstackError, match=r"the address book cannot be read: .*nothing was changed"):
        scene.deploy()
    assert {c.what for c in scene.lab.calls} == {"facts", "health", "unanswered"}


def test_a_second_dnsmasq_on_an_unreachable_host_fails_only_itself(cfg):
    """The book is read from the copy that answers (world.read_world tolerates the other); dns on h1 is created and
    its address committed there, and only dns2 fails, with h3's error: the transaction goes only to copies whose
    host answers (it used to go to h3's too, and its error failed the whole tier)."""
    dns = cfg.containers["containers"][0]
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    cfg.containers["containers"].insert(1, {**dns, "name": "dns2", "host": "h3", "mac": "02:00:0a:64:00:03",
                                            "ip": "10.100.0.3"})
    inv, stack = cfg.load()
    lab = Lab(inv, stack)
    lab.hosts["h3"].down = DOWN
    outcome, _ = Scene(inv, stack, lab).deploy()
    assert "dns" in lab.hosts["h1"].containers and f"{BOOK}/registry/dns" in lab.hosts["h1"].files
    assert outcome.failed == [f"dns2 on h3: h3: ssh connect failed: {DOWN}"]


def test_a_commit_with_no_copy_of_the_book_to_write_is_an_error_not_a_silent_loss(scene):
    """The address book's commit skips copies on hosts that could not be read; when that leaves none (every host of
    the stack
    keeps one), the addresses it was given would be lost: it says so, naming the copies, instead of returning as if
    they were recorded."""
    scene.deploy()
    world = read_world(scene.inv, scene.stack, scene.lab.remotes())
    world.unreachable.update({"h1": DOWN, "h2": DOWN, "h3": DOWN})
    book = open_session(scene.inv, scene.stack, scene.lab.remotes(), world, lambda m: None).book
    before = len(scene.lab.calls)
    record = Record("app1", "app", "h1", "02:42:0a:64:00:70", "10.100.0.170", "new")
    with pytest.raises(DockstackError, match=r"no copy of the address book can be written: dns on h1, the replica on "
                                             r"h1, the replica on h2, the replica on h3 not answering"):
        book.commit(Change(puts=(record,)))
    assert scene.lab.calls[before:] == []  # nothing was sent


# --- the fake itself: its address book answers as the real scripts do --------------------------------------


def test_the_fakes_address_book_prints_what_the_real_scripts_print(scene, tmp_path):
    """The same transactions through the real TXN_SCRIPT (on a folder here, a docker that knows no container) and
    through the fake: the same output, then the same #books section of the facts."""
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LC_ALL": "C"}
    dns = Record("dns", "dnsmasq", "h1", "02:00:0a:64:00:02", "10.100.0.2", "static")
    web = Record("web", "app", "h2", "02:42:0a:64:00:64", "10.100.0.100", "new")
    thief = Record("thief", "app", "h3", "02:42:0a:64:00:65", "10.100.0.100", "new")
    changes = [Change(puts=(dns, web)), Change(puts=(web,)), Change(puts=(thief,)),  # unchanged; an IP conflict
               Change(puts=(replace(web, ip="10.100.0.101"), replace(thief, ip="10.100.0.102"))),
               Change(puts=(replace(thief, mac=web.mac, ip="10.100.0.103"),)),  # a MAC conflict
               Change(deletes=("thief",)), Change(releases=(("web", "10.100.0.101", web.mac),)),
               Change(quarantine=("10.100.0.9",))]
    said = []
    for i, change in enumerate(changes):
        # both copies h1 keeps, in one round trip: dns's folder and the replica (which gets the same change; the
        # last one gets only the quarantine repair); a newer generation known from elsewhere from the fifth on
        data = addressbook.payload([change, change if i < len(changes) - 1 else Change()], "example.lab")
        known = "0" if i < 4 else "40"
        real = subprocess.run(["sh", "-c", addressbook.TXN_SCRIPT, "sh", "5", "t", known, f"{root}/dnsmasq/dns", "dns",
                               f"{root}/addressbook", ""], input=data, capture_output=True, timeout=30, env=env)
        fake = scene.lab.answer("h1", ["sh", "-c", addressbook.TXN_SCRIPT, "sh", "5", "t", known, BOOK, "dns",
                                       REPLICA_DIR, ""], data)
        assert (fake.exit_code, fake.stdout) == (real.returncode, real.stdout.decode()), change
        said += fake.stdout.splitlines()
    assert "conflict thief web ip 10.100.0.100" in said and "conflict thief web mac 02:42:0a:64:00:64" in said
    assert said.count("copy 2") == len(changes) and "generation 41" in said
    script = facts.HOST_FACTS_SCRIPT
    books = script[:script.index("label=$1")] + "root=$1 books=dnsmasq replica=$1/addressbook\n" + \
        script[script.index("echo '#books'"):script.index("echo '#state'")]
    real = subprocess.run(["sh", "-c", books, "sh", str(root)], capture_output=True, text=True, timeout=30, env=env)
    fake = scene.lab.answer("h1", facts.host_facts_argv("org.dockstack.managed=true", SERVICE_ROOT, "dsbr0", "dsvx0",
                                                         None, [], *facts_wanted(), replica=REPLICA_DIR))
    assert fake.stdout[fake.stdout.index("#books"):fake.stdout.index("#state")] == real.stdout
    assert "replica generation 42\nreplica file dns dns dnsmasq h1 " in real.stdout  # the replica is in the facts


# --- health, rolling changes, quorum (issue 17) ---------------------------------------------------------------


def reconfigure(scene: Scene, cfg, **roles: dict) -> None:
    """The scene's stack loaded again after a change: every app container gets a new env value (a spec change that
    re-creates them), and the given roles' keys replaced."""
    for c in cfg.containers["containers"]:
        if c["role"] == "app":
            c["env"] = {"GENERATION": "2"}
    for r in cfg.containers["roles"]:
        r.update(roles.get(r["name"], {}))
    scene.inv, scene.stack = cfg.load()


def steps(lab: Lab, *names: str) -> list[tuple[str, str]]:
    """(what, container) of the stops, removes and actions on these containers, in order."""
    return [(c.what if c.what != "action" else c.detail[0], c.name) for c in lab.calls
            if c.what in ("stop", "rm", "action") and c.name in names]


def test_an_unhealthy_container_is_repaired_and_dry_run_says_so(scene):
    scene.deploy()
    scene.lab.container("app2").unhealthy = "connection refused"
    _, said = scene.deploy(dry_run=True)
    assert "  app2 (h2): repair (unhealthy: connection refused)" in said[1].splitlines()
    assert said[2] == "4 ok, 1 to change"
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=1)
    # nothing in it was paused or stopped, so the resume fails at once: a clean stop, then a start
    assert steps(scene.lab, "app1", "app2", "app3") == [("resume", "app2"), ("stop", "app2"), ("start", "app2")]
    assert "  app2: repair (unhealthy: connection refused)" in said
    assert "  app2: resume did not help (step 'app2: resume': nothing in it was paused or stopped): start it" in said
    assert scene.deploy()[0] == Outcome(ok=5, changed=0)  # healthy again: nothing to do


def test_a_paused_container_is_unhealthy_and_only_unpaused(scene):
    """`docker pause`: Docker says running, the health script never checks it; it fails, and the repair is the
    smallest step: unpaused, its address and process kept (no stop, no start)."""
    scene.deploy()
    c = scene.lab.container("app2")
    pid, ip = c.pid, c.ip
    c.paused = True
    _, said = scene.deploy(dry_run=True)
    assert f"  app2 (h2): repair (unhealthy: {health.PAUSED})" in said[1].splitlines()
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=1)
    assert steps(scene.lab, "app1", "app2", "app3") == [("resume", "app2")]
    assert "  app2: resumed: unpaused" in said
    assert (c.paused, c.pid, c.ip) == (False, pid, ip)
    assert scene.deploy()[0] == Outcome(ok=5, changed=0)


def test_a_frozen_service_is_continued(scene):
    """A service stopped by SIGSTOP: its check gets no answer (both looks), the repair continues it."""
    scene.deploy()
    c = scene.lab.container("app1")
    c.frozen = True
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=1)
    assert steps(scene.lab, "app1", "app2", "app3") == [("resume", "app1")]
    assert f"  app1: resumed: continued {c.pid}" in said
    assert not c.frozen


def test_a_check_that_fails_once_is_asked_again_before_any_repair(scene):
    """A check that was only slow on a busy host passes on the second look: the container is left running."""
    scene.deploy()
    scene.lab.container("app2").unhealthy = "no answer within 5s"
    scene.lab.slow_once.add("app2")
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=0)
    assert steps(scene.lab, "app2") == [] and len(scene.lab.asked("health")) == 4  # 3 hosts, then app2's again
    assert [line for line in said if line.startswith("  app2: ok")] == [
        f"  app2: ok, running with {scene.lab.container('app2').ip}, image and options unchanged, its check passes "
        "on a second look (it failed: no answer within 5s)"]


def test_the_dry_run_asks_a_failed_check_again_too_and_plans_what_the_run_would_do(scene):
    """A dry run that planned a repair the real run would then skip (a check only slow once) would tell the
    operator something that does not happen."""
    scene.deploy()
    scene.lab.container("app2").unhealthy = "no answer within 5s"
    scene.lab.slow_once.add("app2")
    _, said = scene.deploy(dry_run=True)
    assert [line for line in said[1].splitlines() if line.startswith("  app2 ")] == [
        f"  app2 (h2): nothing (running with {scene.lab.container('app2').ip}, image and options unchanged, its "
        "check passes on a second look (it failed: no answer within 5s))"]
    assert said[2] == "5 ok, 0 to change"


class Clock:
    """time for dockstack.world: a sleep moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_blip_within_the_roles_settle_bound_is_polled_and_never_repaired(scene, cfg, monkeypatch):
    """A sub-service its supervisor restarted (openstack's settle): the failing check is asked again every
    SETTLE_POLL s, on its host only, until it passes; no repair, and the run says why it waited."""
    from dockstack import world
    clock = Clock()
    monkeypatch.setattr(world, "time", clock)
    reconfigure(scene, cfg, app={"settle": 45})
    scene.lab = Lab(scene.inv, scene.stack)
    scene.deploy()
    scene.lab.container("app2").unhealthy = "keystone: died and was restarted 3s ago (restart 1)"
    scene.lab.blips["app2"] = 3  # the first look and two more fail, the fourth passes
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=0) and steps(scene.lab, "app2") == []
    assert [c.host for c in scene.lab.asked("health")] == ["h1", "h2", "h3", "h2", "h2", "h2"]
    assert clock.slept == [world.SETTLE_POLL, world.SETTLE_POLL]
    assert ("  app2: the check fails; asked again every 5s for up to 45s from the first look (the service's own "
            "supervisor may be restarting a part of it) before any repair") in said
    assert [line for line in said if line.startswith("  app2: ok")] == [
        f"  app2: ok, running with {scene.lab.container('app2').ip}, image and options unchanged, its check passes "
        "on look 4, 10s after the first: its service healed itself (it failed: keystone: died and was restarted 3s "
        "ago (restart 1))"]


def test_a_failure_that_outlasts_the_settle_bound_is_repaired_and_status_asks_once(scene, cfg, monkeypatch):
    from dockstack import world
    clock = Clock()
    monkeypatch.setattr(world, "time", clock)
    reconfigure(scene, cfg, app={"settle": 12})
    scene.lab = Lab(scene.inv, scene.stack)
    scene.deploy()
    scene.lab.container("app2").unhealthy = "wedged"
    scene.lab.calls.clear()
    read_world(scene.inv, scene.stack, scene.lab.remotes(), health=True)  # `inv status`: one look, at once
    assert len(scene.lab.asked("health")) == 3 and clock.slept == []
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert clock.slept == [5.0, 5.0, 2.0]  # looks at 0, 5, 10 and 12 s after the first
    assert outcome == Outcome(ok=5, changed=1)
    assert steps(scene.lab, "app2") == [("resume", "app2"), ("stop", "app2"), ("start", "app2")]
    assert "  app2: repair (unhealthy: wedged)" in said


def test_a_repair_whose_restart_does_not_help_recreates_it_keeping_its_address(scene):
    scene.deploy()
    c = scene.lab.container("app2")
    c.unhealthy, mac, ip = "wedged", c.mac, c.ip
    scene.lab.fail["app2"] = ("readiness check", "still wedged")  # its start; the re-create then works
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=1)
    assert steps(scene.lab, "app2") == [("resume", "app2"), ("stop", "app2"), ("start", "app2"), ("stop", "app2"),
                                        ("recreate", "app2")]
    assert (scene.lab.container("app2").mac, scene.lab.container("app2").ip) == (mac, ip)
    assert any(line.startswith("  app2: start did not help (") and line.endswith("): recreate it, keeping its "
                                                                                 "address") for line in said)


def test_a_changed_role_rolls_one_container_at_a_time_unhealthy_first(scene, cfg):
    scene.deploy()
    scene.lab.container("app3").unhealthy = "down"
    reconfigure(scene, cfg)
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=3)
    assert steps(scene.lab, "app1", "app2", "app3") == [
        ("stop", "app3"), ("recreate", "app3"), ("stop", "app1"), ("recreate", "app1"),
        ("stop", "app2"), ("recreate", "app2")]
    assert "  app: rolling change 1/3: app3" in said and "  app: rolling change 3/3: app2" in said


def test_a_role_may_allow_more_at_once(scene, cfg):
    scene.deploy()
    reconfigure(scene, cfg, app={"serial": 2})
    scene.lab.calls.clear()
    _, said = scene.deploy()
    assert "  app: rolling change 1/2: app1, app2" in said and "  app: rolling change 2/2: app3" in said


def test_the_first_failure_stops_the_roll_and_the_later_tiers(scene, cfg):
    scene.deploy()
    reconfigure(scene, cfg)
    scene.lab.fail["app1"] = ("readiness check", "bad image")
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert steps(scene.lab, "app1", "app2", "app3") == [("stop", "app1"), ("recreate", "app1")]
    assert outcome.failed[0].startswith("app1 on h1: step 'app1: readiness check")
    assert outcome.failed[1:] == [f"{n} on {h}: not changed: the rolling change stopped at app1"
                                  for n, h in (("app2", "h2"), ("app3", "h3"))]
    assert scene.lab.container("app2").labels == scene.lab.container("app3").labels  # both still the old spec
    assert "web1" not in {c.name for c in scene.lab.asked("action")}
    assert "  app: rolling change stopped at app1; app2, app3 keep running as they are" in said
    assert "  below quorum: role app: 2 of 3 passing, quorum 3" in said  # the two it left alone still pass


def test_a_role_with_quorum_lets_the_later_tiers_go_on_when_a_host_is_down(scene, cfg):
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.lab.hosts["h3"].down = DOWN
    outcome, said = scene.deploy()
    assert outcome.failed == [f"app3 on h3: h3: ssh connect failed: {DOWN}"]
    assert "web1" in scene.lab.hosts["h2"].containers  # the later tier ran
    assert any("every role of tier 2 has its quorum: the later tiers go on" in line for line in said)


def test_without_quorum_the_later_tiers_wait(scene):
    scene.lab.hosts["h3"].down = DOWN  # role app: quorum all (the default)
    _, said = scene.deploy()
    assert "web1" not in scene.lab.hosts["h2"].containers
    assert "  below quorum: role app: 2 of 3 passing, quorum 3" in said


def regenerate(scene: Scene, cfg, value: str, *names: str) -> None:
    """The stack loaded again with GENERATION=value in these containers' env (every app container's when none is
    named): a spec change that re-creates them."""
    for c in cfg.containers["containers"]:
        if c["name"] in names or (not names and c["role"] == "app"):
            c["env"] = {"GENERATION": value}
    scene.inv, scene.stack = cfg.load()


UNCHECKED = "timed out: the host is too busy"  # a host whose checks' round trip fails: its containers not checked


def test_a_change_that_would_cost_a_role_its_quorum_is_refused_unless_forced(scene, cfg):
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    regenerate(scene, cfg, "3", "app1")  # app1 changes again, alone
    scene.lab.hosts["h3"].checks_fail = UNCHECKED  # app3 runs but cannot be counted on (not checked: nothing to do)
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert steps(scene.lab, "app1", "app2", "app3") == []  # app1 still runs: app1 and app2 are the majority
    why = ("taking app1 down would leave role app with 1 of 3 passing (app2), below its quorum of 2: bring the "
           "others back first (`inv status` shows which fail), or run `inv deploy-all --force-below-quorum` to "
           "change it anyway")
    assert outcome.failed == [f"app1 on h1: not changed: {why}"]
    assert f"  app: rolling change stopped: {why}" in said
    # the operator asks: app1 is re-created, and the run says it went on below quorum
    outcome, said = scene.deploy(force_below_quorum=True)
    assert outcome.failed == [] and steps(scene.lab, "app1") == [("stop", "app1"), ("recreate", "app1")]
    assert ("  app: taking app1 down would leave role app with 1 of 3 passing (app2), below its quorum of 2; changed "
            "anyway (--force-below-quorum)") in said


def test_below_quorum_a_passing_member_is_not_replaced_unless_forced(scene, cfg):
    """Issue 31: a role already below its quorum keeps what passes: a change of app1 (the one member that passes)
    is refused, naming the role, how many pass, the quorum and the ways out; the flag changes it."""
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    regenerate(scene, cfg, "3", "app1")
    for h in ("h2", "h3"):
        scene.lab.hosts[h].checks_fail = UNCHECKED  # app2 and app3 not counted: 1 of 3 passing, quorum 2
    scene.lab.calls.clear()
    before = dict(scene.lab.container("app1").labels)
    outcome, said = scene.deploy()
    assert steps(scene.lab, "app1") == [] and scene.lab.container("app1").labels == before
    why = ("role app is below its quorum (1 of 3 passing, quorum 2): taking down app1, which passes its check, could "
           "leave nothing of it serving: bring the others back first (`inv status` shows which fail), or run "
           "`inv deploy-all --force-below-quorum` to change it anyway")
    assert outcome.failed == [f"app1 on h1: not changed: {why}"] and f"  app: rolling change stopped: {why}" in said
    assert "web1" not in scene.lab.acted_on()  # the later tier waits, as after any failure
    outcome, said = scene.deploy(force_below_quorum=True)
    assert outcome.failed == [] and steps(scene.lab, "app1") == [("stop", "app1"), ("recreate", "app1")]
    assert any(line.startswith("  app: role app is below its quorum (1 of 3 passing, quorum 2): taking down app1")
               and line.endswith("; changed anyway (--force-below-quorum)") for line in said)


def test_below_quorum_the_failing_members_are_changed_first_then_the_passing_ones(scene, cfg):
    """Repairs and changes of the members that fail their check are what brings a role back: they go on below
    quorum, one at a time, and once the role has its quorum again the passing member follows, no flag needed."""
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    regenerate(scene, cfg, "3", "app1", "app2")
    scene.lab.container("app2").unhealthy = "wedged"  # re-created: the change of a failing member
    scene.lab.container("app3").unhealthy = "wedged"  # repaired
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome.failed == [] and outcome.changed == 3
    assert steps(scene.lab, "app1", "app2", "app3") == [
        ("stop", "app2"), ("recreate", "app2"), ("resume", "app3"), ("stop", "app3"), ("start", "app3"),
        ("stop", "app1"), ("recreate", "app1")]
    assert not any("below its quorum" in line for line in said)


@pytest.mark.parametrize("failing", [("app2",), ("app2", "app3")])
def test_a_stopped_member_that_fails_to_start_holds_its_roles_roll(scene, cfg, failing):
    """Issue 31: a role's stopped members start at once, before its roll. When one of them fails (a broken image),
    the running member is not changed (what failed the others would fail it too): it keeps running as it is, the
    run says why and exits with a failure; the later tiers wait. With both failing the role is below its quorum,
    where the old guard gave up and app1 got the broken spec too. Once what failed is fixed, the next run rolls."""
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    for n in ("app2", "app3"):
        scene.lab.container(n).running = False
    regenerate(scene, cfg, "3")
    for n in failing:
        scene.lab.fail[n] = ("readiness check", "bad image")
    before = dict(scene.lab.container("app1").labels)
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert steps(scene.lab, "app1") == [] and scene.lab.container("app1").running
    assert scene.lab.container("app1").labels == before
    assert {("recreate", "app2"), ("recreate", "app3")} <= set(steps(scene.lab, "app2", "app3"))
    assert [f for f in outcome.failed if "readiness check" in f] == [
        f"{n} on h{n[-1]}: step '{n}: readiness check `test -e /ready`': not passing after 60s (last said: bad image)"
        for n in failing]
    names, them = ", ".join(failing), "it" if len(failing) == 1 else "them"
    assert f"app1 on h1: not changed: the rolling change did not begin: {names} failed before it" in outcome.failed
    assert (f"  app: rolling change not started: {names} of role app failed before its rolling change, so it does "
            f"not begin: app1 keeps running as it is; fix what failed {them} (said above), then run deploy-all "
            "again") in said
    assert "web1" not in scene.lab.acted_on() and "later tiers not started: web" in said
    scene.lab.calls.clear()
    outcome, said = scene.deploy()  # fixed (each repair works): the failing first, then the roll reaches app1
    assert outcome.failed == [] and steps(scene.lab, "app1", *failing) == [
        *(step for n in failing for step in (("resume", n), ("stop", n), ("start", n))), ("stop", "app1"),
        ("recreate", "app1")]


def test_a_repair_of_the_last_running_member_waits_when_the_others_fail_to_start(scene, cfg, monkeypatch):
    """The issue's story without an image change: app1 runs but fails its check (a cluster too small, say), app2 and
    app3 were stopped and fail to start again. Its role has a serving check that app1 passes (it still serves, as a
    Galera node Primary on its own does), so the role is not recovered as a whole: restarting app1 would take down
    the last member that serves, and its repair is held like any roll."""
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    monkeypatch.setattr(deploy, "definition", lambda c: types.SimpleNamespace(serving_check=SERVING_CHECK))
    scene.lab.container("app1").serving = True  # the role's definition has a serving check: app1 passes it
    scene.lab.container("app1").unhealthy = "cluster size 1 of 3"
    for n in ("app2", "app3"):
        scene.lab.container(n).running = False
        scene.lab.fail[n] = ("readiness check", "no cluster to join")
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert steps(scene.lab, "app1") == [] and scene.lab.container("app1").running
    assert "role app: no member passes its check, but app1 still serves (serving): not recovered as a whole" in said
    assert "app1 on h1: not changed: the rolling change did not begin: app2, app3 failed before it" in outcome.failed
    assert "  below quorum: role app: 0 of 3 passing, quorum 2" in said


def test_a_member_on_a_host_that_does_not_answer_holds_its_roles_roll(scene, cfg):
    """Any failure of the role's at-once part holds its roll, one on a host that does not answer included (nothing
    was tried there: the quorum guard could not count it, and a roll past it would change a role half seen)."""
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    regenerate(scene, cfg, "3", "app1")
    scene.lab.hosts["h3"].down = DOWN
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert steps(scene.lab, "app1", "app2") == []
    assert outcome.failed == [f"app3 on h3: h3: ssh connect failed: {DOWN}",
                              "app1 on h1: not changed: the rolling change did not begin: app3 failed before it"]
    assert any(line.startswith("  app: rolling change not started: app3 of role app failed before") for line in said)
    # nothing but a host that does not answer held it, and app1, app2 (as they were) are the majority: web goes on
    assert "  only containers on hosts that do not answer failed, and every role of tier 2 has its quorum: the " \
           "later tiers go on" in said
    assert [line for line in said if line.startswith("  web1: ")] == [
        f"  web1: ok, running with {scene.lab.container('web1').ip}, image and options unchanged"]


def test_a_move_of_a_member_that_passes_where_it_runs_counts_as_taking_it_down(scene, cfg):
    """A container the config moves serves from its old host until the move: it counts as passing there, so the
    quorum guard sees that moving it takes a passing member down."""
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    cfg.containers["containers"][3]["host"] = "h1"  # app3: h3 -> h1
    scene.inv, scene.stack = cfg.load()
    scene.lab.hosts["h2"].checks_fail = UNCHECKED  # app2 not counted: app1 and app3 (on h3) pass
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert "app3" in scene.lab.hosts["h3"].containers and "app3" not in scene.lab.hosts["h1"].containers
    assert outcome.failed == [
        "app3 on h1: not changed: taking app3 down would leave role app with 1 of 3 passing (app1), below its quorum "
        "of 2: bring the others back first (`inv status` shows which fail), or run `inv deploy-all "
        "--force-below-quorum` to change it anyway"]
    assert any(line.startswith("  app: rolling change stopped: taking app3 down") for line in said)


def test_a_cluster_with_no_member_passing_is_stopped_and_started_as_a_whole(scene, cfg):
    """Every member of a quorum role fails (mariadbd killed, frozen, paused in each): each repaired alone would wait
    for a cluster that is gone, so the running ones are stopped cleanly, the facts read again, and the whole role
    started at once as from a full stop; the dry run says so and changes nothing."""
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    scene.lab.container("app1").unhealthy = "state=down"
    scene.lab.container("app2").paused = True
    scene.lab.hosts["h3"].containers["app3"].running = False  # one stopped: a mix
    _, said = scene.deploy(dry_run=True)
    why = ("role app: none of its 3 members passes its check (quorum 2): app1, app2 stopped cleanly, then the role "
           "started as from a full stop")
    assert f"  {why}" in said
    assert scene.lab.container("app2").paused
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert f"recovering {why}" in said
    assert outcome == Outcome(ok=5, changed=3)
    assert sorted(steps(scene.lab, "app1", "app2", "app3")[:2]) == [("stop", "app1"), ("stop", "app2")]
    assert sorted(steps(scene.lab, "app1", "app2", "app3")[2:]) == [("start", "app1"), ("start", "app2"),
                                                                     ("start", "app3")]
    assert not any("rolling change" in line for line in said)  # started together, not one at a time
    assert scene.deploy()[0] == Outcome(ok=5, changed=0)


def test_a_cluster_with_one_member_passing_is_repaired_one_at_a_time(scene, cfg):
    reconfigure(scene, cfg, app={"quorum": "majority"})
    scene.deploy()
    scene.lab.container("app1").unhealthy = "state=down"
    scene.lab.container("app2").paused = True
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert not any(line.startswith("recovering ") for line in said)
    assert outcome == Outcome(ok=5, changed=2)
    assert steps(scene.lab, "app1", "app2", "app3") == [("resume", "app1"), ("stop", "app1"), ("start", "app1"),
                                                        ("resume", "app2")]


def test_a_role_without_a_quorum_below_all_is_never_recovered_as_a_whole(scene):
    """quorum all (the default): every member is needed anyway, and each repair stands alone."""
    scene.deploy()
    for n in ("app1", "app2", "app3"):
        scene.lab.container(n).paused = True
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=3)
    assert not any(line.startswith("recovering ") for line in said)
    assert sorted(steps(scene.lab, "app1", "app2", "app3")) == [("resume", "app1"), ("resume", "app2"),
                                                                ("resume", "app3")]


def test_a_move_off_a_host_that_does_not_answer_is_refused(scene, cfg):
    scene.deploy()
    cfg.containers["containers"][3]["host"] = "h2"  # app3: h3 -> h2
    scene.inv, scene.stack = cfg.load()
    scene.lab.hosts["h3"].down = DOWN
    scene.lab.calls.clear()
    outcome, _ = scene.deploy()
    assert "app3" not in scene.lab.hosts["h2"].containers and "app3" not in scene.lab.acted_on()
    assert any(f.startswith("app3 on h2: refused: recorded on h3, which does not answer") for f in outcome.failed)
# --- the secrets file: a deployed stack whose file is missing or differs is refused before anything changes ------


@pytest.fixture
def with_secret(cfg):
    """The scene's stack plus a redis role (a password from the secrets file) on h2, deployed once: its container
    carries the password's fingerprint."""
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    cfg.containers["roles"] += [{"name": "cache", "service": "redis", "check": CHECK}]
    cfg.containers["containers"] += [
        {"name": "cache1", "role": "cache", "host": "h2", "image": cfg.containers["containers"][0]["image"]}]
    inv, stack = cfg.load()
    scene = Scene(inv, stack, Lab(inv, stack))
    assert scene.deploy()[0] == Outcome(ok=3, changed=3)
    secrets_file = Path(stack.generated.path)
    assert secrets_file.exists()
    label = json.loads(scene.lab.container("cache1").labels[LABEL_SECRETS])
    assert label == {"redis_password": fingerprint("redis_password", stack.generated.values["redis_password"])}
    return cfg, scene, secrets_file


def host_state(lab: Lab) -> dict:
    """Everything a run could change on the fake hosts."""
    return copy.deepcopy({n: (h.containers, h.files, h.dirs, h.network) for n, h in lab.hosts.items()})


def refused_everywhere(cfg, scene: Scene, *words: str) -> None:
    """deploy-all (dry run and not), create and start all refuse, each after only reading the facts, and leave the
    hosts and the secrets file as they were."""
    inv, stack = cfg.load()
    before, secrets_file = host_state(scene.lab), Path(stack.generated.path)
    text = secrets_file.read_text() if secrets_file.exists() else None
    remotes, said = scene.lab.remotes(), []
    runs = [lambda: deploy_all(inv, stack, remotes, said.append, dry_run=True),
            lambda: deploy_all(inv, stack, remotes, said.append),
            lambda: lifecycle.create(inv, stack, remotes, "cache1", said.append),
            lambda: lifecycle.start(inv, stack, remotes, "cache", said.append)]
    for run in runs:
        scene.lab.calls.clear()
        with pytest.raises(DockstackError) as err:
            run()
        for w in words:
            assert w in str(err.value), str(err.value)
        assert stack.generated.values["redis_password"] not in str(err.value)
        assert {c.what for c in scene.lab.calls} <= {"facts", "health"}  # only read (deploy-all: its checks too)
        assert sorted(c.host for c in scene.lab.calls if c.what == "facts") == ["h1", "h2", "h3"]
    assert not any("written" in s for s in said), said  # not even "generated passwords written to ..."
    assert host_state(scene.lab) == before
    assert (secrets_file.read_text() if secrets_file.exists() else None) == text


def test_a_missing_secrets_file_is_refused_and_nothing_changes_until_it_is_back(with_secret, tmp_path):
    cfg, scene, secrets_file = with_secret
    kept = secrets_file.rename(tmp_path / "backup.yaml")
    refused_everywhere(cfg, scene, f"{secrets_file}: missing, but the deployed stack was made with it (containers "
                       f"cache1 carry its keys redis_password): restore it from your backup to {secrets_file}")
    assert not secrets_file.exists()  # not written anew with other passwords
    kept.rename(secrets_file)
    inv, stack = cfg.load()
    scene.lab.calls.clear()
    assert deploy_all(inv, stack, scene.lab.remotes(), lambda m: None) == Outcome(ok=3, changed=0)


def test_a_changed_secret_is_refused_naming_its_key(with_secret):
    cfg, scene, secrets_file = with_secret
    text = secrets_file.read_text()
    secrets_file.write_text(re.sub(r"redis_password: \S+", "redis_password: " + "Z" * 32, text))
    refused_everywhere(cfg, scene, f"{secrets_file}: redis_password differs from the value the deployed stack was "
                       "made with (containers cache1 carry the old one)")
    assert "Z" * 32 in secrets_file.read_text()  # the operator's file is left as it is


def balanced_scene(cfg) -> Scene:
    """lb1 (haproxy, h3) balances role app (app1 on h1, app2 on h2), deployed."""
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    dns, *_ = cfg.containers["containers"]
    image = dns["image"]
    cfg.containers["roles"] = [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "lb", "service": "haproxy"},
                               {"name": "app", "check": CHECK, "balance": [{"name": "db", "port": 3306}]}]
    cfg.containers["containers"] = [
        dns, {"name": "lb1", "role": "lb", "host": "h3", "image": image},
        *({"name": f"app{i}", "role": "app", "host": f"h{i}", "image": image} for i in (1, 2))]
    inv, stack = cfg.load()
    scene = Scene(inv, stack, Lab(inv, stack))
    assert not scene.deploy()[0].failed
    scene.lab.calls.clear()
    return scene


def test_a_balanced_container_is_drained_before_its_clean_stop_and_back_in_service_after(cfg):
    """haproxy (lb1) balances role app: each app container of the roll is drained in lb1 (its `member` script),
    stopped cleanly, re-created, then set ready again, one after another."""
    scene = balanced_scene(cfg)
    for c in cfg.containers["containers"][2:]:
        c["env"] = {"GENERATION": "2"}
    scene.inv, scene.stack = cfg.load()
    scene.lab.calls.clear()
    outcome, _ = scene.deploy()
    assert not outcome.failed and outcome.changed == 2
    seen = [(c.what, c.name, c.detail[:3]) for c in scene.lab.calls if c.what in ("exec", "stop", "action")]
    member = "/etc/haproxy/member"
    assert seen == [
        ("exec", "lb1", ("bash", member, "drain")), ("stop", "app1", ()), ("exec", "lb1", ("bash", member, "down")),
        ("action", "app1", ("recreate",)), ("exec", "lb1", ("bash", member, "up")),
        ("exec", "lb1", ("bash", member, "drain")), ("stop", "app2", ()), ("exec", "lb1", ("bash", member, "down")),
        ("action", "app2", ("recreate",)), ("exec", "lb1", ("bash", member, "up"))]
    assert scene.lab.asked("exec")[0].detail == ("bash", member, "drain", "app1", "db_servers")


def test_a_move_drains_the_old_copy_before_its_clean_stop_and_remove(cfg):
    """Issue 31: a container moved to another host leaves its balancers like a rolling replacement: drained, stopped
    cleanly and removed on the old host, then created on the new one."""
    scene = balanced_scene(cfg)
    cfg.containers["containers"][2]["host"] = "h2"  # app1: h1 -> h2
    scene.inv, scene.stack = cfg.load()
    outcome, _ = scene.deploy()
    assert not outcome.failed
    seen = [(c.what, c.host, c.name, c.detail[:3]) for c in scene.lab.calls if c.what in ("exec", "rm", "action")
            and "app1" in (c.name, *c.detail)]
    member = "/etc/haproxy/member"
    assert seen[:3] == [("exec", "h3", "lb1", ("bash", member, "drain")), ("rm", "h1", "app1", ()),
                        ("exec", "h3", "lb1", ("bash", member, "down"))]
    assert seen[3][:3] == ("action", "h2", "app1")


def test_destroy_all_drains_each_serving_container_before_its_clean_stop(cfg):
    scene = balanced_scene(cfg)
    destroy_all(scene.inv, scene.stack, scene.lab.remotes(), lambda m: None)
    seen = [(c.what, c.name, c.detail[:4]) for c in scene.lab.calls if c.what in ("exec", "rm")]
    member = "/etc/haproxy/member"
    for n in ("app1", "app2"):
        at = seen.index(("rm", n, ()))
        assert ("exec", "lb1", ("bash", member, "drain", n)) in seen[:at], seen
    assert not any(h.containers for h in scene.lab.hosts.values())


def test_new_members_are_set_ready_beside_the_tiers_commit_not_one_by_one(cfg):
    """Containers created from empty served nothing: their balancers are told they are ready once the whole tier's
    actions are done, beside its address-book transaction (no round trip of its own on the tier's way)."""
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    dns, *_ = cfg.containers["containers"]
    image = dns["image"]
    cfg.containers["roles"] = [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "lb", "service": "haproxy"},
                               {"name": "app", "check": CHECK, "balance": [{"name": "db", "port": 3306}]}]
    cfg.containers["containers"] = [
        dns, {"name": "lb1", "role": "lb", "host": "h3", "image": image},
        *({"name": f"app{i}", "role": "app", "host": f"h{i}", "image": image} for i in (1, 2))]
    inv, stack = cfg.load()
    scene = Scene(inv, stack, Lab(inv, stack))
    assert not scene.deploy()[0].failed
    tier = [(c.what, c.name, c.detail[2:3]) for c in scene.lab.calls
            if (c.what == "action" and c.name.startswith("app")) or c.what == "exec"]
    member = "/etc/haproxy/member"
    assert sorted(tier[:2]) == [("action", "app1", ()), ("action", "app2", ())]
    assert sorted(tier[2:]) == [("exec", "lb1", ("ready",))] * 2  # after both actions, one for each
    assert all(c.detail[:3] == ("bash", member, "ready") for c in scene.lab.asked("exec"))


# --- the address book on every host: a lost folder loses no address ------------------------------------------


def addresses(lab: Lab) -> dict[str, tuple[str, str]]:
    return {n: (c.mac, c.ip) for h in lab.hosts.values() for n, c in h.containers.items()}


def test_the_dnsmasq_hosts_lost_folder_comes_back_from_a_replica_before_dnsmasq_starts(scene):
    """h1's whole service root wiped with its dnsmasq removed (dns's copy and h1's replica gone), app3 stopped and
    web1 removed meanwhile: the book is read from h2's and h3's replicas, dns's copy gets every record before dns
    starts, and every container comes back with its MAC and IP."""
    lab = scene.lab
    scene.deploy()
    before = addresses(lab)
    lab.container("app3").running = False
    del lab.hosts["h2"].containers["web1"]
    del lab.hosts["h1"].containers["dns"]
    lab.wipe("h1", SERVICE_ROOT)
    lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=3)
    assert "  address book: no copy yet (dns on h1, the replica on h1): written from the newest" in said
    seeded = lab.calls.index(Call("h1", "txn", "dns", tuple(f"put {n}" for n in sorted(before))))
    assert seeded < lab.calls.index(Call("h1", "action", "dns", ("create",)))  # its hosts files before it serves
    assert "  dns: its address book lacks records: written before it starts" in said
    assert addresses(lab) == before
    assert {a.name: a.detail for a in lab.asked("action")} == {"dns": ("create",), "app3": ("start",),
                                                                "web1": ("create",)}
    assert scene.registry() == scene.registry("h1", REPLICA_DIR) == scene.registry("h3", REPLICA_DIR)
    lab.calls.clear()
    assert scene.deploy()[0] == Outcome(ok=5, changed=0)
    assert {c.what for c in lab.calls} == {"facts", "health"}  # every copy whole and as new: nothing to repair


def test_a_hosts_wiped_replica_is_restored_by_the_next_run_alone(scene):
    lab = scene.lab
    scene.deploy()
    lab.wipe("h2", REPLICA_DIR)
    lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=0)
    assert "  address book: no copy yet (the replica on h2): written from the newest" in said
    assert [(c.host, c.name) for c in lab.asked("txn")] == [("h2", "replica")]  # only the copy that lacks it
    assert scene.registry("h2", REPLICA_DIR) == scene.registry()
    generation = {h: int(f.files[f"{REPLICA_DIR}/generation"]) for h, f in lab.hosts.items()}
    assert generation["h2"] > generation["h1"]  # as new as the newest, and more: it was written last
    lab.calls.clear()
    assert scene.deploy()[0] == Outcome(ok=5, changed=0) and {c.what for c in lab.calls} == {"facts", "health"}


def test_a_replica_that_missed_a_change_is_repaired_from_the_newest(scene):
    """h3 down while app2 (tier 2, beside app3 on h3) gets a new address, its old one forgotten everywhere else as
    a release would: h3's replica still holds the old record when it comes back, at an older generation, so the
    newest wins, the stale copy is named and rewritten, and the old address never comes back."""
    lab = scene.lab
    scene.deploy()
    old = lab.container("app2").mac
    del lab.hosts["h2"].containers["app2"]
    for host, folder in (("h1", BOOK), ("h1", REPLICA_DIR), ("h2", REPLICA_DIR)):
        for part in ("registry", "last-good", "dhcp-hosts.d", "hosts.d"):
            del lab.hosts[host].files[f"{folder}/{part}/app2"]
    lab.hosts["h1"].files[f"{BOOK}/lease/leases"] = ""
    lab.hosts["h3"].down = DOWN
    scene.deploy()  # app2 created with a fresh MAC; h3's replica misses the commit
    new = lab.container("app2").mac
    assert new != old and scene.registry()["app2"].split()[3] == new
    assert scene.registry("h3", REPLICA_DIR)["app2"].split()[3] == old
    lab.hosts["h3"].down = ""
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=0)  # app3 and web1 ran all along; h3 answers again
    assert any(line.startswith("  address book replica on h3 (generation ") and "differs from dns's (generation "
               in line and line.endswith("): repaired from the newest") for line in said), said
    assert scene.registry("h3", REPLICA_DIR) == scene.registry() and scene.registry()["app2"].split()[3] == new


def test_a_replica_that_cannot_be_written_is_named_and_left_for_the_next_run(scene):
    """h3 answers its facts, then its transactions fail (a full disk): the commits go on with the other copies, h3 is
    said once and not asked again in this run; the next run repairs its replica."""
    from dockstack.errors import RemoteError

    def full_disk(lab: Lab, host: FakeHost, dnsmasq: str, ops: list[str]) -> None:
        if host.name == "h3":
            raise RemoteError("h3", "address book transaction", "No space left on device")

    scene.lab.before_txn.append(full_disk)
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=5)
    assert said.count("  address book: the replica on h3 was not written (h3: address book transaction failed: No "
                      "space left on device): the next run that reads it repairs it") == 1
    assert [c.host for c in scene.lab.asked("txn")].count("h3") == 1  # asked at the first commit, not at the next two
    assert len([c for c in scene.lab.asked("txn") if c.name == "dns"]) == 3
    assert f"{REPLICA_DIR}/registry" not in scene.lab.hosts["h3"].dirs
    scene.lab.before_txn.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=5, changed=0)
    assert "  address book: no copy yet (the replica on h3): written from the newest" in said
    assert scene.registry("h3", REPLICA_DIR) == scene.registry()


@pytest.fixture
def classed(cfg) -> Scene:
    """dns (h1) | puppet (h1) | app1 (h1), app2 (h2): the apps' role has classes, so their agents run."""
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    cfg.containers["roles"] = [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "puppet", "service": "puppet"},
                               {"name": "app", "check": CHECK, "classes": ["profile::app"]}]
    dns, *_ = cfg.containers["containers"]
    image = dns["image"]
    cfg.containers["containers"] = [dns, {"name": "puppet", "role": "puppet", "host": "h1", "image": image},
                                    *({"name": f"app{i}", "role": "app", "host": f"h{i}", "image": image}
                                      for i in (1, 2))]
    keep_generated_secrets(cfg.load()[1])  # as the commands that start containers do: the next load reads them
    inv, stack = cfg.load()
    return Scene(inv, stack, Lab(inv, stack))


def test_agents_get_the_ca_read_once_from_the_servers_container_and_the_challenge(classed):
    outcome, said = classed.deploy()
    assert outcome == Outcome(ok=4, changed=4), said
    reads = classed.lab.asked("read ca")
    assert [(c.host, c.name) for c in reads] == [("h1", "puppet")]  # once per command, on the server's host
    acted = [c for c in classed.lab.calls if c.what in ("action", "read ca")]
    assert [c.what for c in acted] == ["action", "action", "read ca", "action", "action"]  # after the server's tier


@pytest.mark.parametrize(("ca", "said"), [
    ("", "cat: /etc/puppet/puppetserver/ca/ca_crt.pem: No such file or directory"),
    ("-----BEGIN CERTIFICATE-----\n$(forged)\n-----END CERTIFICATE-----\n", "holds no PEM CA certificate"),
])
def test_an_agent_whose_ca_cannot_be_read_is_not_started_and_says_why(classed, ca, said):
    classed.deploy()
    classed.lab.hosts["h2"].containers.pop("app2")  # to be created again: its agent needs the CA
    classed.lab.ca = ca
    classed.lab.calls.clear()
    outcome, lines = classed.deploy()
    assert len(outcome.failed) == 1 and "app2" not in classed.lab.hosts["h2"].containers
    assert not [c for c in classed.lab.asked("action") if c.name == "app2"]  # nothing was sent to its host
    assert any(line.startswith("  app2: FAILED: ") and "puppet on h1" in line and said in line for line in lines), lines


def tls_scene(cfg) -> Scene:
    """dns (h1) | lb1 (h2), lb2 (h3): haproxy | api1 (h1): an HTTP service they balance, so the stack has a CA and
    each haproxy serves the certificate it signed; not deployed yet."""
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    dns, *_ = cfg.containers["containers"]
    image = dns["image"]
    cfg.containers["roles"] = [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "lb", "service": "haproxy"},
                               {"name": "api", "check": CHECK, "balance": [{"name": "api", "port": 5000,
                                                                             "mode": "http"}]}]
    cfg.containers["containers"] = [dns, *({"name": f"lb{i}", "role": "lb", "host": f"h{i + 1}", "image": image}
                                           for i in (1, 2)),
                                    {"name": "api1", "role": "api", "host": "h1", "image": image}]
    inv, stack = cfg.load()
    return Scene(inv, stack, Lab(inv, stack))


def agent_inputs(lab: Lab) -> dict[str, tuple[str, str, bytes]]:
    """container -> (its certname, the challenge line, the whole round trip's argv and input) of its agent runs."""
    out = {}
    for _, argv, data in lab.wire:
        if argv[:3] == ["sh", "-c", actions.ACTION_SCRIPT]:
            spec, _ = action_values(argv)
            if spec["agent_server"]:
                out[spec["name"]] = (spec["certname"], data.partition(b"\n")[0].decode(),
                                     "\0".join(argv).encode() + b"\0" + data)
    return out


def test_each_agent_gets_its_own_names_challenge_and_never_the_stacks_secret(classed):
    assert classed.deploy()[0] == Outcome(ok=4, changed=4)
    secret = puppet_service.stack_secret(classed.stack)
    given = agent_inputs(classed.lab)
    assert sorted(given) == ["app1", "app2"]
    for name, (certname, challenge, sent) in given.items():
        assert certname == f"{name}.{classed.inv.network.domain}"
        assert challenge == puppet_service.challenge(classed.stack, certname)
        assert secret.encode() not in sent, name  # neither on its command line nor on its standard input
    assert given["app1"][1] != given["app2"][1]
    # the secret goes to the server's own container only (its env), and to no other round trip
    holders = {spec["name"] for _, argv, data in classed.lab.wire if secret.encode() in "\0".join(argv).encode() + data
               for spec in [action_values(argv)[0]]}
    assert holders == {"puppet"}


def test_a_new_agent_container_has_its_names_old_certificate_forgotten_first(classed, cfg):
    """The server signs no second certificate for a name: before a container's agent asks with a new key (a create
    or a re-create), the server on its host forgets the name's old certificate; a start keeps it."""
    lab, domain = classed.lab, classed.inv.network.domain
    classed.deploy()
    assert lab.certs == {f"app1.{domain}": "app1", f"app2.{domain}": "app2"}
    assert sorted(c.detail for c in lab.asked("forget cert")) == [(f"app1.{domain}",), (f"app2.{domain}",)]
    assert {(c.host, c.name) for c in lab.asked("forget cert")} == {("h1", "puppet")}  # on the server's host
    lab.hosts["h2"].containers.pop("app2")  # gone: created again, with a new key
    lab.calls.clear()
    assert classed.deploy()[0] == Outcome(ok=4, changed=1)
    assert [(c.what, c.name) for c in lab.calls if c.what in ("forget cert", "action")] == [
        ("forget cert", "puppet"), ("action", "app2")]
    reconfigure(classed, cfg)  # both re-created, one at a time, each after its name was forgotten
    lab.calls.clear()
    assert classed.deploy()[0] == Outcome(ok=4, changed=2)
    apps = [c for c in lab.calls if c.what == "forget cert" or (c.what == "action" and c.name in ("app1", "app2"))]
    assert [(c.what, c.detail) for c in apps] == [("forget cert", (f"app1.{domain}",)), ("action", ("recreate",)),
                                                  ("forget cert", (f"app2.{domain}",)), ("action", ("recreate",))]
    lab.container("app1").running = False  # a start: the same container, its certificate kept
    lab.calls.clear()
    assert classed.deploy()[0] == Outcome(ok=4, changed=1)
    assert not lab.asked("forget cert") and lab.certs[f"app1.{domain}"] == "app1"


def test_without_the_forget_a_recreated_agent_would_be_refused_as_a_duplicate(classed):
    """The fake server refuses as the real one does (allow_duplicate_certs false): what the forget is for."""
    lab, domain = classed.lab, classed.inv.network.domain
    classed.deploy()
    assert lab.sign(f"app2.{domain}", puppet_service.challenge(classed.stack, f"app2.{domain}"), "app2x", True) == (
        f"app2.{domain} already has a signed certificate; ignoring certificate request")
    # and a request under another name with the challenge an agent holds is not signed
    lab.certs.pop(f"app2.{domain}")
    assert "own challengePassword" in lab.sign(
        f"app2.{domain}", puppet_service.challenge(classed.stack, f"app1.{domain}"), "app1", True)


def test_a_server_that_cannot_forget_fails_that_container_before_its_host_is_asked(classed):
    classed.deploy()
    classed.lab.hosts["h2"].containers.pop("app2")
    classed.lab.unforgetting = "puppet_forget: the Puppet server does not answer after 180s"
    classed.lab.calls.clear()
    outcome, lines = classed.deploy()
    assert any(f.startswith("app2 on h2: ") for f in outcome.failed), outcome
    assert not [c for c in classed.lab.asked("action") if c.name == "app2"]  # nothing was sent to its host
    assert any(line.startswith("  app2: FAILED: ") and "could not forget the Puppet certificate" in line
               and "does not answer after 180s" in line for line in lines), lines
    assert classed.lab.certs[f"app2.{classed.inv.network.domain}"] == "app2"  # kept, and so is its address
    classed.lab.unforgetting = ""
    assert classed.deploy()[0] == Outcome(ok=4, changed=1)  # a re-run forgets it, then creates app2


# --- Puppet settings are part of the desired state: a changed catalog's inputs re-run the agent in place ---------


@pytest.fixture
def settled(cfg, tmp_path, monkeypatch) -> tuple[Scene, Path]:
    """dns (h1) | puppet (h1) | lb1 (h3): haproxy | db1 (h1), db2 (h2): profile::galera, balanced by lb1; deployed
    with a copy of the repository's Puppet modules (DOCKSTACK_PUPPET_MODULES), which the test may change."""
    modules = tmp_path / "modules"
    for rel, text in puppet_service.module_files().items():
        (modules / rel).parent.mkdir(parents=True, exist_ok=True)
        (modules / rel).write_text(text)
    monkeypatch.setenv("DOCKSTACK_PUPPET_MODULES", str(modules))
    cfg.hosts["hosts"].append({"name": "h3", "address": "10.99.0.13"})
    dns, *_ = cfg.containers["containers"]
    image = dns["image"]
    cfg.containers["roles"] = [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "puppet", "service": "puppet"},
                               {"name": "lb", "service": "haproxy"},
                               {"name": "db", "check": CHECK, "classes": ["profile::galera"],
                                "balance": [{"name": "mysql", "port": 3306}]},
                               {"name": "kv", "classes": ["profile::redis"]}]
    cfg.containers["containers"] = [dns, {"name": "puppet", "role": "puppet", "host": "h1", "image": image},
                                    {"name": "lb1", "role": "lb", "host": "h3", "image": image},
                                    *({"name": f"db{i}", "role": "db", "host": f"h{i}", "image": image}
                                      for i in (1, 2)),
                                    {"name": "kv1", "role": "kv", "host": "h2", "image": image}]
    keep_generated_secrets(cfg.load()[1])
    inv, stack = cfg.load()
    scene = Scene(inv, stack, Lab(inv, stack))
    assert scene.deploy()[0] == Outcome(ok=6, changed=6)
    return scene, modules


def test_a_changed_template_reconfigures_its_containers_one_at_a_time_drained_never_stopped(settled):
    scene, modules = settled
    assert scene.deploy()[0] == Outcome(ok=6, changed=0)  # the digests recorded by the first run: nothing to do
    template = modules / "profile" / "templates" / "galera.cnf.epp"
    template.write_text(template.read_text() + "max_connect_errors = 10001\n")
    _, said = scene.deploy(dry_run=True)
    planned = [line for line in said[1].splitlines() if ": reconfigure (" in line]
    assert [line.split(" (")[0].strip() for line in planned] == ["db1", "db2"]  # not kv1: profile::redis
    assert all("reconfigure (puppet settings changed: " in line for line in planned)
    assert said[2] == "4 ok, 2 to change"
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert outcome == Outcome(ok=6, changed=2), said
    seen = [(c.what, c.name, c.detail[:3]) for c in scene.lab.calls if c.what in ("exec", "stop", "action", "push")]
    member = "/etc/haproxy/member"
    pushed = [c for c in seen if c[0] == "push"]
    assert pushed and pushed[0][1] == "puppet" and seen.index(pushed[0]) < seen.index(("action", "db1", ("agent",)))
    assert "environments/production/modules/profile/templates/galera.cnf.epp" in scene.lab.calls[
        scene.lab.calls.index(next(c for c in scene.lab.calls if c.what == "push"))].detail
    assert [c for c in seen if c[0] != "push"] == [
        *(step for n in ("db1", "db2") for step in (("exec", "lb1", ("bash", member, "drain")),
                                                    ("action", n, ("agent",)),  # no stop: in place
                                                    ("exec", "lb1", ("bash", member, "up"))))]
    assert "  db: rolling change 1/2: db1" in said and "  db: rolling change 2/2: db2" in said
    assert [n for n, mode in scene.lab.agent_runs if mode == "agent"] == ["db1", "db2"]
    assert not scene.lab.asked("forget cert")  # the same containers, their certificates kept
    assert scene.deploy()[0] == Outcome(ok=6, changed=0)  # the new digests recorded


def test_a_failed_agent_run_in_place_stops_the_roll_records_nothing_and_the_next_run_tries_again(settled):
    scene, modules = settled
    template = modules / "profile" / "templates" / "galera.cnf.epp"
    template.write_text(template.read_text() + "# changed\n")
    scene.lab.fail["db1"] = ("puppet agent", "Evaluation Error: the test's own")
    outcome, said = scene.deploy()
    assert outcome.changed == 0 and outcome.failed[0].startswith("db1 on h1: step 'db1: puppet agent'")
    assert outcome.failed[1:] == ["db2 on h2: not changed: the rolling change stopped at db1"]
    assert "  db: rolling change stopped at db1; db2 keep running as they are" in said
    assert scene.lab.container("db1").running  # it ran before, and runs on with the settings it has
    _, said = scene.deploy(dry_run=True)
    assert sum(": reconfigure (puppet settings changed: " in line for line in said[1].splitlines()) == 2
    assert scene.deploy()[0] == Outcome(ok=6, changed=2)


def test_a_container_from_an_older_dockstack_runs_its_agent_once_to_record_its_digest(settled):
    scene, _ = settled
    host = scene.lab.hosts["h2"]
    host.files = {p: t for p, t in host.files.items() if not p.endswith(f"/kv1/{agent.DIGEST_FILE}")}
    _, said = scene.deploy(dry_run=True)
    assert [line.strip() for line in said[1].splitlines() if "reconfigure" in line] == [
        "kv1 (h2): reconfigure (puppet settings unknown: no digest of its last agent run is recorded (made by an "
        "older dockstack): its agent runs again)"]
    assert scene.deploy()[0] == Outcome(ok=6, changed=1)
    assert scene.deploy()[0] == Outcome(ok=6, changed=0)


@pytest.fixture
def with_tls(cfg):
    """tls_scene's stack deployed once from empty hosts, which made its CA and saved it."""
    scene = tls_scene(cfg)
    folder = Path(scene.stack.tls.path)
    assert not folder.exists() and scene.deploy()[0] == Outcome(ok=4, changed=4)
    assert (folder / "ca.crt").read_text() == scene.stack.tls.ca_cert  # saved before any container started
    return cfg, scene, folder


def test_each_balancer_serves_the_stacks_certificate_and_a_reload_keeps_it(with_tls):
    cfg, scene, _ = with_tls
    _, stack = cfg.load()
    assert stack.tls.made == ()  # read back as saved
    for name, host in (("lb1", "h2"), ("lb2", "h3")):
        files = scene.lab.hosts[host].files
        assert files[f"{SERVICE_ROOT}/haproxy/{name}/tls.pem"] == stack.tls.served
        assert "bind *:5000 ssl crt /etc/haproxy/tls.pem" in files[f"{SERVICE_ROOT}/haproxy/{name}/haproxy.cfg"]
    assert scene.deploy()[0] == Outcome(ok=4, changed=0)
    assert scene.stack.tls.made and not scene.stack.tls.new_ca()  # the load that made it saved it: no longer new


def refused_without_ca(scene: Scene, inv: Inventory, stack: Stack, folder: Path, *words: str) -> None:
    """Every command that could publish haproxy's files refuses, after only reading the facts, naming the folder and
    the fix; the hosts stay as they were and the folder is not made."""
    before, remotes, said = host_state(scene.lab), scene.lab.remotes(), []
    engine = lifecycle.RoleEngine(inv, stack, remotes, said.append)
    runs = {"deploy-all --dry-run": lambda: deploy_all(inv, stack, remotes, said.append, dry_run=True),
            "deploy-all": lambda: deploy_all(inv, stack, remotes, said.append),
            "create": lambda: lifecycle.create(inv, stack, remotes, "api1", said.append),
            "start": lambda: lifecycle.start(inv, stack, remotes, "lb", said.append),
            "stop": lambda: lifecycle.stop(inv, stack, remotes, "lb1", said.append),
            "remove": lambda: lifecycle.remove(inv, stack, remotes, "api1", said.append),
            "ipam.release": lambda: lifecycle.release(inv, stack, remotes, "api1", said.append),
            "destroy-all": lambda: destroy_all(inv, stack, remotes, said.append),
            "a service's restore: its check": lambda: engine.check_secrets(engine.facts()[0]),
            "a service's restore: its stop": lambda: engine.stop("lb"),
            "a service's restore: its start": lambda: engine.start(stack.of_role("lb"))}
    for what, run in runs.items():
        scene.lab.calls.clear()
        with pytest.raises(DockstackError) as err:
            run()
        message = str(err.value)
        assert message.startswith(f"{folder}: the stack's CA (ca.crt, ca.key) is missing, but the stack is deployed "
                                  "("), (what, message)
        for w in (f"restore the folder from your backup to {folder}", "`inv tls.init`", "docs/security.md",
                  "Nothing was changed", *words):
            assert w in message, (what, w, message)
        assert "PRIVATE" not in message
        assert {c.what for c in scene.lab.calls} <= {"facts", "health"}, what  # only read
    assert not any("written" in s or "updated" in s for s in said), said
    assert host_state(scene.lab) == before and not folder.exists()


def test_a_lost_tls_folder_refuses_every_command_that_could_publish_and_changes_nothing(with_tls, tmp_path):
    """The issue's probe: with the folder moved away, `inv stop` made a new CA and reloaded haproxy with it."""
    cfg, scene, folder = with_tls
    kept = folder.rename(tmp_path / "backup.tls")
    inv, stack = cfg.load()
    assert stack.tls.new_ca()  # a new CA, in memory only
    refused_without_ca(scene, inv, stack, folder, "its containers api1, dns, lb1, lb2 exist",
                       "lb1, lb2 keep a certificate of its CA (tls.pem)")
    kept.rename(folder)
    inv, stack = cfg.load()
    assert deploy_all(inv, stack, scene.lab.remotes(), lambda m: None) == Outcome(ok=4, changed=0)


def test_a_destroyed_stack_whose_balancers_keep_its_certificate_is_not_new(with_tls, tmp_path):
    """destroy-all leaves the service folders: a balancer's tls.pem says the stack had a CA, which clients trust."""
    cfg, scene, folder = with_tls
    assert destroy_all(scene.inv, scene.stack, scene.lab.remotes(), lambda m: None) == 4
    folder.rename(tmp_path / "backup.tls")
    inv, stack = cfg.load()
    with pytest.raises(DockstackError) as err:
        deploy_all(inv, stack, scene.lab.remotes(), lambda m: None)
    assert "is deployed (lb1, lb2 keep a certificate of its CA (tls.pem)):" in str(err.value), str(err.value)
    assert not folder.exists()


def test_a_new_stack_gets_its_ca_only_when_every_host_answered(cfg):
    """A host that does not answer may hold the stack's containers: no CA is made until it answers."""
    scene = tls_scene(cfg)
    folder = Path(scene.stack.tls.path)
    scene.lab.hosts["h3"].down = DOWN
    for dry_run in (True, False):
        with pytest.raises(DockstackError) as err:
            scene.deploy(dry_run=dry_run)
        assert "is deployed (h3 did not answer, so it may hold either):" in str(err.value), str(err.value)
    assert not folder.exists() and not scene.lab.asked("action")
    scene.lab.hosts["h3"].down = ""
    assert scene.deploy()[0] == Outcome(ok=4, changed=4)
    assert (folder / "ca.crt").read_text() == scene.stack.tls.ca_cert


def test_tls_init_gives_a_deployed_stack_a_new_ca_which_the_next_deploy_serves(with_tls, tmp_path):
    """The operator's word (a rotation, or a stack deployed before it had a CA): only local files change, then
    deploy-all pushes the certificate of the new CA to each balancer, which reloads."""
    cfg, scene, folder = with_tls
    old = (folder / "ca.crt").read_text()
    folder.rename(tmp_path / "old.tls")
    inv, stack = cfg.load()
    before = host_state(scene.lab)
    scene.lab.calls.clear()
    said = cacheck.init(stack)
    assert said.startswith(f"{folder}: a new CA for the stack") and "`inv deploy-all`" in said
    assert not scene.lab.calls and host_state(scene.lab) == before  # no host asked
    assert (folder / "ca.crt").read_text() == stack.tls.ca_cert != old
    with pytest.raises(DockstackError, match=r"holds the stack's CA already \(ca\.crt, ca\.key\); nothing made"):
        cacheck.init(cfg.load()[1])
    inv, stack = cfg.load()
    said = []
    assert deploy_all(inv, stack, scene.lab.remotes(), said.append) == Outcome(ok=4, changed=0)
    for name, host in (("lb1", "h2"), ("lb2", "h3")):
        assert scene.lab.hosts[host].files[f"{SERVICE_ROOT}/haproxy/{name}/tls.pem"] == stack.tls.served
        assert any(line.startswith(f"  {name}: ") and "tls.pem" in line for line in said), said


def test_a_tier_commit_waits_for_the_dnsmasq_copy_and_lets_the_replicas_run_beside_what_follows(scene):
    """The converge's tier commits write the hosts that keep only a replica beside the next tier: the commit returns
    once the dnsmasq host has answered, and settle() (the converge's end, or the next commit) waits for the rest."""
    scene.deploy()
    remotes = scene.lab.remotes()
    world = read_world(scene.inv, scene.stack, remotes)
    book = open_session(scene.inv, scene.stack, remotes, world, lambda m: None).book
    release, slow = threading.Event(), remotes["h3"]
    answer = slow._answer

    def held(argv, data, step, check):
        assert release.wait(10), "the replica's transaction was never let go"
        return answer(argv, data, step, check)

    slow._answer = held  # h3 keeps only a replica: its transaction waits until the test lets it go
    record = Record("app1", "app", "h1", "02:42:0a:64:00:70", "10.100.0.170", "new")
    book.commit(Change(puts=(record,)), lag_replicas=True)  # returns with h3's transaction still held
    assert f"{REPLICA_DIR}/registry/app1" not in scene.lab.hosts["h3"].files or \
        "10.100.0.170" not in scene.lab.hosts["h3"].files[f"{REPLICA_DIR}/registry/app1"]
    release.set()
    book.settle()
    assert "10.100.0.170" in scene.lab.hosts["h3"].files[f"{REPLICA_DIR}/registry/app1"]


def test_a_changed_dnsmasq_conf_restarts_dnsmasq_naming_only_the_file_that_changed(scene, cfg):
    """SIGHUP does not re-read dnsmasq.conf: a changed lease time restarts dnsmasq, and the line names what changed
    (dnsmasq.conf), not every file it has (its check did not change)."""
    scene.deploy()
    cfg.hosts["network"]["lease_time"] = "6h"
    scene.inv, scene.stack = cfg.load()
    scene.lab.calls.clear()
    outcome, said = scene.deploy()
    assert "  dns: dnsmasq.conf changed: restart" in said
    assert ("dns", ("restart",)) in [(c.name, c.detail) for c in scene.lab.asked("action")]
    assert not outcome.failed
