"""dockstack.config: role fields (depends_on, check, classes, balance), their validation, tiers()."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dockstack.config import DEFAULT_CONTAINERS_FILE, Balanced, Role, Stack, load_stack, tiers
from dockstack.errors import ConfigError
from dockstack.services import openstack as openstack_service
from dockstack.services.registry import DEFINITIONS


def names(stack_tiers: list[list[Role]]) -> list[list[str]]:
    return [[r.name for r in tier] for tier in stack_tiers]


def set_roles(cfg, *roles: dict) -> None:
    cfg.containers["roles"] = list(roles)


# --- defaults and the shipped stack ---------------------------------------------------------


def test_role_defaults(cfg):
    _, st = cfg.load()
    dns, app = st.roles
    # a service role without check: gets its service's own readiness check and its bound
    assert dns == Role(name="dnsmasq", depends_on=(), check=DEFINITIONS["dnsmasq"].check, check_timeout=20.0,
                       classes=(), balance=(), service="dnsmasq", definition=DEFINITIONS["dnsmasq"])
    assert dns.definition is DEFINITIONS["dnsmasq"]
    assert app.service is None
    assert app.depends_on == ("dnsmasq",)  # default: the role listed before it
    assert isinstance(app.check_timeout, float)


def test_default_depends_on_is_the_previous_role(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app"}, {"name": "db"}, {"name": "web"})
    _, st = cfg.load()
    assert [r.depends_on for r in st.roles] == [(), ("dnsmasq",), ("app",), ("db",)]
    assert names(tiers(st)) == [["dnsmasq"], ["app"], ["db"], ["web"]]


def test_roles_may_be_plain_names(cfg):
    cfg.containers["roles"] = ["dnsmasq", "app"]
    _, st = cfg.load()
    assert [(r.name, r.depends_on) for r in st.roles] == [("dnsmasq", ()), ("app", ("dnsmasq",))]


def test_empty_depends_on_puts_a_role_in_tier_zero(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "depends_on": []})
    _, st = cfg.load()
    assert st.role("app").depends_on == ()
    assert names(tiers(st)) == [["dnsmasq", "app"]]


def test_null_depends_on_means_the_default(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "depends_on": None})
    _, st = cfg.load()
    assert st.role("app").depends_on == ("dnsmasq",)


def test_tier_follows_the_latest_dependency(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "db", "depends_on": ["dnsmasq"]},
              {"name": "cache", "depends_on": ["dnsmasq"]}, {"name": "app", "depends_on": ["dnsmasq", "db"]},
              {"name": "web", "depends_on": ["cache"]})
    _, st = cfg.load()
    assert names(tiers(st)) == [["dnsmasq"], ["db", "cache"], ["app", "web"]]


def test_shipped_tiers(shipped_stack):
    assert names(tiers(shipped_stack)) == [["dnsmasq"], ["puppet", "haproxy"], ["galera", "cassandra"],
                                           ["openstack"], ["config", "redis"], ["collector", "control", "webui"]]


def test_shipped_role_fields(shipped_stack):
    st = shipped_stack
    dns = st.role("dnsmasq")
    assert (dns.check, dns.check_timeout, dns.depends_on) == ("sh /var/lib/dockstack/check", 20.0, ())
    assert st.role("puppet").check_timeout == 300.0  # the JVM and JRuby start slowly on a small machine
    galera = st.role("galera")
    assert galera.classes == ("profile::galera",)
    assert galera.balance == (Balanced("mysql", 3306, "tcp"),)
    assert st.role("config").depends_on == ("cassandra", "openstack")
    openstack = st.role("openstack")
    assert [(b.name, b.port, b.mode) for b in openstack.balance][:2] == [("horizon", 443, "http"),
                                                                         ("keystone", 5000, "http")]
    assert all(b.mode == "http" for b in openstack.balance)
    assert "profile::nova::api" in openstack.classes
    # a failing check may be a blip its own supervisor heals for this long (a sub-service restarted) before repair:
    # longer than its check counts a restarted service not ready
    assert openstack.settle == 45.0 > openstack_service.SETTLE
    assert {r.name: r.settle for r in st.roles if r.name != "openstack"} == {r.name: 0.0 for r in st.roles
                                                                           if r.name != "openstack"}


def test_a_roles_settle_overrides_its_services_and_a_bad_one_is_refused(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq", "settle": 7.5}, {"name": "app", "check": "true"})
    _, st = cfg.load()
    assert (st.role("dnsmasq").settle, st.role("app").settle) == (7.5, 0.0)
    for bad in (-1, float("nan"), "soon", True):
        set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq", "settle": bad}, {"name": "app"})
        with pytest.raises(ConfigError) as e:
            cfg.load()
        config_error(e, cfg.containers_path, "roles[0].settle")


def test_tiers_empty_stack():
    assert tiers(Stack(path="x", images=(), roles=())) == []


def test_stack_role_and_of_role(cfg):
    cfg.containers["containers"].append({"name": "app2", "role": "app", "host": "h1", "image": "test/base:bookworm"})
    _, st = cfg.load()
    assert st.role("app").name == "app"
    assert st.role("dnsmasq") is st.roles[0]
    assert [c.name for c in st.of_role("app")] == ["app1", "app2"]
    assert [c.name for c in st.of_role("dnsmasq")] == ["dns"]
    assert st.of_role("nope") == ()


def test_select_a_container_or_a_roles_containers(cfg, config_error):
    """What `--name` of create/start/stop/remove means: a container, else a role's containers."""
    cfg.containers["roles"].append({"name": "idle"})
    cfg.containers["containers"].append({"name": "app2", "role": "app", "host": "h1", "image": "test/base:bookworm"})
    _, st = cfg.load()
    assert [c.name for c in st.select("app2")] == ["app2"]
    assert [c.name for c in st.select("app")] == ["app1", "app2"]  # the role, in config order
    assert [c.name for c in st.select("dns")] == ["dns"]
    with pytest.raises(ConfigError) as e:
        st.select("nope")
    config_error(e, cfg.containers_path, "containers", "no container or role named 'nope'",
                 "containers: dns, app1, app2; roles: dnsmasq, app, idle")
    with pytest.raises(ConfigError) as e:
        st.select("idle")
    config_error(e, cfg.containers_path, "containers", "role 'idle' has no containers")


def test_select_prefers_the_container_when_a_role_has_the_same_name(cfg):
    cfg.containers["containers"].append({"name": "app", "role": "app", "host": "h1", "image": "test/base:bookworm"})
    _, st = cfg.load()
    assert [c.name for c in st.select("app")] == ["app"]


def test_role_with_no_containers_is_allowed(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app"}, {"name": "idle"})
    _, st = cfg.load()
    assert st.of_role("idle") == ()
    assert names(tiers(st))[-1] == ["idle"]


def test_check_classes_and_balance_are_read(cfg):
    set_roles(cfg, {"name": "dnsmasq"},
              {"name": "app", "check": "curl -sf localhost", "check_timeout": 2.5,
               "classes": ["profile::app", "base"],
               "balance": [{"name": "web", "port": 80, "mode": "http"}, {"name": "api", "port": 8080}]})
    cfg.add_puppet_server()
    _, st = cfg.load()
    app = st.role("app")
    assert app.check == "curl -sf localhost"
    assert app.check_timeout == 2.5
    assert app.classes == ("profile::app", "base")
    assert app.balance == (Balanced("web", 80, "http"), Balanced("api", 8080, "tcp"))


def test_classes_need_a_puppet_server(cfg, config_error):
    cfg.containers["roles"][1]["classes"] = ["profile::app"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].classes", "has Puppet classes but no container runs a Puppet server",
                 "service: puppet")


def test_classes_need_the_puppet_server_in_an_earlier_tier(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq"}, {"name": "puppet", "service": "puppet"},
              {"name": "app", "depends_on": ["dnsmasq"], "classes": ["profile::app"]})
    cfg.containers["containers"].append({"name": "pp", "role": "puppet", "host": "h1", "image": "test/base:bookworm"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[2].depends_on", "runs the Puppet agent but deploys no later than",
                 "depend on 'puppet'")


def test_classes_without_containers_need_no_server(cfg):
    set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq"}, {"name": "app"}, {"name": "idle", "classes": ["x"]})
    _, st = cfg.load()
    assert st.catalog_provider() is None and st.role("idle").classes == ("x",)


def test_different_ports_in_two_roles_are_fine(cfg):
    set_roles(cfg, {"name": "dnsmasq", "balance": [{"name": "dns", "port": 53}]},
              {"name": "app", "balance": [{"name": "web", "port": 80}]})
    _, st = cfg.load()
    assert [b.port for r in st.roles for b in r.balance] == [53, 80]


# --- validation -------------------------------------------------------------------------------


def test_depends_on_a_later_role(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "depends_on": ["db"]}, {"name": "db"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].depends_on[0]", "'db'", "listed before 'app'")


def test_depends_on_an_unknown_role(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "depends_on": ["dnsmasq", "nope"]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].depends_on[1]", "'nope'")


def test_depends_on_itself(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "depends_on": ["app"]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].depends_on[0]", "'app'")


def test_first_role_cannot_depend_on_anything(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq", "depends_on": ["app"]}, {"name": "app"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[0].depends_on[0]", "'app'")


def test_depends_on_must_be_a_list(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "depends_on": "dnsmasq"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].depends_on", "must be a list")


def test_balance_on_haproxys_runtime_api_port(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "web", "port": 8404}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].balance[0].port", "8404", "runtime API")


@pytest.mark.parametrize("timeout", [0, -1, -0.5])
def test_non_positive_check_timeout(cfg, timeout, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "check": "true", "check_timeout": timeout})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].check_timeout", "positive")


def test_check_timeout_must_be_a_number(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "check_timeout": "20s"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].check_timeout", "'20s'")


def test_bool_is_not_a_check_timeout(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "check_timeout": True})
    with pytest.raises(ConfigError):
        cfg.load()


@pytest.mark.parametrize("classes", [["Profile::app"], ["profile:app"], ["profile::"], ["::app"], ["1app"],
                                     ["profile::app-x"], [["profile::app"]], ["profile::app\n"],
                                     ["profile::app\ninclude evil"]])
def test_bad_puppet_class_name(cfg, classes, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "classes": ["base", *classes]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].classes[1]", "not a puppet class name")


def test_classes_must_be_a_list(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "classes": "profile::app"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].classes", "must be a list")


@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_balance_port_out_of_range(cfg, port, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "web", "port": port}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].balance[0].port", f"{port} is not a TCP port")


def test_balance_port_required(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "web"}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].balance[0].port", "missing")


@pytest.mark.parametrize("mode", ["udp", "HTTP", "https"])
def test_balance_mode_not_tcp_or_http(cfg, mode, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "web", "port": 80, "mode": mode}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].balance[0].mode", f"{mode!r} is not tcp or http")


def test_balance_name_must_be_valid(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "Web Site", "port": 80}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].balance[0].name", "not a valid name")


def test_balance_unknown_key(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "web", "port": 80, "backend": "x"}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].balance[0].backend", "unknown key")


def test_unknown_role_key(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "needs": ["dnsmasq"]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].needs", "unknown key", "depends_on")


def test_two_services_on_the_same_port_in_one_role(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"},
              {"name": "app", "balance": [{"name": "web", "port": 80}, {"name": "api", "port": 80, "mode": "http"}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].balance", "same port")


def test_same_port_balanced_in_two_roles(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "web", "port": 80}]},
              {"name": "db", "balance": [{"name": "sql", "port": 3306}, {"name": "admin", "port": 80}]})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[2].balance", "port 80", "already balanced for app")


def test_same_balance_name_in_two_roles(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "balance": [{"name": "web", "port": 80}]},
              {"name": "db", "balance": [{"name": "web", "port": 8080}]})
    with pytest.raises(ConfigError):
        cfg.load()


# --- service: what dockstack runs for a role -------------------------------------------------------


@pytest.mark.parametrize("service", ["dnsmasq", "haproxy", "puppet"])
def test_service_is_read_and_copied_to_the_containers(cfg, service):
    cfg.containers["roles"][1]["service"] = service
    cfg.container(1).update(mac="02:00:0a:64:00:03", ip="10.100.0.3")  # a second dnsmasq needs one
    _, st = cfg.load()
    assert st.role("app").service == service
    assert st.container("app1").service == service
    assert st.container("dns").service == "dnsmasq"


def test_no_service_is_none(cfg):
    _, st = cfg.load()
    assert st.role("app").service is None
    assert st.container("app1").service is None
    assert not st.container("app1").provides_addresses


@pytest.mark.parametrize("service", ["nginx", "DNSMASQ", "dnsmasq "])
def test_unknown_service_is_rejected(cfg, service, config_error):
    cfg.containers["roles"][1]["service"] = service
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].service", f"{service!r} is not a service",
                 "dnsmasq, puppet, haproxy, galera, zookeeper, openstack")


def test_service_must_be_a_string(cfg, config_error):
    cfg.containers["roles"][1]["service"] = ["haproxy"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].service", "must be a string")


def test_dnsmasq_is_the_declared_service_not_the_role_name(cfg):
    set_roles(cfg, {"name": "resolver", "service": "dnsmasq"}, {"name": "app"})
    cfg.container(0)["role"] = "resolver"
    _, st = cfg.load()
    dns = st.container("dns")
    assert dns.provides_addresses
    assert st.address_providers() == (dns,)


def test_role_named_dnsmasq_without_the_service_is_an_ordinary_role(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app"})
    del cfg.container(0)["ip"], cfg.container(0)["mac"]  # no static address needed: it serves nothing
    _, st = cfg.load()
    assert not st.container("dns").provides_addresses
    assert st.address_providers() == ()


@pytest.mark.parametrize("drop", ["ip", "mac"])
def test_a_dnsmasq_service_under_another_role_name_needs_a_static_address(cfg, drop, config_error):
    set_roles(cfg, {"name": "resolver", "service": "dnsmasq"}, {"name": "app"})
    cfg.container(0)["role"] = "resolver"
    del cfg.container(0)[drop]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"containers[0].{drop}", "needs a static mac and ip")


@pytest.mark.parametrize("check", ["", "   "])
def test_an_empty_check_is_refused(cfg, config_error, check):
    cfg.containers["roles"][1] = {"name": cfg.containers["roles"][1] if isinstance(cfg.containers["roles"][1], str)
                                  else cfg.containers["roles"][1]["name"], "check": check}
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].check", "is empty", "leave the key out")


def test_a_second_puppet_server_role_is_refused(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq"}, {"name": "pp", "service": "puppet"},
              {"name": "pp2", "service": "puppet"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[2].service", "role 'pp' already runs the Puppet server")


# --- serial and quorum (rolling changes) ------------------------------------------------------


def test_serial_and_quorum_defaults_come_from_the_service(cfg):
    set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq"}, {"name": "app"},
              {"name": "db", "service": "galera"}, {"name": "lb", "service": "haproxy"})
    _, st = cfg.load()
    assert [(r.name, r.serial, r.quorum) for r in st.roles] == [
        ("dnsmasq", 1, "all"), ("app", 1, "all"), ("db", 1, "majority"), ("lb", 1, "one")]


@pytest.mark.parametrize(("quorum", "members", "need"), [
    ("all", 3, 3), ("majority", 3, 2), ("majority", 4, 3), ("majority", 1, 1), ("one", 2, 1), ("one", 0, 0),
    ("2", 3, 2), ("5", 3, 3)])
def test_quorum_of_a_role(quorum, members, need):
    assert Role(name="r", quorum=quorum).quorum_of(members) == need


def test_a_role_may_set_serial_and_quorum(cfg):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "serial": 2, "quorum": 2})
    _, st = cfg.load()
    assert (st.roles[1].serial, st.roles[1].quorum) == (2, "2")


def three_apps(cfg) -> None:
    cfg.containers["containers"] += [{"name": f"app{i}", "role": "app", "host": "h2", "image": "test/base:bookworm"}
                                     for i in (2, 3)]


def test_a_serial_larger_than_the_quorum_can_spare_is_refused_naming_the_key(cfg, config_error):
    """serial: 2 on three containers that need a majority would take two down at once, leaving one: refused at load
    (issue 31), with the largest serial that keeps the quorum."""
    three_apps(cfg)
    set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq"}, {"name": "app", "serial": 2, "quorum": "majority"})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].serial", "would take 2 of role app's 3 containers down at once, "
                 "leaving 1, below its quorum of 2 (majority)")
    assert "set serial: 1 or less" in str(e.value)


@pytest.mark.parametrize(("serial", "quorum"), [(1, "majority"), (2, "one"), (3, "all"), (2, 1)])
def test_a_serial_the_quorum_can_spare_or_a_role_that_spares_none_is_accepted(cfg, serial, quorum):
    """Quorum all spares no container: any change takes the role down, whatever serial says."""
    three_apps(cfg)
    set_roles(cfg, {"name": "dnsmasq", "service": "dnsmasq"}, {"name": "app", "serial": serial, "quorum": quorum})
    _, st = cfg.load()
    assert st.roles[1].serial == serial


def test_the_shipped_galera_role_with_serial_2_is_refused(shipped_inventory, tmp_path, config_error):
    data = yaml.safe_load(Path(DEFAULT_CONTAINERS_FILE).read_text())
    k, galera = next((k, r) for k, r in enumerate(data["roles"]) if r.get("service") == "galera")
    assert sum(c["role"] == galera["name"] for c in data["containers"]) == 3
    galera["serial"] = 2
    changed = tmp_path / "containers.yaml"
    changed.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as e:
        load_stack(shipped_inventory, changed, definitions=DEFINITIONS)
    config_error(e, changed, f"roles[{k}].serial", "leaving 1, below its quorum of 2 (majority)")


@pytest.mark.parametrize(("key", "value", "words"), [
    ("serial", 0, "is not a number of containers from 1 to 100"), ("serial", "1", "must be"),
    ("serial", True, "boolean"), ("quorum", "most", "is not all, majority, one or a number"),
    ("quorum", 0, "is not all, majority, one or a number"), ("quorum", 1.5, "must be")])
def test_bad_serial_or_quorum_is_refused_naming_the_key(cfg, config_error, key, value, words):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", key: value})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"roles[1].{key}", words)


# --- roles[].hieradata: a role's own Hiera keys ---------------------------------------------------------------


def test_a_roles_hieradata_is_read_sorted_with_lists_as_tuples(cfg):
    set_roles(cfg, {"name": "dnsmasq"},
              {"name": "app", "classes": ["profile::galera"],
               "hieradata": {"profile::galera::gcache_size": "256M", "profile::galera::sst_method": "rsync",
                             "app::ports": [80, 443], "app::on": True, "app::ratio": 0.5}})
    cfg.add_puppet_server()
    _, st = cfg.load()
    assert st.role("app").hieradata == (("app::on", True), ("app::ports", (80, 443)), ("app::ratio", 0.5),
                                        ("profile::galera::gcache_size", "256M"),
                                        ("profile::galera::sst_method", "rsync"))
    assert st.role("dnsmasq").hieradata == ()


@pytest.mark.parametrize(("hieradata", "key", "words"), [
    ({"buffer_pool_size": "1G"}, "roles[2].hieradata", "'buffer_pool_size' is not a Hiera key of a class"),
    ({"Profile::x": 1}, "roles[2].hieradata", "is not a Hiera key of a class"),
    ({"dockstack::domain": "evil.lab"}, "roles[2].hieradata.dockstack::domain", "dockstack renders"),
    ({"profile::x::y": "%{lookup('dockstack::ca_cert')}"}, "roles[2].hieradata.profile::x::y", "interpolation"),
    ({"profile::x::y": {"a": 1}}, "roles[2].hieradata.profile::x::y", "is not a string, number or boolean"),
    ({"profile::x::y": None}, "roles[2].hieradata.profile::x::y", "is not a string, number or boolean"),
    ({"profile::x::y": ["a", ["b"]]}, "roles[2].hieradata.profile::x::y", "is not a string, number or boolean"),
    ({"profile::x::y": "two\nlines"}, "roles[2].hieradata.profile::x::y", "one line"),
])
def test_a_bad_hieradata_key_or_value_is_refused_naming_it(cfg, config_error, hieradata, key, words):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "classes": ["profile::x"], "hieradata": hieradata})
    cfg.add_puppet_server()  # roles[1]: app is roles[2]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, key, words)


def test_hieradata_without_classes_is_refused(cfg, config_error):
    set_roles(cfg, {"name": "dnsmasq"}, {"name": "app", "hieradata": {"profile::x::y": 1}})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].hieradata", "no classes", "give the role its classes")
