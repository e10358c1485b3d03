"""Host-key policy: strict by default, as OpenSSH and Ansible are.

A host's key must be in ~/.ssh/known_hosts or in the inventory's known_hosts file (hosts.yaml
`known_hosts`). An unknown key is refused with its SHA256 fingerprint; `inv hosts.trust` accepts
unknown keys once and records them; a key that differs from the recorded one is refused always.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

import paramiko

from dockstack.config import Host, Inventory
from dockstack.errors import DockstackError

USER_KNOWN_HOSTS = "~/.ssh/known_hosts"
_record_lock = threading.Lock()


class HostKeyError(DockstackError):
    """A host's SSH key is unknown or changed: nothing was run on it."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256:<base64 of the key blob's SHA-256, unpadded>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def known_hosts_name(host: Host) -> str:
    """How known_hosts names the host: `address`, or `[address]:port` off port 22."""
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


def record_file(inv: Inventory) -> Path:
    """Where `inv hosts.trust` records keys: the inventory's file, else the user's."""
    return Path(inv.known_hosts or os.path.expanduser(USER_KNOWN_HOSTS))


def load(client: paramiko.SSHClient, inv: Inventory) -> None:
    """The keys the client may accept: the user's known_hosts, then the inventory's."""
    for path in (os.path.expanduser(USER_KNOWN_HOSTS), inv.known_hosts):
        if path and os.path.exists(path):
            try:
                client.get_host_keys().load(path)
            except paramiko.hostkeys.InvalidHostKey as exc:  # a line whose key is not base64
                raise DockstackError(f"{path}: cannot read known hosts: the line {str(exc.line)[:200]!r} has no valid "
                                     "key (fix or remove that line)") from None
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise DockstackError(f"{path}: cannot read known hosts: {exc} (fix or remove the bad line)") from None


class RefuseUnknown(paramiko.MissingHostKeyPolicy):
    """The default: an unknown host is refused before anything runs on it."""

    def __init__(self, host: Host, inv: Inventory) -> None:
        self.host, self.inv = host, inv

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        files = " or ".join(filter(None, [USER_KNOWN_HOSTS, self.inv.known_hosts]))
        raise HostKeyError(
            f"{self.host.name}: host key of {known_hosts_name(self.host)} is unknown ({key.get_name()} "
            f"{fingerprint(key)}); not in {files}. If that fingerprint is the host's, run `inv hosts.trust` "
            f"(records it in {record_file(self.inv)}), or add it with ssh-keyscan yourself")


class TrustAndRecord(paramiko.MissingHostKeyPolicy):
    """`inv hosts.trust`: accept an unknown host once and record its key (a changed key is still refused)."""

    def __init__(self, host: Host, inv: Inventory, say=None) -> None:
        self.host, self.inv, self.say = host, inv, say

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        name = known_hosts_name(self.host)
        path = record_file(self.inv)
        with _record_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as f:
                f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(name, key.get_name(), key)
        if self.say:
            self.say(f"  {self.host.name}: trusted {name} {key.get_name()} {fingerprint(key)}, recorded in {path}")


def changed_key_error(host: Host, inv: Inventory, exc: paramiko.BadHostKeyException) -> HostKeyError:
    name = known_hosts_name(host)
    files = " or ".join(filter(None, [USER_KNOWN_HOSTS, inv.known_hosts]))
    return HostKeyError(
        f"{host.name}: host key of {name} CHANGED: it offers {exc.key.get_name()} {fingerprint(exc.key)}, "
        f"but {files} records {fingerprint(exc.expected_key)}. Someone may be in the middle; if the host was "
        f"really reinstalled, remove the old line (`ssh-keygen -R '{name}' -f FILE`) and run `inv hosts.trust`")
