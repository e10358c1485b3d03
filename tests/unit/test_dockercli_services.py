"""dockstack.dockercli: the spec label and puppet/haproxy service containers (declared by role service)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

import pytest

from dockstack import dockercli, services
from dockstack.services import puppet as puppet_service


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


@pytest.fixture
def web(container):
    return container("web", role="webui", host="h1", image="dockstack/base:bookworm",
                     volumes=("/srv/web:/var/www:ro",), env=(("MODE", "prod"),), command=("httpd", "-f"))


# --- spec / spec_label ----------------------------------------------------------------------------


def test_spec_fields(web):
    assert dockercli.spec(web) == {"image": "dockstack/base:bookworm", "role": "webui", "mac": None, "ip": None,
                                   "volumes": ["/srv/web:/var/www:ro"], "env": [["MODE", "prod"]],
                                   "command": ["httpd", "-f"], "service": None, "cap_add": [],
                                   "cap_drop": ["NET_RAW", "MKNOD"], "security_opt": ["no-new-privileges"]}


def test_a_service_containers_spec_holds_its_mounts(container):
    """What of its host folder a service container may write is part of its spec: a container made with a
    writable folder (galera's and the Puppet server's, before) is re-created with the read-only one."""
    node = container("galera1", role="galera", service="galera")
    assert dockercli.spec(node)["mounts"] == ["/var/lib/dockstack/galera/galera1:/var/lib/dockstack/galera:ro",
                                              "/var/lib/dockstack/galera/galera1/data:/var/lib/mysql",
                                              "/var/lib/dockstack/galera/galera1/state:/var/lib/dockstack/galera/state"]


def test_spec_static_address(container):
    c = container("dns", role="dnsmasq", mac="02:00:0a:64:00:02", ip="10.100.0.2")
    s = dockercli.spec(c)
    assert (s["mac"], s["ip"]) == ("02:00:0a:64:00:02", "10.100.0.2")


def test_spec_label_is_compact_sorted_json_of_digests(web):
    label = dockercli.spec_label(web)
    assert json.loads(label) == dockercli.spec_digests(web)
    assert set(json.loads(label)) == set(dockercli.spec(web))
    assert ", " not in label and ": " not in label  # compact separators
    keys = list(json.loads(label))
    assert keys == sorted(keys)
    assert all(len(v) == 16 and int(v, 16) >= 0 for v in json.loads(label).values())


def test_spec_label_never_holds_env_values(container):
    c = container("db", env=(("DB_PASSWORD", "s3cr3t-Pa55"), ("MODE", "prod")))
    label = dockercli.spec_label(c)
    assert "s3cr3t" not in label and "DB_PASSWORD" not in label and "prod" not in label
    assert json.loads(label)["env"] != dockercli.spec_digests(container("db", env=(("DB_PASSWORD", "other"),)))["env"]


def test_spec_label_is_stable(web, container):
    same = container("web", role="webui", host="h1", image="dockstack/base:bookworm",
                     volumes=("/srv/web:/var/www:ro",), env=(("MODE", "prod"),), command=("httpd", "-f"))
    assert dockercli.spec_label(web) == dockercli.spec_label(same)
    assert dockercli.spec_label(web) == dockercli.spec_label(web)


def test_spec_label_ignores_the_host(web):
    assert dockercli.spec_label(replace(web, host="h2")) == dockercli.spec_label(web)


@pytest.mark.parametrize("change", [
    {"image": "dockstack/base:trixie"},
    {"env": (("MODE", "dev"),)},
    {"env": (("MODE", "prod"), ("X", "1"))},
    {"volumes": ("/srv/web:/var/www",)},
    {"volumes": ()},
    {"command": ("httpd",)},
    {"command": ()},
    {"mac": "02:00:00:00:00:0a"},
    {"ip": ipaddress.IPv4Address("10.100.0.10")},
    {"role": "api"},
    {"service": "haproxy"},
], ids=["image", "env-value", "env-added", "volume-mode", "volumes-removed", "command-args", "command-removed",
        "mac", "ip", "role", "service"])
def test_spec_label_changes_with_the_config(web, change):
    assert dockercli.spec_label(replace(web, **change)) != dockercli.spec_label(web)


def test_spec_label_env_order_matters(container):
    a = container("web", env=(("A", "1"), ("B", "2")))
    b = container("web", env=(("B", "2"), ("A", "1")))
    assert dockercli.spec_label(a) != dockercli.spec_label(b)


# --- service containers -----------------------------------------------------------------------------


def test_service_dir(container):
    assert services.service_dir(container("pp", role="puppet")) == "/var/lib/dockstack/puppet/pp"
    assert services.service_dir(container("lb", role="haproxy")) == "/var/lib/dockstack/haproxy/lb"


def test_run_argv_puppet_mounts_its_folder_and_runs_puppetserver(container, net):
    c = container("puppet", role="puppet", host="h2", image="dockstack/puppetserver:bookworm")
    argv = dockercli.run_argv(c, net, ["10.100.0.2"])
    assert flag_values(argv, "--volume") == ["/var/lib/dockstack/puppet/puppet:/etc/puppet/dockstack:ro"]
    assert f"{services.SERVICE_ROOT}/puppet/puppet:{puppet_service.MOUNT}:ro" in argv
    command = argv[argv.index("dockstack/puppetserver:bookworm") + 1:]
    assert command[:5] == ["sh", "-c", puppet_service.SERVER_SCRIPT, "sh", puppet_service.MOUNT]
    assert "-Xmx512m" in command  # a smaller heap than Debian's 1 GiB: a faster start on a small machine
    assert "puppetserver.jar" in puppet_service.SERVER_SCRIPT and '"$@"' in puppet_service.SERVER_SCRIPT
    assert flag_values(argv, "--dns") == ["10.100.0.2"]
    assert "org.dockstack.role=puppet" in flag_values(argv, "--label")


def test_run_argv_puppet_with_own_command(container, net):
    c = container("puppet", role="puppet", image="dockstack/puppet:bookworm", command=("puppet", "server"))
    argv = dockercli.run_argv(c, net, [])
    assert argv[-3:] == ["dockstack/puppet:bookworm", "puppet", "server"]


def test_run_argv_haproxy_mounts_etc_haproxy_and_runs_its_supervisor(container, net):
    c = container("haproxy", role="haproxy", host="h3", image="dockstack/haproxy:bookworm")
    argv = dockercli.run_argv(c, net, ["10.100.0.2"])
    assert flag_values(argv, "--volume") == ["/var/lib/dockstack/haproxy/haproxy:/etc/haproxy:ro"]
    i = argv.index("dockstack/haproxy:bookworm")
    assert argv[i + 1:] == ["bash", "/etc/haproxy/supervise.sh"]  # haproxy (and keepalived with a vip)
    assert flag_values(argv, "--dns") == ["10.100.0.2"]
    assert "--cap-add" not in argv  # no vip: no keepalived, no privilege


def test_run_argv_haproxy_extra_volumes_after_service_folder(container, net):
    c = container("lb", role="haproxy", image="dockstack/haproxy:bookworm", volumes=("/srv/certs:/certs:ro",))
    argv = dockercli.run_argv(c, net, [])
    assert flag_values(argv, "--volume") == ["/var/lib/dockstack/haproxy/lb:/etc/haproxy:ro", "/srv/certs:/certs:ro"]


def test_run_argv_other_roles_get_no_service_folder(container, net):
    argv = dockercli.run_argv(container("web", role="webui"), net, [])
    assert "--volume" not in argv
    assert not any(a.startswith(services.SERVICE_ROOT) for a in argv)


def test_run_argv_openstack_runs_the_supervisor(container, net):
    argv = dockercli.run_argv(container("os1", role="cloud", service="openstack"), net, [])
    assert argv[-2:] == ["bash", "/var/lib/dockstack/openstack/entrypoint"]
    assert "/var/lib/dockstack/openstack/os1:/var/lib/dockstack/openstack:ro" in argv
    assert "/var/lib/dockstack/openstack/os1/images:/var/lib/glance/images" in argv
    assert "--health-cmd" not in argv  # `inv status` runs the role's check itself (dockstack.health)
    assert "--cap-add" not in argv  # no privilege: its lease is taken from the host


# --- the role's declared service decides, not the role's name ----------------------------------------


def test_service_dir_follows_the_service_not_the_role(container):
    lb = container("lb1", role="balancer", service="haproxy")
    assert services.service_dir(lb) == "/var/lib/dockstack/haproxy/lb1"
    assert services.service_dir(container("web", role="webui")) == "/var/lib/dockstack/webui/web"


def test_run_argv_service_declared_by_a_differently_named_role(container, net):
    lb = container("lb1", role="balancer", image="dockstack/haproxy:bookworm", service="haproxy")
    argv = dockercli.run_argv(lb, net, ["10.100.0.2"])
    assert flag_values(argv, "--volume") == ["/var/lib/dockstack/haproxy/lb1:/etc/haproxy:ro"]
    assert argv[argv.index("dockstack/haproxy:bookworm") + 1:] == ["bash", "/etc/haproxy/supervise.sh"]
    assert "org.dockstack.role=balancer" in flag_values(argv, "--label")


def test_run_argv_role_named_like_a_service_without_declaring_it(container, net):
    c = container("haproxy", role="haproxy", service=None)
    argv = dockercli.run_argv(c, net, ["10.100.0.2"])
    assert "--volume" not in argv
    assert argv[-1] == "test/base:bookworm"


def test_run_argv_dnsmasq_service_resolves_through_itself(container, net):
    d = container("resolver1", role="resolver", mac="02:00:0a:64:00:03", ip="10.100.0.3", service="dnsmasq")
    assert d.provides_addresses
    argv = dockercli.run_argv(d, net, ["10.100.0.2", "10.100.0.3"])
    assert flag_values(argv, "--dns") == ["127.0.0.1"]
    assert flag_values(argv, "--volume") == ["/var/lib/dockstack/dnsmasq/resolver1:/var/lib/dockstack:ro",
                                             "/var/lib/dockstack/dnsmasq/resolver1/lease:/var/lib/dockstack/lease"]


def test_spec_records_the_service(container):
    assert dockercli.spec(container("pp", role="puppet"))["service"] == "puppet"
    assert dockercli.spec(container("web", role="webui"))["service"] is None
    assert json.loads(dockercli.spec_label(container("web", role="webui")))["service"] != \
        json.loads(dockercli.spec_label(container("web", role="webui", service="haproxy")))["service"]


def test_puppetserver_script_links_dockstacks_puppet_conf_and_runs_the_jar(container, net, fakebin, tmp_path):
    """The container's command, run here with fake ln, mkdir and java: the link, the autosign wrapper that names
    the challenge's secret file, then java with the JVM's arguments and Debian's config and bootstrap folders."""
    for tool in ("ln", "mkdir", "java"):
        fakebin.add(tool)
    c = container("puppet", role="puppet", image="dockstack/puppetserver:bookworm")
    argv = dockercli.run_argv(c, net, ["10.100.0.2"])
    command = argv[argv.index("dockstack/puppetserver:bookworm") + 1:]
    assert command[4:7] == [puppet_service.MOUNT, puppet_service.RUN, "/run/secrets/PUPPET_CHALLENGE_PASSWORD"]
    run = tmp_path / "run"
    run.mkdir()
    command[5] = str(run)  # its run folder here
    proc = fakebin.run(command)
    assert proc.returncode == 0, proc.stderr
    calls = fakebin.calls()
    assert calls[0] == f"ln -sf {puppet_service.MOUNT}/puppet.conf /etc/puppet/puppet.conf"
    assert calls[1] == f"mkdir -p {run}"
    # the wrapper puppet.conf names reads the challenge where the container has it: its secret file, root's only
    assert (run / "autosign").read_text() == (
        f"#!/bin/sh\nexec sh '{puppet_service.MOUNT}/autosign.sh' \"$1\" '/run/secrets/PUPPET_CHALLENGE_PASSWORD'\n")
    assert sorted(p.name for p in run.iterdir()) == ["autosign"]  # no copy of it
    assert len(calls) == 3
    assert calls[2].startswith("java -Xms256m -Xmx512m") and calls[2].endswith(
        "-jar /usr/share/puppetserver/puppetserver.jar --config /etc/puppet/puppetserver/conf.d "
        "--bootstrap-config /etc/puppet/puppetserver/services.d")
