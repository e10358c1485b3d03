"""Invoke tasks: parse arguments, call into dockstack/, turn its errors into clean exits."""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading

from invoke import Collection, Exit, task

from dockstack import cacheck, console, deploy, guestimage, lifecycle, progress, status
from dockstack import images as images_mod
from dockstack import lab as lab_mod
from dockstack.config import DEFAULT_CONTAINERS_FILE, DEFAULT_HOSTS_FILE, load_inventory, load_stack
from dockstack.errors import DockstackError
from dockstack.remote import Remotes
from dockstack.services.galera import backup as galera_backup
from dockstack.services.registry import DEFINITIONS
from dockstack.stopping import Interrupted, finish_then_stop

_say_lock = threading.Lock()


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: a clean exit 130 (and StopRequest's finish-first)


signal.signal(signal.SIGTERM, _terminate)
console.tolerate_a_closed_stdout()  # `inv deploy-all | head`: the run goes on, its rest goes to /dev/null


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


def _setting(c, flag: str | None, key: str, default: str) -> str:
    """A file path: the command-line flag, else Invoke's configuration (invoke.yaml `dockstack.KEY`, or the
    environment's INVOKE_DOCKSTACK_KEY), else the file in this repository."""
    if flag == "":  # `--hosts-file=` with nothing after it: never quietly the repository's own file
        raise Exit(f"error: --{key.replace('_', '-')} is empty: give the path of the file, or leave the flag out "
                   f"to use {default}", code=1)
    return flag or c.config.get("dockstack", {}).get(key) or default


def _hosts_file(c, flag: str | None) -> str:
    return _setting(c, flag, "hosts_file", H)


def _configs(c, hosts_file: str | None, containers_file: str | None):
    inv = load_inventory(_hosts_file(c, hosts_file))
    return inv, load_stack(inv, _setting(c, containers_file, "containers_file", C), definitions=DEFINITIONS)


def _on_hosts(c, hosts_file: str | None, containers_file: str | None, action):
    """Load both files, then run action(inv, stack, remotes, say) over persistent SSH connections. What it says
    or raises has the stack's secret env values masked: the last guard for text that came from a host (what
    docker, a container's logs or a readiness check printed)."""
    inv, stack = _configs(c, hosts_file, containers_file)

    def masked_say(msg: str) -> None:
        say(stack.mask(msg))

    try:
        with Remotes(inv) as remotes:
            return action(inv, stack, remotes, masked_say)
    except DockstackError as exc:
        raise DockstackError(stack.mask(str(exc))) from None


HOSTS_HELP = {"hosts-file": "path of hosts.yaml (default: Invoke config dockstack.hosts_file or "
                             "INVOKE_DOCKSTACK_HOSTS_FILE, else this repository's)"}
HELP = {**HOSTS_HELP, "containers-file": "path of containers.yaml (default: Invoke config dockstack.containers_file "
                                         "or INVOKE_DOCKSTACK_CONTAINERS_FILE, else this repository's)"}
H, C = str(DEFAULT_HOSTS_FILE), str(DEFAULT_CONTAINERS_FILE)


def _for_container(c, action, name: str, hosts_file: str | None, containers_file: str | None) -> None:
    """Run a lifecycle action(inv, stack, remotes, name, say) for a container or a role's; a stop waits for its end."""
    finish_then_stop(f"{action.__name__} of {name}", lambda: _on_hosts(
        c, hosts_file, containers_file, lambda inv, stack, remotes, out: action(inv, stack, remotes, name, out)))


# --- lab -------------------------------------------------------------------------------


@task(help={**HOSTS_HELP, "hosts": "number of lab hosts (rewrites the lab's hosts.yaml if it differs)"})
@user_errors
def up(c, hosts_file=None, hosts=0):
    """Bring up the lab's Docker hosts (idempotent; repairs leftovers)."""
    inv = load_inventory(_hosts_file(c, hosts_file))
    if hosts:
        inv = lab_mod.resize(inv, hosts, say)
    changes = lab_mod.up(inv, say)
    say(f"lab.up: {len(inv.hosts)} host(s) up, {len(changes)} change(s)")


@task(help={**HOSTS_HELP, "purge": "also delete the lab's keys, images and docker data"})
@user_errors
def down(c, hosts_file=None, purge=False):
    """Tear the lab down: namespaces, daemons, mounts, veths, bridge, iptables rule."""
    removed = lab_mod.down(load_inventory(_hosts_file(c, hosts_file)), purge=purge, say=say)
    say(f"lab.down: removed {len(removed)} item(s)")


@task(name="status", help=HELP)
@user_errors
def lab_status(c, hosts_file=None, containers_file=None):
    """Each lab host: address, sshd, dockerd, images present."""
    def show(inv, stack, remotes, out):
        rows = status.lab_rows(inv, stack, remotes)
        out(status.format_lab(rows))
        return rows

    rows = _on_hosts(c, hosts_file, containers_file, show)
    if not all(r.sshd and r.dockerd for r in rows):
        raise Exit(code=1)


lab = Collection("lab")
lab.add_task(up)
lab.add_task(down)
lab.add_task(lab_status)


# --- hosts -----------------------------------------------------------------------------


@task(name="trust", help=HOSTS_HELP)
@user_errors
def hosts_trust(c, hosts_file=None):
    """Accept and record the SSH host keys of hosts not known yet (a changed key is still refused)."""
    inv = load_inventory(_hosts_file(c, hosts_file))
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
def images_build(c, hosts_file=None, containers_file=None):
    """Build the stack's images from Debian packages (cached): the containers' and the guest disk (kind: guest)."""
    _, stack = _configs(c, hosts_file, containers_file)
    with progress.meter(sys.stdout, say) as meter:
        images_mod.build_all(images_mod.stack_images(stack), meter.say, meter)
        for guest in guestimage.guest_images(stack):
            guestimage.build(guest, meter.say, meter)


@task(name="sync", help={**HELP, "everywhere": "ship every stack image to every host (a host that may take over "
                                                "others' containers), not only the images its containers run"})
@user_errors
def images_sync(c, hosts_file=None, containers_file=None, everywhere=False):
    """Ship each host the images its containers run, as they are built (over SSH, no registry)."""
    def sync(inv, stack, remotes, out) -> None:
        with progress.meter(sys.stdout, out) as meter:  # bars on a terminal, lines in a log
            images_mod.sync(stack, remotes, out, meter, everywhere=everywhere)

    _on_hosts(c, hosts_file, containers_file, sync)


images = Collection("images")
images.add_task(images_build)
images.add_task(images_sync)


# --- containers ------------------------------------------------------------------------


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def create(c, name, hosts_file=None, containers_file=None):
    """Create a container with its persistent address (the dnsmasq flow)."""
    _for_container(c, lifecycle.create, name, hosts_file, containers_file)


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def start(c, name, hosts_file=None, containers_file=None):
    """Start a stopped container and give it back its interface and address."""
    _for_container(c, lifecycle.start, name, hosts_file, containers_file)


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def stop(c, name, hosts_file=None, containers_file=None):
    """Stop a container (its address stays reserved)."""
    _for_container(c, lifecycle.stop, name, hosts_file, containers_file)


@task(help={**HELP, "name": "container name from containers.yaml, or a role name: all of its containers"})
@user_errors
def remove(c, name, hosts_file=None, containers_file=None):
    """Remove a container from its host (its address stays reserved; see ipam.release)."""
    _for_container(c, lifecycle.remove, name, hosts_file, containers_file)


# --- the whole stack ------------------------------------------------------------------


@task(name="deploy-all", help={**HELP, "dry-run": "print the plan, change nothing",
                               "prune": "also remove dockstack containers that the config does not list",
                               "force-below-quorum": "let a rolling change take down a passing container of a role "
                                                     "below its quorum, or take a role below it (refused otherwise)"})
@user_errors
def deploy_all(c, hosts_file=None, containers_file=None, dry_run=False, prune=False, force_below_quorum=False):
    """Bring the stack to the config: create, start or recreate what differs, in role order."""
    outcome = _on_hosts(c, hosts_file, containers_file, lambda inv, stack, remotes, out: deploy.deploy_all(
        inv, stack, remotes, out, dry_run=dry_run, prune=prune, force_below_quorum=force_below_quorum))
    if outcome.interrupted:
        raise Exit(code=130)
    if outcome.failed:
        raise Exit(code=1)


@task(name="destroy-all", help={**HELP, "release": "also forget the containers' addresses"})
@user_errors
def destroy_all(c, hosts_file=None, containers_file=None, release=False):
    """Remove the stack's containers in reverse deploy order (addresses kept unless --release)."""
    finish_then_stop("destroy-all", lambda: _on_hosts(
        c, hosts_file, containers_file, lambda inv, stack, remotes, out: deploy.destroy_all(inv, stack, remotes, out,
                                                                                        release=release)))


@task(name="status", help={**HELP, "json": "print JSON instead of a table"})
@user_errors
def stack_status(c, hosts_file=None, containers_file=None, json_=False):
    """Each container: host, state, IP, image, and health (its readiness check run once: pass, fail, none,
    no service)."""
    def show(inv, stack, remotes, out) -> None:
        rows = status.container_rows(inv, stack, remotes)
        out(json.dumps([r.as_dict() for r in rows], indent=2) if json_ else status.format_containers(rows))

    _on_hosts(c, hosts_file, containers_file, show)


# --- ipam ------------------------------------------------------------------------------


@task(name="show", help={**HELP, "json": "print JSON instead of a table"})
@user_errors
def ipam_show(c, hosts_file=None, containers_file=None, json_=False):
    """Every known container: name, role, host, MAC, IP, FQDN, address source, state."""
    def show(inv, stack, remotes, out) -> None:
        rows = status.ipam_rows(inv, stack, remotes)
        out(json.dumps([r.as_dict() for r in rows], indent=2) if json_ else status.format_ipam(rows))

    _on_hosts(c, hosts_file, containers_file, show)


@task(name="release", help={**HELP, "name": "container whose address is forgotten"})
@user_errors
def ipam_release(c, name, hosts_file=None, containers_file=None):
    """Forget a container's address on purpose: its next create gets a new one."""
    _for_container(c, lifecycle.release, name, hosts_file, containers_file)


ipam = Collection("ipam")
ipam.add_task(ipam_show)
ipam.add_task(ipam_release)

# --- galera ----------------------------------------------------------------------------


@task(name="backup", help={**HELP, "file": "where to write the backup (default: STACK-ROLE-UTCTIME.xb.gz here); "
                                           "never overwritten; its manifest is FILE.json",
                           "node": "the node to back up (default: the last Synced one in config order)",
                           "role": "the galera role (default: the only one)"})
@user_errors
def galera_backup_task(c, file=None, node=None, role=None, hosts_file=None, containers_file=None):
    """Stream a hot mariabackup of one Synced galera node here, compressed, with its position and sha256."""
    finish_then_stop("galera.backup", lambda: _on_hosts(
        c, hosts_file, containers_file, lambda inv, stack, remotes, out: galera_backup.backup(
            lifecycle.RoleEngine(inv, stack, remotes, out), stack, remotes, out, file=file, node=node, role=role)))


@task(name="restore", help={**HELP, "file": "the backup galera.backup wrote (its FILE.json beside it)",
                            "node": "the node the backup goes onto (default: the role's first)",
                            "role": "the galera role (default: the only one)"})
@user_errors
def galera_restore_task(c, file, node=None, role=None, hosts_file=None, containers_file=None):
    """Check a backup, stop the galera role cleanly, restore onto one node, the others rejoin by SST (old data
    kept aside)."""
    finish_then_stop("galera.restore", lambda: _on_hosts(
        c, hosts_file, containers_file, lambda inv, stack, remotes, out: galera_backup.restore(
            lifecycle.RoleEngine(inv, stack, remotes, out), stack, remotes, out, file=file, node=node, role=role)))


galera = Collection("galera")
galera.add_task(galera_backup_task)
galera.add_task(galera_restore_task)

# --- tls -------------------------------------------------------------------------------


@task(name="init", help=HELP)
@user_errors
def tls_init(c, hosts_file=None, containers_file=None):
    """Make the stack's CA and the VIP's certificate when its TLS folder has no CA (a stack deployed before it had
    one, or a rotation: see docs/security.md); no host is asked, the next deploy-all serves it."""
    _, stack = _configs(c, hosts_file, containers_file)
    say(cacheck.init(stack))


tls = Collection("tls")
tls.add_task(tls_init)

ns = Collection(create, start, stop, remove, deploy_all, destroy_all, stack_status)
# Declared so that Invoke also reads them from INVOKE_DOCKSTACK_HOSTS_FILE / _CONTAINERS_FILE (it only maps
# environment variables onto settings that exist) and from invoke.yaml's `dockstack:` section.
ns.configure({"dockstack": {"hosts_file": None, "containers_file": None}})
ns.add_collection(lab)
ns.add_collection(hosts)
ns.add_collection(images)
ns.add_collection(ipam)
ns.add_collection(galera)
ns.add_collection(tls)
