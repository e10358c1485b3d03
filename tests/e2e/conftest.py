"""Fixtures for end-to-end tests: the real lab (namespaces with sshd + dockerd), driven through `inv`; the helpers
they share are in helpers.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockstack import images, lab
from dockstack.config import DEFAULT_CONTAINERS_FILE, Inventory, keep_generated_secrets, load_inventory, load_stack
from dockstack.remote import Remotes
from dockstack.services.registry import DEFINITIONS

from .helpers import ENGINE_STACK, HOSTS_FILE, Deployed, engine_stack, traced, wipe_stack

# every `inv` the tests run reads the engine stack through Invoke's configuration, unless a test names another file
os.environ["INVOKE_DOCKSTACK_CONTAINERS_FILE"] = str(ENGINE_STACK)


# Modules that deploy the shipped (real) stack run last, in this order, so that the stack deployed once from empty
# (the shipped_from_empty fixture: the Puppet server, Galera, OpenStack, ZooKeeper) serves them all as it is:
# bringing it up from empty costs minutes, and the engine tests between them would wipe the hosts.
# test_attacker_hostfs plants links in every service folder and stops galera2 and redis (deploy-all heals them),
# test_attacker_dhcp stops, repairs and re-creates one galera node, test_galera stops and kills its nodes,
# test_galera_backup restores the whole cluster from a backup, and test_vip deploys a stack of its own, so they come
# after the modules that use the databases.
REAL_STACK_MODULES = ("test_puppet.py", "test_security.py", "test_attacker_tls.py", "test_attacker_puppet.py",
                      "test_attacker_secrets.py", "test_redis.py", "test_openstack.py", "test_zookeeper.py",
                      "test_attacker_hostfs.py", "test_attacker_dhcp.py", "test_galera.py", "test_day2.py",
                      "test_galera_backup.py", "test_vip.py")


# The lab scripts/test.sh runs each module on, said by the module itself and nowhere else: LAB = "main" (hosts.yaml,
# the only lab that gets the shipped stack's images: every module of REAL_STACK_MODULES, and light ones that even
# out the two halves' times) or LAB = "b" (the second lab, stacks/hosts-lab-b.yaml). Its tests are marked lab_main
# or lab_b, and the two halves select `-m lab_b` and `-m "not lab_b"`: each test in exactly one.
LABS = ("main", "b")


def lab_marker(item: pytest.Item) -> pytest.MarkDecorator:
    """The item's module's lab as a marker; a module that names none (or another) stops the collection, since
    `-m "not lab_b"` would quietly put it on the main lab."""
    lab = getattr(getattr(item, "module", None), "LAB", None)
    if lab not in LABS:
        raise pytest.UsageError(f"{item.fspath}: LAB = {lab!r}; an e2e module says its lab as LAB = \"main\" or "
                                f"LAB = \"b\" (tests/e2e/conftest.py)")
    return getattr(pytest.mark, f"lab_{lab}")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(lab_marker(item))

    def rank(item) -> int:
        name = Path(str(item.fspath)).name
        return REAL_STACK_MODULES.index(name) + 1 if "/e2e/" in str(item.fspath) and name in REAL_STACK_MODULES else 0

    items.sort(key=rank)  # stable: file order within each rank


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    if os.geteuid() != 0:
        pytest.fail("the e2e tests need root (they run the lab): run `bash scripts/test.sh` as root")
    inv = load_inventory(HOSTS_FILE)
    lab.up(inv, say=lambda m: None)
    with Remotes(inv) as remotes:  # the shipped stack's images come with shipped_from_empty, where they are used
        # a run starts from empty hosts: `lab.down` keeps the hosts' docker data, so what an earlier run on this
        # machine left (stopped by the daemons' restart) would be in the way of the first create
        wipe_stack(remotes)
        engine = engine_stack(inv)
        # its puppet's challenge and its CA, kept before any test deploys it: the variants the tests write
        # (helpers.write_containers) get copies, so they are the same deployed stack
        keep_generated_secrets(engine)
        # everywhere: the tests' variants of the stacks move containers between hosts
        images.sync(engine, remotes, say=lambda m: None, everywhere=True)
    return inv


@pytest.fixture(scope="session")
def remotes(inventory: Inventory) -> Iterator[Remotes]:
    with Remotes(inventory) as r:
        yield r


@pytest.fixture(scope="session")
def shipped_from_empty(inventory: Inventory, remotes: Remotes, tmp_path_factory) -> Deployed:
    """The shipped stack deployed once from empty hosts (no container, no data), for the real-service modules
    (REAL_STACK_MODULES): each looks at what this run did for its role, then changes things of its own."""
    stack = load_stack(inventory, DEFAULT_CONTAINERS_FILE, definitions=DEFINITIONS)
    keep_generated_secrets(stack)  # the passwords this process holds are the ones every `inv` reads from now on
    images.sync(stack, remotes, say=lambda m: None, everywhere=True)  # as above: variants move containers
    wipe_stack(remotes)
    t0 = time.monotonic()
    proc, events = traced(tmp_path_factory.mktemp("shipped"), "deploy-all",
                          f"--containers-file={DEFAULT_CONTAINERS_FILE}", timeout=1500)
    print(f"\nthe shipped stack from empty hosts: deploy-all {time.monotonic() - t0:.1f}s")
    return Deployed(stack, proc.stdout, events)


@pytest.fixture
def empty_hosts(inventory: Inventory, remotes: Remotes) -> Remotes:
    wipe_stack(remotes)
    return remotes
