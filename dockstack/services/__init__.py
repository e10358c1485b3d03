"""The services dockstack runs, one module each (dnsmasq, puppet, haproxy, galera, zookeeper, openstack, redis): what a
service container runs and mounts, which files it is fed, how it is checked, stopped and prepared. `registry`
maps a role's `service:` to its definition; the engine asks the definition and never compares a service's name.

This package's own module holds only where service folders live on a host, so that low modules (addressbook,
world) can name them without loading every definition.
"""

from __future__ import annotations

from dockstack.config import Container

SERVICE_ROOT = "/var/lib/dockstack"  # on a host: one folder per service container, SERVICE_ROOT/SERVICE/NAME
# on a host: one folder per container that gets secrets (its config.SECRETS_MOUNT, read-only), root's only (0700,
# files 0400). In /run (a tmpfs on Debian): the values never reach the host's disk, and every start of a container
# writes them again. No container can write here, so nothing a container plants is followed by a host-side write.
SECRETS_ROOT = "/run/dockstack-secrets"


def folder_name(c: Container) -> str:
    """c's host folder relative to SERVICE_ROOT (SERVICE/NAME; ROLE/NAME for a role without a service), as the
    host facts name it."""
    return f"{c.service or c.role}/{c.name}"


def service_dir(c: Container) -> str:
    """The host folder holding the files dockstack renders for a service container (and what the host keeps for
    any container: the digest of its last passing Puppet agent run's catalog)."""
    return f"{SERVICE_ROOT}/{folder_name(c)}"


def secrets_dir(c: Container) -> str:
    """The host folder holding c's secret files (c.secrets), mounted read-only at config.SECRETS_MOUNT."""
    return f"{SECRETS_ROOT}/{c.name}"
