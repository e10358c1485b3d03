"""The address book: the registry of addresses and dnsmasq's lease data, a copy on every host of the stack.

Each dnsmasq container's folder on its host holds a copy: one registry file, one DHCP host file and
one hosts file per container (dnsmasq picks new ones up through inotify), the quarantine of released
IPs, dnsmasq's leases and a generation number. Every host of the inventory also keeps a replica of the
same files in REPLICA_DIR, no container's folder, so that losing any one host's disk (the dnsmasq host's
included) loses no address. Copies are read as part of each host's facts (facts.BookCopy) and merged
here, the newest generation winning; they are changed only by TXN_SCRIPT: one locked transaction per
copy and change set, every copy a host keeps in one round trip, which applies the change as deltas
(put, delete, release), so two operators changing different containers at once both keep their addresses.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from dockstack import ipam
from dockstack.config import Inventory, Stack
from dockstack.errors import DockstackError
from dockstack.facts import BookCopy, Lease, Record, parse_record
from dockstack.scripts import script
from dockstack.services import SERVICE_ROOT, service_dir

LOCKED_EXIT = 75  # TXN_SCRIPT: the lock was not free within the timeout
# On every host of the inventory: the replica of the address book (no service's folder: a service's are
# SERVICE_ROOT/SERVICE/NAME, and no service is named so; tests/unit/test_addressbook.py checks it).
REPLICA_DIR = f"{SERVICE_ROOT}/addressbook"

# One transaction on each copy one host keeps. Arguments: lock timeout, who we are, the newest generation known,
# then (folder, dnsmasq container or "") per copy. Standard input: a tar.gz with `ops/N` per copy (put NAME |
# del NAME | release NAME IP MAC [CLIENT-ID] | unquarantine | quarantine IP) and the rendered files. The text:
# dockstack/scripts/txn.sh, with the quarantine's size put in.
TXN_SCRIPT = script("txn.sh").replace('"$QUARANTINE"', str(ipam.QUARANTINE))


@dataclass(frozen=True)
class Copy:
    """Where one copy of the book lives: a dnsmasq container's folder (dnsmasq: its name), or a host's replica."""

    host: str
    folder: str
    dnsmasq: str = ""

    def label(self) -> str:
        return f"the address book of {self.dnsmasq}" if self.dnsmasq else f"the address book replica on {self.host}"

    def short(self) -> str:
        return f"{self.dnsmasq} on {self.host}" if self.dnsmasq else f"the replica on {self.host}"


def copies_of(inv: Inventory, stack: Stack) -> list[Copy]:
    """Every copy the stack keeps: each dnsmasq container's, then one replica per host of the inventory."""
    return [Copy(d.host, service_dir(d), d.name) for d in stack.address_providers()] + [
        Copy(h.name, REPLICA_DIR) for h in inv.hosts]


@dataclass(frozen=True)
class Book:
    """The address book as this command sees it: the newest copy's records, every copy's leases."""

    records: dict[str, Record] = field(default_factory=dict)
    released: tuple[str, ...] = ()
    leases: tuple[Lease, ...] = ()
    generation: int = 0

    def known(self) -> dict[str, tuple[str, str]]:
        return ipam.known_addresses(self.records, list(self.leases))


def merge(copies: list[BookCopy]) -> tuple[Book, list[str]]:
    """One book from the copies: the highest generation wins. A record damaged there is restored from the good
    copy of the newest generation: another dnsmasq's intact record, else a last good copy (which the
    transactions write with every record, so it is as new as its copy's generation), this copy's before
    another's; the repair is written back by the next transaction. Notes name each copy that differs, each
    damaged file and each garbled lease file, with the host, the path and what is done."""
    if not copies:
        return Book(), []
    newest = max(copies, key=lambda c: (c.generation, len(c.records), bool(c.dnsmasq)))
    records = dict(newest.records)
    restored: dict[str, str] = {}  # name -> where its record came from
    for name in newest.damaged:
        found = [((c.generation, 1, False), c.records[name], f"{_owner(c)} copy on {c.host or 'its host'} "
                  f"(generation {c.generation})")
                 for c in copies if name in c.records]
        found += [((c.generation, 0, c is newest), c.last_good[name],
                   f"the last good copy {_path(c, 'last-good', name)}") for c in copies if name in c.last_good]
        if found:
            _, records[name], restored[name] = max(found, key=lambda x: x[0])
    leases = tuple(lease for c in copies for lease in c.leases)
    notes = [_damage_note(c, name, what, newest, records, restored)
             for c in copies for name, what in sorted(c.damaged.items())]
    notes += [f"{_where(c)}: {_path(c, 'lease', 'leases')} has {len(c.bad_leases)} garbled line(s), the first: "
              f"{c.bad_leases[0][:80]!r}: ignored (the recorded addresses stay pinned in dhcp-hosts.d; dnsmasq "
              "writes the file anew at its next lease change)" for c in copies if c.bad_leases]
    notes += [f"{_where(c)}: {len(c.unbacked)} record(s) without a last good copy, or with an older one "
              f"({_names(sorted(c.unbacked))}): written by this run" for c in copies if c.unbacked]
    notes += [f"{_what(c)} (generation {c.generation}) differs from {_owner(newest)} (generation "
              f"{newest.generation}): repaired from the newest"
              for c in copies if c is not newest and (c.records, c.released) != (records, newest.released)]
    return Book(records, newest.released, leases, newest.generation), notes


def _where(c: BookCopy) -> str:
    if not c.dnsmasq:
        return f"address book replica on {c.host}"
    return f"address book of {c.dnsmasq} on {c.host}" if c.host else f"address book of {c.dnsmasq}"


def _what(c: BookCopy) -> str:
    return f"address book of {c.dnsmasq}" if c.dnsmasq else f"address book replica on {c.host}"


def _owner(c: BookCopy) -> str:
    return f"{c.dnsmasq}'s" if c.dnsmasq else f"{c.host}'s replica"


def _names(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _path(c: BookCopy, *parts: str) -> str:
    return "/".join([c.folder, *parts] if c.folder else parts)


def _damage_note(c: BookCopy, name: str, what: str, newest: BookCopy, records: dict[str, Record],
                 restored: dict[str, str]) -> str:
    said = f"{_where(c)}: {_path(c, 'registry', name)} is damaged ({f'holds {what!r}' if what else 'empty'}): "
    if name not in records:
        return said + ("no intact copy: left until the container is recorded again (from its running eth0 or the "
                       "leases); its DHCP and DNS entries are kept")
    r = records[name]
    line = " ".join((r.name, r.role, r.host, r.mac, r.ip, r.source))
    if c is newest:
        return said + f"restored from {restored[name]}: {line}"
    return said + (f"rewritten from the address book ({newest.dnsmasq or f'the replica on {newest.host}'}, "
                   f"generation {newest.generation}): {line}")


@dataclass(frozen=True)
class Change:
    """What one transaction does to the registry: deltas, never a whole new registry."""

    puts: tuple[Record, ...] = ()
    deletes: tuple[str, ...] = ()
    releases: tuple[tuple[str, ...], ...] = ()  # (name, ip, mac) or (name, ip, mac, dnsmasq's client-id)
    quarantine: tuple[str, ...] | None = None  # repair only: the whole quarantine list a copy should have

    def __bool__(self) -> bool:
        return bool(self.puts or self.deletes or self.releases or self.quarantine is not None)

    def __add__(self, other: Change) -> Change:
        """Both changes, the later one winning for a name that both touch."""
        touched = {r.name for r in other.puts} | set(other.deletes) | {n for n, _, _ in other.releases}
        return Change(tuple(r for r in self.puts if r.name not in touched) + other.puts,
                      tuple(n for n in self.deletes if n not in touched) + other.deletes,
                      tuple(x for x in self.releases if x[0] not in touched) + other.releases,
                      other.quarantine if other.quarantine is not None else self.quarantine)


def repairs(book: Book, copy: BookCopy | None) -> Change:
    """What makes a copy equal to the book (a copy that is missing gets everything)."""
    have = copy.records if copy else {}
    stale = copy.unbacked if copy else frozenset()  # its last good copy is missing or older: write it too
    puts = tuple(r for n, r in sorted(book.records.items()) if have.get(n) != r or n in stale)
    deletes = tuple(n for n in sorted(have) if n not in book.records)  # a damaged file waits for its next put
    quarantine = book.released if (copy.released if copy else ()) != book.released else None
    return Change(puts, deletes, quarantine=quarantine)


def payload(changes: Sequence[Change], domain: str) -> bytes:
    """The transaction's standard input: the operations of each copy (`ops/N`, the Nth copy of txn_argv) and every
    file they install, rendered once: the copies' changes come from one book, so a name has one record in all."""
    files: dict[str, str] = {}
    for k, change in enumerate(changes, 1):
        ops: list[str] = []
        for r in change.puts:
            rendered = {f"put/{r.name}.record": ipam.render_record(r), f"put/{r.name}.dhcp": ipam.render_dhcp_host(r),
                        f"put/{r.name}.host": ipam.render_host(r, domain)}
            if any(files.get(p, t) != t for p, t in rendered.items()):
                raise DockstackError(f"address book: two copies were to get different records of {r.name}")
            files |= rendered
            ops.append(f"put {r.name}")
        ops += [f"del {n}" for n in change.deletes]
        if change.quarantine is not None:  # first, so that releases of this change come after it
            ops.append("unquarantine")
            for ip in change.quarantine:
                files[f"quarantine/{ip}"] = ipam.render_quarantine(ip)
                ops.append(f"quarantine {ip}")
        for release in change.releases:
            files[f"quarantine/{release[1]}"] = ipam.render_quarantine(release[1])
            ops.append(" ".join(["release", *release]))
        files[f"ops/{k}"] = "".join(f"{op}\n" for op in ops)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def txn_argv(copies: Sequence[Copy], timeout: float, holder: str, known: int = 0) -> list[str]:
    """The copies one host keeps, in one round trip; known: the newest generation this command has seen."""
    return ["sh", "-c", TXN_SCRIPT, "sh", f"{timeout:g}", holder, str(known),
            *(x for c in copies for x in (c.folder, c.dnsmasq))]


class LockTimeout(DockstackError):
    """Another dockstack run holds the address book's lock past our timeout."""


@dataclass(frozen=True)
class TxnResult:
    generation: int
    records: dict[str, Record]
    released: tuple[str, ...]
    applied: frozenset[str]  # names whose put/del/release took effect
    conflicts: dict[str, str]  # name -> why its put was refused
    reloaded: bool


def parse_txns(text: str, count: int) -> list[TxnResult]:
    """TXN_SCRIPT's output for `count` copies, one result each; raises DockstackError for a copy that did not
    finish (the error names it by its number)."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line == f"copy {len(blocks) + 1}":
            blocks.append([])
        elif blocks:
            blocks[-1].append(line)
    results = []
    for k in range(count):
        if k >= len(blocks):
            raise DockstackError(f"address book transaction did not reach copy {k + 1} of {count}: "
                                 f"{text.strip()[-300:] or 'no output'}")
        try:
            results.append(parse_txn("\n".join(blocks[k])))
        except DockstackError as exc:
            raise DockstackError(f"copy {k + 1} of {count}: {exc}") from None
    return results


def parse_txn(text: str) -> TxnResult:
    """TXN_SCRIPT's output; raises DockstackError when it did not run to the end."""
    gen, records, released, applied, conflicts, reloaded, done = 0, {}, [], set(), {}, False, False
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "generation" and rest.isdigit():
            gen = int(rest)
        elif kind == "record" and (rec := parse_record(rest)):
            records[rec.name] = rec
        elif kind == "released" and rest:
            released.append(rest)
        elif kind in ("put", "del", "release"):
            applied.add(rest)
        elif kind == "conflict":
            name, _, other = rest.partition(" ")
            holder, what, value = [*other.split(), "", "", ""][:3]
            conflicts[name] = f"{value} is already the {'address' if what == 'ip' else 'MAC'} of {holder}"
        elif kind == "reloaded":
            reloaded = True
        elif kind == "done":
            done = True
    if not done:
        raise DockstackError(f"address book transaction did not finish: {text.strip()[-300:] or 'no output'}")
    return TxnResult(gen, records, tuple(released), frozenset(applied), conflicts, reloaded)
