"""Host keys are checked: an unknown key is refused (fingerprint shown), hosts.trust records it, a changed
key is refused even by hosts.trust. Refused means refused before login: the host's sshd logs no session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from .helpers import HOSTS_FILE, run_inv

LAB = "b"


def inv_as_newcomer(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`inv` for an operator whose ~/.ssh/known_hosts does not know the lab."""
    return run_inv(*args, check=False, timeout=120, env={"HOME": str(home)})


def fingerprint(inventory, host: str) -> str:
    pub = Path(inventory.lab.state_dir) / "hosts" / host / "ssh_host_ed25519_key.pub"
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]


def logins(inventory, host: str) -> int:
    log = Path(inventory.lab.state_dir) / "hosts" / host / "sshd.log"
    return log.read_text().count("Accepted publickey") if log.exists() else 0


def test_unknown_keys_are_refused_then_trusted_and_changed_keys_always_refused(inventory, tmp_path):
    known = tmp_path / "known_hosts"
    data = yaml.safe_load(HOSTS_FILE.read_text())
    data["known_hosts"] = str(known)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(data, sort_keys=False))
    home = tmp_path / "home"
    home.mkdir()
    before = {h.name: logins(inventory, h.name) for h in inventory.hosts}

    proc = inv_as_newcomer(home, "status", f"--hosts-file={hosts}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    refused = [h for h in inventory.hosts if f"{h.name}: host key of {h.address} is unknown" in proc.stderr]
    assert refused, proc.stderr
    h = refused[0]
    assert f"ssh-ed25519 {fingerprint(inventory, h.name)}" in proc.stderr and "inv hosts.trust" in proc.stderr
    assert {h.name: logins(inventory, h.name) for h in inventory.hosts} == before  # nobody logged in

    proc = inv_as_newcomer(home, "hosts.trust", f"--hosts-file={hosts}")
    assert proc.returncode == 0, proc.stderr
    for h in inventory.hosts:
        assert f"{h.name}: trusted {h.address} ssh-ed25519 {fingerprint(inventory, h.name)}" in proc.stdout
    recorded = known.read_text().splitlines()
    assert len(recorded) == len(inventory.hosts)
    assert inv_as_newcomer(home, "status", f"--hosts-file={hosts}").returncode == 0
    again = inv_as_newcomer(home, "hosts.trust", f"--hosts-file={hosts}")
    assert "trusted" not in again.stdout and known.read_text().splitlines() == recorded  # nothing new to record

    # host1's recorded key is replaced by another one: a machine in the middle, as far as we can tell
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text().split()
    host1 = inventory.host("host1")
    known.write_text("".join(f"{line}\n" for line in recorded if not line.startswith(f"{host1.address} "))
                     + f"{host1.address} {other[0]} {other[1]}\n")
    before = logins(inventory, "host1")
    for task in ("status", "hosts.trust"):
        proc = inv_as_newcomer(home, task, f"--hosts-file={hosts}")
        assert proc.returncode == 1, (task, proc.stdout)
        assert f"host1: host key of {host1.address} CHANGED: it offers ssh-ed25519 " \
               f"{fingerprint(inventory, 'host1')}" in proc.stderr, (task, proc.stderr)
    assert logins(inventory, "host1") == before
