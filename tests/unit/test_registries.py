"""The puppet and haproxy definitions' files: containers per role as site.pp, hieradata, hiera.yaml, haproxy.cfg."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

import pytest
import yaml

from dockstack.config import Balanced, Role, Stack, Vip
from dockstack.services import haproxy as haproxy_service
from dockstack.services import puppet as puppet_service
from tests.unit.conftest import make_container, render_haproxy_cfg

DOMAIN = "dockstack.lab"


@pytest.fixture
def stack() -> Stack:
    roles = (Role("dnsmasq"),
             Role("db", classes=("profile::galera",), balance=(Balanced("mysql", 3306, "tcp"),)),
             Role("api", classes=("profile::keystone", "profile::nova::api"),
                  balance=(Balanced("keystone", 5000, "http"), Balanced("nova-api", 8774, "http"))),
             Role("worker", classes=("profile::worker",)))
    return Stack(path="containers.yaml", images=(), roles=roles)


@pytest.fixture
def full(stack) -> Stack:
    """The roles of `stack` with containers in the config (none of them need run), a Puppet server and an
    haproxy among them."""
    cs = (make_container("dns", "dnsmasq", ip="10.100.0.2", mac="02:00:0a:64:00:02"),
          make_container("pp", "puppet", service="puppet"),
          make_container("lb", "haproxy", service="haproxy"),
          make_container("db2", "db", host="h2"), make_container("db1", "db"),
          make_container("api1", "api", host="h2"), make_container("api2", "api"), make_container("w1", "worker"))
    roles = (*stack.roles[:1], Role("puppet", service="puppet"), Role("haproxy", service="haproxy"), *stack.roles[1:])
    return Stack(path=stack.path, images=(), roles=roles, containers=cs)


# --- site.pp ------------------------------------------------------------------------------------


def node_blocks(text: str) -> dict[str, list[str]]:
    """node name -> include lines, from a rendered site.pp."""
    blocks = re.findall(r"^node (\S+) \{\n(.*?)^\}", text, flags=re.S | re.M)
    return {name: re.findall(r"^  include (\S+)$", body, flags=re.M) for name, body in blocks}


def test_site_pp_one_node_per_configured_container_in_config_order(full):
    text = puppet_service.render_site_pp(full, DOMAIN)
    assert list(node_blocks(text)) == [f"'{c.name}.dockstack.lab'" for c in full.containers] + ["default"]
    assert text.count("node 'db1.dockstack.lab' {") == 1


def test_site_pp_includes_the_roles_classes(full):
    blocks = node_blocks(puppet_service.render_site_pp(full, DOMAIN))
    assert blocks["'dns.dockstack.lab'"] == []
    assert blocks["'db1.dockstack.lab'"] == ["profile::galera"]
    assert blocks["'api2.dockstack.lab'"] == ["profile::keystone", "profile::nova::api"]
    assert blocks["'w1.dockstack.lab'"] == ["profile::worker"]
    assert blocks["default"] == []


def test_site_pp_no_containers_has_only_default(stack):
    text = puppet_service.render_site_pp(stack, DOMAIN)
    assert node_blocks(text) == {"default": []}
    assert "include" not in text


def test_site_pp_follows_the_domain(full):
    assert "node 'w1.example.org' {" in puppet_service.render_site_pp(full, "example.org")


# --- hieradata / hiera.yaml ---------------------------------------------------------------------


def test_hieradata_lists_configured_containers_per_role_by_dns_name(full):
    data = yaml.safe_load(puppet_service.render_hieradata(full, DOMAIN))
    assert data["dockstack::domain"] == DOMAIN
    assert data["dockstack::puppet_server"] == "pp.dockstack.lab"
    services = data["dockstack::services"]
    assert list(services) == ["dnsmasq", "puppet", "haproxy", "db", "api", "worker"]
    assert services["db"] == [{"name": "db2", "fqdn": "db2.dockstack.lab", "host": "h2"},
                              {"name": "db1", "fqdn": "db1.dockstack.lab", "host": "host1"}]
    assert [m["name"] for m in services["api"]] == ["api1", "api2"]
    assert "10.100.0.2" not in puppet_service.render_hieradata(full, DOMAIN)  # names, never addresses


def test_hieradata_balanced_services_and_frontends(full):
    data = yaml.safe_load(puppet_service.render_hieradata(full, DOMAIN))
    assert data["dockstack::balanced"] == {"mysql": {"port": 3306, "mode": "tcp", "role": "db"},
                                           "keystone": {"port": 5000, "mode": "http", "role": "api"},
                                           "nova-api": {"port": 8774, "mode": "http", "role": "api"}}
    assert data["dockstack::frontends"] == ["lb.dockstack.lab"]


def test_hieradata_frontend_is_the_virtual_ip_when_haproxy_has_one(full):
    vip = Vip(ipaddress.IPv4Address("10.100.0.10"), "vip", 51, "secret1")
    roles = tuple(dataclasses.replace(r, vip=vip) if r.name == "haproxy" else r for r in full.roles)
    data = yaml.safe_load(puppet_service.render_hieradata(dataclasses.replace(full, roles=roles), DOMAIN))
    assert data["dockstack::frontends"] == ["vip.dockstack.lab"]


def test_hieradata_no_containers_is_empty_mappings(stack):
    data = yaml.safe_load(puppet_service.render_hieradata(Stack(path="c.yaml", images=(), roles=(Role("x"),)), DOMAIN))
    assert data == {"dockstack::domain": DOMAIN, "dockstack::puppet_server": "", "dockstack::services": {},
                    "dockstack::members_by_service": {}, "dockstack::balanced": {}, "dockstack::frontends": [],
                    "dockstack::ca_cert": "", "dockstack::ca_file": ""}


def test_hieradata_lists_members_by_service_whatever_their_role_is_called(shipped_stack):
    """Profiles find their peers by service (profile::service_members): a renamed role keeps them."""
    renamed = dataclasses.replace(shipped_stack, containers=tuple(
        dataclasses.replace(c, role="zk") if c.service == "zookeeper" else c for c in shipped_stack.containers))
    for stack in (shipped_stack, renamed):
        data = yaml.safe_load(puppet_service.render_hieradata(stack, DOMAIN))["dockstack::members_by_service"]
        assert data["zookeeper"] == [f"cassandra.{DOMAIN}"]
        assert data["galera"] == [f"galera{i}.{DOMAIN}" for i in (1, 2, 3)]
        assert "config" not in data  # a role without a service is found by its role's name only


def test_shipped_profiles_find_service_peers_by_service_not_by_role_name():
    """No profile asks for the members of a role that runs a service by that role's name."""
    shipped = {p: p.read_text() for p in puppet_service.MODULES.rglob("*.pp")}
    for path, text in shipped.items():
        for role in ("cassandra", "galera", "openstack", "haproxy", "dnsmasq", "puppet"):
            assert f"profile::members('{role}')" not in text, path


@pytest.mark.parametrize("role", ["no", "2024"])
def test_hieradata_role_keys_stay_role_names(role):
    stack = Stack(path="containers.yaml", images=(), roles=(Role(role),), containers=(make_container("a", role),))
    services = yaml.safe_load(puppet_service.render_hieradata(stack, DOMAIN))["dockstack::services"]
    assert list(services) == [role]


def test_hiera_config_is_yaml_version_5():
    data = yaml.safe_load(puppet_service.render_hiera_config())
    assert data["version"] == 5
    assert data["defaults"]["datadir"] == "data"
    assert [h["path"] for h in data["hierarchy"]] == ["nodes/%{trusted.certname}.yaml", "common.yaml"]


# --- autosign, puppet.conf, the server's folder ---------------------------------------------------


def autosign_names(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_autosign_lists_exactly_the_containers_that_run_the_agent(full):
    names = autosign_names(puppet_service.render_autosign(full, DOMAIN))
    assert names == ["db2.dockstack.lab", "db1.dockstack.lab", "api1.dockstack.lab", "api2.dockstack.lab",
                     "w1.dockstack.lab"]  # not dns, pp, lb: their roles have no classes


def test_autosign_is_dockstacks_policy_with_a_list_without_globs(full):
    text = puppet_service.render_autosign(full, DOMAIN)
    assert "*" not in text and "true" not in text
    conf = puppet_service.render_puppet_conf(full.container("pp"), DOMAIN)
    assert "autosign = /run/puppetserver/autosign" in conf.splitlines()
    files = puppet_service.puppet_files(full, full.container("pp"), DOMAIN)
    assert files["autosign.sh"] == puppet_service.AUTOSIGN_SCRIPT and files["autosign.conf"] == text
    assert "autosign = true" not in [line for line in conf.splitlines() if not line.startswith("#")]


def test_puppet_conf_names_the_server_and_the_environments(full):
    lines = puppet_service.render_puppet_conf(full.container("pp"), DOMAIN).splitlines()
    assert "certname = pp.dockstack.lab" in lines
    assert "environmentpath = /etc/puppet/dockstack/environments" in lines
    assert "allow_duplicate_certs = false" in lines  # a name's second certificate: dockstack forgets the first
    assert "keylength = 2048" in lines  # the CA's and the server's keys, made by Java at its first start


def test_puppet_files_ship_the_profiles_into_the_environment(full):
    files = puppet_service.puppet_files(full, full.container("pp"), DOMAIN)
    env = "environments/production"
    assert {"puppet.conf", "autosign.conf", f"{env}/manifests/site.pp", f"{env}/data/common.yaml",
            f"{env}/hiera.yaml"} <= set(files)
    shipped = {p.relative_to(puppet_service.MODULES).as_posix() for p in puppet_service.MODULES.rglob("*.pp")}
    assert {f"profile/manifests/{x}" for x in ("galera.pp", "keystone.pp", "contrail/webui.pp")} <= shipped
    assert {f"{env}/modules/{p}" for p in shipped} <= set(files)


def test_puppet_files_change_only_with_the_config(full):
    before = puppet_service.puppet_files(full, full.container("pp"), DOMAIN)
    assert puppet_service.puppet_files(full, full.container("pp"), DOMAIN) == before
    fewer = Stack(path=full.path, images=(), roles=full.roles, containers=full.containers[:-1])
    after = puppet_service.puppet_files(fewer, fewer.container("pp"), DOMAIN)
    gone = {f"environments/production/data/nodes/{full.containers[-1].name}.{DOMAIN}.yaml"} & set(before)  # its own
    assert {p for p in before if before[p] != after.get(p)} == {
        "autosign.conf", "environments/production/manifests/site.pp", "environments/production/data/common.yaml",
        *gone}


def test_shipped_roles_classes_are_shipped_profiles(shipped_stack):
    """Every class a shipped role names exists in puppet/modules, in the file Puppet's autoloader looks in."""
    for role in shipped_stack.roles:
        for cls in role.classes:
            module, *rest = cls.split("::")
            path = puppet_service.MODULES / module / "manifests" / ("/".join(rest) + ".pp")
            assert path.is_file(), f"{cls}: {path} is missing"
            assert f"class {cls} " in path.read_text() or f"class {cls}(" in path.read_text()


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
    return render_haproxy_cfg(stack, DOMAIN, list(dns))


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
    assert f"stats socket ipv4@127.0.0.1:{haproxy_service.STATS_PORT} level admin" in s["global"]


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
    assert frontends == ["mysql", "horizon", "keystone", "nova-api", "neutron-server", "glance", "cinder", "placement"]
    assert re.findall(r"^backend (\S+)$", text, flags=re.M) == [f"{f}_servers" for f in frontends]
    mysql = text[text.index("backend mysql_servers"):text.index("frontend horizon")]
    assert "    option httpchk\n    http-check expect status 200\n" in mysql
    opts = "port 9200 inter 2s fall 2 rise 2 on-marked-down shutdown-sessions"
    assert re.findall(r"^    server .*$", mysql, flags=re.M) == [
        f"    server galera1 galera1.dockstack.lab:3306 {opts}",
        f"    server galera2 galera2.dockstack.lab:3306 {opts} backup",
        f"    server galera3 galera3.dockstack.lab:3306 {opts} backup"]
    keystone = text[text.index("backend keystone_servers"):text.index("frontend nova-api")]
    assert "backup" not in keystone  # only galera's backend has backups
    # an HTTP backend gets an HTTP check (any answer but a server error) and a new server connection per request
    assert "    option http-server-close\n" in keystone
    assert "    option httpchk GET /\n    http-check expect rstatus ^[234]\n" in keystone
    assert "http-server-close" not in mysql and "GET /" not in mysql


def test_haproxy_keeps_galeras_long_sessions_and_no_others(shipped_stack):
    """A migration's DDL can wait minutes for its turn in the cluster: haproxy's one-minute default cut it (a
    glance migration failed that way in CI), so galera's definition asks for hour-long, kept-alive sessions."""
    text = haproxy(shipped_stack)
    mysql_front = text[text.index("frontend mysql"):text.index("backend mysql_servers")]
    mysql_back = text[text.index("backend mysql_servers"):text.index("frontend horizon")]
    assert "    timeout client 1h\n    option clitcpka\n" in mysql_front
    assert "    timeout server 1h\n    option srvtcpka\n" in mysql_back
    rest = text[text.index("frontend horizon"):]
    assert "timeout client" not in rest and "timeout server" not in rest and "tcpka" not in rest
