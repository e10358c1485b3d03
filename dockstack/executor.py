"""The executor: applies planned actions over the command's SSH connections and commits addresses.

It never re-reads what the World told it: each action script reports the MAC and IP its container
ended with, the records of a tier go to the address book in one transaction per copy (each dnsmasq
container's and every host's replica; one round trip per host, in parallel), and
puppet's and haproxy's files are re-rendered once per tier and pushed only where their digest differs.
One Executor serves one command; it is safe to use from the worker threads of a tier.
"""

from __future__ import annotations

import datetime
import getpass
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockstack import actions, addressbook, ipam, network
from dockstack.config import Container, Inventory, Stack
from dockstack.dockercli import LABEL_MANAGED
from dockstack.errors import DockstackError, RemoteError
from dockstack.facts import Record, file_digest
from dockstack.plan import ADOPT, CREATE, NOTHING, RECREATE, REFUSE, REPAIR, START, Action
from dockstack.remote import Remotes, parallel, trace
from dockstack.scripts import script
from dockstack.services import service_dir
from dockstack.services.base import DRAIN_BOUND, Cluster, Context, Service
from dockstack.services.registry import DEFINITIONS, definition
from dockstack.settings import LOCK_TIMEOUT_ENV, lock_timeout, step_timeout
from dockstack.world import World

Say = Callable[[str], None]
STOP_SCRIPT = script("stop.sh")


@dataclass(frozen=True)
class Done:
    """One container's outcome: the address it holds now (to commit), and the error if it failed."""

    name: str
    host: str
    record: Record | None
    error: str | None
    changed: bool
    unreachable: bool = False  # failed only because a host it needs does not answer (nothing was tried)
    untouched: bool = False  # not changed because its role's roll stopped: it keeps running as it was


def holder() -> str:
    """Who takes the address book's lock: shown to a run that waits for it in vain."""
    command = " ".join(["inv", *sys.argv[1:]])
    since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} running `{command}` since {since}"
    return re.sub(r"[^\x20-\x7e]", "?", text)[:300]


class Executor:
    """Container actions and address-book commits for one command."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes, world: World, say: Say) -> None:
        self.inv, self.stack, self.remotes, self.world, self.say = inv, stack, remotes, world, say
        self.lock = threading.RLock()
        self.records: dict[str, Record] = dict(world.book.records)
        self.present: dict[str, set[str]] = {h: set(f.containers) for h, f in world.hosts.items()}
        # a host that cannot be read still runs its containers as far as we know: keep them registered
        self.running: set[str] = {n for _, n in world.running()} | {
            n for n, r in self.records.items() if r.host in world.unreachable}
        self.digests = {(h, p): d for h, f in world.hosts.items() for p, d in f.files.items()}
        self.book_copies = addressbook.copies_of(inv, stack) if inv is not None else []
        self.generation = world.book.generation  # the newest the command has seen: every copy it changes gets more
        self._pending = self._initial_change()
        self._seeding = threading.Lock()
        self.book_down: dict[str, str] = {}  # host -> why a commit of this command could not write its replica
        # containers this run will recreate: their service files travel with their action, never into the old
        # container (whose image may lack what the new files need, e.g. keepalived)
        self.to_recreate: set[str] = set()
        # container -> the files its service's prepare hook gave it for its next start (e.g. galera's start file)
        self.prepared: dict[str, dict[str, str]] = {}
        self.memos: dict[str, dict[str, object]] = {}  # service -> what its hooks keep during this command
        self._pin: actions.AgentPin | None = None  # what agents get, read once per command (agent_for)

    # --- what the world needs before anything else ---------------------------------------

    def _initial_change(self) -> dict[addressbook.Copy, addressbook.Change]:
        """Per copy of the book (each dnsmasq's, each host's replica): config's static reservations the book lacks,
        and the repairs that make the copy equal to the book (a wiped or new copy gets every record)."""
        reserve = tuple(r for n, r in ipam.reserved_static(self.stack, self.records).items()
                        if n not in self.records)
        vips, stale = ipam.vip_changes(self.stack, self.records)
        for note in self.world.book_notes:
            self.say(f"  {note}")
        missing = [c for c in self.book_copies if c.host not in self.world.unreachable and self.world.book.records
                   and self.world.copy_of(c) is None]  # a wiped folder, a new host, a new dnsmasq
        if missing:
            self.say(f"  address book: no copy yet ({', '.join(c.short() for c in missing)}): written from the "
                     "newest")
        # a copy whose host did not answer is unknown, not missing: the run that reads it repairs it
        return {c: addressbook.repairs(self.world.book, self.world.copy_of(c))
                + addressbook.Change(puts=reserve + vips, deletes=stale) for c in self.book_copies
                if c.host not in self.world.unreachable}

    def seed_book(self, c: Container) -> None:
        """Before a container that serves addresses starts (a dnsmasq re-created after its folder was lost): its
        copy of the book gets every record the book has that it lacks, so it never answers DHCP without the
        addresses the book pins. Only then, so a deploy whose copies are whole gains no round trip."""
        d = definition(c)
        if not (d and d.provides_addresses):
            return
        copy = next((x for x in self.book_copies if x.dnsmasq == c.name), None)
        with self._seeding:  # two of them at once: the second waits for the first's commit, then has nothing to do
            with self.lock:
                pending = copy is not None and bool(self._pending.get(copy, addressbook.Change()).puts)
            have = self.world.copy_of(copy) if copy else None
            lacking = set(self.world.book.records) - set(have.records if have else ())
            if pending and lacking:
                self.say(f"  {c.name}: its address book lacks records: written before it starts")
                self.commit(addressbook.Change())

    def dns_servers(self) -> list[str]:
        return [str(d.ip) for d in self.stack.address_providers()]

    def ensure_network(self, host_names: Iterable[str]) -> None:
        """Bridge, VXLAN mesh and FORWARD rule, on the hosts whose facts show them missing or different."""
        needed, wanted = [], set(host_names)
        for h in self.inv.hosts:
            if h.name in wanted:
                reason = network.network_needs(self.inv.network, h, network.peers(self.inv, h),
                                               self.world.hosts[h.name].network)
                if reason:
                    needed.append((h, reason))

        def setup(item) -> None:
            h, reason = item
            self.remotes[h.name].shell(network.host_network_command(self.inv.network, h, network.peers(self.inv, h)),
                                       "set up container network", timeout=step_timeout())
            self.say(f"  {h.name}: container network set up ({reason})")

        parallel(needed, setup)

    # --- one container ------------------------------------------------------------------

    def apply(self, a: Action) -> Done:
        """Run one container's action; failures come back as Done.error, never raised."""
        c = a.container
        down = [h for h in (c.host, *a.remove_from) if h in self.world.unreachable]
        if down:
            self.say(f"  {c.name}: FAILED: {self.world.unreachable[down[0]]}")
            return Done(c.name, c.host, None, self.world.unreachable[down[0]], True, unreachable=True)
        if a.kind == REFUSE:
            self.say(f"  {c.name}: FAILED: refused: {a.why}")
            return Done(c.name, c.host, None, f"refused: {a.why}", True, unreachable=True)
        try:
            if a.kind == NOTHING:
                self.say(f"  {c.name}: ok, {a.why}")
                return Done(c.name, c.host, None, None, False)
            if a.kind == ADOPT and a.observed:
                mac, ip = a.observed
                self.say(f"  {c.name}: adopt ({a.why})")
                return Done(c.name, c.host, Record(c.name, c.role, c.host, mac, ip, ipam.ADOPTED), None, True)
            self.say(f"  {c.name}: {a.kind} ({a.why})")
            for host in a.remove_from:
                self.remove(host, c.name)
            mode = {CREATE: actions.CREATE, RECREATE: actions.RECREATE, START: actions.START,
                    REPAIR: actions.START}[a.kind]
            if mode == actions.RECREATE and c.name not in self.present.get(c.host, set()):
                mode = actions.CREATE  # moved: nothing to replace on the new host
            self.agent_for(c, mode)  # the CA to pin and the challenge, before anything is taken down
            with self.lock:
                serving = a.kind in (RECREATE, REPAIR) and c.name in self.running and c.name in self.present.get(
                    c.host, set())
            if serving:  # out of every balancer, then a clean stop: a planned change cuts no connection
                self.take_down(c)
            done = None
            try:
                done = self._run_action(c, mode)
                if a.kind == REPAIR and done.error:
                    self.say(f"  {c.name}: a restart did not help ({done.error}): re-create it, keeping its address")
                    self.stop(c.host, c.name)
                    done = self._run_action(c, actions.RECREATE)
                return done
            finally:
                with self.lock:
                    self.to_recreate.discard(c.name)
                # also after `inv stop` drained it, or a run that ended in between; one a roll took down and brought
                # back is waited for until the balancers count it up (the roll's next member goes down only then)
                self.set_member(c, "up" if serving and done is not None and not done.error else "ready")
        except RemoteError as exc:
            self.say(f"  {c.name}: FAILED at {exc.step}: {exc.detail.strip()}")
            return Done(c.name, c.host, None, f"step '{exc.step}': {exc.detail.strip()}", True)
        except DockstackError as exc:
            self.say(f"  {c.name}: FAILED: {exc}")
            return Done(c.name, c.host, None, str(exc), True)

    def plan_address(self, c: Container) -> ipam.AddressPlan:
        with self.lock:
            plan = ipam.plan_address(c, ipam.known_addresses(self.records, list(self.world.book.leases)))
            if plan.static_ip:
                rec = Record(c.name, c.role, c.host, plan.mac or "", plan.static_ip, plan.source)
                try:
                    ipam.check_record(self.records, rec)
                except ipam.ConflictError as exc:
                    raise DockstackError(f"{self.stack.path}: {c.name}: {exc} (registry on the dnsmasq host); "
                                         f"pick another ip or `inv ipam.release` the other one") from None
        return plan

    def require(self, c: Container, mode: str, plan: ipam.AddressPlan) -> None:
        """Preconditions, from the facts: the image is on the host, a dnsmasq answers DHCP."""
        if mode in (actions.CREATE, actions.RECREATE) and c.name in self.world.hosts[c.host].foreign:
            raise DockstackError(f"{c.host}: a container named {c.name} exists that dockstack did not make (no "
                                 f"{LABEL_MANAGED} label); dockstack never removes it: remove or rename it yourself, "
                                 f"or give {c.name} another name in {self.stack.path}")
        if mode in (actions.CREATE, actions.RECREATE) and not self.world.hosts[c.host].images.get(c.image):
            raise DockstackError(f"{c.host}: image {c.image} (for {c.name}) is not on the host: "
                                 "run `inv images.sync`")
        if plan.static_ip:
            return
        ds = self.stack.address_providers()
        if not ds:
            raise DockstackError(f"{self.stack.path}: no role has service: dnsmasq: addresses come from it, add one")
        with self.lock:
            if not any(d.name in self.running for d in ds):
                raise DockstackError(f"no dnsmasq container is running ({', '.join(d.name for d in ds)}): "
                                     f"`inv create --name={ds[0].name}` (or start) first")

    def _run_action(self, c: Container, mode: str) -> Done:
        plan = self.plan_address(c)
        self.require(c, mode, plan)
        self.seed_book(c)
        self.say(f"  {c.name}: {mode} on {c.host} ({plan.why})")
        files, dirs = self.service_files(c)
        if mode != actions.RESTART:
            with self.lock:
                files |= {f"{service_dir(c)}/{name}": text for name, text in self.prepared.get(c.name, {}).items()}
        agent = self.agent_for(c, mode)
        argv = actions.action_argv(mode, c, self.stack.role(c.role), self.inv.network, plan, self.dns_servers(),
                                   bool(files), agent)
        d = definition(c)
        data = actions.action_input(mode, c, files, dirs, d.private_files if d else frozenset(), agent)
        r = self.remotes[c.host].run_with_input(argv, data, f"{c.name}: {mode}", check=False,
                                                timeout=actions.time_bound(self.stack.role(c.role)))
        res = actions.parse_action(r.stdout)
        took = dict(res.took) | ({"agent": res.agent.seconds} if res.agent and res.agent.seconds is not None else {})
        trace({"host": c.host, "container": c.name, "mode": mode, "took": took})  # the benchmark's split
        with self.lock:
            removed_again = mode in (actions.CREATE, actions.RECREATE) and (
                not res.started or (res.failed_step is not None and not res.unready))  # the script's undo
            if removed_again:
                self.present.get(c.host, set()).discard(c.name)
                self.running.discard(c.name)
            elif res.started:
                self.present.setdefault(c.host, set()).add(c.name)
                self.running.add(c.name)
                self.digests.update({(c.host, p): file_digest(t) for p, t in files.items()})
        record = Record(c.name, c.role, c.host, res.mac, res.ip, plan.source) if res.mac and res.ip else None
        step, detail = self._failure(c, res, r.stderr, r.exit_code, plan)
        if step and (not res.started or record is None or res.failed_step == "puppet agent"):
            with self.lock:
                self.running.discard(c.name)  # a failed agent run removed (create) or stopped (start) it
        if record:
            self.say(f"  {c.name}: {record.ip} on {record.mac} ({plan.source})")
        if res.agent:
            a = res.agent
            took = f" in {a.seconds:.1f}s" if a.seconds is not None else ""
            counts = (f"{a.changed} changed, {a.failed} failed of {a.total} resources" if a.total is not None
                      else "no run summary")
            self.say(f"  {c.name}: puppet agent exit {a.exit_code}: {counts}{took}")
        if step:
            self.say(f"  {c.name}: FAILED at {step}: {detail}")
        elif record:
            self.say(f"  {c.name}: done")
        error = f"step '{step}': {detail}" if step else None
        return Done(c.name, c.host, record, error, True)

    def agent_for(self, c: Container, mode: str) -> actions.AgentPin | None:
        """What c's Puppet agent is given when this action runs it (None when it runs none: no classes, a
        restart): the server's name, the CA read from the server's container on its host (one round trip, once
        per command: agents never learn a CA from the network) and the stack's challenge."""
        server = self.stack.catalog_provider()
        if server is None or not self.stack.asks_catalog(c) or mode == actions.RESTART:
            return None
        with self.lock:
            if self._pin is None:
                d = definition(server)
                if d is None or server.host in self.world.unreachable:
                    raise DockstackError(f"{c.name}: its Puppet agent needs the CA of {server.name} on "
                                         f"{server.host}, which cannot be read: "
                                         f"{self.world.unreachable.get(server.host, 'no service definition')}")
                r = self.remotes[server.host].run(d.agent_ca_argv(server), f"{server.name}: read the Puppet CA",
                                                  check=False)
                if not r.ok:
                    raise DockstackError(f"{c.name}: its Puppet agent needs the CA of {server.name} on "
                                         f"{server.host}: {(r.stderr or r.stdout).strip()[-300:]} (is it running? "
                                         f"`inv create --name={server.name}`)")
                self._pin = actions.AgentPin(f"{server.name}.{self.inv.network.domain}",
                                             d.parse_agent_ca(server, r.stdout), d.agent_challenge(self.stack))
            return self._pin

    def _failure(self, c: Container, res: actions.ActionResult, stderr: str, code: int,
                 plan: ipam.AddressPlan) -> tuple[str | None, str]:
        """(step, what went wrong) of an action, or (None, "") when it succeeded."""
        if res.unready:
            said = f" (last said: {res.said})" if res.said else ""
            return f"{c.name}: readiness check `{self.stack.role(c.role).check}`", res.unready + said
        if res.failed_step:
            said = res.said or (stderr.strip().splitlines() or [f"exit code {code}"])[-1]
            return f"{c.name}: {res.failed_step}", said
        if plan.expected_ip and res.ip != plan.expected_ip:
            return f"{c.name}: address", f"got {res.ip}, expected {plan.expected_ip} from dnsmasq's lease data"
        return None, ""

    def stop_timeout(self, name: str) -> int | None:
        """How long its service's clean stop may take (None: Docker's default, a plain remove is fine)."""
        d = next((definition(c) for c in self.stack.containers if c.name == name), None)
        return d.stop_timeout if d else None

    def remove(self, host: str, name: str) -> None:
        """docker rm --force; a container whose service stops cleanly (a stop timeout: galera writes its seqno) is
        stopped first (STOP_SCRIPT), in the same round trip."""
        wait = self.stop_timeout(name)
        argv = ["sh", "-c", STOP_SCRIPT, "sh", name, "remove"] if wait is not None else ["docker", "rm", "--force",
                                                                                          name]
        self.remotes[host].run(argv, f"{name}: docker rm", timeout=step_timeout() + (wait or 0))
        with self.lock:
            self.present.get(host, set()).discard(name)
            if not any(name in names for names in self.present.values()):
                self.running.discard(name)
        self.say(f"  {name}: removed from {host} (address kept)")

    def stop(self, host: str, name: str) -> None:
        """A clean stop: its service's signal and stop timeout, every process continued first (STOP_SCRIPT)."""
        self.remotes[host].run(["sh", "-c", STOP_SCRIPT, "sh", name], f"{name}: docker stop",
                               timeout=step_timeout() + (self.stop_timeout(name) or 10))
        with self.lock:
            self.running.discard(name)
        self.say(f"  {name}: stopped on {host} (address kept)")

    def take_down(self, c: Container, host: str | None = None, remove: bool = False) -> None:
        """A running container out of service without cutting a connection: drained from every balancer, stopped
        cleanly (or removed), then left to the balancers' health checks (`down`), which take it back as soon as a
        new container answers: one whose start needs itself through the VIP (OpenStack's catalog) must not wait
        for a `ready` that comes only once its start is done."""
        self.set_member(c, "drain")
        if remove:
            self.remove(host or c.host, c.name)
        else:
            self.stop(host or c.host, c.name)
        self.set_member(c, "down")

    def set_member(self, c: Container, state: str) -> None:
        """Every running container of a service that balances c (haproxy) puts it in `state`: drain before it stops
        (no new connections, its sessions end, bounded, then out of service), down once it is stopped (its health
        check takes it back), or ready. Said, never raised: a balancer that cannot be told still checks its members
        itself."""
        work = []
        for b in self.stack.containers:
            d = definition(b)
            argv = d.member_state(self.stack, b, c, state) if d and b.name != c.name else None
            with self.lock:
                if argv and b.name in self.running and b.host not in self.world.unreachable:
                    work.append((b, argv))

        def tell(item: tuple[Container, list[str]]) -> None:
            b, argv = item
            r = self.remotes[b.host].run(["docker", "exec", b.name, *argv], f"{b.name}: {state} {c.name}",
                                         check=False, timeout=step_timeout() + DRAIN_BOUND)
            said = (r.stdout.strip().splitlines() or r.stderr.strip().splitlines() or [f"exit code {r.exit_code}"])
            self.say(f"  {c.name}: {state} on {b.name}: " + said[-1][:200] if r.ok else
                     f"  {c.name}: {b.name} could not {state} it ({said[-1][:200]}): its own health check decides")

        parallel(work, tell)

    # --- services' hooks: what their containers need before they start ------------------------

    def cluster(self, service: Service) -> Cluster:
        """What a service's hooks see: its configured containers, which run, the facts, a way to ask a host."""
        def ask(c: Container, argv: list[str], step: str) -> str:
            return self.remotes[c.host].run(argv, step, timeout=step_timeout()).stdout

        members = tuple(c for c in self.stack.containers if c.service == service.name)
        with self.lock:
            running = frozenset(c.name for c in members if c.name in self.running)
            memo = self.memos.setdefault(service.name, {})
        return Cluster(members, running, self.world.hosts, self.world.unreachable, ask, self.say, memo)

    def prepare(self, acting: Iterable[Container], whole: bool = False) -> None:
        """Before these containers start: each service's prepare hook (e.g. which galera node starts the cluster),
        its files kept for their actions. A hook's DockstackError stops the caller before anything starts."""
        by_service: dict[str, list[Container]] = {}
        for c in acting:
            if c.service:
                by_service.setdefault(c.service, []).append(c)
        for name, containers in by_service.items():
            ready = DEFINITIONS[name].prepare(self.cluster(DEFINITIONS[name]), tuple(containers), whole)
            if ready:
                with self.lock:
                    self.prepared.update({n: dict(f) for n, f in ready.files.items()})

    def in_order(self, targets: tuple[Container, ...]) -> tuple[Container, ...]:
        """targets (one role's) in the order their service wants them taken one by one."""
        d = definition(targets[0]) if targets else None
        return d.first(self.cluster(d), targets) if d else targets

    # --- shared state: the address book and the services' files ----------------------------

    def commit(self, change: addressbook.Change) -> dict[str, str]:
        """One transaction on every copy of the book whose host answers: one round trip per host (its dnsmasq
        copies and its replica), the hosts in parallel; returns name -> why its put was refused. A copy on a host
        that could not be read is left as it is: the next run that reads it repairs it from the others
        (addressbook.repairs), so its host's failure fails only its own containers."""
        with self.lock:
            deltas = {c: self._pending.get(c, addressbook.Change()) + change for c in self.book_copies}
            self._pending = {}
            known = self.generation
        wanted = [c for c in self.book_copies if deltas[c]]
        work = [c for c in wanted if c.host not in self.world.unreachable and c.host not in self.book_down]
        if wanted and not work:
            down = ", ".join(c.short() for c in wanted)
            why = self.world.unreachable.get(wanted[0].host) or self.book_down.get(wanted[0].host)
            raise DockstackError(f"no copy of the address book can be written: {down} not answering ({why})")
        if not work:
            return {}
        timeout, who = lock_timeout(), holder()
        by_host: dict[str, list[addressbook.Copy]] = {}
        for c in work:
            by_host.setdefault(c.host, []).append(c)

        def txn(host: str) -> list[addressbook.TxnResult]:
            copies = by_host[host]
            r = self.remotes[host].run_with_input(addressbook.txn_argv(copies, timeout, who, known),
                                                  addressbook.payload([deltas[c] for c in copies],
                                                                      self.inv.network.domain),
                                                  f"address book transaction on {host}", check=False,
                                                  timeout=len(copies) * timeout + step_timeout())
            if r.exit_code == addressbook.LOCKED_EXIT:
                held = r.stdout.partition("locked")[2].strip() or "an unknown process"
                at = sum(line.startswith("copy ") for line in r.stdout.splitlines())
                copy = copies[max(at, 1) - 1]
                raise addressbook.LockTimeout(
                    f"{host}: {copy.label()} ({copy.folder}/lock) is still locked after {timeout:g}s by {held}: "
                    f"wait for that run to end, then try again ({LOCK_TIMEOUT_ENV} sets how long to wait)")
            if not r.ok:
                raise RemoteError(host, "address book transaction",
                                  (r.stderr or r.stdout).strip() or f"exit code {r.exit_code}")
            try:
                return addressbook.parse_txns(r.stdout, len(copies))
            except DockstackError as exc:
                raise RemoteError(host, "address book transaction", str(exc)) from None

        # a host that keeps only its replica may be left out: one that went silent during this command is not
        # waited for, one whose transaction fails is named; the next run that reads it repairs its copy
        silent = {h: self.remotes[h].unanswered for h, cs in by_host.items()
                  if self.remotes[h].unanswered and not any(c.dnsmasq for c in cs)}

        def attempt(host: str) -> list[addressbook.TxnResult] | DockstackError:
            try:
                return txn(host)
            except DockstackError as exc:
                return exc

        hosts = [h for h in by_host if h not in silent]
        answers = dict(zip(hosts, parallel(hosts, attempt)))
        failed = {h: a for h, a in answers.items() if isinstance(a, DockstackError)}
        results = [x for a in answers.values() if not isinstance(a, DockstackError) for x in a]
        fatal = [a for h, a in failed.items() if any(c.dnsmasq for c in by_host[h])]
        if fatal:  # a dnsmasq copy: what it serves would lack the change
            raise fatal[0]
        if not results:
            raise next(iter(failed.values()), None) or DockstackError(
                f"no copy of the address book can be written: {', '.join(sorted(silent))} not answering")
        for h, why in {**silent, **{h: str(a) for h, a in failed.items()}}.items():
            self.say(f"  address book: the replica on {h} was not written ({why}): the next run that reads it "
                     "repairs it")
            self.book_down[h] = why
        newest = max(results, key=lambda x: x.generation)
        conflicts: dict[str, str] = {}
        for res in results:
            conflicts.update(res.conflicts)
        for role, vip in self.stack.vips():
            if vip.name in conflicts:
                self.say(f"  vip {vip.name} ({role.name}): NOT reserved: {conflicts[vip.name]}: `inv ipam.release` "
                         "that container, or give the vip another ip")
        with self.lock:
            self.records = dict(newest.records)
            self.generation = max(self.generation, newest.generation)
        n = len(change.puts) + len(change.deletes) + len(change.releases)
        reloaded = " (dnsmasq reloaded)" if any(x.reloaded for x in results) else ""
        self.say(f"  address book: {n} change(s) committed, generation {newest.generation}, {len(results)} "
                 f"cop{'y' if len(results) == 1 else 'ies'} on {len(answers) - len(failed)} host(s){reloaded}")
        return conflicts

    def context(self) -> Context:
        return Context(self.stack, self.inv.network, tuple(self.dns_servers()), DEFINITIONS)

    def service_files(self, c: Container) -> tuple[dict[str, str], tuple[str, ...]]:
        """The files its service's definition renders for c (absolute paths on its host), and folders."""
        d = definition(c)
        if d is None:
            return {}, ()
        base = service_dir(c)
        return ({f"{base}/{p}": t for p, t in d.files(self.context(), c).items()},
                tuple(f"{base}/{f}" for f in d.folders(c)))

    def publish_services(self) -> None:
        """Push the files of services that follow the config (puppet's, haproxy's) where their content differs
        from what the host has; restart a running container whose service needs it for a changed file (dnsmasq:
        SIGHUP does not re-read dnsmasq.conf), giving it back its eth0."""
        for c in self.stack.containers:
            d = definition(c)
            if not (d and d.restart_on_change):
                continue
            files, _ = self.service_files(c)
            with self.lock:
                stale = c.name in self.running and c.name in self.present.get(c.host, set()) and any(
                    self.digests.get((c.host, p)) != file_digest(t) for p, t in files.items())
            if stale:
                self.say(f"  {c.name}: {', '.join(sorted(p.rpartition('/')[2] for p in files))} changed: restart")
                done = self._run_action(c, actions.RESTART)
                if done.error:
                    raise DockstackError(f"{c.name} on {c.host}: {done.error}")
        self.push_service_files(lambda d: d.follows_stack)

    def push_agent_server(self, acts: Iterable[Action]) -> None:
        """Before agents run: the Puppet server gets the config's site.pp, hieradata, autosign list and
        profiles where they differ from its host's (only after containers.yaml changed; else no round trip)."""
        if any(a.kind in (CREATE, RECREATE, START) and self.stack.asks_catalog(a.container) for a in acts):
            self.push_service_files(lambda d: d.provides_catalog)

    def push_service_files(self, which: Callable[[Service], bool]) -> None:
        """Push the files of the services `which` picks where their content differs from what the host has."""
        todo = []
        for c in self.stack.containers:
            d = definition(c)
            if d is None or not which(d) or c.name not in self.present.get(c.host, set()):
                continue
            with self.lock:
                if c.name in self.to_recreate:
                    continue
            files, _ = self.service_files(c)
            with self.lock:
                changed = {p: t for p, t in files.items() if self.digests.get((c.host, p)) != file_digest(t)}
            if changed:
                todo.append((c, d, changed))

        def push(item: tuple[Container, Service, dict[str, str]]) -> None:
            c, d, files = item
            base = service_dir(c)
            rel = {p[len(base) + 1:]: t for p, t in files.items()}
            r = self.remotes[c.host].run_with_input(actions.service_files_argv(c, d, sorted(rel)),
                                                    actions.files_payload(rel, (), d.private_files),
                                                    f"push {c.service} files to {c.name}", check=False,
                                                    timeout=step_timeout())
            if "done" not in r.stdout.split():
                said = "; ".join(x.partition(" ")[2] for x in r.stdout.splitlines() if x.startswith("said "))
                raise RemoteError(c.host, f"{c.name}: {c.service} files", said or r.stderr.strip()
                                  or f"exit code {r.exit_code}")
            with self.lock:
                self.digests.update({(c.host, p): file_digest(t) for p, t in files.items()})
            checked = {x.file for x in d.file_checks} & set(rel)
            what = (f"{', '.join(sorted(rel))} updated" + (", validated" if checked else "") if len(rel) <= 3
                    else f"{len(rel)} {c.service} file(s) updated")
            self.say(f"  {c.name}: {what}" + (" and reloaded" if "reloaded" in r.stdout.split() else ""))

        parallel(todo, push)
