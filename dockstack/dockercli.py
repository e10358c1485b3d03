"""docker CLI command lines as pure argv builders (API 1.41-safe flags only)."""

from __future__ import annotations

import hashlib
import json

from dockstack.config import SECRETS_MOUNT, Container, Network
from dockstack.secretcheck import LABEL_SECRETS, fingerprint, secrets_label
from dockstack.services import secrets_dir
from dockstack.services.registry import definition

LABEL_MANAGED = "org.dockstack.managed"
LABEL_ROLE = "org.dockstack.role"
LABEL_SPEC = "org.dockstack.spec"  # digests of what the container was created from, to see drift
DROPPED_CAPS = ("NET_RAW", "MKNOD")  # see cap_drop
# no process of a container gains privileges it was not started with (setuid binaries, file capabilities)
SECURITY_OPTS = ("no-new-privileges",)


def spec(c: Container) -> dict[str, object]:
    """The parts of the config that a container is created from; a change means recreate. A service container's
    supervisor files count too (its definition's start_files): a newer dockstack's reach it only by a new container;
    and so do its mounts (what of its host folder it may write, Service.volumes). Its secret files count by their
    fingerprints (secretcheck.fingerprint: salted, never the value): a changed secret env value re-creates it, and so
    does one it gets or no longer gets."""
    out: dict[str, object] = {
        "image": c.image, "role": c.role, "cap_add": cap_add(c), "cap_drop": cap_drop(c),
        "security_opt": list(SECURITY_OPTS), "mac": c.mac, "ip": str(c.ip) if c.ip else None,
        "volumes": list(c.volumes), "env": [list(e) for e in c.env], "command": list(c.command), "service": c.service}
    if c.secrets:
        out["secrets"] = {name: fingerprint(name, value) for name, value in c.secrets}
    d = definition(c)
    files = d.start_files(c) if d else {}
    if files:
        out["supervisor"] = sorted(files.items())
    if d:
        out["mounts"] = d.volumes(c)
    return out


def cap_add(c: Container) -> list[str]:
    """Capabilities beyond Docker's default set, as its service's definition asks (dnsmasq to serve DHCP,
    keepalived to move the VIP). The others' leases are taken by the host's own DHCP client in the container's
    network namespace (actions.ACTION_SCRIPT), so their own processes never hold NET_ADMIN."""
    d = definition(c)
    return d.cap_add(c) if d else []


def cap_drop(c: Container) -> list[str]:
    """Capabilities of Docker's default set a container does without: NET_RAW (raw and packet sockets: ARP
    spoofing, forged DHCP or VRRP on the segment) unless its definition asks for it (keepalived's VRRP adverts);
    MKNOD (device nodes: Docker's device rules let a container make any, only not open it, and one left in a folder
    the host reads, swapped in for a file, would be opened by the host's root). Its lease is taken by the host's DHCP
    client (actions.ACTION_SCRIPT), so it needs none of them."""
    return [cap for cap in DROPPED_CAPS if cap not in cap_add(c)]


def spec_digests(c: Container) -> dict[str, str]:
    """Each spec field as a short SHA-256 of its value: enough to say what changed, while env values never reach a
    label, `docker inspect` of the label or `docker events` (and secrets are only fingerprints there already)."""
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16] for k, v in spec(c).items()}


def spec_label(c: Container) -> str:
    return json.dumps(spec_digests(c), sort_keys=True, separators=(",", ":"))


def env_file(c: Container) -> str:
    """c's env as `docker run --env-file` reads it: one KEY=VALUE a line, the value verbatim (config.py refused
    newlines and control characters). It holds no secret (those are files: c.secrets), and still goes to the host on
    the action script's standard input, never on a command line (ps, /proc/PID/cmdline)."""
    return "".join(f"{k}={v}\n" for k, v in c.env)


def run_argv(c: Container, net: Network, dns_servers: list[str]) -> list[str]:
    """`docker run` for a container: no Docker networking (dockstack plumbs eth0), no extra privilege; its env
    comes from the file the action script writes (env_file), so no env value is in this argv; its secrets from
    its secrets folder (secrets_dir, written by the action script), mounted read-only at SECRETS_MOUNT."""
    argv = ["docker", "run", "--detach", "--name", c.name, "--hostname", c.name, "--network", "none"]
    for cap in cap_add(c):
        argv += ["--cap-add", cap]
    for cap in cap_drop(c):
        argv += ["--cap-drop", cap]
    for opt in SECURITY_OPTS:
        argv += ["--security-opt", opt]
    argv += ["--label", f"{LABEL_MANAGED}=true", "--label", f"{LABEL_ROLE}={c.role}",
            "--label", f"{LABEL_SPEC}={spec_label(c)}"]
    secrets = secrets_label(c)  # fingerprints of its generated passwords, never the values (secretcheck)
    if secrets:
        argv += ["--label", f"{LABEL_SECRETS}={secrets}"]
    argv += ["--dns-search", net.domain]
    for server in (["127.0.0.1"] if c.provides_addresses else dns_servers):
        argv += ["--dns", server]
    d = definition(c)
    if d:
        for v in d.volumes(c):
            argv += ["--volume", v]
        if d.stop_timeout is not None:
            argv += ["--stop-timeout", str(d.stop_timeout)]
    for v in c.volumes:
        argv += ["--volume", v]
    if c.secrets:
        argv += ["--volume", f"{secrets_dir(c)}:{SECRETS_MOUNT}:ro"]
    argv.append(c.image)  # no env: its values would show in the host's process list (see env_file)
    if c.command:
        argv += list(c.command)
    elif d:
        argv += list(d.command)
    return argv
