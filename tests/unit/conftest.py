"""Shared fixtures for the unit tests of dockstack's pure modules (no hosts, no network, no root)."""

from __future__ import annotations

import copy
import ipaddress
import subprocess
from pathlib import Path

import pytest
import yaml

from dockstack import config
from dockstack.config import (
    DEFAULT_CONTAINERS_FILE,
    DEFAULT_HOSTS_FILE,
    Container,
    Network,
    Stack,
    load_inventory,
    load_stack,
)
from dockstack.errors import ConfigError
from dockstack.services.registry import DEFINITIONS

MINIMAL_HOSTS = {
    "hosts": [
        {"name": "h1", "address": "10.99.0.11"},
        {"name": "h2", "address": "10.99.0.12"},
    ],
    "network": {
        "subnet": "10.100.0.0/24",
        "dhcp_range": "10.100.0.100-10.100.0.199",
        "domain": "example.lab",
    },
}

MINIMAL_CONTAINERS = {
    "images": {"test/base:bookworm": {"suite": "bookworm", "packages": ["iproute2", "dnsmasq"]}},
    "roles": [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "app"}],
    "containers": [
        {"name": "dns", "role": "dnsmasq", "host": "h1", "image": "test/base:bookworm",
         "mac": "02:00:0a:64:00:02", "ip": "10.100.0.2"},
        {"name": "app1", "role": "app", "host": "h2", "image": "test/base:bookworm"},
    ],
}


class ConfigFiles:
    """A minimal valid hosts.yaml/containers.yaml pair in a temp dir; tests edit `hosts`/`containers` first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hosts = copy.deepcopy(MINIMAL_HOSTS)
        self.containers = copy.deepcopy(MINIMAL_CONTAINERS)
        self.hosts_path = root / "hosts.yaml"
        self.containers_path = root / "containers.yaml"

    def write(self) -> tuple[Path, Path]:
        self.hosts_path.write_text(yaml.safe_dump(self.hosts, sort_keys=False))
        self.containers_path.write_text(yaml.safe_dump(self.containers, sort_keys=False))
        return self.hosts_path, self.containers_path

    def load_inventory(self):
        self.write()
        return load_inventory(self.hosts_path)

    def load(self):
        inv = self.load_inventory()
        return inv, load_stack(inv, self.containers_path, definitions=DEFINITIONS)

    def container(self, i: int) -> dict:
        return self.containers["containers"][i]

    def add_puppet_server(self) -> None:
        """A Puppet server role right after dnsmasq, and its container: roles with classes need one."""
        self.containers["roles"].insert(1, {"name": "puppet", "service": "puppet"})
        self.containers["containers"].append({"name": "pp", "role": "puppet", "host": "h1",
                                              "image": "test/base:bookworm"})


@pytest.fixture(autouse=True)
def shipped_secrets_in_tmp(monkeypatch, tmp_path_factory) -> Path:
    """The passwords the shipped containers.yaml gets (config.generated_secrets) go to a file of the test session,
    not beside containers.yaml: the unit tests write nothing into the checkout, which may be read-only to the user
    who runs them, or hold a containers.secrets.yaml that a run as root left readable by root only."""
    real = config.secrets_file_for
    shipped = Path(DEFAULT_CONTAINERS_FILE).resolve()
    path = tmp_path_factory.getbasetemp() / "shipped" / real(shipped).name
    path.parent.mkdir(exist_ok=True)
    monkeypatch.setattr(config.secrets, "secrets_file_for", lambda p: path if Path(p).resolve() == shipped else real(p))
    return path


@pytest.fixture
def cfg(tmp_path) -> ConfigFiles:
    return ConfigFiles(tmp_path)


def assert_config_error(excinfo: pytest.ExceptionInfo[ConfigError], path: Path, key: str, *words: str) -> None:
    """The error names the file, the exact key, and the given words of the problem."""
    err = excinfo.value
    assert err.path == str(path)
    assert err.key == key
    msg = str(err)
    assert str(path) in msg
    assert f": {key}: " in msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"


@pytest.fixture
def config_error():
    """assert_config_error(excinfo, path, key, *words), as a fixture."""
    return assert_config_error


class FakeBin:
    """Fake commands for running the shipped shell scripts here: small sh scripts in one folder that comes first on
    PATH (then /usr/bin:/bin, so nothing of /usr/sbin or /sbin runs for real). Each logs its call as one line
    `NAME ARG...` to a shared log, then runs its canned body with its arguments."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "fakebin"
        self.dir.mkdir()
        self.log = root / "fakebin.log"
        self.log.touch()
        self.state = root / "fakebin.state"  # $FAKEBIN_STATE: files a test puts there steer the fakes
        self.state.mkdir()

    def add(self, name: str, body: str = "exit 0\n") -> None:
        """A fake NAME that logs its call, then runs body (sh, "$@" intact, $FAKEBIN_STATE a folder for state)."""
        path = self.dir / name
        # the line in one write: fakes that run at once (a tier's containers) never interleave their lines
        path.write_text(f'#!/bin/sh\nline=$(printf %s {name}; printf " %s" "$@")\n'
                        f'printf \'%s\\n\' "$line" >> "$FAKEBIN_LOG"\n{body}')
        path.chmod(0o755)

    def calls(self, *names: str) -> list[str]:
        """The logged calls in order, only those of the given commands when names are given."""
        lines = self.log.read_text().splitlines()
        return [x for x in lines if not names or x.split(" ", 1)[0] in names]

    def env(self, **extra: str) -> dict[str, str]:
        """A whole environment for the script: nothing of the caller's leaks in (no real PATH, no DOCKSTACK_*)."""
        return {"PATH": f"{self.dir}:/usr/bin:/bin", "FAKEBIN_LOG": str(self.log), "FAKEBIN_STATE": str(self.state),
                **extra}

    def run(self, argv: list[str], stdin: str | bytes | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        """argv (a shipped script's `sh -c SCRIPT sh ARG...`) with the fakes first on PATH; text output."""
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(argv, input=data, capture_output=True, timeout=60, env=self.env(**env))
        return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                           proc.stderr.decode(errors="replace"))


@pytest.fixture
def fakebin(tmp_path: Path) -> FakeBin:
    """Fake commands on PATH for a shipped script: fakebin.add("docker", body), fakebin.run(argv), fakebin.calls()."""
    return FakeBin(tmp_path)


@pytest.fixture
def shipped_inventory():
    return load_inventory(DEFAULT_HOSTS_FILE)


@pytest.fixture
def shipped_stack(shipped_inventory):
    return load_stack(shipped_inventory, DEFAULT_CONTAINERS_FILE, definitions=DEFINITIONS)


@pytest.fixture
def net() -> Network:
    """The shipped network: 10.100.0.0/24, DHCP .100-.199, no gateway, no upstream DNS."""
    return Network(subnet=ipaddress.IPv4Network("10.100.0.0/24"),
                   dhcp_start=ipaddress.IPv4Address("10.100.0.100"),
                   dhcp_end=ipaddress.IPv4Address("10.100.0.199"),
                   domain="dockstack.lab")


def make_container(name: str, role: str | None = None, host: str = "host1", image: str = "test/base:bookworm",
                   mac: str | None = None, ip: str | None = None, **kw) -> Container:
    """A config Container; a role named like a service (dnsmasq, haproxy, puppet) declares that service."""
    role = role or name
    kw.setdefault("service", role if role in DEFINITIONS else None)
    kw.setdefault("definition", DEFINITIONS.get(kw["service"] or ""))
    return Container(name=name, role=role, host=host, image=image, mac=mac,
                     ip=ipaddress.IPv4Address(ip) if ip else None, **kw)


@pytest.fixture
def container():
    """Factory for config Containers: container("web", ip="10.100.0.5")."""
    return make_container


def render_haproxy_cfg(stack: Stack, domain: str, dns_servers: list[str]) -> str:
    """haproxy.cfg as the executor renders it for this stack (the shipped network, this domain)."""
    from dockstack.services.base import Context
    from dockstack.services.haproxy import render_haproxy
    from dockstack.services.registry import DEFINITIONS

    network = Network(subnet=ipaddress.IPv4Network("10.100.0.0/24"), dhcp_start=ipaddress.IPv4Address("10.100.0.100"),
                      dhcp_end=ipaddress.IPv4Address("10.100.0.199"), domain=domain)
    return render_haproxy(Context(stack, network, tuple(dns_servers), DEFINITIONS))
