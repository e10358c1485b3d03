"""Invoke tasks: parse arguments, call into dockstack/, turn its errors into clean exits."""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading

from invoke import Collection, Exit, task

from dockstack import deploy, lifecycle, status
from dockstack import images as images_mod
from dockstack import lab as lab_mod
from dockstack.config import DEFAULT_CONTAINERS_FILE, DEFAULT_HOSTS_FILE, load_inventory, load_stack
from dockstack.errors import DockstackError
from dockstack.remote import Remotes
from dockstack.stopping import Interrupted, finish_then_stop

_say_lock = threading.Lock()


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: a clean exit 130 (and StopRequest's finish-first)


signal.signal(signal.SIGTERM, _terminate)


def say(msg: str) -> None:
    """One whole line at a time: the workers of a tier report from several threads."""
    with _say_lock:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()


def user_errors(fn):
    """Every DockstackError becomes `error: ...` and exit code 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DockstackError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            raise Exit(code=1) from None
        except Interrupted as exc:
            print(str(exc), file=sys.stderr, flush=True)
            raise Exit(code=130) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper


def _configs(hosts_file: str, containers_file: str):
    inv = load_inventory(hosts_file)
    return inv, load_stack(inv, containers_file)


def _on_hosts(hosts_file: str, containers_file: str, action):
    """Load both files, then run action(inv, stack, remotes, say) over persistent SSH connections. What it says
    or raises has the stack's secret env values masked: the last guard for text that came from a host (what
    docker, a container's logs or a readiness check printed)."""
    inv, stack = _configs(hosts_file, containers_file)

    def masked_say(msg: str) -> None:
        say(stack.mask(msg))

    try:
        with Remotes(inv) as remotes:
            return action(inv, stack, remotes, masked_say)
    except DockstackError as exc:
        raise DockstackError(stack.mask(str(exc))) from None


HOSTS_HELP = {"hosts-file": "path of hosts.yaml"}
HELP = {**HOSTS_HELP, "containers-file": "path of containers.yaml"}
H, C = str(DEFAULT_HOSTS_FILE), str(DEFAULT_CONTAINERS_FILE)


def _for_container(action, name: str, hosts_file: str, containers_file: str) -> None:
    """Run a lifecycle action(inv, stack, remotes, name, say) for a container or a role's; a stop waits for its end."""
    finish_then_stop(f"{action.__name__} of {name}", lambda: _on_hosts(
        hosts_file, containers_file, lambda inv, stack, remotes, out: action(inv, stack, remotes, name, out)))


# --- lab -------------------------------------------------------------------------------


@task(help={**HOSTS_HELP, "hosts": "number of lab hosts (rewrites the lab's hosts.yaml if it differs)"})
@user_errors
def up(c, hosts_file=H, hosts=0):
    """Bring up the lab's Docker hosts (idempotent; repairs leftovers)."""
    inv = load_inventory(hosts_file)
    if hosts:
        inv = lab_mod.resize(inv, hosts, say)
    changes = lab_mod.up(inv, say)
    say(f"lab.up: {len(inv.hosts)} host(s) up, {len(changes)} change(s)")


@task(help={**HOSTS_HELP, "purge": "also delete the lab's keys, images and docker data"})
@user_errors
def down(c, hosts_file=H, purge=False):
    """Tear the lab down: namespaces, daemons, mounts, veths, bridge, iptables rule."""
    removed = lab_mod.down(load_inventory(hosts_file), purge=purge, say=say)
    say(f"lab.down: removed {len(removed)} item(s)")


@task(name="status", help=HELP)
@user_errors
def lab_status(c, hosts_file=H, containers_file=C):
    """Each lab host: address, sshd, dockerd, images present."""
    def show(inv, stack, remotes, out):
        rows = status.lab_rows(inv, stack, remotes)
        out(status.format_lab(rows))
        return rows

    rows = _on_hosts(hosts_file, containers_file, show)
    if not all(r.sshd and r.dockerd for r in rows):
        raise Exit(code=1)


lab = Collection("lab")
lab.add_task(up)
lab.add_task(down)
lab.add_task(lab_status)


# --- hosts -----------------------------------------------------------------------------


@task(name="trust", help=HOSTS_HELP)
@user_errors
def hosts_trust(c, hosts_file=H):
    """Accept and record the SSH host keys of hosts not known yet (a changed key is still refused)."""
    inv = load_inventory(hosts_file)
    failed = []
    with Remotes(inv, trust_new=True, say=say) as remotes:
        for r in remotes.all():
            try:
                say(f"{r.name}: {r.host.address} {r.server_key()}")
            except DockstackError as exc:
                failed.append(str(exc))
                print(f"error: {exc}", file=sys.stderr, flush=True)
    if failed:
        raise Exit(code=1)


hosts = Collection("hosts")
hosts.add_task(hosts_trust)


# --- images ----------------------------------------------------------------------------


@task(name="build", help=HELP)
@user_errors
def images_build(c, hosts_file=H, containers_file=C):
    """Build the stack's images from Debian packages (cached)."""
    _, stack = _configs(hosts_file, containers_file)
    for image in images_mod.stack_images(stack):
        images_mod.build(image, say)


@task(name="sync", help=HELP)
@user_errors
def images_sync(c, hosts_file=H, containers_file=C):
    """Ship images to every host that lacks them (over SSH, no registry)."""
    _on_hosts(hosts_file, containers_file, lambda inv, stack, remotes, out: images_mod.sync(stack, remotes, out))


images = Collection("images")
images.add_task(images_build)
images.add_task(images_sync)


# --- containers ------------------------------------------------------------------------


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def create(c, name, hosts_file=H, containers_file=C):
    """Create a container with its persistent address (the dnsmasq flow)."""
    _for_container(lifecycle.create, name, hosts_file, containers_file)


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def start(c, name, hosts_file=H, containers_file=C):
    """Start a stopped container and give it back its interface and address."""
    _for_container(lifecycle.start, name, hosts_file, containers_file)


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def stop(c, name, hosts_file=H, containers_file=C):
    """Stop a container (its address stays reserved)."""
    _for_container(lifecycle.stop, name, hosts_file, containers_file)


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def remove(c, name, hosts_file=H, containers_file=C):
    """Remove a container from its host (its address stays reserved; see ipam.release)."""
    _for_container(lifecycle.remove, name, hosts_file, containers_file)


# --- the whole stack ------------------------------------------------------------------


@task(name="deploy-all", help={**HELP, "dry-run": "print the plan, change nothing",
                               "prune": "also remove dockstack containers that the config does not list"})
@user_errors
def deploy_all(c, hosts_file=H, containers_file=C, dry_run=False, prune=False):
    """Bring the stack to the config: create, start or recreate what differs, in role order."""
    outcome = _on_hosts(hosts_file, containers_file, lambda inv, stack, remotes, out: deploy.deploy_all(
        inv, stack, remotes, out, dry_run=dry_run, prune=prune))
    if outcome.interrupted:
        raise Exit(code=130)
    if outcome.failed:
        raise Exit(code=1)


@task(name="destroy-all", help={**HELP, "release": "also forget the containers' addresses"})
@user_errors
def destroy_all(c, hosts_file=H, containers_file=C, release=False):
    """Remove the stack's containers in reverse deploy order (addresses kept unless --release)."""
    finish_then_stop("destroy-all", lambda: _on_hosts(
        hosts_file, containers_file, lambda inv, stack, remotes, out: deploy.destroy_all(inv, stack, remotes, out,
                                                                                        release=release)))


@task(name="status", help={**HELP, "json": "print JSON instead of a table"})
@user_errors
def stack_status(c, hosts_file=H, containers_file=C, json_=False):
    """Each container: host, state, IP, image."""
    def show(inv, stack, remotes, out) -> None:
        rows = status.container_rows(inv, stack, remotes)
        out(json.dumps([r.as_dict() for r in rows], indent=2) if json_ else status.format_containers(rows))

    _on_hosts(hosts_file, containers_file, show)


# --- ipam ------------------------------------------------------------------------------


@task(name="show", help={**HELP, "json": "print JSON instead of a table"})
@user_errors
def ipam_show(c, hosts_file=H, containers_file=C, json_=False):
    """Every known container: name, role, host, MAC, IP, FQDN, address source, state."""
    def show(inv, stack, remotes, out) -> None:
        rows = status.ipam_rows(inv, stack, remotes)
        out(json.dumps([r.as_dict() for r in rows], indent=2) if json_ else status.format_ipam(rows))

    _on_hosts(hosts_file, containers_file, show)


@task(name="release", help={**HELP, "name": "container whose address is forgotten"})
@user_errors
def ipam_release(c, name, hosts_file=H, containers_file=C):
    """Forget a container's address on purpose: its next create gets a new one."""
    _for_container(lifecycle.release, name, hosts_file, containers_file)


ipam = Collection("ipam")
ipam.add_task(ipam_show)
ipam.add_task(ipam_release)

ns = Collection(create, start, stop, remove, deploy_all, destroy_all, stack_status)
ns.add_collection(lab)
ns.add_collection(hosts)
ns.add_collection(images)
ns.add_collection(ipam)
