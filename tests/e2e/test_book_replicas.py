"""Issue 17, the address book on every host: losing one host's whole dockstack folder, the dnsmasq host's included,
changes no container's MAC or IP, whether it was running, stopped or removed; a re-created dnsmasq gets every
record back before it serves."""

from __future__ import annotations

import pytest

from dockstack.addressbook import REPLICA_DIR
from dockstack.dockercli import LABEL_MANAGED
from dockstack.services import SERVICE_ROOT

from .helpers import book_files, docker_exec, engine_stack, renew_lease, run_inv, ssh, wipe_stack

LAB = "b"
EVERY = "10 ok, 10 changed, 0 failed"
# each managed container's name, eth0 MAC and first IPv4, as the container itself has them
ETH0 = (f"for c in $(docker ps --filter label={LABEL_MANAGED}=true --format '{{{{.Names}}}}'); do "
        "echo \"$c $(docker exec \"$c\" cat /sys/class/net/eth0/address) "
        "$(docker exec \"$c\" ip -o -4 addr show dev eth0 | awk 'NR == 1 {print $4}')\"; done")


def eth0s(inventory) -> dict[str, tuple[str, str]]:
    """name -> (mac, ip) of every running managed container, read inside each."""
    out = {}
    for h in inventory.hosts:
        for line in ssh(inventory, h.name, ETH0).stdout.splitlines():
            name, mac, cidr = line.split()
            out[name] = (mac, cidr.partition("/")[0])
    return out


def replica(inventory, host: str) -> dict[str, str]:
    """A host's replica: each part's files concatenated, as book_files gives a dnsmasq's copy."""
    out = {}
    for part in ("registry", "dhcp-hosts.d", "hosts.d"):
        d = f"{REPLICA_DIR}/{part}"
        out[part] = ssh(inventory, host, f"[ ! -d {d} ] || find {d} -maxdepth 1 -type f | sort | xargs -r cat").stdout
    return out


@pytest.fixture(scope="module")
def deployed(inventory, remotes) -> dict[str, tuple[str, str]]:
    """The engine stack from empty hosts; every container's address as it runs."""
    wipe_stack(remotes)
    assert EVERY in run_inv("deploy-all").stdout
    before = eth0s(inventory)
    assert len(before) == 10
    dns = book_files(inventory)
    assert dns["registry"].count("\n") == 10
    for h in inventory.hosts:  # every host keeps the same book
        assert replica(inventory, h.name) == dns, h.name
    return before


def lose_a_hosts_folder(inventory, deployed, host: str, stopped: str, removed: str) -> str:
    """stopped stopped and removed removed through the CLI, then host's whole service root deleted (its containers'
    folders and its replica; the dnsmasq container and its copy too on host1); deploy-all must bring every container
    back with the address it had."""
    stack = engine_stack(inventory)
    assert stack.container(stopped).host != host or stopped != removed
    run_inv("stop", f"--name={stopped}")
    run_inv("remove", f"--name={removed}")
    if host == "host1":
        ssh(inventory, host, "docker rm -f dnsmasq >/dev/null")
    ssh(inventory, host, f"find {SERVICE_ROOT} -mindepth 1 -delete")  # the lab mounts the folder itself: its content
    out = run_inv("deploy-all").stdout
    assert "10 ok, " in out and ", 0 failed" in out, out
    assert f"  {stopped}: start (stopped)" in out, out
    assert f"  {removed}: create (missing)" in out, out
    assert eth0s(inventory) == deployed  # the same MAC and IP, each container
    dns = book_files(inventory)
    for h in inventory.hosts:
        assert replica(inventory, h.name) == dns, h.name
    assert "10 ok, 0 changed, 0 failed" in run_inv("deploy-all").stdout  # every copy whole: nothing left to do
    return out


def test_the_dnsmasq_hosts_folder_lost_changes_no_address(inventory, deployed):
    """host1 keeps dnsmasq and webui: webui removed, collector (host2) stopped, then host1's folder and the dnsmasq
    container gone. dnsmasq is re-created with its copy written from the replicas before it starts, so it pins
    every address at once: a renewal anywhere gets the old IP, names resolve."""
    out = lose_a_hosts_folder(inventory, deployed, "host1", "collector", "webui")
    assert "  address book: no copy yet (dnsmasq on host1, the replica on host1): written from the newest" in out
    assert "  dnsmasq: create (missing)" in out
    assert out.index("  dnsmasq: its address book lacks records: written before it starts") < \
        out.index("  dnsmasq: create on host1")
    stack = engine_stack(inventory)
    for name in ("galera", "config"):  # host2, host3: a fresh DHCP exchange with the re-created dnsmasq
        host = stack.container(name).host
        renew_lease(inventory, host, name)
        assert eth0s(inventory)[name] == deployed[name]
    resolved = docker_exec(inventory, "host1", "webui", f"getent hosts galera.{inventory.network.domain}")
    assert resolved.split()[0] == deployed["galera"][1]


def test_another_hosts_folder_lost_changes_no_address(inventory, deployed):
    """host2 (no dnsmasq): cassandra stopped, galera removed, host2's folder gone (its replica and puppet's files)."""
    out = lose_a_hosts_folder(inventory, deployed, "host2", "cassandra", "galera")
    assert "  address book: no copy yet (the replica on host2): written from the newest" in out
