"""The address book: the registry of addresses and dnsmasq's lease data, kept on every dnsmasq host.

Each dnsmasq container's folder on its host holds a copy: one registry file, one DHCP host file and
one hosts file per container (dnsmasq picks new ones up through inotify), the quarantine of released
IPs, dnsmasq's leases and a generation number. Copies are read as part of each host's facts
(facts.BookCopy) and merged here; they are changed only by TXN_SCRIPT: one locked transaction per
change set, which applies the change as deltas (put, delete, release), so two operators changing
different containers at once both keep their addresses.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field

from dockstack import ipam
from dockstack.config import Container
from dockstack.errors import DockstackError
from dockstack.facts import BookCopy, Lease, Record, parse_record
from dockstack.scripts import script
from dockstack.services import service_dir

LOCKED_EXIT = 75  # TXN_SCRIPT: the lock was not free within the timeout

# One transaction on one copy. Arguments: folder, dnsmasq container, lock timeout, who we are.
# Standard input: a tar.gz with `ops` (put NAME | del NAME | release NAME IP MAC [CLIENT-ID] | unquarantine |
# quarantine IP) and the rendered files. The text: dockstack/scripts/txn.sh, with the quarantine's size put in.
TXN_SCRIPT = script("txn.sh").replace('"$QUARANTINE"', str(ipam.QUARANTINE))


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
    newest = max(copies, key=lambda c: (c.generation, len(c.records)))
    records = dict(newest.records)
    restored: dict[str, str] = {}  # name -> where its record came from
    for name in newest.damaged:
        found = [((c.generation, 1, False), c.records[name],
                  f"{c.dnsmasq}'s copy on {c.host or 'its host'} (generation {c.generation})")
                 for c in copies if name in c.records]
        found += [((c.generation, 0, c is newest), c.last_good[name],
                   f"the last good copy {_path(c, 'last-good', name)}") for c in copies if name in c.last_good]
        if found:
            _, records[name], restored[name] = max(found, key=lambda x: x[0])
    leases = tuple(lease for c in copies for lease in c.leases)
    notes = [_damage_note(c, name, what, newest, records, restored)
             for c in copies for name, what in sorted(c.damaged.items())]
    notes += [f"{_where(c)}: {_path(c, 'leases')} has {len(c.bad_leases)} garbled line(s), the first: "
              f"{c.bad_leases[0][:80]!r}: ignored (the recorded addresses stay pinned in dhcp-hosts.d; dnsmasq "
              "writes the file anew at its next lease change)" for c in copies if c.bad_leases]
    notes += [f"{_where(c)}: {len(c.unbacked)} record(s) without a last good copy, or with an older one "
              f"({_names(sorted(c.unbacked))}): written by this run" for c in copies if c.unbacked]
    notes += [f"address book of {c.dnsmasq} (generation {c.generation}) differs from {newest.dnsmasq}'s "
              f"(generation {newest.generation}): repaired from the newest"
              for c in copies if c is not newest and (c.records, c.released) != (records, newest.released)]
    return Book(records, newest.released, leases, newest.generation), notes


def _where(c: BookCopy) -> str:
    return f"address book of {c.dnsmasq} on {c.host}" if c.host else f"address book of {c.dnsmasq}"


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
    return said + f"rewritten from the address book ({newest.dnsmasq}, generation {newest.generation}): {line}"


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


def payload(change: Change, domain: str) -> bytes:
    """The transaction's standard input: the operations and every file they install, rendered."""
    files: dict[str, str] = {}
    ops: list[str] = []
    for r in change.puts:
        files[f"put/{r.name}.record"] = ipam.render_record(r)
        files[f"put/{r.name}.dhcp"] = ipam.render_dhcp_host(r)
        files[f"put/{r.name}.host"] = ipam.render_host(r, domain)
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
    files["ops"] = "".join(f"{op}\n" for op in ops)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def txn_argv(dnsmasq: Container, timeout: float, holder: str) -> list[str]:
    return ["sh", "-c", TXN_SCRIPT, "sh", service_dir(dnsmasq), dnsmasq.name, f"{timeout:g}", holder]


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
