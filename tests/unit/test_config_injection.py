"""dockstack.config: closed injection paths.

Every value of hosts.yaml/containers.yaml that reaches a file (dnsmasq.conf, DHCP hosts, site.pp, hieradata,
haproxy.cfg, the lab's hosts.yaml and sshd_config), a command line (docker run, ssh, ip, rm) or a template is
checked against a whole-string pattern: one case per refused value, each naming the exact key and the problem.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockstack import ipam
from dockstack.config import (
    DEFAULT_CONTAINERS_FILE,
    DEFAULT_HOSTS_FILE,
    IFNAME_RE,
    IMAGE_RE,
    NAME_RE,
    load_inventory,
    load_stack,
)
from dockstack.errors import ConfigError
from dockstack.services import puppet as puppet_service
from dockstack.services.registry import DEFINITIONS
from tests.unit.conftest import render_haproxy_cfg

Edit = Callable[[object], None]  # changes a ConfigFiles (tests/unit/conftest.py) before it is written


def host(key: str, value: object, i: int = 0) -> Edit:
    return lambda cfg: cfg.hosts["hosts"][i].__setitem__(key, value)


def hosts_top(key: str, value: object) -> Edit:
    return lambda cfg: cfg.hosts.__setitem__(key, value)


def network(key: str, value: object) -> Edit:
    return lambda cfg: cfg.hosts["network"].__setitem__(key, value)


def lab(key: str, value: object) -> Edit:
    def edit(cfg) -> None:
        cfg.hosts["lab"] = {"bridge": "dslab0", "gateway": "10.99.0.1/24", key: value}
    return edit


def image_tag(tag: str) -> Edit:
    def edit(cfg) -> None:
        cfg.containers["images"] = {tag: {"suite": "bookworm", "packages": ["iproute2"]}}
    return edit


def image(key: str, value: object) -> Edit:
    return lambda cfg: cfg.containers["images"]["test/base:bookworm"].__setitem__(key, value)


def role(key: str, value: object, i: int = 1) -> Edit:
    return lambda cfg: cfg.containers["roles"][i].__setitem__(key, value)


def balance(key: str, value: object) -> Edit:
    def edit(cfg) -> None:
        b = {"name": "web", "port": 80, key: value}
        cfg.containers["roles"][1]["balance"] = [b]
    return edit


def container(key: str, value: object, i: int = 1) -> Edit:
    return lambda cfg: cfg.containers["containers"][i].__setitem__(key, value)


def case(edit: Edit, key: str, word: str, case_id: str):
    """One refused value: the edit, the exact key of the error and a word of its problem."""
    return pytest.param(edit, key, word, id=case_id)


# --- hosts.yaml: every refused value ------------------------------------------------------------

HOSTS_CASES = [
    # hosts[].name: a lowercase RFC 1123 label of at most 32 characters
    case(host("name", "web\n"), "hosts[0].name", "newline", "name-trailing-newline"),
    case(host("name", "Host1"), "hosts[0].name", "not a valid name", "name-uppercase"),
    case(host("name", "h_1"), "hosts[0].name", "not a valid name", "name-underscore"),
    case(host("name", "-h1"), "hosts[0].name", "not a valid name", "name-leading-dash"),
    case(host("name", "h1-"), "hosts[0].name", "not a valid name", "name-trailing-dash"),
    case(host("name", "h" * 33), "hosts[0].name", "not a valid name", "name-33-chars"),
    # hosts[].address: an IPv4 address or a DNS host name, nothing else (it is ssh's destination)
    case(host("address", "-oProxyCommand=x"), "hosts[0].address", "not an IPv4 address or a DNS host name",
         "address-ssh-option"),
    case(host("address", "10.99.0.11\n"), "hosts[0].address", "newline", "address-trailing-newline"),
    case(host("address", "10.99.0.11 -oProxyCommand=x"), "hosts[0].address", "not an IPv4 address",
         "address-with-option"),
    case(host("address", "10.99.0.300"), "hosts[0].address", "not an IPv4 address", "address-bad-ipv4"),
    case(host("address", "docker_1.example"), "hosts[0].address", "not an IPv4 address or a DNS host name",
         "address-underscore"),
    case(host("address", "docker1..example"), "hosts[0].address", "not an IPv4 address or a DNS host name",
         "address-empty-label"),
    case(host("address", "root@docker1"), "hosts[0].address", "not an IPv4 address or a DNS host name",
         "address-user-at"),
    case(host("address", "2001:db8::1"), "hosts[0].address", "not an IPv4 address or a DNS host name",
         "address-ipv6"),
    # hosts[].user: a POSIX user name
    case(host("user", "-oProxyCommand=x"), "hosts[0].user", "not a POSIX user name", "user-ssh-option"),
    case(host("user", "root\n"), "hosts[0].user", "newline", "user-trailing-newline"),
    case(host("user", "Root"), "hosts[0].user", "not a POSIX user name", "user-uppercase"),
    case(host("user", "ro ot"), "hosts[0].user", "not a POSIX user name", "user-space"),
    case(host("user", "u" * 33), "hosts[0].user", "not a POSIX user name", "user-33-chars"),
    case(host("user", ""), "hosts[0].user", "not a POSIX user name", "user-empty"),
    # hosts[].key and known_hosts: paths of portable characters, never an option
    case(host("key", "-oProxyCommand=x"), "hosts[0].key", "starts with '-'", "key-option"),
    case(host("key", "/root/.ssh/id\n"), "hosts[0].key", "newline", "key-trailing-newline"),
    case(host("key", "/root/my key"), "hosts[0].key", "characters other than", "key-space"),
    case(host("key", "/root/key: x"), "hosts[0].key", "characters other than", "key-yaml-colon"),
    case(host("key", ""), "hosts[0].key", "is empty", "key-empty"),
    case(hosts_top("known_hosts", "-oUserKnownHostsFile=/x"), "known_hosts", "starts with '-'",
         "known-hosts-option"),
    case(hosts_top("known_hosts", "/x/known_hosts\n"), "known_hosts", "newline", "known-hosts-newline"),
    # the other host keys
    case(host("vxlan_address", "192.0.2.7\n"), "hosts[0].vxlan_address", "newline", "vxlan-address-newline"),
    case(host("port", "22\n"), "hosts[0].port", "must be an integer", "port-string"),
    # network
    case(network("lease_time", "12h\ndhcp-script=/bin/sh"), "network.lease_time", "newline",
         "lease-time-second-directive"),
    case(network("lease_time", "12h\n"), "network.lease_time", "newline", "lease-time-trailing-newline"),
    case(network("lease_time", "12h,dhcp-script=/bin/sh"), "network.lease_time", "not a dnsmasq lease time",
         "lease-time-comma"),
    case(network("lease_time", "12x"), "network.lease_time", "not a dnsmasq lease time", "lease-time-unit"),
    case(network("lease_time", "1.5h"), "network.lease_time", "not a dnsmasq lease time", "lease-time-fraction"),
    case(network("lease_time", -1), "network.lease_time", "not a dnsmasq lease time", "lease-time-negative"),
    case(network("lease_time", ""), "network.lease_time", "not a dnsmasq lease time", "lease-time-empty"),
    case(network("lease_time", "forever"), "network.lease_time", "not a dnsmasq lease time", "lease-time-word"),
    case(network("lease_time", "0"), "network.lease_time", "out of range", "lease-time-zero"),
    case(network("lease_time", "9999999999w"), "network.lease_time", "out of range", "lease-time-overflow"),
    case(network("domain", "-bad.lab"), "network.domain", "starts or ends with '-'", "domain-label-leading-dash"),
    case(network("domain", "bad-.lab"), "network.domain", "starts or ends with '-'", "domain-label-trailing-dash"),
    case(network("domain", "example.lab\n"), "network.domain", "newline", "domain-trailing-newline"),
    case(network("domain", "exa mple.lab"), "network.domain", "character outside", "domain-space"),
    case(network("domain", "under_score.lab"), "network.domain", "character outside", "domain-underscore"),
    case(network("domain", "example..lab"), "network.domain", "empty", "domain-empty-label"),
    case(network("domain", "example.lab."), "network.domain", "empty", "domain-trailing-dot"),
    case(network("domain", "a" * 64 + ".lab"), "network.domain", "longer than 63", "domain-label-64-chars"),
    case(network("domain", ".".join(["a" * 63] * 4)), "network.domain", "longer than 253", "domain-255-chars"),
    case(network("bridge", "dsbr0\n"), "network.bridge", "newline", "bridge-trailing-newline"),
    case(network("bridge", "-dsbr0"), "network.bridge", "not a valid interface name", "bridge-leading-dash"),
    case(network("bridge", ".."), "network.bridge", "not a valid interface name", "bridge-dotdot"),
    case(network("bridge", "br 0"), "network.bridge", "not a valid interface name", "bridge-space"),
    case(network("bridge", "br/0"), "network.bridge", "not a valid interface name", "bridge-slash"),
    case(network("vxlan_device", "-vx"), "network.vxlan_device", "not a valid interface name", "vxlan-device-dash"),
    case(network("uplink", "eth1\n"), "network.uplink", "newline", "uplink-trailing-newline"),
    case(network("uplink", "-eth1"), "network.uplink", "not a valid interface name", "uplink-leading-dash"),
    case(network("upstream_dns", ["192.0.2.53\n"]), "network.upstream_dns[0]", "not an IPv4 address",
         "upstream-dns-newline"),
    case(network("upstream_dns", [3221225985]), "network.upstream_dns[0]", "not an IPv4 address",
         "upstream-dns-integer"),
    case(network("dhcp_range", "10.100.0.100-10.100.0.199\n"), "network.dhcp_range", "newline",
         "dhcp-range-trailing-newline"),
    case(network("dhcp_range", "10.100.0.100\t-10.100.0.199"), "network.dhcp_range", "FIRST-LAST",
         "dhcp-range-tab"),
    case(network("subnet", "10.100.0.0/24\n"), "network.subnet", "newline", "subnet-trailing-newline"),
    case(network("gateway", "10.100.0.1\n"), "network.gateway", "newline", "gateway-trailing-newline"),
    case(network("join", "vxlan\n"), "network.join", "newline", "join-trailing-newline"),
    case(network("vxlan_id", 2**24), "network.vxlan_id", "not a VXLAN network id", "vxlan-id-25-bits"),
    case(network("vxlan_id", -1), "network.vxlan_id", "not a VXLAN network id", "vxlan-id-negative"),
    case(network("vxlan_port", 0), "network.vxlan_port", "not a UDP port", "vxlan-port-zero"),
    case(network("vxlan_port", 65536), "network.vxlan_port", "not a UDP port", "vxlan-port-too-big"),
    # lab: its state directory is deleted by `lab.down --purge`; its prefix starts interface and namespace names
    case(lab("state_dir", "/"), "lab.state_dir", "system directory", "state-dir-root"),
    case(lab("state_dir", "/etc"), "lab.state_dir", "system directory", "state-dir-etc"),
    case(lab("state_dir", "/var/lib"), "lab.state_dir", "system directory", "state-dir-var-lib"),
    case(lab("state_dir", "/usr"), "lab.state_dir", "system directory", "state-dir-usr"),
    case(lab("state_dir", "/home"), "lab.state_dir", "system directory", "state-dir-home"),
    case(lab("state_dir", "/tmp"), "lab.state_dir", "system directory", "state-dir-tmp"),
    case(lab("state_dir", "/proc/self"), "lab.state_dir", "system directory", "state-dir-in-proc"),
    case(lab("state_dir", "var/lib/dockstack-lab"), "lab.state_dir", "not an absolute path", "state-dir-relative"),
    case(lab("state_dir", "-rf"), "lab.state_dir", "not an absolute path", "state-dir-option"),
    case(lab("state_dir", "/var/lib/dockstack-lab/../../../etc"), "lab.state_dir", "'..'", "state-dir-dotdot"),
    case(lab("state_dir", "/var/lib/dockstack-lab/"), "lab.state_dir", "not a normalized path",
         "state-dir-trailing-slash"),
    case(lab("state_dir", "/var/lib/./dockstack-lab"), "lab.state_dir", "not a normalized path", "state-dir-dot"),
    case(lab("state_dir", "//var/lib/dockstack-lab"), "lab.state_dir", "not a normalized path",
         "state-dir-double-slash"),
    case(lab("state_dir", "/var/lib/dockstack-lab\n"), "lab.state_dir", "newline", "state-dir-trailing-newline"),
    case(lab("state_dir", "/var/lib/dock stack"), "lab.state_dir", "characters other than", "state-dir-space"),
    case(lab("prefix", "dsl\n"), "lab.prefix", "newline", "prefix-trailing-newline"),
    case(lab("prefix", "ds-l"), "lab.prefix", "not a valid lab prefix", "prefix-dash"),
    case(lab("prefix", "-x"), "lab.prefix", "not a valid lab prefix", "prefix-leading-dash"),
    case(lab("prefix", "DSL"), "lab.prefix", "not a valid lab prefix", "prefix-uppercase"),
    case(lab("prefix", "d" * 12), "lab.prefix", "not a valid lab prefix", "prefix-12-chars"),
    case(lab("prefix", ""), "lab.prefix", "not a valid lab prefix", "prefix-empty"),
    case(lab("bridge", "dslab0\n"), "lab.bridge", "newline", "lab-bridge-trailing-newline"),
    case(lab("bridge", "-dslab0"), "lab.bridge", "not a valid interface name", "lab-bridge-leading-dash"),
]


@pytest.mark.parametrize(("edit", "key", "word"), HOSTS_CASES)
def test_hosts_file_value_is_refused(cfg, config_error, edit, key, word):
    edit(cfg)
    with pytest.raises(ConfigError) as e:
        cfg.load_inventory()
    config_error(e, cfg.hosts_path, key, word)
    assert e.value.fix, "every error says how to fix it"


# --- containers.yaml: every refused value -------------------------------------------------------

CONTAINERS_CASES = [
    # images.TAG: what dockstack tags the image it builds
    case(image_tag("--privileged"), "images.--privileged", "starts with '-'", "tag-option"),
    case(image_tag("test/base:bookworm\n"), "images.test/base:bookworm\n", "newline", "tag-trailing-newline"),
    case(image_tag("test/Base:bookworm"), "images.test/Base:bookworm", "not an image reference", "tag-uppercase"),
    case(image_tag("test/base:book worm"), "images.test/base:book worm", "not an image reference", "tag-space"),
    case(image_tag("test/base:-x"), "images.test/base:-x", "not an image reference", "tag-tag-leading-dash"),
    case(image_tag("test/base:" + "t" * 129), "images.test/base:" + "t" * 129, "not an image reference",
         "tag-tag-129-chars"),
    case(image_tag("test/base@sha256:" + "0" * 64), "images.test/base@sha256:" + "0" * 64, "has a digest",
         "tag-digest"),
    # images.*.suite and packages: debootstrap arguments
    case(image("suite", "bookworm\n"), "images.test/base:bookworm.suite", "newline", "suite-trailing-newline"),
    case(image("suite", "--foreign"), "images.test/base:bookworm.suite", "not a Debian suite", "suite-option"),
    case(image("suite", "Bookworm"), "images.test/base:bookworm.suite", "not a Debian suite", "suite-uppercase"),
    case(image("suite", "bookworm /tmp/x"), "images.test/base:bookworm.suite", "not a Debian suite", "suite-space"),
    case(image("suite", "../x"), "images.test/base:bookworm.suite", "not a Debian suite", "suite-path"),
    case(image("packages", ["iproute2", "dnsmasq\n"]), "images.test/base:bookworm.packages[1]",
         "not a Debian package name", "package-trailing-newline"),
    case(image("packages", ["--allow-unauthenticated"]), "images.test/base:bookworm.packages[0]",
         "not a Debian package name", "package-option"),
    case(image("packages", ["a,b"]), "images.test/base:bookworm.packages[0]", "not a Debian package name",
         "package-comma"),
    case(image("packages", ["a"]), "images.test/base:bookworm.packages[0]", "not a Debian package name",
         "package-one-char"),
    case(image("packages", [5]), "images.test/base:bookworm.packages[0]", "not a Debian package name",
         "package-integer"),
    # roles
    case(role("name", "app\n"), "roles[1].name", "newline", "role-name-trailing-newline"),
    case(role("name", "App"), "roles[1].name", "not a valid name", "role-name-uppercase"),
    case(role("name", "a" * 33), "roles[1].name", "not a valid name", "role-name-33-chars"),
    case(role("depends_on", ["dnsmasq\n"]), "roles[1].depends_on[0]", "not a role listed before",
         "depends-on-trailing-newline"),
    case(role("check", "true\nrm -rf /"), "roles[1].check", "newline", "check-newline"),
    case(role("check", "true\n"), "roles[1].check", "newline", "check-trailing-newline"),
    case(role("check", "true\r"), "roles[1].check", "newline", "check-carriage-return"),
    case(role("check", "true\u2028rm -rf /"), "roles[1].check", "newline", "check-line-separator"),
    case(role("check", "true\x00"), "roles[1].check", "NUL", "check-nul"),
    case(role("check", "\x1b[2Jtrue"), "roles[1].check", "control character", "check-escape"),
    case(role("check_timeout", float("inf")), "roles[1].check_timeout", "seconds from 0 to 86400", "check-timeout-inf"),
    case(role("check_timeout", float("nan")), "roles[1].check_timeout", "seconds from 0 to 86400", "check-timeout-nan"),
    case(role("service", "haproxy\n"), "roles[1].service", "newline", "service-trailing-newline"),
    case(balance("name", "web\n"), "roles[1].balance[0].name", "newline", "balance-name-trailing-newline"),
    case(balance("name", "web_1"), "roles[1].balance[0].name", "not a valid name", "balance-name-underscore"),
    case(balance("mode", "tcp\n"), "roles[1].balance[0].mode", "newline", "balance-mode-trailing-newline"),
    # containers[].name: docker name, hostname, DNS label, dhcp-host name, file name
    case(container("name", "web\n"), "containers[1].name", "newline", "name-trailing-newline"),
    case(container("name", "App1"), "containers[1].name", "not a valid name", "name-uppercase"),
    case(container("name", "app_1"), "containers[1].name", "not a valid name", "name-underscore"),
    case(container("name", "a" * 64), "containers[1].name", "not a valid name", "name-64-chars"),
    case(container("name", "a" * 33), "containers[1].name", "not a valid name", "name-33-chars"),
    case(container("name", "-app"), "containers[1].name", "not a valid name", "name-leading-dash"),
    case(container("name", "app-"), "containers[1].name", "not a valid name", "name-trailing-dash"),
    case(container("name", "app.1"), "containers[1].name", "not a valid name", "name-dot"),
    case(container("name", "../app"), "containers[1].name", "not a valid name", "name-path"),
    case(container("name", ""), "containers[1].name", "not a valid name", "name-empty"),
    case(container("role", "app\n"), "containers[1].role", "newline", "role-trailing-newline"),
    case(container("role", "App"), "containers[1].role", "not a valid name", "role-uppercase"),
    case(container("host", "h2\n"), "containers[1].host", "newline", "host-trailing-newline"),
    case(container("host", "-h2"), "containers[1].host", "not a valid name", "host-leading-dash"),
    # containers[].image: the argument after the options of `docker run`
    case(container("image", "--privileged"), "containers[1].image", "starts with '-'", "image-privileged"),
    case(container("image", "test/base:bookworm\n"), "containers[1].image", "newline", "image-trailing-newline"),
    case(container("image", "test/base:bookworm\n--privileged"), "containers[1].image", "newline",
         "image-newline-option"),
    case(container("image", "test/base:bookworm --privileged"), "containers[1].image", "not an image reference",
         "image-space-option"),
    case(container("image", "Test"), "containers[1].image", "not an image reference", "image-uppercase"),
    case(container("image", ""), "containers[1].image", "not an image reference", "image-empty"),
    case(container("image", "test/base:" + "t" * 129), "containers[1].image", "not an image reference",
         "image-tag-129-chars"),
    case(container("image", "test/base@sha256:xyz"), "containers[1].image", "not an image reference",
         "image-bad-digest"),
    case(container("image", "a/" + "b" * 254), "containers[1].image", "longer than 255", "image-name-256-chars"),
    # containers[].mac and ip: the DHCP host file's MAC,IP lines
    case(container("mac", "02:00:0a:64:00:0a\n"), "containers[1].mac", "newline", "mac-trailing-newline"),
    case(container("mac", "02:00:0a:64:00:0a,10.100.0.9"), "containers[1].mac", "not a unicast MAC",
         "mac-with-ip"),
    case(container("ip", "10.100.0.5\n"), "containers[1].ip", "newline", "ip-trailing-newline"),
    # containers[].volumes: `docker run --volume` values
    case(container("volumes", ["-v:/x"]), "containers[1].volumes[0]", "starts with '-'", "volume-option"),
    case(container("volumes", ["/srv/a:/a", "/srv/b:/b\n"]), "containers[1].volumes[1]", "newline",
         "volume-trailing-newline"),
    case(container("volumes", ["/srv/a:/a:ro\n--privileged"]), "containers[1].volumes[0]", "newline",
         "volume-newline-option"),
    case(container("volumes", ["/srv/a:/a\x00"]), "containers[1].volumes[0]", "NUL", "volume-nul"),
    case(container("volumes", ["/srv/a:/a:rx"]), "containers[1].volumes[0]", "MODE", "volume-bad-mode"),
    case(container("volumes", ["/srv/a:/a:ro,rw"]), "containers[1].volumes[0]", "MODE", "volume-ro-and-rw"),
    case(container("volumes", ["/srv/a:/a:z,Z"]), "containers[1].volumes[0]", "MODE", "volume-z-and-Z"),
    case(container("volumes", ["/srv/a:/a:ro,ro"]), "containers[1].volumes[0]", "MODE", "volume-mode-twice"),
    case(container("volumes", ["/srv/a:/a:"]), "containers[1].volumes[0]", "MODE", "volume-empty-mode"),
    case(container("volumes", ["/srv/a:a"]), "containers[1].volumes[0]", "TARGET", "volume-relative-target"),
    case(container("volumes", ["/srv/a:/"]), "containers[1].volumes[0]", "TARGET", "volume-root-target"),
    case(container("volumes", ["/srv/a:-x"]), "containers[1].volumes[0]", "TARGET", "volume-option-target"),
    case(container("volumes", ["../a:/a"]), "containers[1].volumes[0]", "SOURCE", "volume-relative-source"),
    case(container("volumes", ["x:/a"]), "containers[1].volumes[0]", "SOURCE", "volume-one-char-name"),
    case(container("volumes", ["my vol:/a"]), "containers[1].volumes[0]", "SOURCE", "volume-name-space"),
    case(container("volumes", ["/a:/b:ro:z"]), "containers[1].volumes[0]", "SOURCE:TARGET[:MODE]",
         "volume-four-fields"),
    case(container("volumes", [5]), "containers[1].volumes[0]", "not a string", "volume-integer"),
    # containers[].env: `docker run --env KEY=VALUE`
    case(container("env", {"A B": "x"}), "containers[1].env.A B", "not an environment variable name",
         "env-key-space"),
    case(container("env", {"1A": "x"}), "containers[1].env.1A", "not an environment variable name",
         "env-key-digit-first"),
    case(container("env", {"A-B": "x"}), "containers[1].env.A-B", "not an environment variable name",
         "env-key-dash"),
    case(container("env", {"A=B": "x"}), "containers[1].env.A=B", "not an environment variable name",
         "env-key-equals"),
    case(container("env", {"A\n": "x"}), "containers[1].env.A\n", "not an environment variable name",
         "env-key-trailing-newline"),
    case(container("env", {1: "x"}), "containers[1].env.1", "not an environment variable name", "env-key-integer"),
    case(container("env", {"A": "x\ny"}), "containers[1].env.A", "newline", "env-value-newline"),
    case(container("env", {"A": "x\n"}), "containers[1].env.A", "newline", "env-value-trailing-newline"),
    case(container("env", {"A": "x\x00y"}), "containers[1].env.A", "NUL", "env-value-nul"),
    case(container("env", {"A": True}), "containers[1].env.A", "not a string or a number", "env-value-bool"),
    case(container("env", {"A": None}), "containers[1].env.A", "not a string or a number", "env-value-null"),
    case(container("env", {"A": ["x"]}), "containers[1].env.A", "not a string or a number", "env-value-list"),
    # containers[].command: the container's argv after the image
    case(container("command", ["sleep", "1\x00"]), "containers[1].command[1]", "NUL", "command-nul"),
    case(container("command", "sleep\x00"), "containers[1].command", "NUL", "command-string-nul"),
    case(container("command", ["sleep", "1\n"]), "containers[1].command[1]", "newline", "command-newline"),
    case(container("command", "sleep 1\nrm -rf /"), "containers[1].command", "newline", "command-string-newline"),
    case(container("command", ["--privileged"]), "containers[1].command[0]", "starts with '-'", "command-option"),
    case(container("command", "-x"), "containers[1].command", "starts with '-'", "command-string-option"),
    case(container("command", [""]), "containers[1].command[0]", "empty", "command-empty-program"),
    case(container("command", [True]), "containers[1].command[0]", "not a string", "command-bool"),
    case(container("command", ["sh", ["x"]]), "containers[1].command[1]", "not a string", "command-nested-list"),
]


@pytest.mark.parametrize(("edit", "key", "word"), CONTAINERS_CASES)
def test_containers_file_value_is_refused(cfg, config_error, edit, key, word):
    edit(cfg)
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, key, word)
    assert e.value.fix, "every error says how to fix it"


def test_fqdn_longer_than_253_is_refused(cfg, config_error):
    cfg.hosts["network"]["domain"] = ".".join(["d" * 63] * 3 + ["d" * 30])  # 222 characters: fine alone
    cfg.container(1)["name"] = "a" * 32  # but a 32-character name makes NAME.DOMAIN 255
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].name", "longer than 253")


# --- what still loads -------------------------------------------------------------------------------


def test_shipped_files_load():
    inv = load_inventory(DEFAULT_HOSTS_FILE)
    st = load_stack(inv, DEFAULT_CONTAINERS_FILE, definitions=DEFINITIONS)
    assert inv.lab is not None and inv.lab.state_dir == "/var/lib/dockstack-lab" and inv.lab.prefix == "dsl"
    assert all(NAME_RE.fullmatch(x) for x in [*(h.name for h in inv.hosts), *(c.name for c in st.containers),
                                              *(r.name for r in st.roles)])
    assert all(IMAGE_RE.fullmatch(c.image) for c in st.containers)
    assert all(IFNAME_RE.fullmatch(x) for x in (inv.network.bridge, inv.network.vxlan_device, inv.lab.bridge))


@pytest.mark.parametrize("address", ["docker1.example.com", "Docker-1.Example", "docker1", "192.0.2.10",
                                     "1host.example", "a" * 63 + ".example"])
def test_valid_addresses(cfg, address):
    cfg.hosts["hosts"][0].update(address=address, vxlan_address="192.0.2.11")  # join: vxlan takes no name
    assert cfg.load_inventory().host("h1").address == address


@pytest.mark.parametrize("user", ["root", "deploy", "_svc", "ops-user", "u1_2", "u" * 32])
def test_valid_users(cfg, user):
    cfg.hosts["hosts"][0]["user"] = user
    assert cfg.load_inventory().host("h1").user == user


@pytest.mark.parametrize("key", ["/root/.ssh/id_ed25519", "keys/id_ed25519", "./id_rsa", "id.key",
                                 "/var/lib/dockstack-lab/id_ed25519"])
def test_valid_key_paths(cfg, key):
    cfg.hosts["hosts"][0]["key"] = key
    assert cfg.load_inventory().host("h1").key == key


def test_relative_known_hosts_is_resolved(cfg):
    cfg.hosts["known_hosts"] = "lab/known_hosts"
    assert cfg.load_inventory().known_hosts == str((cfg.root / "lab" / "known_hosts").resolve())


@pytest.mark.parametrize(("lease_time", "kept"), [("12h", "12h"), ("infinite", "infinite"), (3600, "3600"),
                                                  ("45s", "45s"), ("30m", "30m"), ("1d", "1d"), ("2w", "2w"),
                                                  ("120", "120")])
def test_valid_lease_times(cfg, lease_time, kept):
    cfg.hosts["network"]["lease_time"] = lease_time
    assert cfg.load_inventory().network.lease_time == kept


@pytest.mark.parametrize("domain", ["lab", "dockstack.lab", "a-b.c0.d", "0.example", "x" * 63 + ".lab",
                                    ".".join(["d" * 63] * 3 + ["d" * 61])])
def test_valid_domains(cfg, domain):
    cfg.hosts["network"]["domain"] = domain
    assert cfg.load_inventory().network.domain == domain


@pytest.mark.parametrize("name", ["br0", "br_0.1", "a" * 15, "_x", "eth1.100"])
def test_valid_interface_names(cfg, name):
    cfg.hosts["network"].update(bridge=name, join="uplink", uplink=name + "u" if len(name) < 15 else "eth1")
    assert cfg.load_inventory().network.bridge == name


def test_valid_vxlan_and_upstream_dns(cfg):
    cfg.hosts["network"].update(vxlan_id=0, vxlan_port=65535, vxlan_device="vx_1", upstream_dns=["192.0.2.53"])
    net = cfg.load_inventory().network
    assert (net.vxlan_id, net.vxlan_port, net.vxlan_device, net.upstream_dns) == (0, 65535, "vx_1", ("192.0.2.53",))


@pytest.mark.parametrize(("prefix", "state_dir"), [("dsl", "/var/lib/dockstack-lab"),
                                                   ("dsm", "/var/lib/dockstack-minilab"), ("x", "/srv/dockstack/lab"),
                                                   ("p" * 11, "/home/me/lab"), ("ds2", "/var/lib/dockstack_lab.2"),
                                                   (7, "/opt/dockstack")])
def test_valid_lab_sections(cfg, prefix, state_dir):
    cfg.hosts["lab"] = {"bridge": "dslab0", "gateway": "10.99.0.1/24", "prefix": prefix, "state_dir": state_dir}
    spec = cfg.load_inventory().lab
    assert (spec.prefix, spec.state_dir) == (str(prefix), state_dir)


@pytest.mark.parametrize("tag", ["test/base:bookworm", "base", "registry.example.com:5000/team/base-img:v1.2_3",
                                 "localhost/x:latest", "a__b/c.d--e:_x", "Registry.Example/x:1"])
def test_valid_image_tags(cfg, tag):
    cfg.containers["images"] = {tag: {"suite": "bookworm", "packages": ["iproute2"]}}
    for c in cfg.containers["containers"]:
        c["image"] = tag
    _, st = cfg.load()
    assert st.image(tag) is not None and st.container("app1").image == tag


@pytest.mark.parametrize("image_ref", ["debian", "debian:12", "docker.io/library/debian:bookworm-slim",
                                       "debian@sha256:" + "a" * 64, "debian:12@sha256:" + "0" * 64,
                                       "localhost:5000/a/b:c", "x/" + "y" * 200 + ":" + "t" * 128])
def test_valid_image_references(cfg, image_ref):
    cfg.container(1)["image"] = image_ref
    _, st = cfg.load()
    assert st.container("app1").image == image_ref


@pytest.mark.parametrize("suite", ["bookworm", "trixie", "sid", "stable", "oldstable", "bookworm-backports",
                                   "stable-updates", "jammy"])
def test_valid_suites(cfg, suite):
    cfg.containers["images"]["test/base:bookworm"]["suite"] = suite
    _, st = cfg.load()
    assert st.image("test/base:bookworm").suite == suite


def test_valid_packages(cfg):
    pkgs = ["iproute2", "g++", "libstdc++6", "python3.11", "dnsmasq-base", "0ad"]
    cfg.containers["images"]["test/base:bookworm"]["packages"] = pkgs
    _, st = cfg.load()
    assert st.image("test/base:bookworm").packages == tuple(pkgs)


@pytest.mark.parametrize("name", ["ab", "00", "web-1", "a" * 32, "1a", "a--b"])
def test_valid_container_names(cfg, name):
    cfg.container(1)["name"] = name
    _, st = cfg.load()
    assert st.container(name).name == name


def test_valid_roles_and_checks(cfg):
    cfg.containers["roles"][1].update(
        name="app-1", check="pgrep -x dnsmasq && test -f /x || exit 1; echo 'a b' | grep -q \"$HOSTNAME\"\t# ok",
        check_timeout=0.5, classes=["profile::app", "base"], balance=[{"name": "web-1", "port": 80, "mode": "http"}])
    cfg.container(1)["role"] = "app-1"
    cfg.add_puppet_server()
    _, st = cfg.load()
    r = st.role("app-1")
    assert r.check.startswith("pgrep -x dnsmasq && test -f /x || exit 1;") and "\t" in r.check
    assert (r.check_timeout, r.classes, r.balance[0].name) == (0.5, ("profile::app", "base"), "web-1")


def test_valid_volumes_env_and_command(cfg):
    volumes = ["/srv/a:/a", "data:/var/lib/x:ro,z", "/srv/my data:/data:Z", "vol_1.x:/x:rw", "/:/host:ro",
               "/srv/b:/b:z,ro"]
    env = {"_A1": "x y=z;$(not run) `nor this`", "B": 1, "C": 2.5, "D": "", "E": "tab\there", "lower_case": "é"}
    command = ["sh", "-c", "echo $HOME; sleep 1 && exit 0", "--", 5]
    cfg.container(1).update(volumes=volumes, env=env, command=command)
    _, st = cfg.load()
    app = st.container("app1")
    assert app.volumes == tuple(volumes)
    assert app.env == (("_A1", "x y=z;$(not run) `nor this`"), ("B", "1"), ("C", "2.5"), ("D", ""),
                       ("E", "tab\there"), ("lower_case", "é"))
    assert app.command == ("sh", "-c", "echo $HOME; sleep 1 && exit 0", "--", "5")


# --- what reaches the templates ---------------------------------------------------------------------


def test_dnsmasq_conf_gets_one_line_per_directive(cfg):
    """The values hosts.yaml puts into dnsmasq.conf each stay on their own line."""
    base_inv, base_st = cfg.load()
    base = ipam.render_dnsmasq_conf(base_inv.network, base_st.container("dns"), ["10.100.0.2"]).splitlines()
    cfg.hosts["network"].update(lease_time="infinite", domain="a-b.example", upstream_dns=["192.0.2.53"])
    inv, st = cfg.load()
    lines = ipam.render_dnsmasq_conf(inv.network, st.container("dns"), ["10.100.0.2"]).splitlines()
    assert "dhcp-range=10.100.0.100,10.100.0.199,255.255.255.0,infinite" in lines
    assert "server=192.0.2.53" in lines and "domain=a-b.example" in lines
    def directives(conf: list[str]) -> set[str]:
        return {x.split("=")[0] for x in conf if x and not x.startswith("#")}

    assert directives(lines) == directives(base) | {"server"}  # nothing but the upstream server line is new
    assert len(lines) == len(base) + 1


def test_puppet_and_haproxy_files_get_one_line_per_value(cfg):
    """Classes, roles, names and balanced services go into site.pp, hieradata and haproxy.cfg, one per line."""
    cfg.containers["roles"][1].update(classes=["profile::app", "base"], balance=[{"name": "web", "port": 80}])
    cfg.add_puppet_server()
    inv, st = cfg.load()
    site = puppet_service.render_site_pp(st, inv.network.domain)
    assert "node 'app1.example.lab' {\n  include profile::app\n  include base\n}\n" in site
    assert puppet_service.render_autosign(st, inv.network.domain).endswith("\napp1.example.lab\n")
    hiera = puppet_service.render_hieradata(st, inv.network.domain)
    assert '  "app":\n    - name: "app1"\n      fqdn: "app1.example.lab"\n' in hiera
    haproxy = render_haproxy_cfg(st, inv.network.domain, ["10.100.0.2"])
    assert "\nfrontend web\n    bind *:80\n    mode tcp\n" in haproxy
    app = [c.name for c in st.containers if c.role == "app"]
    assert app and "".join(f"    server {n} {n}.example.lab:80\n" for n in app) in haproxy
