"""dockstack.dockercli: docker command lines as argv lists."""

from __future__ import annotations

import pytest

from dockstack import dockercli, services


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


@pytest.fixture
def dns(container):
    return container("dnsmasq", mac="02:00:0a:64:00:02", ip="10.100.0.2")


def test_service_dir(dns):
    assert services.service_dir(dns) == "/var/lib/dockstack/dnsmasq/dnsmasq"


def test_run_argv_dnsmasq(dns, net):
    argv = dockercli.run_argv(dns, net, ["10.100.0.2", "10.100.0.3"])
    assert argv[:2] == ["docker", "run"]
    assert "--detach" in argv
    assert flag_values(argv, "--name") == ["dnsmasq"]
    assert flag_values(argv, "--hostname") == ["dnsmasq"]
    assert flag_values(argv, "--network") == ["none"]
    assert flag_values(argv, "--cap-add") == ["NET_ADMIN"]
    assert flag_values(argv, "--cap-drop") == ["NET_RAW", "MKNOD"]  # no-ping: no ICMP raw socket, DHCP needs none
    assert flag_values(argv, "--security-opt") == ["no-new-privileges"]
    assert flag_values(argv, "--dns") == ["127.0.0.1"]  # itself, not the list
    assert flag_values(argv, "--dns-search") == ["dockstack.lab"]
    # its folder read-only (the host writes the address book there as root), its lease folder writable
    assert flag_values(argv, "--volume") == ["/var/lib/dockstack/dnsmasq/dnsmasq:/var/lib/dockstack:ro",
                                             "/var/lib/dockstack/dnsmasq/dnsmasq/lease:/var/lib/dockstack/lease"]
    labels = flag_values(argv, "--label")
    assert labels[:2] == ["org.dockstack.managed=true", "org.dockstack.role=dnsmasq"]
    assert labels[2] == f"org.dockstack.spec={dockercli.spec_label(dns)}"
    i = argv.index("test/base:bookworm")
    assert argv[i + 1:] == ["dnsmasq", "--keep-in-foreground", "--conf-file=/var/lib/dockstack/dnsmasq.conf"]


def test_run_argv_dnsmasq_with_own_command_and_volumes(container, net):
    d = container("dnsmasq", mac="02:00:0a:64:00:02", ip="10.100.0.2", volumes=("/srv/x:/x",),
                  command=("dnsmasq", "-d"))
    argv = dockercli.run_argv(d, net, [])
    assert flag_values(argv, "--volume") == ["/var/lib/dockstack/dnsmasq/dnsmasq:/var/lib/dockstack:ro",
                                             "/var/lib/dockstack/dnsmasq/dnsmasq/lease:/var/lib/dockstack/lease",
                                             "/srv/x:/x"]
    assert argv[-3:] == ["test/base:bookworm", "dnsmasq", "-d"]


def test_run_argv_normal_container(container, net):
    c = container("web", role="webui", host="host2", image="dockstack/base:bookworm",
                  volumes=("/srv/web:/var/www:ro", "/srv/log:/var/log/web"),
                  env=(("MODE", "prod"), ("GREETING", "hello world")),
                  command=("sh", "-c", "exec httpd -f"))
    argv = dockercli.run_argv(c, net, ["10.100.0.2", "10.100.0.3"])
    assert flag_values(argv, "--name") == ["web"]
    assert flag_values(argv, "--network") == ["none"]
    assert flag_values(argv, "--cap-add") == []  # its lease is the host's udhcpc's, from outside
    # so its processes need no raw socket: they get none; nor may they make a device node (the host reads in the
    # folders they write)
    assert flag_values(argv, "--cap-drop") == ["NET_RAW", "MKNOD"]
    assert flag_values(argv, "--security-opt") == ["no-new-privileges"]
    assert flag_values(argv, "--dns") == ["10.100.0.2", "10.100.0.3"]
    assert flag_values(argv, "--dns-search") == ["dockstack.lab"]
    assert flag_values(argv, "--volume") == ["/srv/web:/var/www:ro", "/srv/log:/var/log/web"]
    assert "--env" not in argv and not any("prod" in a or "hello world" in a for a in argv)  # see env_file
    assert "org.dockstack.role=webui" in flag_values(argv, "--label")
    i = argv.index("dockstack/base:bookworm")
    assert argv[i + 1:] == ["sh", "-c", "exec httpd -f"]
    assert "--publish" not in argv and "-p" not in argv


def test_run_argv_normal_container_without_command_ends_with_image(container, net):
    argv = dockercli.run_argv(container("web"), net, ["10.100.0.2"])
    assert argv[-1] == "test/base:bookworm"
    assert "--volume" not in argv
    assert "--env" not in argv



def test_env_file_has_one_line_per_value_verbatim(container):
    c = container("web", env=(("MODE", "prod"), ("DB_PASSWORD", " sp=ce\tand 'quotes' $(x) "), ("EMPTY", "")))
    assert dockercli.env_file(c) == "MODE=prod\nDB_PASSWORD= sp=ce\tand 'quotes' $(x) \nEMPTY=\n"


def test_env_file_of_a_container_without_env_is_empty(container):
    assert dockercli.env_file(container("web")) == ""


def test_spec_label_holds_no_env_value(container):
    c = container("web", env=(("DB_PASSWORD", "hunter2-s3cr3t"), ("MODE", "production")))
    label = dockercli.spec_label(c)
    assert "hunter2-s3cr3t" not in label and "production" not in label
    changed = container("web", env=(("DB_PASSWORD", "other-s3cr3t"), ("MODE", "production")))
    assert dockercli.spec_digests(changed)["env"] != dockercli.spec_digests(c)["env"]  # drift is still seen
