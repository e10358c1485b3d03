"""dockstack.config: loading hosts.yaml/containers.yaml and every validation error."""

from __future__ import annotations

import ipaddress
import itertools
import re
from dataclasses import replace

import pytest

from dockstack.config import DEFAULT_MAX_SESSIONS, Host, dhcp_slice, load_inventory, load_stack
from dockstack.errors import ConfigError, DockstackError
from dockstack.services.registry import DEFINITIONS

# --- the shipped files ---------------------------------------------------------------


def test_shipped_inventory_has_three_lab_hosts(shipped_inventory):
    inv = shipped_inventory
    assert [h.name for h in inv.hosts] == ["host1", "host2", "host3"]
    assert [h.address for h in inv.hosts] == ["10.99.0.11", "10.99.0.12", "10.99.0.13"]
    assert all(h.user == "root" and h.port == 22 and not h.sudo for h in inv.hosts)
    assert inv.hosts[0].key == "/var/lib/dockstack-lab/id_ed25519"


def test_shipped_network(shipped_inventory):
    net = shipped_inventory.network
    assert net.subnet == ipaddress.IPv4Network("10.100.0.0/24")
    assert (str(net.dhcp_start), str(net.dhcp_end)) == ("10.100.0.100", "10.100.0.199")
    assert net.domain == "dockstack.lab"
    assert (net.bridge, net.mtu, net.join, net.vxlan_id, net.vxlan_port) == ("dsbr0", 1450, "vxlan", 4242, 4789)
    assert net.gateway is None
    assert net.upstream_dns == ()
    assert net.lease_time == "12h"


def test_shipped_lab_section(shipped_inventory):
    lab = shipped_inventory.lab
    assert lab is not None
    assert lab.bridge == "dslab0"
    assert lab.gateway == ipaddress.IPv4Interface("10.99.0.1/24")
    assert lab.prefix == "dsl"
    assert lab.state_dir == "/var/lib/dockstack-lab"


def test_shipped_stack(shipped_stack):
    st = shipped_stack
    assert len(st.containers) == 14  # two haproxy containers hold the vip, three galera nodes
    assert len(st.roles) == 11
    assert [c.host for c in st.of_role("haproxy")] == ["host3", "host1"]
    vip = st.role("haproxy").vip
    assert vip is not None and str(vip.ip) == "10.100.0.10" and vip.name == "vip"
    assert "keepalived" in (st.image("dockstack/haproxy:bookworm") or st.images[0]).packages
    assert [c.name for c in st.of_role("galera")] == ["galera1", "galera2", "galera3"]
    assert {c.host for c in st.of_role("galera")} == {"host1", "host2", "host3"}
    assert st.role("galera").service == "galera" and st.role("galera").classes == ("profile::galera",)
    assert [c.name for c in st.containers][:3] == ["dnsmasq", "puppet", "haproxy"]
    dns = st.container("dnsmasq")
    assert dns.provides_addresses
    assert dns.mac == "02:00:0a:64:00:02"
    assert dns.ip == ipaddress.IPv4Address("10.100.0.2")
    assert st.address_providers() == (dns,)
    # keepalived's unicast peers: a vip role's containers have static addresses; every other one leases its own
    assert [str(c.ip) for c in st.of_role("haproxy")] == ["10.100.0.11", "10.100.0.12"]
    assert all(c.mac is None and c.ip is None for c in st.containers if c.role not in ("dnsmasq", "haproxy"))
    assert {c.host for c in st.containers} == {"host1", "host2", "host3"}
    img = st.image("dockstack/base:bookworm")
    assert img is not None and img.suite == "bookworm"
    assert "dnsmasq" in img.packages and "isc-dhcp-client" in img.packages
    assert st.image("nope:latest") is None


def test_minimal_config_loads_with_defaults(cfg):
    inv, st = cfg.load()
    assert inv.path == str(cfg.hosts_path)
    assert st.path == str(cfg.containers_path)
    assert inv.lab is None
    h = inv.host("h1")
    assert (h.user, h.port, h.key, h.sudo, h.vxlan_address) == ("root", 22, None, False, None)
    assert h.underlay == "10.99.0.11"
    assert (inv.network.bridge, inv.network.mtu, inv.network.join) == ("dsbr0", 1450, "vxlan")
    app = st.container("app1")
    assert (app.role, app.host, app.mac, app.ip) == ("app", "h2", None, None)
    assert (app.volumes, app.env, app.command) == ((), (), ())


def test_container_fields_are_normalised(cfg):
    c = cfg.container(1)
    c.update(mac="02:AB:CD:00:00:01", ip="10.100.0.50", volumes=["/srv/a:/a:ro"],
             env={"A": 1, "B": "x y"}, command="run-me")
    _, st = cfg.load()
    app = st.container("app1")
    assert app.mac == "02:ab:cd:00:00:01"
    assert app.ip == ipaddress.IPv4Address("10.100.0.50")
    assert app.volumes == ("/srv/a:/a:ro",)
    assert app.env == (("A", "1"), ("B", "x y"))
    assert app.command == ("run-me",)


def test_command_list_is_kept_as_arguments(cfg):
    cfg.container(1)["command"] = ["sleep", 10]
    _, st = cfg.load()
    assert st.container("app1").command == ("sleep", "10")


def test_vxlan_address_is_the_underlay(cfg):
    cfg.hosts["hosts"][0]["vxlan_address"] = "192.0.2.7"
    inv = cfg.load_inventory()
    assert inv.host("h1").underlay == "192.0.2.7"
    assert Host("x", "198.51.100.1").underlay == "198.51.100.1"


def test_gateway_and_upstream_dns(cfg):
    cfg.hosts["network"].update(gateway="10.100.0.1", upstream_dns=["192.0.2.53", "192.0.2.54"])
    net = cfg.load_inventory().network
    assert net.gateway == ipaddress.IPv4Address("10.100.0.1")
    assert net.upstream_dns == ("192.0.2.53", "192.0.2.54")


def test_unknown_names_in_lookups(cfg):
    inv, st = cfg.load()
    with pytest.raises(ConfigError, match="no host named 'h9'"):
        inv.host("h9")
    with pytest.raises(DockstackError, match=r"no container named 'nope'.*known: dns, app1"):
        st.container("nope")


# --- containers.yaml errors -------------------------------------------------------------


def test_static_ip_outside_subnet(cfg, config_error):
    cfg.container(1)["ip"] = "10.200.0.5"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].ip", "10.200.0.5", "outside", "10.100.0.0/24")


@pytest.mark.parametrize("ip", ["10.100.0.0", "10.100.0.255"])
def test_static_ip_network_or_broadcast_address(cfg, ip, config_error):
    cfg.container(1)["ip"] = ip
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].ip", ip)


def test_static_ip_is_the_gateway(cfg, config_error):
    cfg.hosts["network"]["gateway"] = "10.100.0.1"
    cfg.container(1)["ip"] = "10.100.0.1"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].ip", "gateway")


def test_static_ip_not_an_address(cfg, config_error):
    cfg.container(1)["ip"] = "10.100.0.300"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].ip", "not an IPv4 address")


def test_static_ip_collision(cfg, config_error):
    cfg.container(1)["ip"] = "10.100.0.2"  # the dnsmasq container's
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].ip", "10.100.0.2", "already the address of dns")


def test_mac_collision(cfg, config_error):
    cfg.container(1)["mac"] = "02:00:0A:64:00:02"  # dnsmasq's, in another case
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].mac", "02:00:0a:64:00:02", "already the MAC of dns")


def test_mac_collision_with_derived_static_mac(cfg, config_error):
    cfg.container(1)["ip"] = "10.100.0.5"  # gets 02:00:0a:64:00:05 at runtime
    cfg.containers["roles"].append({"name": "other"})
    cfg.containers["containers"].append({"name": "other", "role": "other", "host": "h1",
                                         "image": "test/base:bookworm", "mac": "02:00:0a:64:00:05"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[2].mac", "02:00:0a:64:00:05")


@pytest.mark.parametrize("mac", ["02:00:0a:64:00", "02-00-0a-64-00-0a", "zz:00:0a:64:00:0a", "0200.0a64.000a"])
def test_bad_mac(cfg, mac, config_error):
    cfg.container(1)["mac"] = mac
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].mac", "not a unicast MAC")


@pytest.mark.parametrize("mac", ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "03:00:0a:64:00:0a", "00:00:00:00:00:00"])
def test_multicast_mac(cfg, mac, config_error):
    cfg.container(1)["mac"] = mac
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].mac", mac, "not a unicast MAC")


def test_unknown_host(cfg, config_error):
    cfg.container(1)["host"] = "h9"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].host", "unknown host 'h9'", "h1, h2",
                        str(cfg.hosts_path))


def test_unknown_role(cfg, config_error):
    cfg.container(1)["role"] = "web"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].role", "unknown role 'web'", "roles:")


def test_duplicate_container_name(cfg, config_error):
    cfg.container(1)["name"] = "dns"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].name", "duplicate container name 'dns'")


def test_duplicate_role(cfg, config_error):
    cfg.containers["roles"].append("app")
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[2].name", "duplicate role 'app'")


def test_unknown_container_key(cfg, config_error):
    cfg.container(1)["port"] = 80
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].port", "unknown key", "allowed keys:")


def test_unknown_top_level_key_in_containers_file(cfg, config_error):
    cfg.containers["services"] = []
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "services", "unknown key")


@pytest.mark.parametrize("drop", ["mac", "ip"])
def test_dnsmasq_needs_static_mac_and_ip(cfg, drop, config_error):
    del cfg.container(0)[drop]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"containers[0].{drop}", "dnsmasq container needs a static mac and ip")


@pytest.mark.parametrize("key", ["role", "host", "image"])
def test_container_missing_required_key(cfg, key, config_error):
    del cfg.container(1)[key]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"containers[1].{key}", "missing")


def test_container_name_must_be_dns_label(cfg, config_error):
    cfg.container(1)["name"] = "App_1"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].name", "'App_1' is not a valid name")


@pytest.mark.parametrize("name", ["a", "0"])
def test_a_one_character_container_name_is_refused_as_docker_would(cfg, config_error, name):
    cfg.container(1)["name"] = name
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].name", f"{name!r} is too short for a container name")
    assert "2-32 lowercase letters" in str(e.value)


def test_a_one_character_role_or_host_name_is_still_a_name(cfg):
    cfg.containers["roles"][1]["name"] = "a"
    for c in cfg.containers["containers"]:
        if c["role"] == "app":
            c["role"] = "a"
    _, st = cfg.load()
    assert st.role("a").name == "a"


def test_volume_without_target(cfg, config_error):
    cfg.container(1)["volumes"] = ["/srv/data"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].volumes[0]", "SOURCE:TARGET")


def test_bad_package_name(cfg, config_error):
    cfg.containers["images"]["test/base:bookworm"]["packages"] = ["ok-pkg", "Bad Pkg"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "images.test/base:bookworm.packages[1]", "'Bad Pkg'",
                 "not a Debian package name")


def test_placeholders_are_package_names_not_also_packages(cfg, config_error):
    img = cfg.containers["images"]["test/base:bookworm"]
    img["placeholders"] = ["q-text-as-data"]
    _, st = cfg.load()
    assert st.images[0].placeholders == ("q-text-as-data",)
    img["placeholders"] = ["--force-all"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "images.test/base:bookworm.placeholders[0]", "not a Debian package name")
    img["placeholders"] = [img["packages"][0]]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "images.test/base:bookworm.placeholders", "also under packages")


def test_wrong_type(cfg, config_error):
    cfg.container(1)["env"] = ["A=1"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].env", "must be a mapping")


# --- hosts.yaml errors ---------------------------------------------------------------------


def test_dhcp_range_outside_subnet(cfg, config_error):
    cfg.hosts["network"]["dhcp_range"] = "10.100.0.100-10.100.1.10"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.dhcp_range", "10.100.0.0/24")


def test_dhcp_range_descending(cfg, config_error):
    cfg.hosts["network"]["dhcp_range"] = "10.100.0.199-10.100.0.100"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.dhcp_range", "ascending")


def test_dhcp_range_malformed(cfg, config_error):
    cfg.hosts["network"]["dhcp_range"] = "10.100.0.100"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.dhcp_range", "FIRST-LAST")


def test_dhcp_range_spaces_are_allowed(cfg):
    cfg.hosts["network"]["dhcp_range"] = "10.100.0.150 - 10.100.0.160"
    net = cfg.load_inventory().network
    assert (str(net.dhcp_start), str(net.dhcp_end)) == ("10.100.0.150", "10.100.0.160")


def test_subnet_with_host_bits(cfg, config_error):
    cfg.hosts["network"]["subnet"] = "10.100.0.5/24"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.subnet", "has host bits set", "10.100.0.0/24")


@pytest.mark.parametrize(("gateway", "words"), [("10.100.0.0", ["network address"]),
                                                ("10.100.0.255", ["broadcast address"]),
                                                ("10.100.0.150", ["inside dhcp_range", "could lease it"])])
def test_gateway_no_router_could_have_is_refused(cfg, config_error, gateway, words):
    cfg.hosts["network"]["gateway"] = gateway
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.gateway", gateway, *words)


@pytest.mark.parametrize("key", ["vxlan_device", "uplink"])
def test_a_device_named_like_the_bridge_is_refused(cfg, config_error, key):
    cfg.hosts["network"].update({"bridge": "br7", key: "br7"})
    if key == "uplink":
        cfg.hosts["network"]["join"] = "uplink"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, f"network.{key}", "'br7' is also network.bridge")


def test_gateway_outside_subnet(cfg, config_error):
    cfg.hosts["network"]["gateway"] = "10.101.0.1"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.gateway", "outside")


def test_join_uplink_without_uplink(cfg, config_error):
    cfg.hosts["network"]["join"] = "uplink"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.uplink", "missing", "join: uplink")


def test_join_uplink_with_uplink(cfg):
    cfg.hosts["network"].update(join="uplink", uplink="eth1")
    net = cfg.load_inventory().network
    assert (net.join, net.uplink) == ("uplink", "eth1")


def test_unknown_join_mode(cfg, config_error):
    cfg.hosts["network"]["join"] = "gre"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.join", "'gre'", "vxlan, uplink, none")


def test_interface_name_too_long(cfg, config_error):
    cfg.hosts["network"]["bridge"] = "a-very-long-bridge"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.bridge", "not a valid interface name")


@pytest.mark.parametrize("mtu", [575, 9001])
def test_mtu_out_of_range(cfg, mtu, config_error):
    cfg.hosts["network"]["mtu"] = mtu
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.mtu", f"{mtu} is out of range")


def test_bad_upstream_dns(cfg, config_error):
    cfg.hosts["network"]["upstream_dns"] = ["192.0.2.53", "dns.example"]
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.upstream_dns[1]", "'dns.example'")


def test_bad_domain(cfg, config_error):
    cfg.hosts["network"]["domain"] = "Example.Lab"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.domain", "not a DNS domain")


def test_unknown_network_key(cfg, config_error):
    cfg.hosts["network"]["vlan"] = 5
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network.vlan", "unknown key")


def test_unknown_host_key(cfg, config_error):
    cfg.hosts["hosts"][1]["password"] = "x"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[1].password", "unknown key")


def test_duplicate_host_name(cfg, config_error):
    cfg.hosts["hosts"][1]["name"] = "h1"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[1].name", "duplicate host name 'h1'")


@pytest.mark.parametrize("port", [0, 65536])
def test_bad_port(cfg, port, config_error):
    cfg.hosts["hosts"][0]["port"] = port
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[0].port", "not a TCP port")


def test_bool_is_not_a_port(cfg, config_error):
    cfg.hosts["hosts"][0]["port"] = True
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[0].port", "must be an integer")


def test_empty_hosts(cfg, config_error):
    cfg.hosts["hosts"] = []
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts", "is empty")


def test_missing_network(cfg, config_error):
    del cfg.hosts["network"]
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "network", "missing")


# --- lab section ---------------------------------------------------------------------------


def lab(cfg, **kw):
    cfg.hosts["lab"] = {"bridge": "dslab0", "gateway": "10.99.0.1/24", **kw}


def test_lab_section_loads(cfg):
    lab(cfg, prefix="t")
    inv = cfg.load_inventory()
    assert inv.lab is not None
    assert (inv.lab.bridge, inv.lab.prefix, inv.lab.state_dir) == ("dslab0", "t", "/var/lib/dockstack-lab")
    assert inv.lab.gateway.network == ipaddress.IPv4Network("10.99.0.0/24")


def test_lab_host_outside_gateway_subnet(cfg, config_error):
    lab(cfg)
    cfg.hosts["hosts"][1]["address"] = "10.98.0.12"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[1].address", "10.98.0.12", "10.99.0.0/24")


@pytest.mark.parametrize("address,problem", [
    ("10.99.0.1", "not a free address"),  # the gateway (this machine's side of the lab bridge)
    ("10.99.0.255", "not a free address"),  # the lab subnet's broadcast address
    ("host1.example", "not an IPv4 address"),
])
def test_lab_host_address(cfg, config_error, address, problem):
    lab(cfg)
    cfg.hosts["hosts"][0]["address"] = address
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[0].address", problem)


def test_lab_gateway_needs_prefix_form(cfg, config_error):
    lab(cfg, gateway="10.99.0.1/33")
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "lab.gateway", "not an address with prefix")


def test_unknown_lab_key(cfg, config_error):
    lab(cfg, hosts=3)
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "lab.hosts", "unknown key")


def test_non_lab_hosts_may_be_names(cfg):
    cfg.hosts["hosts"][0].update(address="docker1.example", vxlan_address="192.0.2.11")
    assert cfg.load_inventory().host("h1").address == "docker1.example"


def test_a_host_name_needs_a_vxlan_address_with_join_vxlan(cfg, config_error):
    """The VXLAN device, its flood entries and its filter's rules take addresses: a name would fail on the host
    (`ip link add ... local NAME`), or its filter would never match what hosts.yaml says."""
    cfg.hosts["hosts"][1]["address"] = "docker2.example"
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[1].address", "'docker2.example' is a host name", "vxlan_address")
    cfg.hosts["network"]["join"] = "none"
    assert cfg.load_inventory().host("h2").underlay == "docker2.example"


# --- files ---------------------------------------------------------------------------------


def test_bad_yaml_names_the_line(tmp_path, config_error):
    p = tmp_path / "hosts.yaml"
    p.write_text("hosts:\n  - name: h1\n  address: x\n")
    with pytest.raises(ConfigError) as e:
        load_inventory(p)
    config_error(e, p, "line 3", "not valid YAML")


def test_bad_yaml_in_containers_file(cfg):
    inv = cfg.load_inventory()
    cfg.containers_path.write_text("roles: [dnsmasq\ncontainers: []\n")
    with pytest.raises(ConfigError) as e:
        load_stack(inv, cfg.containers_path, definitions=DEFINITIONS)
    assert e.value.path == str(cfg.containers_path)
    assert e.value.key.startswith("line ")
    assert "not valid YAML" in str(e.value)


def test_missing_hosts_file(tmp_path, config_error):
    p = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as e:
        load_inventory(p)
    config_error(e, p, "(file)", "file not found")


def test_missing_containers_file(cfg, tmp_path, config_error):
    inv = cfg.load_inventory()
    p = tmp_path / "missing-containers.yaml"
    with pytest.raises(ConfigError) as e:
        load_stack(inv, p, definitions=DEFINITIONS)
    config_error(e, p, "(file)", "file not found")


def test_empty_hosts_file_reports_missing_hosts(tmp_path, config_error):
    p = tmp_path / "hosts.yaml"
    p.write_text("# nothing yet\n")
    with pytest.raises(ConfigError) as e:
        load_inventory(p)
    config_error(e, p, "hosts", "missing")


def test_top_level_must_be_a_mapping(tmp_path):
    p = tmp_path / "hosts.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping, got a list") as e:
        load_inventory(p)
    assert e.value.path == str(p)


# --- hosts[].max_sessions ----------------------------------------------------------------------


def test_max_sessions_default(cfg):
    inv = cfg.load_inventory()
    assert [h.max_sessions for h in inv.hosts] == [DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS]
    assert DEFAULT_MAX_SESSIONS == 8  # below OpenSSH's default MaxSessions of 10
    assert Host("x", "198.51.100.1").max_sessions == DEFAULT_MAX_SESSIONS


@pytest.mark.parametrize("sessions", [1, 10, 64])
def test_max_sessions_in_range(cfg, sessions):
    cfg.hosts["hosts"][1]["max_sessions"] = sessions
    inv = cfg.load_inventory()
    assert inv.host("h2").max_sessions == sessions
    assert inv.host("h1").max_sessions == DEFAULT_MAX_SESSIONS


@pytest.mark.parametrize("sessions", [0, -1, 65, 1000])
def test_max_sessions_out_of_range(cfg, sessions, config_error):
    cfg.hosts["hosts"][1]["max_sessions"] = sessions
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[1].max_sessions", f"{sessions} is out of range", "1-64")


@pytest.mark.parametrize(("value", "problem"), [(True, "must be an integer"), ("8", "must be an integer"),
                                                (2.5, "must be an integer")])
def test_max_sessions_must_be_an_integer(cfg, value, problem, config_error):
    cfg.hosts["hosts"][0]["max_sessions"] = value
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, "hosts[0].max_sessions", problem)


# --- dhcp_slice: one part of dhcp_range per dnsmasq container ----------------------------------


def addresses(first: ipaddress.IPv4Address, last: ipaddress.IPv4Address) -> list[int]:
    return list(range(int(first), int(last) + 1))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 99, 100])
def test_dhcp_slices_are_disjoint_contiguous_and_cover_the_range(net, count):
    slices = [dhcp_slice(net, i, count) for i in range(count)]
    assert slices[0][0] == net.dhcp_start
    assert slices[-1][1] == net.dhcp_end
    for (_, end), (start, _) in itertools.pairwise(slices):
        assert int(start) == int(end) + 1  # contiguous: no gap, no overlap
    covered = [a for first, last in slices for a in addresses(first, last)]
    assert covered == addresses(net.dhcp_start, net.dhcp_end)
    assert all(first <= last for first, last in slices)  # none empty


def test_dhcp_slice_of_one_is_the_whole_range(net):
    assert dhcp_slice(net, 0, 1) == (net.dhcp_start, net.dhcp_end)


def test_dhcp_last_slice_takes_the_remainder(net):
    # 100 addresses in 3 slices: 33, 33 and the remaining 34
    assert [(str(a), str(b)) for a, b in (dhcp_slice(net, i, 3) for i in range(3))] == [
        ("10.100.0.100", "10.100.0.132"), ("10.100.0.133", "10.100.0.165"), ("10.100.0.166", "10.100.0.199")]


def test_dhcp_slices_of_one_address_each(net):
    n = replace(net, dhcp_start=ipaddress.IPv4Address("10.100.0.100"), dhcp_end=ipaddress.IPv4Address("10.100.0.101"))
    assert [dhcp_slice(n, i, 2) for i in range(2)] == [(n.dhcp_start, n.dhcp_start), (n.dhcp_end, n.dhcp_end)]


def add_dnsmasq(cfg, name: str, host: str, last_octet: int) -> None:
    cfg.containers["containers"].append({"name": name, "role": "dnsmasq", "host": host, "image": "test/base:bookworm",
                                         "mac": f"02:00:0a:64:00:{last_octet:02x}", "ip": f"10.100.0.{last_octet}"})


def test_dhcp_range_smaller_than_the_dnsmasq_count(cfg, config_error):
    cfg.hosts["network"]["dhcp_range"] = "10.100.0.100-10.100.0.101"
    add_dnsmasq(cfg, "dns2", "h2", 3)
    add_dnsmasq(cfg, "dns3", "h2", 4)
    inv = cfg.load_inventory()  # the inventory alone is fine: the stack decides how many dnsmasq there are
    with pytest.raises(ConfigError) as e:
        load_stack(inv, cfg.containers_path, definitions=DEFINITIONS)
    config_error(e, cfg.hosts_path, "network.dhcp_range", "too small", "3 dnsmasq containers")


def test_dhcp_range_as_large_as_the_dnsmasq_count(cfg):
    cfg.hosts["network"]["dhcp_range"] = "10.100.0.100-10.100.0.101"
    add_dnsmasq(cfg, "dns2", "h2", 3)
    inv, st = cfg.load()
    assert [c.name for c in st.address_providers()] == ["dns", "dns2"]
    assert [dhcp_slice(inv.network, i, 2)[0] for i in range(2)] == [ipaddress.IPv4Address("10.100.0.100"),
                                                                     ipaddress.IPv4Address("10.100.0.101")]


def test_dhcp_range_size_ignores_containers_of_other_services(cfg):
    cfg.hosts["network"]["dhcp_range"] = "10.100.0.100-10.100.0.100"
    cfg.containers["containers"].append({"name": "app2", "role": "app", "host": "h1", "image": "test/base:bookworm"})
    _, st = cfg.load()
    assert len(st.containers) == 3 and len(st.address_providers()) == 1


def test_a_huge_value_is_cut_in_the_error_not_printed_whole(cfg):
    cfg.container(1)["image"] = "a" * 100_000
    with pytest.raises(ConfigError) as e:
        cfg.load()
    assert e.value.key == "containers[1].image"
    assert len(str(e.value)) < 1500 and re.search(r"[.]{3}[(]\d+ characters[)][.]{3}", str(e.value))
