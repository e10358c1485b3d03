"""dockstack.ipam: the addressing flowchart, the registry, and dnsmasq's rendered files."""

from __future__ import annotations

import dataclasses
import ipaddress
import json

import pytest

from dockstack import ipam
from dockstack.config import Role, Stack, static_mac_for
from dockstack.facts import Lease
from dockstack.ipam import LEASE, NEW, STATIC, AddressPlan, ConflictError, Record


def rec(name, mac, ip, source=STATIC, role=None, host="host1"):
    return Record(name, role or name, host, mac, ip, source)


def body(text: str) -> list[str]:
    """The non-comment, non-empty lines of a rendered file."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def plan_fields(plan: AddressPlan) -> tuple:
    return plan.mac, plan.static_ip, plan.source, plan.expected_ip


# --- static_mac_for / quarantine_mac -------------------------------------------------------


def test_static_mac_for_encodes_the_ip():
    assert static_mac_for(ipaddress.IPv4Address("10.100.0.2")) == "02:00:0a:64:00:02"
    assert static_mac_for(ipaddress.IPv4Address("192.168.255.10")) == "02:00:c0:a8:ff:0a"


def test_quarantine_mac_differs_from_static_mac():
    assert ipam.quarantine_mac("10.100.0.150") == "02:ff:0a:64:00:96"
    assert ipam.quarantine_mac("10.100.0.2") != static_mac_for(ipaddress.IPv4Address("10.100.0.2"))


# --- plan_address: one test per branch of the flowchart ----------------------------------------


def test_plan_static_mac_and_ip(container):
    c = container("web", mac="02:00:00:00:00:0a", ip="10.100.0.10")
    plan = ipam.plan_address(c, {})
    assert plan_fields(plan) == ("02:00:00:00:00:0a", "10.100.0.10", STATIC, "10.100.0.10")
    assert "static" in plan.why


def test_plan_static_ip_ignores_lease_data(container):
    c = container("web", mac="02:00:00:00:00:0a", ip="10.100.0.10")
    plan = ipam.plan_address(c, {"web": ("02:aa:aa:aa:aa:aa", "10.100.0.150")})
    assert plan_fields(plan) == ("02:00:00:00:00:0a", "10.100.0.10", STATIC, "10.100.0.10")


def test_plan_static_ip_only_derives_mac(container):
    c = container("web", ip="10.100.0.10")
    plan = ipam.plan_address(c, {"web": ("02:aa:aa:aa:aa:aa", "10.100.0.150")})
    assert plan_fields(plan) == ("02:00:0a:64:00:0a", "10.100.0.10", STATIC, "10.100.0.10")


def test_plan_static_mac_only_unknown_name(container):
    c = container("web", mac="02:00:00:00:00:0a")
    plan = ipam.plan_address(c, {})
    assert plan_fields(plan) == ("02:00:00:00:00:0a", None, STATIC, None)
    assert "DHCP" in plan.why


def test_plan_static_mac_only_expects_the_ip_of_a_matching_lease(container):
    c = container("web", mac="02:00:00:00:00:0a")
    plan = ipam.plan_address(c, {"web": ("02:00:00:00:00:0a", "10.100.0.120")})
    assert plan_fields(plan) == ("02:00:00:00:00:0a", None, STATIC, "10.100.0.120")


def test_plan_static_mac_only_ignores_a_lease_with_another_mac(container):
    c = container("web", mac="02:00:00:00:00:0a")
    plan = ipam.plan_address(c, {"web": ("02:bb:bb:bb:bb:bb", "10.100.0.120")})
    assert plan_fields(plan) == ("02:00:00:00:00:0a", None, STATIC, None)


def test_plan_name_in_lease_data(container):
    c = container("web")
    plan = ipam.plan_address(c, {"web": ("02:42:ac:11:00:05", "10.100.0.123"), "db": ("02:01:01:01:01:01", "x")})
    assert plan_fields(plan) == ("02:42:ac:11:00:05", None, LEASE, "10.100.0.123")
    assert "02:42:ac:11:00:05" in plan.why and "10.100.0.123" in plan.why


def test_plan_new_address(container):
    c = container("web")
    plan = ipam.plan_address(c, {"db": ("02:01:01:01:01:01", "10.100.0.101")})
    assert plan_fields(plan) == (None, None, NEW, None)
    assert "new lease" in plan.why


# --- known_addresses --------------------------------------------------------------------------


def test_known_addresses_registry_wins_over_leases():
    registry = {"web": rec("web", "02:00:00:00:00:01", "10.100.0.101", LEASE)}
    leases = [Lease(9999999999, "02:00:00:00:00:99", "10.100.0.199", "web")]
    assert ipam.known_addresses(registry, leases) == {"web": ("02:00:00:00:00:01", "10.100.0.101")}


def test_known_addresses_ignores_leases_without_hostname():
    leases = [Lease(100, "02:00:00:00:00:01", "10.100.0.101", None),
              Lease(100, "02:00:00:00:00:02", "10.100.0.102", "db")]
    assert ipam.known_addresses({}, leases) == {"db": ("02:00:00:00:00:02", "10.100.0.102")}


def test_known_addresses_newest_lease_wins_regardless_of_order():
    newer = Lease(2000, "02:00:00:00:00:02", "10.100.0.102", "web")
    older = Lease(1000, "02:00:00:00:00:01", "10.100.0.101", "web")
    expected = {"web": ("02:00:00:00:00:02", "10.100.0.102")}
    assert ipam.known_addresses({}, [newer, older]) == expected
    assert ipam.known_addresses({}, [older, newer]) == expected


def test_known_addresses_merges_both_sources():
    registry = {"a": rec("a", "02:00:00:00:00:0a", "10.100.0.10")}
    leases = [Lease(1, "02:00:00:00:00:0b", "10.100.0.11", "b")]
    assert ipam.known_addresses(registry, leases) == {"a": ("02:00:00:00:00:0a", "10.100.0.10"),
                                                      "b": ("02:00:00:00:00:0b", "10.100.0.11")}


# --- check_record -------------------------------------------------------------------------------


@pytest.fixture
def registry():
    return {"dns": rec("dns", "02:00:0a:64:00:02", "10.100.0.2"),
            "web": rec("web", "02:42:00:00:00:05", "10.100.0.105", LEASE)}


def test_check_record_same_ip_other_name(registry):
    with pytest.raises(ConflictError, match=r"10\.100\.0\.2 is already the address of dns"):
        ipam.check_record(registry, rec("db", "02:42:00:00:00:99", "10.100.0.2"))


def test_check_record_same_mac_other_name(registry):
    with pytest.raises(ConflictError, match="02:42:00:00:00:05 is already the MAC of web"):
        ipam.check_record(registry, rec("db", "02:42:00:00:00:05", "10.100.0.150"))


def test_check_record_same_name_may_change_or_keep(registry):
    ipam.check_record(registry, rec("web", "02:42:00:00:00:05", "10.100.0.105"))
    ipam.check_record(registry, rec("web", "02:42:00:00:00:06", "10.100.0.106"))


def test_check_record_new_free_address(registry):
    ipam.check_record(registry, rec("db", "02:42:00:00:00:07", "10.100.0.107"))
    ipam.check_record({}, rec("db", "02:42:00:00:00:07", "10.100.0.107"))


def test_conflict_error_is_a_value_error():
    assert issubclass(ConflictError, ValueError)


# --- reserved_static --------------------------------------------------------------


def test_reserved_static_adds_config_static_addresses(container):
    stack = Stack(path="c.yaml", images=(), roles=(Role("dnsmasq"), Role("app")), containers=(
        container("dns", role="dnsmasq", mac="02:00:0a:64:00:02", ip="10.100.0.2"),
        container("fixed", role="app", host="host2", ip="10.100.0.20"),
        container("macky", role="app", mac="02:00:00:00:00:33"),
        container("dyn", role="app"),
    ))
    registry = {"dns": rec("dns", "02:00:0a:64:00:02", "10.100.0.2", role="dnsmasq"),
                "gone": rec("gone", "02:42:00:00:00:09", "10.100.0.109", LEASE)}
    before = dict(registry)
    out = ipam.reserved_static(stack, registry)
    assert set(out) == {"dns", "gone", "fixed"}
    assert out["fixed"] == Record("fixed", "app", "host2", "02:00:0a:64:00:14", "10.100.0.20", STATIC)
    assert out["dns"] is registry["dns"]
    assert registry == before  # not modified in place


def test_reserved_static_keeps_the_registry_record(container):
    stack = Stack(path="c.yaml", images=(), roles=(Role("app"),),
                  containers=(container("fixed", role="app", ip="10.100.0.20"),))
    registry = {"fixed": rec("fixed", "02:00:00:00:00:99", "10.100.0.20", role="app")}
    assert ipam.reserved_static(stack, registry) == registry


def test_quarantine_appends_newest_last():
    assert ipam.quarantine([], "10.100.0.101") == ["10.100.0.101"]
    assert ipam.quarantine(["10.100.0.101"], "10.100.0.102") == ["10.100.0.101", "10.100.0.102"]


def test_quarantine_dedupes_and_moves_to_end():
    assert ipam.quarantine(["10.100.0.101", "10.100.0.102"], "10.100.0.101") == ["10.100.0.102", "10.100.0.101"]


def test_quarantine_keeps_at_most_the_newest():
    released = [f"10.100.0.{100 + i}" for i in range(ipam.QUARANTINE)]
    out = ipam.quarantine(released, "10.100.0.199")
    assert len(out) == ipam.QUARANTINE
    assert out[0] == "10.100.0.101"  # the oldest (…100) fell out
    assert out[-1] == "10.100.0.199"


def test_quarantine_does_not_mutate_input():
    released = ["10.100.0.101"]
    ipam.quarantine(released, "10.100.0.102")
    assert released == ["10.100.0.101"]


# --- registry JSON ------------------------------------------------------------------------------


def test_registry_json_round_trip(registry):
    released = ["10.100.0.130", "10.100.0.131"]
    text = ipam.registry_to_json(registry, released)
    assert text.endswith("\n")
    assert ipam.registry_from_json(text) == (registry, released)


def test_registry_json_layout(registry):
    data = json.loads(ipam.registry_to_json(registry, []))
    assert data["version"] == 1
    assert [r["name"] for r in data["records"]] == ["dns", "web"]
    assert data["records"][1] == {"name": "web", "role": "web", "host": "host1", "mac": "02:42:00:00:00:05",
                                  "ip": "10.100.0.105", "source": "lease"}
    assert data["released"] == []


@pytest.mark.parametrize("text", [None, ""])
def test_registry_from_nothing(text):
    assert ipam.registry_from_json(text) == ({}, [])


def test_registry_from_json_without_released():
    text = json.dumps({"version": 1, "records": [dataclasses.asdict(rec("a", "02:00:00:00:00:01", "10.100.0.5"))]})
    registry, released = ipam.registry_from_json(text)
    assert registry == {"a": rec("a", "02:00:00:00:00:01", "10.100.0.5")}
    assert released == []


# --- rendered dnsmasq files ---------------------------------------------------------------------


def test_render_dhcp_hosts_lines_sorted_by_ip():
    records = {"web": rec("web", "02:42:00:00:00:05", "10.100.0.105"),
               "dnsmasq": rec("dnsmasq", "02:00:0a:64:00:02", "10.100.0.2"),
               "db": rec("db", "02:42:00:00:00:06", "10.100.0.20")}
    text = ipam.render_dhcp_hosts(records, [])
    assert body(text) == ["02:00:0a:64:00:02,dnsmasq,10.100.0.2",
                          "02:42:00:00:00:06,db,10.100.0.20",
                          "02:42:00:00:00:05,web,10.100.0.105"]
    assert text.startswith("#")
    assert text.endswith("\n")


def test_render_dhcp_hosts_quarantines_released_ips():
    records = {"dnsmasq": rec("dnsmasq", "02:00:0a:64:00:02", "10.100.0.2")}
    text = ipam.render_dhcp_hosts(records, ["10.100.0.150", "10.100.0.151"])
    assert body(text) == ["02:00:0a:64:00:02,dnsmasq,10.100.0.2",
                          "02:ff:0a:64:00:96,10.100.0.150",
                          "02:ff:0a:64:00:97,10.100.0.151"]


def test_render_dhcp_hosts_released_ip_in_use_again_is_not_quarantined():
    records = {"dnsmasq": rec("dnsmasq", "02:00:0a:64:00:02", "10.100.0.2"),
               "web": rec("web", "02:42:00:00:00:05", "10.100.0.150")}
    text = ipam.render_dhcp_hosts(records, ["10.100.0.150", "10.100.0.151"])
    assert body(text) == ["02:00:0a:64:00:02,dnsmasq,10.100.0.2",
                          "02:42:00:00:00:05,web,10.100.0.150",
                          "02:ff:0a:64:00:97,10.100.0.151"]
    assert ipam.quarantine_mac("10.100.0.150") not in text


def test_render_dhcp_hosts_empty():
    assert body(ipam.render_dhcp_hosts({}, [])) == []


def test_render_hosts():
    records = {"web": rec("web", "02:42:00:00:00:05", "10.100.0.105"),
               "dnsmasq": rec("dnsmasq", "02:00:0a:64:00:02", "10.100.0.2")}
    text = ipam.render_hosts(records, "dockstack.lab")
    assert body(text) == ["10.100.0.2 dnsmasq.dockstack.lab dnsmasq",
                          "10.100.0.105 web.dockstack.lab web"]


def test_rendered_files_parse_back():
    from dockstack import facts

    records = {"dnsmasq": rec("dnsmasq", "02:00:0a:64:00:02", "10.100.0.2"),
               "web": rec("web", "02:42:00:00:00:05", "10.100.0.105")}
    hosts = ipam.render_dhcp_hosts(records, ["10.100.0.150"])
    assert facts.parse_dhcp_hosts(hosts) == [facts.DhcpHost("02:00:0a:64:00:02", "dnsmasq", "10.100.0.2"),
                                             facts.DhcpHost("02:42:00:00:00:05", "web", "10.100.0.105")]
    assert facts.parse_hosts_file(ipam.render_hosts(records, "d.lab")) == {
        "10.100.0.2": ["dnsmasq.d.lab", "dnsmasq"], "10.100.0.105": ["web.d.lab", "web"]}


@pytest.fixture
def dns(container):
    return container("dnsmasq", mac="02:00:0a:64:00:02", ip="10.100.0.2")


def conf_lines(net, dns, servers=("10.100.0.2",)) -> list[str]:
    return ipam.render_dnsmasq_conf(net, dns, list(servers)).splitlines()


def test_dnsmasq_conf_no_upstream(net, dns):
    lines = conf_lines(net, dns)
    assert "no-resolv" in lines
    assert not any(line.startswith("server=") for line in lines)
    assert "domain=dockstack.lab" in lines
    assert "local=/dockstack.lab/" in lines
    assert "dhcp-range=10.100.0.100,10.100.0.199,255.255.255.0,12h" in lines
    assert "dhcp-option=option:dns-server,10.100.0.2" in lines
    assert "dhcp-option=option:domain-search,dockstack.lab" in lines
    assert "dhcp-hostsfile=/var/lib/dockstack/dhcp-hosts" in lines
    assert "addn-hosts=/var/lib/dockstack/hosts" in lines
    assert "dhcp-leasefile=/var/lib/dockstack/leases" in lines
    assert "dnsmasq" in lines[0]


def test_dnsmasq_conf_upstream_servers(net, dns):
    lines = conf_lines(dataclasses.replace(net, upstream_dns=("192.0.2.53", "198.51.100.53")), dns)
    assert "no-resolv" in lines
    assert [line for line in lines if line.startswith("server=")] == ["server=192.0.2.53", "server=198.51.100.53"]


def test_dnsmasq_conf_without_gateway_sends_empty_router_option(net, dns):
    lines = conf_lines(net, dns)
    assert [line for line in lines if line.startswith("dhcp-option=option:router")] == ["dhcp-option=option:router"]


def test_dnsmasq_conf_with_gateway(net, dns):
    lines = conf_lines(dataclasses.replace(net, gateway=ipaddress.IPv4Address("10.100.0.1")), dns)
    assert [line for line in lines if line.startswith("dhcp-option=option:router")] == \
        ["dhcp-option=option:router,10.100.0.1"]


def test_dnsmasq_conf_range_netmask_and_lease_time(net, dns):
    n = dataclasses.replace(net, subnet=ipaddress.IPv4Network("10.8.0.0/16"),
                            dhcp_start=ipaddress.IPv4Address("10.8.1.0"), dhcp_end=ipaddress.IPv4Address("10.8.1.255"),
                            lease_time="1h")
    assert "dhcp-range=10.8.1.0,10.8.1.255,255.255.0.0,1h" in conf_lines(n, dns)


def test_dnsmasq_conf_lists_every_dnsmasq_server(net, dns):
    lines = conf_lines(net, dns, ("10.100.0.2", "10.100.0.3"))
    assert "dhcp-option=option:dns-server,10.100.0.2,10.100.0.3" in lines


def test_dnsmasq_conf_of_shipped_config(shipped_inventory, shipped_stack):
    d = shipped_stack.container("dnsmasq")
    lines = ipam.render_dnsmasq_conf(shipped_inventory.network, d, ["10.100.0.2"]).splitlines()
    assert "dhcp-range=10.100.0.100,10.100.0.199,255.255.255.0,12h" in lines
    assert not any(line.startswith("server=") for line in lines)
