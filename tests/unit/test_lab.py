"""dockstack.lab: only the pure parts (names and paths derived from hosts.yaml, the FORWARD rule)."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from dockstack import lab, prereq
from dockstack.config import Host, Inventory, LabSpec
from dockstack.errors import ConfigError, PrerequisiteError


@pytest.fixture
def spec():
    return LabSpec(bridge="dslab0", gateway=ipaddress.IPv4Interface("10.99.0.1/24"), prefix="dsl",
                   state_dir="/var/lib/dockstack-lab")


def test_lab_host_names_and_paths(spec):
    lh = lab.LabHost("host1", "10.99.0.11", spec)
    assert lh.netns == "dsl-host1"
    assert lh.netns_file == Path("/run/netns/dsl-host1")
    assert lh.veth == "dsl-host1"
    assert lh.mnt_file == Path("/run/dsl-lab/host1.mnt")
    assert lh.dir == Path("/var/lib/dockstack-lab/hosts/host1")
    assert lh.cgroup_parent == "dsl-host1"
    assert lh.pid_file("sshd") == Path("/var/lib/dockstack-lab/hosts/host1/sshd.pid")


def test_mnt_file_lives_under_the_prefix_mount_dir(spec):
    s = dataclasses.replace(spec, prefix="xy")
    lh = lab.LabHost("host2", "10.99.0.12", s)
    assert lab.mount_dir(s) == Path("/run/xy-lab")
    assert lh.mnt_file.parent == Path("/run/xy-lab")
    assert lh.mnt_file.name == "host2.mnt"


@pytest.mark.parametrize("name", ["h", "host1", "host12345678", "a-very-long-host-name"])
def test_veth_fits_interface_name_limit(spec, name):
    lh = lab.LabHost(name, "10.99.0.11", spec)
    assert len(lh.veth) <= 15
    assert lh.netns.startswith(lh.veth)
    assert len(f"{lh.veth[:12]}-p") <= 15  # the peer's temporary name


def test_enter_prefix(spec):
    lh = lab.LabHost("host1", "10.99.0.11", spec)
    argv = lh.enter()
    assert argv[0] == "nsenter"
    assert argv[-1] == "--"
    assert "--mount=/run/dsl-lab/host1.mnt" in argv
    assert "--net=/run/netns/dsl-host1" in argv
    # every namespace file it enters lives in the lab's private mount dir or /run/netns
    for opt in argv[1:-1]:
        path = Path(opt.split("=", 1)[1])
        assert path.parent in (Path("/run/dsl-lab"), Path("/run/netns")), opt


def test_key_and_known_hosts_files(spec):
    assert lab.key_file(spec) == Path("/var/lib/dockstack-lab/id_ed25519")
    assert lab.known_hosts_file(spec) == Path("/var/lib/dockstack-lab/known_hosts")


def test_forward_rule(spec):
    assert lab.forward_rule(spec) == ["-i", "dslab0", "-o", "dslab0", "-j", "ACCEPT",
                                      "-m", "comment", "--comment", "dsl-lab"]


def test_forward_rule_follows_bridge_and_prefix(spec):
    rule = lab.forward_rule(dataclasses.replace(spec, bridge="brX", prefix="p2"))
    assert rule[rule.index("-i") + 1] == "brX"
    assert rule[rule.index("-o") + 1] == "brX"
    assert rule[-1] == "p2-lab"


def test_lab_hosts_of_shipped_inventory(shipped_inventory):
    hosts = lab.lab_hosts(shipped_inventory)
    assert [(h.name, h.address, h.netns) for h in hosts] == [
        ("host1", "10.99.0.11", "dsl-host1"), ("host2", "10.99.0.12", "dsl-host2"),
        ("host3", "10.99.0.13", "dsl-host3")]


def test_lab_hosts_rejects_names_too_long_for_a_netns(spec, net):
    inv = Inventory(path="hosts.yaml", hosts=(Host("averyverylonghost", "10.99.0.11"),), network=net, lab=spec)
    with pytest.raises(ConfigError, match="too long") as e:
        lab.lab_hosts(inv)
    assert e.value.path == "hosts.yaml"
    assert e.value.key == "hosts"


def test_require_lab_without_lab_section(net):
    inv = Inventory(path="hosts.yaml", hosts=(Host("h1", "192.0.2.1"),), network=net)
    with pytest.raises(ConfigError) as e:
        lab.require_lab(inv)
    assert e.value.key == "lab"
    assert "missing" in str(e.value)



def test_lab_up_needs_the_hosts_dhcp_client_and_names_its_package(monkeypatch, shipped_inventory):
    """The lab's hosts run this machine's programs: the action script's udhcpc is checked with the lab's own, before
    anything is done."""
    monkeypatch.setattr(prereq.os, "geteuid", lambda: 0)
    monkeypatch.setattr(prereq, "which", lambda p: None if p == "udhcpc" else f"/usr/bin/{p}")
    with pytest.raises(PrerequisiteError, match=r"inv lab.up needs udhcpc, which is not installed: run "
                                                r"`apt-get install -y udhcpc`"):
        lab.up(shipped_inventory, say=lambda _: pytest.fail("lab.up went on"))
