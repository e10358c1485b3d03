"""Galera backup and restore (`inv galera.backup`, `inv galera.restore`): a hot mariabackup of one Synced node,
streamed compressed to the operator's machine with its wsrep position and a sha256 in a manifest beside it; and the
way back: the file checked first, prepared beside the node's data while the cluster still runs, then the role
stopped cleanly, the old data of every node put aside (never deleted), the restored node started as a new cluster
and the others joining it by state transfer (SST), through the engine tasks.py hands it (services.base.Engine: the
same stop as `inv stop`, the same converge as deploy-all).

Galera-specific by design (tasks.py calls it for the `galera` collection); the pure parts (the stream's position,
the manifest, the argv) are unit tests, the rest is the e2e test tests/e2e/test_galera_backup.py.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockstack.config import NAME_RE, Container, Stack
from dockstack.errors import DockstackError, RemoteError
from dockstack.remote import Remotes, parallel, quote
from dockstack.scripts import script
from dockstack.services import service_dir
from dockstack.services.base import Engine
from dockstack.services.galera import DATA, MOUNT, SERVICE
from dockstack.services.galera.bootstrap import UUID_RE
from dockstack.settings import backup_timeout, step_timeout

Say = Callable[[str], None]

BACKUP_SCRIPT = script("galera_backup.sh")
RESTORE_SCRIPT = script("galera_restore.sh")
SWAP_SCRIPT = script("galera_swap.sh")

FORMAT = "dockstack-galera-backup/1"  # the manifest's `format`: what wrote it, so a later change is told apart
SUFFIX = ".xb.gz"  # the backup: mariabackup's xbstream, gzip-compressed
MANIFEST_SUFFIX = ".json"  # beside it: FILE.json
PARTIAL_SUFFIX = ".partial"  # what a backup writes until its stream is complete and checked
# the file in the stream that holds the node's wsrep position (MariaDB 10.11 writes the first; older, the second)
GALERA_INFO_FILES = ("mariadb_backup_galera_info", "xtrabackup_galera_info")
STAMP_RE = re.compile(r"\d{8}T\d{6}Z")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
SEQNO_RE = re.compile(r"\d{1,19}")
# what follows UUID:SEQNO in the galera info: MariaDB 10.11 writes its wsrep GTID domain id (`0`), others a GTID
GTID_RE = re.compile(r"\d{1,10}(-\d{1,10}-\d{1,19})?(,\d{1,10}-\d{1,10}-\d{1,19})*")
CHUNK = 1 << 20


# --- the position, from the stream ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where the backup's data ends in the cluster's history: its state UUID and last committed seqno (and what
    MariaDB writes after them: its GTID domain, or a GTID)."""

    uuid: str
    seqno: int
    gtid: str = ""

    def __str__(self) -> str:
        return f"{self.uuid}:{self.seqno}"


def parse_galera_info(text: str) -> Position | None:
    """mariadb_backup_galera_info's first line, `UUID:SEQNO [GTID]`; None when it is not that (seqno -1 too: a
    backup with no committed position cannot start a cluster)."""
    words = text.strip().split("\n", 1)[0].split()
    if not words or len(words) > 2:
        return None
    uuid, sep, seqno = words[0].rpartition(":")
    if not sep or not UUID_RE.fullmatch(uuid) or not SEQNO_RE.fullmatch(seqno):
        return None
    gtid = words[1] if len(words) == 2 else ""
    if gtid and not GTID_RE.fullmatch(gtid):
        return None
    return Position(uuid, int(seqno), gtid)


MAGIC = b"XBSTCK01"
_HEAD = struct.Struct("<BBI")  # after the magic: flags, chunk type, path length
_PAYLOAD = struct.Struct("<QQI")  # a payload chunk's length, offset and crc32
PAYLOAD, EOF = ord("P"), ord("E")
WANTED_MAX = 1 << 16  # bytes kept of a wanted file: a position is one line
PATH_MAX = 4096  # a chunk's path (FN_REFLEN is 512): longer means a damaged stream


class StreamReader:
    """Reads a backup as it streams (gzip, then mariabackup's xbstream chunks) without keeping it: keeps only the
    small files asked for, and knows whether the stream ended whole (gzip's end, at a chunk's boundary). A chunk:
    magic `XBSTCK01`, flags (1 byte), type (`P` payload, `E` end of file), path length (4, little-endian), path;
    a payload chunk then has its length (8), offset (8), crc32 (4) and the bytes."""

    def __init__(self, wanted: tuple[str, ...] = GALERA_INFO_FILES) -> None:
        self.wanted = wanted
        self.files: dict[str, bytes] = {}
        self.paths = 0  # files seen (end-of-file chunks)
        self._unzip = zlib.decompressobj(wbits=31)  # gzip only
        self._buf = bytearray()
        self._skip = 0  # payload bytes still to pass over
        self._keep: str | None = None  # the wanted file those bytes belong to
        self.error = ""

    def feed(self, data: bytes) -> None:
        if self.error:
            return
        try:
            while data and not self.error:  # at most CHUNK plain bytes at a time: zeros unpack 1000 to 1
                self._chunks(self._unzip.decompress(data, CHUNK))
                data = self._unzip.unconsumed_tail
        except zlib.error as exc:
            self.error = f"not a gzip stream ({exc})"
            return
        if self._unzip.unused_data:
            self.error = "bytes after the end of the gzip stream"

    def _chunks(self, plain: bytes) -> None:
        """Walk the chunks in plain: payload bytes are passed over (kept only for a wanted file); only a chunk's
        header, at most a few KiB, is ever buffered, so memory stays flat whatever the backup's size."""
        view, pos = memoryview(plain), 0
        while pos < len(view) and not self.error:
            if self._skip:
                n = min(self._skip, len(view) - pos)
                if self._keep is not None:
                    kept = self.files.get(self._keep, b"")
                    if len(kept) < WANTED_MAX:
                        self.files[self._keep] = kept + bytes(view[pos:pos + min(n, WANTED_MAX - len(kept))])
                self._skip -= n
                pos += n
                continue
            take = min(self._header_needs() - len(self._buf), len(view) - pos)
            self._buf += view[pos:pos + take]
            pos += take
            if len(self._buf) == self._header_needs():
                self._header()

    def _header_needs(self) -> int:
        """How many bytes the chunk header being read has: known in steps (its fixed part, then its path's length
        and type)."""
        fixed = len(MAGIC) + _HEAD.size
        if len(self._buf) < fixed:
            return fixed
        _flags, kind, path_len = _HEAD.unpack_from(self._buf, len(MAGIC))
        return fixed + min(path_len, PATH_MAX + 1) + (_PAYLOAD.size if kind == PAYLOAD else 0)

    def _header(self) -> None:
        """The complete chunk header in the buffer: a file's end counted, or its payload's length to pass over."""
        buf, self._buf = bytes(self._buf), bytearray()
        if buf[:len(MAGIC)] != MAGIC:
            self.error = "not a mariabackup xbstream (no chunk magic where a chunk starts)"
            return
        _flags, kind, path_len = _HEAD.unpack_from(buf, len(MAGIC))
        start = len(MAGIC) + _HEAD.size
        if path_len > PATH_MAX:
            self.error = f"a chunk path of {path_len} bytes"
        elif kind == EOF:
            self.paths += 1
        elif kind != PAYLOAD:
            self.error = f"a chunk of unknown type {kind!r}"
        else:
            path = buf[start:start + path_len].decode(errors="replace")
            length, _offset, _crc = _PAYLOAD.unpack_from(buf, start + path_len)
            self._skip, self._keep = length, (path if path in self.wanted else None)

    def finish(self) -> str:
        """'' when the stream ended whole, else what is wrong with it."""
        if self.error:
            return self.error
        if not self._unzip.eof:
            return "the gzip stream is cut short"
        if self._skip or self._buf:
            return "the xbstream is cut short (inside a chunk)"
        if not self.paths:
            return "the xbstream holds no file"
        return ""

    def position(self) -> Position | None:
        for name in self.wanted:
            if name in self.files:
                return parse_galera_info(self.files[name].decode(errors="replace"))
        return None


# --- the manifest ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """What FILE.json says of FILE: its size and sha256 (checked before a restore touches anything), the node it
    came from and its position."""

    file: str  # the backup's name (no folder: the manifest lies beside it)
    size: int
    sha256: str
    position: Position
    node: str
    host: str
    role: str
    created: str  # UTC, e.g. 20261202T040000Z

    def to_json(self) -> str:
        pos = {"uuid": self.position.uuid, "seqno": self.position.seqno, **(
            {"gtid": self.position.gtid} if self.position.gtid else {})}
        return json.dumps({"format": FORMAT, "file": self.file, "bytes": self.size, "sha256": self.sha256,
                           "position": pos, "node": self.node, "host": self.host, "role": self.role,
                           "created": self.created}, indent=2) + "\n"


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


def parse_manifest(path: Path, text: str) -> Manifest:
    """The manifest, every value checked against its whole-string pattern; errors name the file and the key."""
    def bad(key: str, what: str) -> DockstackError:
        return DockstackError(f"{path}: {key}: {what}: the manifest `inv galera.backup` wrote beside the backup is "
                              "damaged or not one; use the backup with its own manifest, untouched")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise bad("(file)", f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise bad("(file)", "not a JSON object")
    if data.get("format") != FORMAT:
        raise bad("format", f"{str(data.get('format'))[:80]!r} is not {FORMAT!r}")

    def field(key: str, pattern: re.Pattern[str], value: object = None) -> str:
        value = data.get(key) if value is None else value
        if not isinstance(value, str | int) or isinstance(value, bool) or not pattern.fullmatch(str(value)):
            raise bad(key, f"{str(value)[:80]!r} does not match {pattern.pattern}")
        return str(value)

    pos = data.get("position")
    if not isinstance(pos, dict):
        raise bad("position", "missing, or not an object with uuid and seqno")
    position = Position(field("position.uuid", UUID_RE, pos.get("uuid", "")),
                        int(field("position.seqno", SEQNO_RE, pos.get("seqno", ""))),
                        field("position.gtid", GTID_RE, pos["gtid"]) if "gtid" in pos else "")
    name = field("file", re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,200}"))
    if name != path.name[:-len(MANIFEST_SUFFIX)]:
        raise bad("file", f"names {name!r}, not the file beside it ({path.name[:-len(MANIFEST_SUFFIX)]!r})")
    return Manifest(name, int(field("bytes", re.compile(r"\d{1,15}"))), field("sha256", SHA256_RE), position,
                    field("node", NAME_RE), field("host", NAME_RE), field("role", NAME_RE),
                    field("created", STAMP_RE))


def sha256_file(path: Path) -> tuple[str, int]:
    """The file's sha256 and size, read in chunks (a backup may be larger than memory)."""
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def verify(backup: Path) -> Manifest:
    """The backup and its manifest, the size and sha256 checked: a restore starts only from an intact file."""
    mpath = manifest_path(backup)
    if not backup.is_file():
        raise DockstackError(f"{backup}: no such file: give --file the path of a backup `inv galera.backup` wrote")
    if not mpath.is_file():
        raise DockstackError(f"{mpath}: missing: a backup is restored only with the manifest written beside it "
                             "(its position and sha256); copy it along with the backup")
    try:
        manifest = parse_manifest(mpath, mpath.read_text(errors="replace"))
        digest, size = sha256_file(backup)
    except OSError as exc:
        raise DockstackError(f"{exc.filename or backup}: cannot be read: {exc.strerror or exc}") from None
    if size != manifest.size or digest != manifest.sha256:
        raise DockstackError(f"{backup}: does not match its manifest {mpath} ({size} bytes, sha256 {digest}; the "
                             f"manifest says {manifest.size} bytes, sha256 {manifest.sha256}): the file is damaged "
                             "or not that backup; nothing was changed. Use an intact copy")
    return manifest


# --- argv ------------------------------------------------------------------------------------------------------


def backup_argv(name: str) -> list[str]:
    return ["sh", "-c", BACKUP_SCRIPT, "sh", name]


def restore_argv(image: str, staged: str, position: Position) -> list[str]:
    return ["sh", "-c", RESTORE_SCRIPT, "sh", image, staged, DATA, position.uuid, str(position.seqno)]


def swap_argv(name: str, data: str, aside: str, staged: str = "") -> list[str]:
    return ["sh", "-c", SWAP_SCRIPT, "sh", name, data, aside, *([staged] if staged else [])]


def check_argv(name: str) -> list[str]:
    """The node's clustercheck, as haproxy asks it: `HTTP/1.1 200 OK` when Synced in a Primary cluster."""
    return ["docker", "exec", name, "sh", f"{MOUNT}/clustercheck", "http"]


def stamp(now: datetime.datetime | None = None) -> str:
    return (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")


def default_file(stack: Stack, role: str, when: str) -> Path:
    """containers-galera-20261202T040000Z.xb.gz in the current folder: the stack's file, the role, the time."""
    return Path(f"{Path(stack.path).stem}-{role}-{when}{SUFFIX}")


def data_dir(c: Container) -> str:
    return f"{service_dir(c)}/data"


def aside_dir(c: Container, when: str) -> str:
    return f"{service_dir(c)}/data.before-restore-{when}"


def staged_dir(c: Container, when: str) -> str:
    return f"{service_dir(c)}/data.restoring-{when}"


# --- which nodes -----------------------------------------------------------------------------------------------


def members(stack: Stack, role: str | None) -> tuple[str, tuple[Container, ...]]:
    """The galera role (the only one, or --role) and its containers in config order."""
    roles = [r.name for r in stack.roles if r.service == SERVICE.name]
    if role is None:
        if len(roles) != 1:
            raise DockstackError(f"{stack.path}: " + (f"roles {', '.join(roles)} run galera: give --role=NAME"
                                 if roles else "no role has service: galera, so there is no galera to back up"))
        role = roles[0]
    elif role not in roles:
        raise DockstackError(f"--role {role[:80]!r} is not a galera role of {stack.path} (galera roles: "
                             f"{', '.join(roles) or 'none'})")
    found = stack.of_role(role)
    if not found:
        raise DockstackError(f"{stack.path}: role {role} has no containers")
    return role, found


def pick(nodes: tuple[Container, ...], synced: dict[str, bool], node: str | None) -> Container:
    """The node to back up: --node if Synced, else the last Synced in config order (the first takes the writes
    behind haproxy; a backup's locks weigh least elsewhere)."""
    if node is not None:
        chosen = next((c for c in nodes if c.name == node), None)
        if chosen is None:
            raise DockstackError(f"--node {node[:80]!r} is not a node of the role ({', '.join(c.name for c in nodes)})")
        if not synced.get(node):
            raise DockstackError(f"{node} is not Synced in a Primary cluster: back up another node (leave --node "
                                 "out to take any Synced one), or heal it first (`inv status`, `inv deploy-all`)")
        return chosen
    ok = [c for c in nodes if synced.get(c.name)]
    if not ok:
        raise DockstackError(f"no node of {', '.join(c.name for c in nodes)} is Synced in a Primary cluster: "
                             "nothing consistent to back up (`inv status` shows why; `inv deploy-all` heals it)")
    return ok[-1]


def synced_nodes(stack: Stack, remotes: Remotes, nodes: tuple[Container, ...], running: set[str]) -> dict[str, bool]:
    """Each running node's clustercheck, one round trip per node, in parallel."""
    def ask(c: Container) -> tuple[str, bool]:
        try:
            r = remotes[c.host].run(check_argv(c.name), f"{c.name}: clustercheck", check=False,
                                    timeout=step_timeout())
        except RemoteError:  # its host went away since the facts: not a node to back up
            return c.name, False
        return c.name, r.ok and r.stdout.startswith("HTTP/1.1 200")
    return dict(parallel([c for c in nodes if c.name in running], ask))


# --- the commands ----------------------------------------------------------------------------------------------


def _writable(target: Path) -> None:
    """Refuse to overwrite a backup or its manifest, and a folder that is not there."""
    for p in (target, manifest_path(target), target.with_name(target.name + PARTIAL_SUFFIX)):
        if p.exists():
            raise DockstackError(f"{p}: already exists: a backup never overwrites a file; give --file another name "
                                 "(or move that one away)")
    if not target.parent.is_dir():
        raise DockstackError(f"{target.parent}: no such folder (from --file {target}): create it first")
    if not target.name.endswith(SUFFIX):
        raise DockstackError(f"--file {target}: a backup's name ends with {SUFFIX} (gzip-compressed xbstream)")


def backup(engine: Engine, stack: Stack, remotes: Remotes, say: Say, file: str | None = None,
           node: str | None = None, role: str | None = None) -> Manifest:
    """Stream one Synced node's hot backup into a new local file, then write its manifest beside it."""
    role, nodes = members(stack, role)
    when = stamp()
    target = Path(file) if file else default_file(stack, role, when)
    _writable(target)
    hosts, _ = engine.facts(tolerate=True)  # one host down: back up a node on another
    running = {c.name for c in nodes for f in hosts.values() if c.name in f.containers and f.containers[c.name].running}
    chosen = pick(nodes, synced_nodes(stack, remotes, nodes, running), node)
    say(f"galera.backup: {chosen.name} on {chosen.host} (Synced) -> {target}")
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    reader, digest = StreamReader(), hashlib.sha256()
    try:
        # only its owner reads it: it holds every database, password hashes included
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            def sink(data: bytes) -> None:
                try:
                    out.write(data)
                except OSError as exc:
                    raise DockstackError(f"{partial}: cannot write the backup: {exc.strerror or exc}") from None
                digest.update(data)
                reader.feed(data)

            r = remotes[chosen.host].receive(backup_argv(chosen.name), sink, f"{chosen.name}: mariadb-backup",
                                             idle=backup_timeout(),
                                             progress=lambda n: say(f"  {n / 2**20:.0f} MiB received"))
        if not r.ok:
            raise RemoteError(chosen.host, f"{chosen.name}: mariadb-backup",
                              r.stderr.strip() or f"exit code {r.exit_code}")
        broken = reader.finish()
        if broken:
            raise DockstackError(f"{chosen.name}: the backup stream is not whole: {broken}; nothing kept, try again")
        position = reader.position()
        if position is None:
            raise DockstackError(f"{chosen.name}: the backup holds no wsrep position ({' or '.join(GALERA_INFO_FILES)}"
                                 "): was it taken from a galera node? nothing kept")
        os.link(partial, target)  # never over a file that appeared meanwhile
        size = target.stat().st_size
        manifest = Manifest(target.name, size, digest.hexdigest(), position, chosen.name, chosen.host, role, when)
        with manifest_path(target).open("x") as f:
            f.write(manifest.to_json())
    except OSError as exc:  # the local folder: gone, not writable, full, or a file of that name appeared
        raise DockstackError(f"{exc.filename or target}: {exc.strerror or exc}: the backup is not kept; fix the "
                             "folder or give --file another path") from None
    finally:
        partial.unlink(missing_ok=True)
    say(f"galera.backup: {size} bytes from {chosen.name} on {chosen.host}, position {position}")
    say(f"  {target}\n  {manifest_path(target)} (sha256 {manifest.sha256})")
    return manifest


def restore(engine: Engine, stack: Stack, remotes: Remotes, say: Say, file: str, node: str | None = None,
            role: str | None = None) -> None:
    """Check the file, prepare it beside the chosen node's data, stop the role cleanly, put every node's data aside
    (the chosen one's replaced by the backup, the others' by an empty folder) and start the role: the restored
    node starts the cluster, the others join it by SST."""
    backup_file = Path(file)
    manifest = verify(backup_file)
    say(f"galera.restore: {backup_file}: {manifest.size} bytes, sha256 matches its manifest; from {manifest.node} "
        f"on {manifest.created}, position {manifest.position}")
    role, nodes = members(stack, role)
    target = nodes[0] if node is None else next((c for c in nodes if c.name == node), None)
    if target is None:
        raise DockstackError(f"--node {str(node)[:80]!r} is not a node of role {role} "
                             f"({', '.join(c.name for c in nodes)})")
    hosts, unreachable = engine.facts(tolerate=True)
    down = sorted({c.host for c in nodes if c.host in unreachable})
    if down:
        raise DockstackError(f"{', '.join(down)} could not be read ({unreachable[down[0]]}): every galera node "
                             "must be stopped for a restore, so every host must answer; nothing was changed")
    if not hosts[target.host].images.get(target.image):
        raise DockstackError(f"{target.host}: image {target.image} is not there: `inv images.sync` first")
    engine.check_secrets(hosts)  # the nodes restart with the secrets file's passwords: refused before a stop
    when = stamp()
    staged = staged_dir(target, when)
    say(f"galera.restore: unpacking and preparing the backup in {target.host}:{staged} (the cluster still runs)")
    with backup_file.open("rb") as data:
        r = remotes[target.host].send(quote(restore_argv(target.image, staged, manifest.position)), data,
                                      f"{target.name}: restore the backup", check=False, timeout=backup_timeout(),
                                      progress=lambda n: say(f"  {n / 2**20:.0f} MiB sent"))
    if not r.ok or f"restored {manifest.position.uuid}:{manifest.position.seqno}" not in r.stdout:
        raise RemoteError(target.host, f"{target.name}: restore the backup",
                          (r.stderr or r.stdout).strip() or f"exit code {r.exit_code}")
    say(f"  prepared: {target.host}:{staged}")
    try:
        _replace(engine, remotes, say, role, nodes, target, when)
    except DockstackError as exc:
        raise DockstackError(f"{exc}\n  the restore stopped half-way: the prepared backup is {target.host}:{staged} "
                             f"(or already {target.name}'s data/), each node's data before the restore "
                             f"data.before-restore-{when}/ beside it (where it was put aside, said above); "
                             "fix the cause, then `inv deploy-all` starts what is there") from None
    say(f"galera.restore: done: role {role} runs from the backup of {manifest.node} ({manifest.created}), position "
        f"{manifest.position}")


def _replace(engine: Engine, remotes: Remotes, say: Say, role: str, nodes: tuple[Container, ...], target: Container,
             when: str) -> None:
    """Stop the role cleanly, swap every node's data (the target's for the prepared backup), start the role."""
    staged = staged_dir(target, when)
    say(f"galera.restore: stopping role {role} cleanly")
    engine.stop(role)
    asides: list[str] = []

    def swap(c: Container) -> None:
        aside = aside_dir(c, when)
        argv = swap_argv(c.name, data_dir(c), aside, staged if c.name == target.name else "")
        out = remotes[c.host].run(argv, f"{c.name}: put its data aside", timeout=step_timeout()).stdout
        if f"aside {aside}" in out.split("\n"):
            asides.append(f"{c.name}: {c.host}:{aside}")

    try:
        parallel(nodes, swap)
    finally:
        if asides:
            say("galera.restore: the data before the restore is kept (delete it yourself once the restore is "
                "proven):\n  " + "\n  ".join(sorted(asides)))
    say(f"galera.restore: {target.name} holds the backup; {', '.join(c.name for c in nodes if c.name != target.name)} "
        "start empty and join it by state transfer")
    engine.start(nodes)
