"""The address book as one command writes it: the addresses its actions ended with, committed in one transaction
per copy (each dnsmasq container's and every host's replica; one round trip per host, in parallel), the copies
that lack records seeded before a container that serves addresses starts, and the address each container is to
start with (ipam's plan against the records this command has seen)."""

from __future__ import annotations

import datetime
import getpass
import os
import re
import socket
import sys
import threading
from collections.abc import Callable

from dockstack import addressbook, ipam
from dockstack.config import Container, Inventory, Stack
from dockstack.errors import DockstackError, RemoteError
from dockstack.facts import Record
from dockstack.remote import Remotes, parallel
from dockstack.settings import LOCK_TIMEOUT_ENV, lock_timeout, step_timeout
from dockstack.world import World

Say = Callable[[str], None]


def holder() -> str:
    """Who takes the address book's lock: shown to a run that waits for it in vain."""
    command = " ".join(["inv", *sys.argv[1:]])
    since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} running `{command}` since {since}"
    return re.sub(r"[^\x20-\x7e]", "?", text)[:300]


class AddressBook:
    """The records one command has seen and committed, and what its copies still lack."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes, world: World, say: Say) -> None:
        self.inv, self.stack, self.remotes, self.world, self.say = inv, stack, remotes, world, say
        self._lock = threading.RLock()
        self.records: dict[str, Record] = dict(world.book.records)
        self.copies = addressbook.copies_of(inv, stack) if inv is not None else []
        self.generation = world.book.generation  # the newest the command has seen: every copy it changes gets more
        self._pending = self._initial_change()
        self._seeding = threading.Lock()
        self.down: dict[str, str] = {}  # host -> why a commit of this command could not write its replica
        self._lagging: threading.Thread | None = None  # replicas of the last commit still being written (settle)
        self._lagged: dict[str, list[addressbook.TxnResult] | DockstackError] = {}

    def record(self, name: str) -> Record | None:
        with self._lock:
            return self.records.get(name)

    def _initial_change(self) -> dict[addressbook.Copy, addressbook.Change]:
        """Per copy of the book (each dnsmasq's, each host's replica): config's static reservations the book lacks,
        and the repairs that make the copy equal to the book (a wiped or new copy gets every record)."""
        reserve = tuple(r for n, r in ipam.reserved_static(self.stack, self.records).items()
                        if n not in self.records)
        vips, stale = ipam.vip_changes(self.stack, self.records)
        for note in self.world.book_notes:
            self.say(f"  {note}")
        missing = [c for c in self.copies if c.host not in self.world.unreachable and self.world.book.records
                   and self.world.copy_of(c) is None]  # a wiped folder, a new host, a new dnsmasq
        if missing:
            self.say(f"  address book: no copy yet ({', '.join(c.short() for c in missing)}): written from the "
                     "newest")
        # a copy whose host did not answer is unknown, not missing: the run that reads it repairs it
        return {c: addressbook.repairs(self.world.book, self.world.copy_of(c))
                + addressbook.Change(puts=reserve + vips, deletes=stale) for c in self.copies
                if c.host not in self.world.unreachable}

    def address_for(self, c: Container) -> ipam.AddressPlan:
        """The MAC and address c starts with; a static IP another record holds is refused."""
        with self._lock:
            plan = ipam.plan_address(c, ipam.known_addresses(self.records, list(self.world.book.leases)))
            if plan.static_ip:
                rec = Record(c.name, c.role, c.host, plan.mac or "", plan.static_ip, plan.source)
                try:
                    ipam.check_record(self.records, rec)
                except ipam.ConflictError as exc:
                    raise DockstackError(f"{self.stack.path}: {c.name}: {exc} (registry on the dnsmasq host); "
                                         f"pick another ip or `inv ipam.release` the other one") from None
        return plan

    def seed(self, c: Container) -> None:
        """Before a container that serves addresses starts (a dnsmasq re-created after its folder was lost): its
        copy of the book gets every record the book has that it lacks, so it never answers DHCP without the
        addresses the book pins. Only then, so a deploy whose copies are whole gains no round trip."""
        copy = next((x for x in self.copies if x.dnsmasq == c.name), None)
        with self._seeding:  # two of them at once: the second waits for the first's commit, then has nothing to do
            with self._lock:
                pending = copy is not None and bool(self._pending.get(copy, addressbook.Change()).puts)
            have = self.world.copy_of(copy) if copy else None
            lacking = set(self.world.book.records) - set(have.records if have else ())
            if pending and lacking:
                self.say(f"  {c.name}: its address book lacks records: written before it starts")
                self.commit(addressbook.Change())

    def commit(self, change: addressbook.Change, lag_replicas: bool = False) -> dict[str, str]:
        """One transaction on every copy of the book whose host answers: one round trip per host (its dnsmasq
        copies and its replica), the hosts in parallel; returns name -> why its put was refused. A copy on a host
        that could not be read is left as it is: the next run that reads it repairs it from the others
        (addressbook.repairs), so its host's failure fails only its own containers.

        lag_replicas (the converge's tiers): the hosts that keep only a replica are written beside what the command
        does next, not waited for here (they were a tier's slowest round trip as often as not); the next commit,
        or settle(), which the converge calls before it returns, waits for them first, so each copy still changes
        in order and the command ends with every replica written or named."""
        self.settle()
        with self._lock:
            deltas = {c: self._pending.get(c, addressbook.Change()) + change for c in self.copies}
            self._pending = {}
            known = self.generation
        wanted = [c for c in self.copies if deltas[c]]
        work = [c for c in wanted if c.host not in self.world.unreachable and c.host not in self.down]
        if wanted and not work:
            down = ", ".join(c.short() for c in wanted)
            why = self.world.unreachable.get(wanted[0].host) or self.down.get(wanted[0].host)
            raise DockstackError(f"no copy of the address book can be written: {down} not answering ({why})")
        if not work:
            return {}
        by_host: dict[str, list[addressbook.Copy]] = {}
        for c in work:
            by_host.setdefault(c.host, []).append(c)
        # a host that keeps only its replica may be left out: one that went silent during this command is not
        # waited for, one whose transaction fails is named; the next run that reads it repairs its copy
        silent = {h: self.remotes[h].unanswered for h, cs in by_host.items()
                  if self.remotes[h].unanswered and not any(c.dnsmasq for c in cs)}
        timeout, who = lock_timeout(), holder()

        def attempt(host: str) -> list[addressbook.TxnResult] | DockstackError:
            try:
                return self._transaction(host, by_host[host], [deltas[c] for c in by_host[host]], known, timeout,
                                         who)
            except DockstackError as exc:
                return exc

        hosts = [h for h in by_host if h not in silent]
        serving = [h for h in hosts if any(c.dnsmasq for c in by_host[h])]  # hosts with a copy dnsmasq answers from
        later = [h for h in hosts if h not in serving] if lag_replicas and serving else []
        now = [h for h in hosts if h not in later]
        if later:
            def lagging() -> None:
                self._lagged = dict(zip(later, parallel(later, attempt)))
            self._lagging = threading.Thread(target=lagging, name="address-book replicas")
            self._lagging.start()
        answers = dict(zip(now, parallel(now, attempt)))
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
            self.down[h] = why
        return self._committed(change, results, len(answers) - len(failed))

    def settle(self) -> None:
        """Wait for the replicas a lagged commit still writes; one that could not be written is named (the next
        run that reads it repairs it), as a commit names its own."""
        if self._lagging is None:
            return
        self._lagging.join()
        self._lagging = None
        lagged, self._lagged = self._lagged, {}
        for h, answer in lagged.items():
            if isinstance(answer, DockstackError):
                self.say(f"  address book: the replica on {h} was not written ({answer}): the next run that reads "
                         "it repairs it")
                self.down[h] = str(answer)

    def _transaction(self, host: str, copies: list[addressbook.Copy], deltas: list[addressbook.Change],
                     known: int, timeout: float, who: str) -> list[addressbook.TxnResult]:
        """One host's copies changed in one locked transaction (txn.sh); the lock held too long is said as such."""
        r = self.remotes[host].run_with_input(addressbook.txn_argv(copies, timeout, who, known),
                                              addressbook.payload(deltas, self.inv.network.domain),
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

    def _committed(self, change: addressbook.Change, results: list[addressbook.TxnResult],
                   hosts: int) -> dict[str, str]:
        """The newest copy's records become this command's; conflicts are returned, the VIPs' ones said."""
        newest = max(results, key=lambda x: x.generation)
        conflicts: dict[str, str] = {}
        for res in results:
            conflicts.update(res.conflicts)
        for role, vip in self.stack.vips():
            if vip.name in conflicts:
                self.say(f"  vip {vip.name} ({role.name}): NOT reserved: {conflicts[vip.name]}: `inv ipam.release` "
                         "that container, or give the vip another ip")
        with self._lock:
            self.records = dict(newest.records)
            self.generation = max(self.generation, newest.generation)
        n = len(change.puts) + len(change.deletes) + len(change.releases)
        reloaded = " (dnsmasq reloaded)" if any(x.reloaded for x in results) else ""
        self.say(f"  address book: {n} change(s) committed, generation {newest.generation}, {len(results)} "
                 f"cop{'y' if len(results) == 1 else 'ies'} on {hosts} host(s){reloaded}")
        return conflicts
