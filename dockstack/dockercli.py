"""docker CLI command lines as pure argv builders (API 1.41-safe flags only)."""

from __future__ import annotations

from dockstack.config import Container, Network

LABEL_MANAGED = "org.dockstack.managed"
LABEL_ROLE = "org.dockstack.role"
DNSMASQ_DIR = "/var/lib/dockstack/dnsmasq"  # on the dnsmasq container's host, one folder per container
DNSMASQ_MOUNT = "/var/lib/dockstack"  # where that folder appears inside the dnsmasq container
PS_FORMAT = "{{.Names}}\t{{.State}}"


def dnsmasq_dir(container: Container) -> str:
    return f"{DNSMASQ_DIR}/{container.name}"


def run_argv(c: Container, net: Network, dns_servers: list[str]) -> list[str]:
    """`docker run` for a container: no Docker networking (dockstack plumbs eth0), NET_ADMIN for DHCP."""
    argv = ["docker", "run", "--detach", "--name", c.name, "--hostname", c.name, "--network", "none",
            "--cap-add", "NET_ADMIN", "--label", f"{LABEL_MANAGED}=true", "--label", f"{LABEL_ROLE}={c.role}",
            "--dns-search", net.domain]
    for server in (["127.0.0.1"] if c.is_dnsmasq else dns_servers):
        argv += ["--dns", server]
    if c.is_dnsmasq:
        argv += ["--volume", f"{dnsmasq_dir(c)}:{DNSMASQ_MOUNT}"]
    for v in c.volumes:
        argv += ["--volume", v]
    for k, v in c.env:
        argv += ["--env", f"{k}={v}"]
    argv.append(c.image)
    if c.command:
        argv += list(c.command)
    elif c.is_dnsmasq:
        argv += ["dnsmasq", "--keep-in-foreground", f"--conf-file={DNSMASQ_MOUNT}/dnsmasq.conf"]
    return argv


def inspect_argv(name: str) -> list[str]:
    return ["docker", "container", "inspect", name]


def ps_argv() -> list[str]:
    return ["docker", "ps", "--all", "--filter", f"label={LABEL_MANAGED}=true", "--format", PS_FORMAT]


def dhclient_argv(name: str, timeout: int = 45) -> list[str]:
    """dhclient inside the container: one try, then it stays as a daemon to renew the lease."""
    return ["docker", "exec", name, "timeout", str(timeout), "dhclient", "-1", "-v", "eth0"]
