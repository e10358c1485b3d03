"""dockstack.registries: running containers per role, rendered as site.pp, hieradata, hiera.yaml, haproxy.cfg."""

from __future__ import annotations

import re

import pytest
import yaml

from dockstack import registries
from dockstack.config import HAPROXY_STATS_PORT, Balanced, Role, Stack
from dockstack.ipam import LEASE, STATIC, Record
from dockstack.registries import Registered
from tests.unit.conftest import make_container

DOMAIN = "dockstack.lab"


@pytest.fixture
def stack() -> Stack:
    roles = (Role("dnsmasq"),
             Role("db", classes=("profile::galera",), balance=(Balanced("mysql", 3306, "tcp"),)),
             Role("api", classes=("profile::keystone", "profile::nova::api"),
                  balance=(Balanced("keystone", 5000, "http"), Balanced("nova-api", 8774, "http"))),
             Role("worker", classes=("profile::worker",)))
    return Stack(path="containers.yaml", images=(), roles=roles)


def rec(name: str, role: str, ip: str, host: str = "h1", mac: str = "02:42:00:00:00:01") -> Record:
    return Record(name, role, host, mac, ip, LEASE)


@pytest.fixture
def records() -> dict[str, Record]:
    rs = [Record("dns", "dnsmasq", "h1", "02:00:0a:64:00:02", "10.100.0.2", STATIC),
          rec("db2", "db", "10.100.0.102", host="h2"),
          rec("db1", "db", "10.100.0.101"),
          rec("api1", "api", "10.100.0.111", host="h2"),
          rec("api2", "api", "10.100.0.112"),
          rec("w1", "worker", "10.100.0.121")]
    return {r.name: r for r in rs}


@pytest.fixture
def regs(stack, records) -> list[Registered]:
    return registries.registered(stack, records, set(records), DOMAIN)


# --- registered ---------------------------------------------------------------------------------


def test_registered_sorted_by_role_order_then_name(stack, records):
    regs = registries.registered(stack, records, set(records), DOMAIN)
    assert [x.name for x in regs] == ["dns", "db1", "db2", "api1", "api2", "w1"]
    assert regs[2] == Registered("db2", "db", "h2", "10.100.0.102", "db2.dockstack.lab")


def test_registered_keeps_only_running_containers_with_records(stack, records):
    running = {"db2", "api1", "ghost"}  # ghost runs but has no record; db1, api2, ... have records but are stopped
    regs = registries.registered(stack, records, running, DOMAIN)
    assert [x.name for x in regs] == ["db2", "api1"]


def test_registered_nothing_running(stack, records):
    assert registries.registered(stack, records, set(), DOMAIN) == []
    assert registries.registered(stack, {}, {"db1"}, DOMAIN) == []


def test_registered_unknown_role_goes_last(stack, records):
    records = {**records, "aaa": rec("aaa", "retired", "10.100.0.130")}
    regs = registries.registered(stack, records, set(records), DOMAIN)
    assert regs[-1].name == "aaa"
    assert [x.name for x in regs[:-1]] == ["dns", "db1", "db2", "api1", "api2", "w1"]


def test_registered_fqdn_uses_domain(stack, records):
    regs = registries.registered(stack, records, {"w1"}, "example.org")
    assert [(x.fqdn, x.ip, x.host, x.role) for x in regs] == [("w1.example.org", "10.100.0.121", "h1", "worker")]


# --- site.pp ------------------------------------------------------------------------------------


def node_blocks(text: str) -> dict[str, list[str]]:
    """node name -> include lines, from a rendered site.pp."""
    blocks = re.findall(r"^node (\S+) \{\n(.*?)^\}", text, flags=re.S | re.M)
    return {name: re.findall(r"^  include (\S+)$", body, flags=re.M) for name, body in blocks}


def test_site_pp_one_node_per_registered_container(stack, regs):
    text = registries.render_site_pp(stack, regs)
    blocks = node_blocks(text)
    assert list(blocks) == ["'dns.dockstack.lab'", "'db1.dockstack.lab'", "'db2.dockstack.lab'",
                            "'api1.dockstack.lab'", "'api2.dockstack.lab'", "'w1.dockstack.lab'", "default"]
    assert text.count("node 'db1.dockstack.lab' {") == 1


def test_site_pp_includes_the_roles_classes(stack, regs):
    blocks = node_blocks(registries.render_site_pp(stack, regs))
    assert blocks["'dns.dockstack.lab'"] == []
    assert blocks["'db1.dockstack.lab'"] == ["profile::galera"]
    assert blocks["'api2.dockstack.lab'"] == ["profile::keystone", "profile::nova::api"]
    assert blocks["'w1.dockstack.lab'"] == ["profile::worker"]
    assert blocks["default"] == []


def test_site_pp_nothing_registered_has_only_default(stack):
    text = registries.render_site_pp(stack, [])
    assert node_blocks(text) == {"default": []}
    assert "include" not in text


def test_site_pp_unknown_role_gets_an_empty_node(stack):
    text = registries.render_site_pp(stack, [Registered("x", "retired", "h1", "10.100.0.9", "x.dockstack.lab")])
    assert node_blocks(text) == {"'x.dockstack.lab'": [], "default": []}


# --- hieradata / hiera.yaml ---------------------------------------------------------------------


def test_hieradata_is_yaml_with_services_per_role(stack, regs):
    data = yaml.safe_load(registries.render_hieradata(stack, regs, DOMAIN))
    assert data["dockstack::domain"] == DOMAIN
    services = data["dockstack::services"]
    assert list(services) == ["dnsmasq", "db", "api", "worker"]
    assert services["db"] == [
        {"name": "db1", "fqdn": "db1.dockstack.lab", "ip": "10.100.0.101", "host": "h1"},
        {"name": "db2", "fqdn": "db2.dockstack.lab", "ip": "10.100.0.102", "host": "h2"},
    ]
    assert [m["name"] for m in services["api"]] == ["api1", "api2"]
    assert services["dnsmasq"] == [{"name": "dns", "fqdn": "dns.dockstack.lab", "ip": "10.100.0.2", "host": "h1"}]


def test_hieradata_leaves_out_roles_without_registered_containers(stack, records):
    regs = registries.registered(stack, records, {"w1"}, DOMAIN)
    services = yaml.safe_load(registries.render_hieradata(stack, regs, DOMAIN))["dockstack::services"]
    assert services == {"worker": [{"name": "w1", "fqdn": "w1.dockstack.lab", "ip": "10.100.0.121", "host": "h1"}]}


def test_hieradata_nothing_registered_is_an_empty_mapping(stack):
    data = yaml.safe_load(registries.render_hieradata(stack, [], DOMAIN))
    assert data == {"dockstack::domain": DOMAIN, "dockstack::services": {}}
    assert isinstance(data["dockstack::services"], dict)


def test_hieradata_ips_stay_strings(stack, regs):
    services = yaml.safe_load(registries.render_hieradata(stack, regs, DOMAIN))["dockstack::services"]
    assert all(isinstance(m["ip"], str) for members in services.values() for m in members)


@pytest.mark.parametrize("role", ["no", "2024"])
def test_hieradata_role_keys_stay_role_names(role):
    stack = Stack(path="containers.yaml", images=(), roles=(Role(role),))
    regs = [Registered("a", role, "h1", "10.100.0.101", "a.dockstack.lab")]
    services = yaml.safe_load(registries.render_hieradata(stack, regs, DOMAIN))["dockstack::services"]
    assert list(services) == [role]


def test_hiera_config_is_yaml_version_5():
    data = yaml.safe_load(registries.render_hiera_config())
    assert data["version"] == 5
    assert data["defaults"]["datadir"] == "data"
    assert [h["path"] for h in data["hierarchy"]] == ["common.yaml"]


# --- haproxy.cfg --------------------------------------------------------------------------------


def sections(text: str) -> dict[str, list[str]]:
    """'frontend x' / 'backend y' -> their stripped body lines, from a rendered haproxy.cfg."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            current = line.strip()
            out[current] = []
        elif current and line.strip():
            out[current].append(line.strip())
    return out


@pytest.fixture
def configured(stack) -> Stack:
    """The roles of `stack` with containers in the config (none of them need run)."""
    cs = (make_container("dns", role="dnsmasq", ip="10.100.0.2", mac="02:00:0a:64:00:02"),
          make_container("db2", role="db", host="h2"), make_container("db1", role="db"),
          make_container("api1", role="api", host="h2"), make_container("api2", role="api"),
          make_container("w1", role="worker"))
    return Stack(path=stack.path, images=(), roles=stack.roles, containers=cs)


def haproxy(stack: Stack, dns: tuple[str, ...] = ("10.100.0.2",)) -> str:
    return registries.render_haproxy(stack, DOMAIN, list(dns))


def test_haproxy_one_frontend_and_backend_per_balanced_service(configured):
    text = haproxy(configured)
    s = sections(text)
    assert [k for k in s if k.startswith("frontend ")] == ["frontend mysql", "frontend keystone", "frontend nova-api"]
    assert [k for k in s if k.startswith("backend ")] == ["backend mysql_servers", "backend keystone_servers",
                                                          "backend nova-api_servers"]
    assert "bind *:3306" in s["frontend mysql"]
    assert "bind *:5000" in s["frontend keystone"]
    assert "bind *:8774" in s["frontend nova-api"]
    assert "default_backend nova-api_servers" in s["frontend nova-api"]
    assert text.count("frontend mysql\n") == 1


def test_haproxy_servers_are_the_configured_containers_by_dns_name(configured):
    s = sections(haproxy(configured))
    servers = {k: [x for x in v if x.startswith("server ")] for k, v in s.items() if k.startswith("backend ")}
    assert servers == {  # config order; addresses come from dnsmasq at run time
        "backend mysql_servers": ["server db2 db2.dockstack.lab:3306", "server db1 db1.dockstack.lab:3306"],
        "backend keystone_servers": ["server api1 api1.dockstack.lab:5000", "server api2 api2.dockstack.lab:5000"],
        "backend nova-api_servers": ["server api1 api1.dockstack.lab:8774", "server api2 api2.dockstack.lab:8774"],
    }


def test_haproxy_servers_resolve_through_every_dnsmasq_and_start_unresolved(configured):
    s = sections(haproxy(configured, ("10.100.0.2", "10.100.0.3")))
    assert [x for x in s["resolvers dnsmasq"] if x.startswith("nameserver")] == [
        "nameserver dnsmasq1 10.100.0.2:53", "nameserver dnsmasq2 10.100.0.3:53"]
    default = [x for x in s["defaults"] if x.startswith("default-server")]
    # init-addr none: no libc lookup at start (the host's resolv.conf may point nowhere), dnsmasq resolves
    assert default == ["default-server check resolvers dnsmasq resolve-prefer ipv4 init-addr none"]
    assert "hold nx 2s" in s["resolvers dnsmasq"]


def test_haproxy_runtime_api_on_loopback(configured):
    s = sections(haproxy(configured))
    assert f"stats socket ipv4@127.0.0.1:{HAPROXY_STATS_PORT} level user" in s["global"]


def test_haproxy_mode_per_service(configured):
    s = sections(haproxy(configured))
    assert "mode tcp" in s["frontend mysql"] and "mode tcp" in s["backend mysql_servers"]
    assert "mode http" in s["frontend keystone"] and "mode http" in s["backend keystone_servers"]
    assert "mode http" not in s["frontend mysql"]


def test_haproxy_role_without_containers_has_a_frontend_and_no_servers(stack):
    s = sections(haproxy(Stack(path=stack.path, images=(), roles=stack.roles,
                               containers=(make_container("db1", role="db"),))))
    assert [x for x in s["backend mysql_servers"] if x.startswith("server")] == ["server db1 db1.dockstack.lab:3306"]
    assert [x for x in s["backend keystone_servers"] if x.startswith("server")] == []
    assert "frontend keystone" in s


def test_haproxy_no_balanced_roles_has_no_proxies():
    stack = Stack(path="containers.yaml", images=(), roles=(Role("dnsmasq"), Role("app")),
                  containers=(make_container("a", role="app"),))
    text = haproxy(stack)
    s = sections(text)
    assert not [k for k in s if k.startswith(("frontend", "backend", "listen"))]
    assert not re.search(r"^\s*server ", text, flags=re.M)
    assert {"global", "defaults"} <= set(s)


def test_haproxy_for_the_shipped_stack(shipped_stack):
    text = haproxy(shipped_stack)
    frontends = re.findall(r"^frontend (\S+)$", text, flags=re.M)
    assert frontends == ["mysql", "horizon", "keystone", "nova-api", "neutron-server", "glance", "cinder"]
    assert re.findall(r"^backend (\S+)$", text, flags=re.M) == [f"{f}_servers" for f in frontends]
    assert "    server galera galera.dockstack.lab:3306\n" in text
