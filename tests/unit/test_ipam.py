"""dockstack.ipam: the addressing flowchart, the registry, and dnsmasq's rendered files."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from dockstack import facts, ipam
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


@pytest.mark.parametrize("order", ["infinite-first", "infinite-last"])
def test_known_addresses_infinite_lease_is_the_newest(order):
    infinite = Lease(0, "02:00:00:00:00:0f", "10.100.0.115", "web")  # dnsmasq writes 0 for a lease that never ends
    finite = Lease(4102444800, "02:00:00:00:00:01", "10.100.0.101", "web")  # year 2100
    leases = [infinite, finite] if order == "infinite-first" else [finite, infinite]
    assert ipam.known_addresses({}, leases) == {"web": ("02:00:00:00:00:0f", "10.100.0.115")}


def test_known_addresses_infinite_lease_still_loses_to_the_registry():
    registry = {"web": rec("web", "02:00:00:00:00:01", "10.100.0.101", LEASE)}
    leases = [Lease(0, "02:00:00:00:00:0f", "10.100.0.115", "web")]
    assert ipam.known_addresses(registry, leases) == {"web": ("02:00:00:00:00:01", "10.100.0.101")}


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


# --- one file per record: registry, DHCP host, hosts entry, quarantine ---------------------------


def test_render_record_is_one_registry_line():
    r = rec("web", "02:42:00:00:00:05", "10.100.0.105", LEASE, role="webui", host="host2")
    assert ipam.render_record(r) == "web webui host2 02:42:00:00:00:05 10.100.0.105 lease\n"


def test_render_dhcp_host_pins_mac_to_name_and_ip():
    assert ipam.render_dhcp_host(rec("web", "02:42:00:00:00:05", "10.100.0.105")) == \
        "02:42:00:00:00:05,web,10.100.0.105\n"


def test_render_host_is_ip_fqdn_name():
    assert ipam.render_host(rec("web", "02:42:00:00:00:05", "10.100.0.105"), "dockstack.lab") == \
        "10.100.0.105 web.dockstack.lab web\n"


def test_render_quarantine_holds_the_ip_for_an_unused_mac():
    assert ipam.render_quarantine("10.100.0.150") == "02:ff:0a:64:00:96,10.100.0.150\n"


def test_a_vips_record_parses_back_and_every_source_is_one_the_facts_accept():
    v = facts.Record("vip", "haproxy", ipam.NO_HOST, "00:00:5e:00:01:33", "10.100.0.10", ipam.VIP)
    assert facts.parse_record(ipam.render_record(v)) == v  # its host is "-": it moves between its containers
    assert {ipam.STATIC, ipam.LEASE, ipam.NEW, ipam.ADOPTED, ipam.VIP} == facts.SOURCES


def test_rendered_record_files_parse_back():
    r = rec("web", "02:42:00:00:00:05", "10.100.0.105", ipam.ADOPTED, role="webui")
    assert facts.parse_record(ipam.render_record(r)) == r
    assert facts.parse_dhcp_hosts(ipam.render_dhcp_host(r)) == [facts.DhcpHost("02:42:00:00:00:05", "web",
                                                                                "10.100.0.105")]
    assert facts.parse_hosts_file(ipam.render_host(r, "d.lab")) == {"10.100.0.105": ["web.d.lab", "web"]}
    # a quarantine entry has no name: it is not read back as a container's reservation
    assert facts.parse_dhcp_hosts(ipam.render_quarantine("10.100.0.150")) == []


def test_registry_files_concatenate_line_by_line():
    """The host's `cat registry/*` joins the files: each must end its own line."""
    records = [rec("a", "02:00:00:00:00:0a", "10.100.0.10"), rec("b", "02:00:00:00:00:0b", "10.100.0.11", LEASE)]
    text = "".join(ipam.render_record(r) for r in records)
    assert [facts.parse_record(line) for line in text.splitlines()] == records


# --- dnsmasq.conf ---------------------------------------------------------------------------------


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
    assert "hostsdir=/var/lib/dockstack/hosts.d" in lines
    assert "dhcp-hostsdir=/var/lib/dockstack/dhcp-hosts.d" in lines
    assert not any(line.startswith(("dhcp-hostsfile=", "addn-hosts=")) for line in lines)
    assert "dhcp-leasefile=/var/lib/dockstack/lease/leases" in lines
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


def test_dnsmasq_conf_never_pings_before_an_offer(net, dns):
    assert "no-ping" in conf_lines(net, dns)


def test_dnsmasq_conf_default_is_the_whole_range(net, dns):
    lines = conf_lines(net, dns)
    assert [line for line in lines if line.startswith("dhcp-range=")] == \
        ["dhcp-range=10.100.0.100,10.100.0.199,255.255.255.0,12h"]
    assert any("(1 of 1)" in line for line in lines if line.startswith("#"))


@pytest.mark.parametrize(("index", "expected"), [
    (0, "dhcp-range=10.100.0.100,10.100.0.132,255.255.255.0,12h"),
    (1, "dhcp-range=10.100.0.133,10.100.0.165,255.255.255.0,12h"),
    (2, "dhcp-range=10.100.0.166,10.100.0.199,255.255.255.0,12h"),  # the last slice takes the remainder
])
def test_dnsmasq_conf_leases_only_from_its_slice(net, dns, index, expected):
    lines = ipam.render_dnsmasq_conf(net, dns, ["10.100.0.2"], index, 3).splitlines()
    assert [line for line in lines if line.startswith("dhcp-range=")] == [expected]
    assert any(f"({index + 1} of 3)" in line for line in lines if line.startswith("#"))
    assert "no-ping" in lines
