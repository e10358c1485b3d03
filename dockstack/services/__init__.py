"""The services dockstack runs, one module each (dnsmasq, puppet, haproxy, galera, zookeeper, openstack, redis): what a
service container runs and mounts, which files it is fed, how it is checked, stopped and prepared. `registry`
maps a role's `service:` to its definition; the engine asks the definition and never compares a service's name.

This package's own module holds only where service folders live on a host, so that low modules (addressbook,
world) can name them without loading every definition.
"""

from __future__ import annotations

from dockstack.config import Container

SERVICE_ROOT = "/var/lib/dockstack"  # on a host: one folder per service container, SERVICE_ROOT/SERVICE/NAME


def service_dir(c: Container) -> str:
    """The host folder holding the files dockstack renders for a service container."""
    return f"{SERVICE_ROOT}/{c.service or c.role}/{c.name}"
