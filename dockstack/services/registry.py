"""Which definition a role's `service:` names. Adding a service: its module under dockstack/services/ and a line
here; nothing in the engine changes."""

from __future__ import annotations

from collections.abc import Mapping

from dockstack.config import Container, generated_keys
from dockstack.services import dnsmasq, galera, haproxy, openstack, puppet, redis, zookeeper
from dockstack.services.base import Service

# each service's module's definition; registered() completes one that serves the others (galera's grants)
_DECLARED = (dnsmasq.SERVICE, puppet.SERVICE, haproxy.SERVICE, galera.SERVICE, zookeeper.SERVICE, openstack.SERVICE,
             redis.SERVICE)
# what loading a stack is handed (config.load_stack's definitions), and what the engine asks
DEFINITIONS: Mapping[str, Service] = {s.name: s.registered(_DECLARED) for s in _DECLARED}
GENERATED_KEYS = generated_keys(DEFINITIONS.values())  # what the secrets file holds


def facts_wanted() -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """What the facts command reads of the service folders (facts.host_facts_argv): the folder of the service
    that keeps the address book, each (service, state file) and each (service, glob of files to digest)."""
    books = next((s.name for s in DEFINITIONS.values() if s.provides_addresses), "")
    state = [(s.name, s.state_file) for s in DEFINITIONS.values() if s.state_file]
    digests = [(s.name, glob) for s in DEFINITIONS.values() for glob in s.digested]
    return books, state, digests


def definition(c: Container) -> Service | None:
    """c's service's definition; None for a container of a role without a service (its image's own command)."""
    return DEFINITIONS.get(c.service) if c.service else None
