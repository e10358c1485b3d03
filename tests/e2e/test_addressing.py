"""Issue 3 end to end: containers keep their IP and DNS name through dnsmasq, across hosts, over SSH."""

from __future__ import annotations

import ipaddress
import json

import pytest

from dockstack.services.dnsmasq import DNSMASQ_DIR

from .helpers import book_files, docker_exec, entry, ipam_json, managed_containers, run_inv, ssh, write_containers

LAB = "b"
DOMAIN = "dockstack.lab"
SUBNET = ipaddress.IPv4Network("10.100.0.0/24")


def container_addr(inventory, host: str, name: str) -> tuple[str, str]:
    """(mac, ip) of eth0 as the container itself sees it."""
    out = docker_exec(inventory, host, name, "ip -o addr show dev eth0")
    link = docker_exec(inventory, host, name, "ip -o link show dev eth0")
    mac = link.split("link/ether ")[1].split()[0]
    ip = out.split("inet ")[1].split("/")[0]
    return mac, ip


def leases(inventory) -> str:
    return ssh(inventory, "host1", f"cat {DNSMASQ_DIR}/dnsmasq/lease/leases").stdout


@pytest.fixture(scope="module")
def stack(inventory, remotes):
    """dnsmasq on host1, galera on host2, openstack on host3, created through the CLI."""
    from .helpers import wipe_stack

    wipe_stack(remotes)
    for name in ("dnsmasq", "galera", "openstack"):
        run_inv("create", f"--name={name}")
    return inventory


def test_containers_on_other_hosts_get_addresses_from_dnsmasq_over_vxlan(stack):
    rows = ipam_json()
    assert rows["dnsmasq"]["host"] == "host1" and rows["dnsmasq"]["ip"] == "10.100.0.2"
    lease_text = leases(stack)
    for name, host in (("galera", "host2"), ("openstack", "host3")):
        mac, ip = container_addr(stack, host, name)
        assert ipaddress.IPv4Address(ip) in SUBNET
        assert 100 <= int(ip.split(".")[-1]) <= 199  # from the DHCP range
        assert f" {mac} {ip} {name} " in lease_text  # handed out by dnsmasq on host1
        assert rows[name] | {} == rows[name] and rows[name]["ip"] == ip and rows[name]["mac"] == mac
    # the L2 segment between hosts is the VXLAN mesh: host2 floods to host1 and host3
    fdb = ssh(stack, "host2", "bridge fdb show dev dsvx0").stdout
    assert f"dst {stack.host('host1').address}" in fdb and f"dst {stack.host('host3').address}" in fdb


def test_names_resolve_across_hosts_through_dnsmasq(stack):
    galera_ip = ipam_json()["galera"]["ip"]
    resolv = docker_exec(stack, "host3", "openstack", "cat /etc/resolv.conf")
    assert "nameserver 10.100.0.2" in resolv and DOMAIN in resolv
    assert "galera" not in docker_exec(stack, "host3", "openstack", "cat /etc/hosts")  # so it is DNS
    assert docker_exec(stack, "host3", "openstack", f"getent hosts galera.{DOMAIN}").split()[0] == galera_ip
    assert docker_exec(stack, "host3", "openstack", "getent hosts galera").split()[0] == galera_ip  # search domain
    openstack_ip = ipam_json()["openstack"]["ip"]
    assert docker_exec(stack, "host2", "galera", f"getent hosts openstack.{DOMAIN}").split()[0] == openstack_ip


def test_dnsmasq_does_not_forward_outside_its_domain(stack):
    """no-resolv and no servers: a foreign name fails fast instead of leaving the lab."""
    out = ssh(stack, "host3", "docker exec openstack getent hosts example.org", check=False)
    assert out.returncode != 0
    conf = ssh(stack, "host1", f"cat {DNSMASQ_DIR}/dnsmasq/dnsmasq.conf").stdout
    assert "no-resolv" in conf and "\nserver=" not in conf


def test_same_ip_after_stop_and_start(stack):
    before = container_addr(stack, "host2", "galera")
    run_inv("stop", "--name=galera")
    assert ipam_json()["galera"]["state"] == "stopped"
    run_inv("start", "--name=galera")
    assert container_addr(stack, "host2", "galera") == before
    assert ipam_json()["galera"]["state"] == "running"


def test_start_of_a_running_container_changes_nothing(stack):
    out = run_inv("start", "--name=galera").stdout
    assert "nothing to do" in out


def test_same_ip_after_remove_and_create(stack):
    mac, ip = container_addr(stack, "host2", "galera")
    run_inv("remove", "--name=galera")
    assert ipam_json()["galera"]["state"] == "absent"
    out = run_inv("create", "--name=galera").stdout
    assert "name in dnsmasq lease data" in out
    assert container_addr(stack, "host2", "galera") == (mac, ip)
    assert ipam_json()["galera"]["source"] == "lease"  # the path this create took


def test_same_ip_after_moving_to_another_host(stack, tmp_path):
    mac, ip = container_addr(stack, "host3", "openstack")
    moved = write_containers(tmp_path, "moved.yaml", lambda d: entry(d, "openstack").update(host="host2"))
    run_inv("remove", "--name=openstack")
    run_inv("create", "--name=openstack", f"--containers-file={moved}")
    assert "openstack" not in managed_containers_on(stack, "host3")
    assert container_addr(stack, "host2", "openstack") == (mac, ip)
    assert docker_exec(stack, "host2", "galera", f"getent hosts openstack.{DOMAIN}").split()[0] == ip
    run_inv("remove", "--name=openstack")
    run_inv("create", "--name=openstack")  # and back
    assert container_addr(stack, "host3", "openstack") == (mac, ip)


def managed_containers_on(inventory, host: str) -> list[str]:
    return ssh(inventory, host, "docker ps -a --format '{{.Names}}'").stdout.split()


def test_static_mac_and_ip_from_config(stack, tmp_path):
    def add(d):
        d["containers"].append({"name": "static1", "role": "config", "host": "host3",
                                "image": "dockstack/base:bookworm", "mac": "02:00:0a:64:00:33", "ip": "10.100.0.51"})
        d["containers"].append({"name": "static2", "role": "control", "host": "host2",
                                "image": "dockstack/base:bookworm", "mac": "02:00:0a:64:00:34"})
    path = write_containers(tmp_path, "static.yaml", add)
    run_inv("create", "--name=static1", f"--containers-file={path}")
    run_inv("create", "--name=static2", f"--containers-file={path}")
    assert container_addr(stack, "host3", "static1") == ("02:00:0a:64:00:33", "10.100.0.51")
    mac2, ip2 = container_addr(stack, "host2", "static2")
    assert mac2 == "02:00:0a:64:00:34" and f" {mac2} {ip2} static2 " in leases(stack)
    rows = {r["name"]: r for r in json.loads(
        run_inv("ipam.show", "--json", f"--containers-file={path}").stdout)}
    assert rows["static1"]["source"] == "static" and rows["static1"]["ip"] == "10.100.0.51"
    # the static one resolves like any other
    assert docker_exec(stack, "host2", "galera", f"getent hosts static1.{DOMAIN}").split()[0] == "10.100.0.51"
    run_inv("remove", "--name=static1", f"--containers-file={path}")
    run_inv("remove", "--name=static2", f"--containers-file={path}")


@pytest.mark.parametrize("ip,problem", [
    ("10.200.0.5", "is outside the container subnet 10.100.0.0/24"),
    ("10.100.0.2", "is already the address of dnsmasq"),
])
def test_bad_static_ip_in_config_is_refused_before_anything_runs(stack, remotes, tmp_path, ip, problem):
    def add(d):
        d["containers"].append({"name": "badip", "role": "config", "host": "host2",
                                "image": "dockstack/base:bookworm", "ip": ip})
    path = write_containers(tmp_path, "bad.yaml", add)
    before = managed_containers(remotes), book_files(stack)
    proc = run_inv("create", "--name=badip", f"--containers-file={path}", check=False)
    assert proc.returncode == 1
    assert f"{path}: containers[10].ip: {ip} {problem}" in proc.stderr
    assert "Traceback" not in proc.stderr
    after = managed_containers(remotes), book_files(stack)
    assert before == after


def test_static_ip_colliding_with_a_leased_address_is_refused(stack, remotes, tmp_path):
    taken = ipam_json()["galera"]["ip"]

    def add(d):
        d["containers"].append({"name": "thief", "role": "config", "host": "host3",
                                "image": "dockstack/base:bookworm", "ip": taken})
    path = write_containers(tmp_path, "thief.yaml", add)
    before = managed_containers(remotes)
    proc = run_inv("create", "--name=thief", f"--containers-file={path}", check=False)
    assert proc.returncode == 1
    assert f"{taken} is already the address of galera" in proc.stderr and "Traceback" not in proc.stderr
    assert managed_containers(remotes) == before


def test_ipam_show_lists_every_known_container(stack):
    run_inv("stop", "--name=galera")
    try:
        rows = ipam_json()
        assert list(rows)[:4] == ["dnsmasq", "puppet", "haproxy", "galera"]  # config order
        d = rows["dnsmasq"]
        assert d == {"name": "dnsmasq", "role": "dnsmasq", "host": "host1", "mac": "02:00:0a:64:00:02",
                     "ip": "10.100.0.2", "fqdn": f"dnsmasq.{DOMAIN}", "source": "static", "state": "running"}
        assert rows["galera"]["state"] == "stopped" and rows["galera"]["fqdn"] == f"galera.{DOMAIN}"
        assert rows["galera"]["source"] in ("new", "lease")
        assert rows["webui"]["state"] == "absent" and rows["webui"]["ip"] == ""
        table = run_inv("ipam.show").stdout.splitlines()
        assert table[0].split() == ["NAME", "ROLE", "HOST", "MAC", "IP", "FQDN", "SOURCE", "STATE"]
        galera = next(line for line in table if line.startswith("galera "))
        assert rows["galera"]["ip"] in galera and "stopped" in galera
    finally:
        run_inv("start", "--name=galera")


def test_release_gives_the_next_create_a_new_address(stack):
    old_mac, old_ip = container_addr(stack, "host2", "galera")
    refused = run_inv("ipam.release", "--name=galera", check=False)
    assert refused.returncode == 1 and "is running" in refused.stderr
    run_inv("remove", "--name=galera")
    run_inv("ipam.release", "--name=galera")
    assert f" {old_mac} " not in leases(stack)
    assert "galera" not in ipam_json().get("galera", {}).get("fqdn", "")
    out = run_inv("create", "--name=galera").stdout
    assert "new lease" in out
    mac, ip = container_addr(stack, "host2", "galera")
    assert mac != old_mac and ip != old_ip
    assert ipam_json()["galera"]["source"] == "new"


def test_user_errors_are_clear(stack):
    proc = run_inv("create", "--name=nosuch", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no container or role named 'nosuch'" in proc.stderr
    proc = run_inv("create", "--name=dnsmasq", check=False)
    assert proc.returncode == 0 and "already running" in proc.stdout


def test_create_without_dnsmasq_running_is_refused(stack, remotes):
    run_inv("stop", "--name=dnsmasq")
    try:
        before = managed_containers(remotes)
        proc = run_inv("create", "--name=webui", check=False)
        assert proc.returncode == 1 and "no dnsmasq container is running" in proc.stderr
        assert managed_containers(remotes) == before
    finally:
        run_inv("start", "--name=dnsmasq")
    # dnsmasq came back with its static address and still knows everyone
    assert container_addr(stack, "host1", "dnsmasq") == ("02:00:0a:64:00:02", "10.100.0.2")
    assert docker_exec(stack, "host3", "openstack", f"getent hosts galera.{DOMAIN}").split()[0] == \
        ipam_json()["galera"]["ip"]
