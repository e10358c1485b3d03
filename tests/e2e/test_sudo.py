"""hosts.yaml `sudo: true`: a non-root SSH user runs everything through `sudo -n`, for real."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers import HOSTS_FILE, docker_exec, run_inv, ssh

LAB = "b"
OPERATOR = "dockstack-op"
SUDOERS = Path("/etc/sudoers.d/dockstack-lab-operator")


def hosts_file(tmp_path: Path, sudo: bool) -> Path:
    data = yaml.safe_load(HOSTS_FILE.read_text())
    for h in data["hosts"]:
        h.update(user=OPERATOR, sudo=sudo)
    path = tmp_path / f"hosts-sudo-{sudo}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def operator(inventory):
    """A login without root rights on every lab host (they share this machine's /etc/passwd)."""
    created = False
    try:
        pwd.getpwnam(OPERATOR)
    except KeyError:
        # password '*': no password login, but not a locked account (which sshd refuses)
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", OPERATOR], check=True)
        created = True
    SUDOERS.write_text(f"{OPERATOR} ALL=(root) NOPASSWD: ALL\n")
    os.chmod(SUDOERS, 0o440)
    yield OPERATOR
    SUDOERS.unlink(missing_ok=True)
    if created:
        subprocess.run(["userdel", "--remove", OPERATOR], check=False, capture_output=True)


@pytest.fixture(scope="module")
def dnsmasq_up(inventory):
    run_inv("create", "--name=dnsmasq")


def test_operator_is_not_root_on_the_hosts(inventory, operator):
    h = inventory.host("host1")
    out = subprocess.run(["ssh", "-i", h.key, "-o", f"UserKnownHostsFile={inventory.known_hosts}",
                          "-o", "BatchMode=yes", f"{operator}@{h.address}", "id -u; docker ps"],
                         capture_output=True, text=True)
    assert out.stdout.split()[0] != "0" and out.returncode != 0  # docker refuses a plain user


def test_with_sudo_everything_works(inventory, operator, dnsmasq_up, tmp_path):
    hosts = hosts_file(tmp_path, sudo=True)
    as_root = json.loads(run_inv("ipam.show", "--json").stdout)
    assert json.loads(run_inv("ipam.show", "--json", f"--hosts-file={hosts}").stdout) == as_root
    # a create pushes files (dnsmasq's), plumbs eth0 with nsenter and runs the host's udhcpc: all through sudo
    run_inv("remove", "--name=galera", f"--hosts-file={hosts}")
    out = run_inv("create", "--name=galera", f"--hosts-file={hosts}").stdout
    assert "galera: 10.100.0." in out
    ip = json.loads(run_inv("ipam.show", "--json").stdout)
    galera = next(r for r in ip if r["name"] == "galera")
    assert galera["state"] == "running"
    assert docker_exec(inventory, "host1", "dnsmasq", "getent hosts galera.dockstack.lab").split()[0] == galera["ip"]
    owner = ssh(inventory, "host1", "stat -c %U /var/lib/dockstack/dnsmasq/dnsmasq/hosts.d/galera").stdout.strip()
    assert owner == "root"  # written through sudo, not as the operator


def test_without_sudo_a_plain_user_gets_a_clear_error(inventory, operator, tmp_path):
    proc = run_inv("ipam.show", f"--hosts-file={hosts_file(tmp_path, sudo=False)}", check=False)
    assert proc.returncode == 1
    assert "permission denied" in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert f"{OPERATOR} may not use docker on host" in proc.stderr and "set sudo: true" in proc.stderr
