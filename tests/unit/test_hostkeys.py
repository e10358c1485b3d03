"""Host-key policy helpers: OpenSSH's fingerprint form, known_hosts names, the refusal message."""

from __future__ import annotations

import base64
import hashlib

import paramiko
import pytest

from dockstack import hostkeys
from dockstack.config import Host, Inventory


@pytest.fixture
def key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(1024)


def test_fingerprint_is_openssh_sha256_form(key):
    want = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    assert hostkeys.fingerprint(key) == f"SHA256:{want}"
    assert "=" not in hostkeys.fingerprint(key)


@pytest.mark.parametrize(("port", "name"), [(22, "10.0.0.1"), (2222, "[10.0.0.1]:2222")])
def test_known_hosts_name_follows_openssh(port, name):
    assert hostkeys.known_hosts_name(Host("h", "10.0.0.1", port=port)) == name


def test_record_file_prefers_the_inventorys(shipped_inventory, monkeypatch, tmp_path):
    assert str(hostkeys.record_file(shipped_inventory)) == shipped_inventory.known_hosts
    monkeypatch.setenv("HOME", str(tmp_path))
    bare = Inventory(path="x", hosts=(), network=shipped_inventory.network)
    assert hostkeys.record_file(bare) == tmp_path / ".ssh" / "known_hosts"


def test_unknown_key_is_refused_with_host_address_fingerprint_and_fix(shipped_inventory, key):
    host = shipped_inventory.hosts[0]
    policy = hostkeys.RefuseUnknown(host, shipped_inventory)
    with pytest.raises(hostkeys.HostKeyError) as e:
        policy.missing_host_key(paramiko.SSHClient(), host.address, key)
    msg = str(e.value)
    assert msg.startswith(f"{host.name}: host key of {host.address} is unknown")
    assert hostkeys.fingerprint(key) in msg and "inv hosts.trust" in msg and shipped_inventory.known_hosts in msg


def test_trust_records_the_key_in_openssh_format(shipped_inventory, key, tmp_path):
    inv = Inventory(path="x", hosts=shipped_inventory.hosts, network=shipped_inventory.network,
                    known_hosts=str(tmp_path / "kh"))
    host = inv.hosts[0]
    client = paramiko.SSHClient()
    said = []
    hostkeys.TrustAndRecord(host, inv, said.append).missing_host_key(client, host.address, key)
    assert (tmp_path / "kh").read_text() == f"{host.address} {key.get_name()} {key.get_base64()}\n"
    assert client.get_host_keys().lookup(host.address)[key.get_name()] == key
    assert hostkeys.fingerprint(key) in said[0]


def test_a_known_hosts_line_without_a_valid_key_is_named(shipped_inventory, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no user known_hosts
    kh = tmp_path / "kh"
    kh.write_text("h1.example ssh-ed25519 !!!notbase64\n")
    inv = Inventory(path="x", hosts=shipped_inventory.hosts, network=shipped_inventory.network, known_hosts=str(kh))
    with pytest.raises(hostkeys.DockstackError) as e:
        hostkeys.load(paramiko.SSHClient(), inv)
    assert str(e.value) == (f"{kh}: cannot read known hosts: the line 'h1.example ssh-ed25519 !!!notbase64' has no "
                            "valid key (fix or remove that line)")
