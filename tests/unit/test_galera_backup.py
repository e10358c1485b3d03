"""galera.backup and galera.restore, the parts that need no lab: the position read from the stream as it passes,
the manifest and its checks, the checksum, the node picked, the argv, the three remote scripts run with fake
binaries, and Remote.receive (a backup streamed into a sink, never held whole)."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import threading
import zlib
from pathlib import Path

import pytest

from dockstack.config import load_inventory, load_stack
from dockstack.errors import DockstackError, RemoteError
from dockstack.remote import Remote
from dockstack.services.galera import backup as gb
from dockstack.services.registry import DEFINITIONS

UUID = "6b9ad9c0-cf58-11ee-8f3a-1e4ce2f1d8a1"
INFO = f"{UUID}:1234 0-1-1230\n".encode()


def chunk(path: str, payload: bytes | None, offset: int = 0) -> bytes:
    """One xbstream chunk as mariabackup writes it: a payload chunk, or (payload None) a file's end."""
    p = path.encode()
    if payload is None:
        return b"XBSTCK01" + struct.pack("<BBI", 0, ord("E"), len(p)) + p
    return (b"XBSTCK01" + struct.pack("<BBI", 0, ord("P"), len(p)) + p
            + struct.pack("<QQI", len(payload), offset, zlib.crc32(payload)) + payload)


def xbstream(files: dict[str, bytes], piece: int = 5000) -> bytes:
    out = b""
    for name, data in files.items():
        for i in range(0, len(data), piece):
            out += chunk(name, data[i:i + piece], i)
        out += chunk(name, None)
    return out


def stream_of(files: dict[str, bytes]) -> bytes:
    return gzip.compress(xbstream(files), compresslevel=1)


FILES = {"ibdata1": bytes(range(256)) * 100, "mariadb_backup_galera_info": INFO, "mysql/db.frm": b"x" * 17,
         "xtrabackup_checkpoints": b"backup_type = full-backuped\n"}


def read(data: bytes, step: int) -> gb.StreamReader:
    r = gb.StreamReader()
    for i in range(0, len(data), step):
        r.feed(data[i:i + step])
    return r


# --- the position ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    (f"{UUID}:1234 0-1-1230\n", gb.Position(UUID, 1234, "0-1-1230")),
    (f"{UUID}:0\n", gb.Position(UUID, 0)),
    (f"{UUID}:77", gb.Position(UUID, 77)),
    (f"{UUID}:11 0\n", gb.Position(UUID, 11, "0")),  # MariaDB 10.11: its GTID domain
])
def test_galera_info_gives_the_position(text, want):
    assert gb.parse_galera_info(text) == want


@pytest.mark.parametrize("text", ["", "\n", f"{UUID}:-1\n", f"{UUID}\n", "not-a-uuid:5\n", f"{UUID}:5 x;rm\n",
                                  f"{UUID}:5 0-1-5 extra\n", f"{UUID.upper()}:5\n"])
def test_galera_info_that_is_no_position_is_refused(text):
    assert gb.parse_galera_info(text) is None


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_the_position_is_read_as_the_stream_passes_whatever_the_pieces(step):
    r = read(stream_of(FILES), step)
    assert r.finish() == ""
    assert r.paths == len(FILES)
    assert r.position() == gb.Position(UUID, 1234, "0-1-1230")
    assert set(r.files) == {"mariadb_backup_galera_info"}  # nothing else is kept


def test_a_large_stream_is_read_in_flat_memory():
    """A 64 MiB backup (zeros: they unpack 1000 to 1) read in 64 KiB pieces never holds more than about a MiB."""
    import tracemalloc
    big = gzip.compress(xbstream({"ibdata1": bytes(64 << 20), "xtrabackup_galera_info": INFO}, piece=10 << 20),
                        compresslevel=1)
    tracemalloc.start()
    try:
        r = gb.StreamReader()
        for i in range(0, len(big), 1 << 16):
            r.feed(big[i:i + (1 << 16)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.finish() == "" and r.position() == gb.Position(UUID, 1234, "0-1-1230")
    assert peak < 4 << 20, peak


def test_the_older_name_of_the_galera_info_is_read_too():
    files = {"ibdata1": b"y" * 10, "xtrabackup_galera_info": f"{UUID}:9\n".encode()}
    r = read(stream_of(files), 3)
    assert r.finish() == "" and r.position() == gb.Position(UUID, 9)


def test_a_stream_without_the_galera_info_has_no_position():
    r = read(stream_of({"ibdata1": b"y" * 10}), 100)
    assert r.finish() == "" and r.position() is None


@pytest.mark.parametrize("damage, words", [
    (lambda d: d[:-10], "gzip stream is cut short"),
    (lambda d: d + b"more", "after the end of the gzip"),
    (lambda d: b"junk" + d, "not a gzip stream"),
    (lambda d: gzip.compress(b"NOTMAGIC" + b"\0" * 40), "no chunk magic"),
    (lambda d: gzip.compress(xbstream(FILES)[:-3]), "cut short (inside a chunk)"),
    (lambda d: gzip.compress(b"XBSTCK01" + struct.pack("<BBI", 0, ord("Z"), 1) + b"a" + b"\0" * 30), "unknown type"),
    (lambda d: gzip.compress(b""), "holds no file"),
])
def test_a_stream_that_is_not_whole_is_said_so(damage, words):
    r = read(damage(stream_of(FILES)), 1000)
    assert words in r.finish()


# --- the manifest and the checksum ----------------------------------------------------------------------------


def manifest(name: str = "containers-galera-20261202T040000Z.xb.gz", size: int = 10, sha: str = "0" * 64):
    return gb.Manifest(name, size, sha, gb.Position(UUID, 1234, "0-1-1230"), "galera3", "host3", "galera",
                       "20261202T040000Z")


def write_backup(tmp_path: Path, data: bytes = b"the backup bytes") -> Path:
    path = tmp_path / "containers-galera-20261202T040000Z.xb.gz"
    path.write_bytes(data)
    gb.manifest_path(path).write_text(manifest(path.name, len(data), hashlib.sha256(data).hexdigest()).to_json())
    return path


def test_the_manifest_round_trips(tmp_path):
    m = manifest()
    path = tmp_path / f"{m.file}.json"
    assert gb.parse_manifest(path, m.to_json()) == m
    assert json.loads(m.to_json())["position"] == {"uuid": UUID, "seqno": 1234, "gtid": "0-1-1230"}


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.update(format="other/1"), "format"),
    (lambda d: d.update(sha256="ab" * 31), "sha256"),
    (lambda d: d.update(bytes="10; rm -rf /"), "bytes"),
    (lambda d: d.update(bytes=True), "bytes"),
    (lambda d: d["position"].update(seqno=-1), "position.seqno"),
    (lambda d: d["position"].update(uuid="x"), "position.uuid"),
    (lambda d: d["position"].update(gtid="$(id)"), "position.gtid"),
    (lambda d: d["position"].update(gtid="1-2"), "position.gtid"),
    (lambda d: d.update(position="u:1"), "position"),
    (lambda d: d.update(node="Galera_1"), "node"),
    (lambda d: d.update(file="other.xb.gz"), "file"),
    (lambda d: d.update(created="yesterday"), "created"),
])
def test_a_manifest_value_that_does_not_match_is_refused_naming_its_key(tmp_path, edit, key):
    m = manifest()
    data = json.loads(m.to_json())
    edit(data)
    path = tmp_path / f"{m.file}.json"
    with pytest.raises(DockstackError) as exc:
        gb.parse_manifest(path, json.dumps(data))
    assert str(exc.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize("text", ["", "{", "[1]"])
def test_a_manifest_that_is_no_json_object_is_refused(tmp_path, text):
    with pytest.raises(DockstackError, match=r"\(file\): not (a )?JSON"):
        gb.parse_manifest(tmp_path / "x.xb.gz.json", text)


def test_verify_accepts_an_intact_backup(tmp_path):
    path = write_backup(tmp_path)
    assert gb.verify(path).sha256 == hashlib.sha256(b"the backup bytes").hexdigest()
    assert gb.sha256_file(path) == (hashlib.sha256(b"the backup bytes").hexdigest(), 16)


def test_verify_refuses_a_changed_byte_a_missing_manifest_and_a_missing_file(tmp_path):
    path = write_backup(tmp_path)
    path.write_bytes(b"the backup bytez")
    with pytest.raises(DockstackError, match=r"does not match its manifest .*nothing was changed"):
        gb.verify(path)
    gb.manifest_path(path).unlink()
    with pytest.raises(DockstackError, match=r"\.json: missing"):
        gb.verify(path)
    with pytest.raises(DockstackError, match="no such file"):
        gb.verify(tmp_path / "nothing.xb.gz")


def test_a_backup_never_overwrites(tmp_path):
    path = write_backup(tmp_path)
    with pytest.raises(DockstackError, match="already exists"):
        gb._writable(path)
    other = tmp_path / "new.xb.gz"
    gb.manifest_path(other).write_text("{}")
    with pytest.raises(DockstackError, match=r"new\.xb\.gz\.json: already exists"):
        gb._writable(other)
    with pytest.raises(DockstackError, match="no such folder"):
        gb._writable(tmp_path / "nowhere" / "b.xb.gz")
    with pytest.raises(DockstackError, match=r"ends with \.xb\.gz"):
        gb._writable(tmp_path / "b.tar")
    gb._writable(tmp_path / "fresh.xb.gz")


# --- nodes, names, argv ---------------------------------------------------------------------------------------


@pytest.fixture
def stack():
    from dockstack.config import DEFAULT_CONTAINERS_FILE, DEFAULT_HOSTS_FILE
    return load_stack(load_inventory(DEFAULT_HOSTS_FILE), DEFAULT_CONTAINERS_FILE, definitions=DEFINITIONS)


def test_the_galera_role_is_found_by_its_service(stack):
    role, nodes = gb.members(stack, None)
    assert role == "galera" and [c.name for c in nodes] == ["galera1", "galera2", "galera3"]
    with pytest.raises(DockstackError, match="--role 'openstack' is not a galera role"):
        gb.members(stack, "openstack")


def test_the_last_synced_node_is_backed_up_unless_one_is_named(stack):
    _, nodes = gb.members(stack, None)
    assert gb.pick(nodes, {"galera1": True, "galera2": True, "galera3": False}, None).name == "galera2"
    assert gb.pick(nodes, {"galera1": True, "galera2": True, "galera3": True}, "galera1").name == "galera1"
    with pytest.raises(DockstackError, match="galera3 is not Synced"):
        gb.pick(nodes, {"galera1": True}, "galera3")
    with pytest.raises(DockstackError, match="no node of galera1, galera2, galera3 is Synced"):
        gb.pick(nodes, {"galera1": False}, None)
    with pytest.raises(DockstackError, match="--node 'galera9' is not a node"):
        gb.pick(nodes, {"galera1": True}, "galera9")


def test_default_name_and_folders(stack):
    _, nodes = gb.members(stack, None)
    assert str(gb.default_file(stack, "galera", "20261202T040000Z")) == "containers-galera-20261202T040000Z.xb.gz"
    assert gb.data_dir(nodes[0]) == "/var/lib/dockstack/galera/galera1/data"
    assert gb.aside_dir(nodes[0], "X") == "/var/lib/dockstack/galera/galera1/data.before-restore-X"
    assert gb.STAMP_RE.fullmatch(gb.stamp())


def test_argv_pass_values_as_arguments():
    pos = gb.Position(UUID, 12)
    assert gb.backup_argv("galera3") == ["sh", "-c", gb.BACKUP_SCRIPT, "sh", "galera3"]
    assert gb.restore_argv("dockstack/galera:bookworm", "/srv/g1/data.restoring-X", pos) == [
        "sh", "-c", gb.RESTORE_SCRIPT, "sh", "dockstack/galera:bookworm", "/srv/g1/data.restoring-X",
        "/var/lib/mysql", UUID, "12"]
    assert gb.swap_argv("galera1", "/d", "/a") == ["sh", "-c", gb.SWAP_SCRIPT, "sh", "galera1", "/d", "/a"]
    assert gb.swap_argv("galera1", "/d", "/a", "/s")[-1] == "/s"
    assert gb.check_argv("galera1") == ["docker", "exec", "galera1", "sh", "/var/lib/dockstack/galera/clustercheck",
                                        "http"]


# --- the scripts, with fake binaries --------------------------------------------------------------------------

# `docker exec NAME sh -c SCRIPT` / `docker run ... IMAGE -c SCRIPT sh ARG...`: SCRIPT run here by sh, its tools fakes
FAKE_DOCKER = """case $1 in
  inspect) cat "$FAKEBIN_STATE/running" 2>/dev/null ;;
  exec) shift 2; exec "$@" ;;
  run) while [ "$1" != -c ]; do shift; done; shift; exec sh -c "$@" ;;
esac
"""


def test_backup_script_streams_gzip_and_nothing_else_when_mariabackup_completes(fakebin):
    fakebin.add("docker", FAKE_DOCKER)
    fakebin.add("mariadb-backup", 'printf "the xbstream"\necho "[00] 2026-12-02 04:00:01 completed OK!" >&2\n')
    proc = fakebin.run(gb.backup_argv("galera3"))
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls("docker")[0].startswith("docker exec galera3 sh -c ")
    assert fakebin.calls("mariadb-backup") == [
        "mariadb-backup --backup --galera-info --user=root --stream=xbstream --target-dir=" +
        fakebin.calls("mariadb-backup")[0].rpartition("=")[2]]


def test_backup_script_fails_with_mariabackups_last_lines(fakebin, tmp_path):
    import subprocess
    fakebin.add("docker", FAKE_DOCKER)
    fakebin.add("mariadb-backup", 'printf "half"\necho "[00] Error: cannot lock" >&2\nexit 1\n')
    raw = subprocess.run(gb.backup_argv("galera3"), capture_output=True, env=fakebin.env(), timeout=60)
    assert raw.returncode == 1
    assert gzip.decompress(raw.stdout) == b"half"  # what it had streamed; the caller keeps none of it
    assert "mariadb-backup exited with 1" in raw.stderr.decode() and "cannot lock" in raw.stderr.decode()


def restore_fakes(fakebin, info: str) -> None:
    fakebin.add("docker", FAKE_DOCKER)
    # mbstream -x -C DIR: the "extracted" files; --prepare: nothing to do; chown: logged only
    fakebin.add("mbstream", f'cat >/dev/null\nprintf "%s" "{info}" > "$3/mariadb_backup_galera_info"\n')
    fakebin.add("mariadb-backup")
    fakebin.add("chown")


def test_restore_script_prepares_and_marks_the_node_safe_to_bootstrap(fakebin, tmp_path):
    restore_fakes(fakebin, f"{UUID}:1234 0-1-1230\n")
    staged = tmp_path / "data.restoring-X"
    argv = gb.restore_argv("img", str(staged), gb.Position(UUID, 1234))
    argv[6] = str(staged)  # the datadir "inside the container" is the staged folder itself here
    proc = fakebin.run(argv, stdin=gzip.compress(b"stream"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"restored {UUID}:1234\n"
    assert (staged / "grastate.dat").read_text() == (f"# GALERA saved state\nversion: 2.1\nuuid:    {UUID}\n"
                                                      "seqno:   1234\nsafe_to_bootstrap: 1\n")
    assert fakebin.calls("mariadb-backup") == [f"mariadb-backup --prepare --target-dir={staged}"]
    assert fakebin.calls("chown") == [f"chown -R mysql:mysql {staged}"]
    assert " --network none " in fakebin.calls("docker")[0]


def test_restore_script_refuses_a_position_other_than_the_manifests_and_removes_what_it_unpacked(fakebin, tmp_path):
    restore_fakes(fakebin, f"{UUID}:99\n")
    staged = tmp_path / "data.restoring-X"
    argv = gb.restore_argv("img", str(staged), gb.Position(UUID, 1234))
    argv[6] = str(staged)
    proc = fakebin.run(argv, stdin=gzip.compress(b"stream"))
    assert proc.returncode == 1
    assert f"says its position is {UUID}:99, its manifest says {UUID}:1234" in proc.stderr
    assert not staged.exists()
    staged.mkdir()  # one left by another run: never reused
    proc = fakebin.run(argv, stdin=gzip.compress(b"stream"))
    assert proc.returncode == 1 and "already exists" in proc.stderr
    staged.rmdir()
    staged.symlink_to(tmp_path / "elsewhere")  # a dangling symlink: never a folder to unpack into (docker follows it)
    proc = fakebin.run(argv, stdin=gzip.compress(b"stream"))
    assert proc.returncode == 1 and "already exists" in proc.stderr and not (tmp_path / "elsewhere").exists()


def test_swap_script_puts_the_data_aside_and_the_restored_or_an_empty_folder_in_its_place(fakebin, tmp_path):
    fakebin.add("docker", FAKE_DOCKER)
    (fakebin.state / "running").write_text("false\n")
    data, aside, staged = tmp_path / "data", tmp_path / "data.before", tmp_path / "staged"
    data.mkdir()
    (data / "ibdata1").write_text("old")
    staged.mkdir()
    (staged / "ibdata1").write_text("restored")
    proc = fakebin.run(gb.swap_argv("galera1", str(data), str(aside), str(staged)))
    assert proc.returncode == 0 and proc.stdout == f"aside {aside}\ndone\n"
    assert (aside / "ibdata1").read_text() == "old" and (data / "ibdata1").read_text() == "restored"
    assert not staged.exists()
    proc = fakebin.run(gb.swap_argv("galera1", str(data), str(tmp_path / "aside2")))
    assert proc.returncode == 0 and list(data.iterdir()) == []  # empty: the node joins by SST
    assert (tmp_path / "aside2" / "ibdata1").read_text() == "restored"


def test_swap_script_refuses_a_running_node_and_an_existing_aside(fakebin, tmp_path):
    fakebin.add("docker", FAKE_DOCKER)
    (tmp_path / "data").mkdir()
    (fakebin.state / "running").write_text("true\n")
    proc = fakebin.run(gb.swap_argv("galera1", str(tmp_path / "data"), str(tmp_path / "aside")))
    assert proc.returncode == 1 and "galera1 is running" in proc.stderr
    (fakebin.state / "running").write_text("false\n")
    (tmp_path / "aside").mkdir()
    proc = fakebin.run(gb.swap_argv("galera1", str(tmp_path / "data"), str(tmp_path / "aside")))
    assert proc.returncode == 1 and "not overwritten" in proc.stderr
    assert (tmp_path / "data").is_dir()
    (tmp_path / "aside2").symlink_to(tmp_path / "nowhere")  # dangling: mv would move the data into its target
    proc = fakebin.run(gb.swap_argv("galera1", str(tmp_path / "data"), str(tmp_path / "aside2")))
    assert proc.returncode == 1 and "not overwritten" in proc.stderr and (tmp_path / "data").is_dir()


# --- Remote.receive ---------------------------------------------------------------------------------------------


class FakeChannel:
    """What Remote.receive uses of a paramiko channel: stdout in pieces, some stderr, an exit code."""

    def __init__(self, pieces: list[bytes], err: bytes, code: int, stall: bool = False) -> None:
        self.pieces, self.err, self.code, self.stall = list(pieces), err, code, stall
        self.status_event = threading.Event()
        self.command = ""
        self.closed = False

    def settimeout(self, t):
        self.timeout = t

    def exec_command(self, cmd):
        self.command = cmd

    def shutdown_write(self):
        pass

    def recv_stderr_ready(self):
        return bool(self.err)

    def recv_stderr(self, n):
        out, self.err = self.err[:n], self.err[n:]
        return out

    def recv(self, n):
        if self.stall:
            raise TimeoutError
        if not self.pieces:
            self.status_event.set()
            return b""
        return self.pieces.pop(0)

    def recv_exit_status(self):
        return self.code

    def close(self):
        self.closed = True


def fake_remote(chan: FakeChannel) -> Remote:
    remote = Remote.__new__(Remote)

    class Transport:
        def open_session(self):
            return chan

    class Conn:
        class client:  # paramiko's attribute name
            @staticmethod
            def get_transport():
                return Transport()

    remote.host = load_inventory(Path(__file__).parents[2] / "hosts.yaml").hosts[0]
    remote._conn, remote._sessions = Conn(), threading.BoundedSemaphore(1)
    remote._open = lambda: None
    return remote


def test_receive_streams_every_piece_into_the_sink_in_order():
    chan = FakeChannel([b"ab", b"cd", b"e"], b"note\n", 0)
    got: list[bytes] = []
    r = fake_remote(chan).receive(["sh", "-c", "x y"], got.append, "backup", idle=5)
    assert got == [b"ab", b"cd", b"e"] and r.ok and r.stdout == "" and r.stderr == "note\n"
    assert chan.command == "sh -c 'x y'" and chan.timeout == 5 and chan.closed


def test_receive_reports_the_exit_code_and_a_stall():
    r = fake_remote(FakeChannel([b"x"], b"failed\n", 1)).receive(["x"], lambda b: None, "backup", idle=5)
    assert not r.ok and r.exit_code == 1 and r.stderr == "failed\n"
    with pytest.raises(RemoteError, match="nothing received for 5s after 0 bytes"):
        fake_remote(FakeChannel([], b"", 0, stall=True)).receive(["x"], lambda b: None, "backup", idle=5)


def test_receive_lets_the_sinks_own_error_through():
    def sink(b):
        raise DockstackError("disk full")
    chan = FakeChannel([b"x"], b"", 0)
    with pytest.raises(DockstackError, match=r"^disk full$"):
        fake_remote(chan).receive(["x"], sink, "backup", idle=5)
    assert chan.closed


# --- the commands refuse before any host is asked ------------------------------------------------------------------


class NoHosts:
    """Remotes that fail the test when a host is asked."""

    def __getitem__(self, host):
        raise AssertionError(f"{host} was asked")

    def all(self):
        raise AssertionError("the hosts were asked")


def test_a_damaged_backup_is_refused_before_any_host_is_asked(tmp_path, stack):
    path = write_backup(tmp_path)
    path.write_bytes(b"the backup bytez")
    with pytest.raises(DockstackError, match="does not match its manifest"):
        gb.restore(None, stack, NoHosts(), print, str(path))


def test_a_backup_onto_an_existing_file_is_refused_before_any_host_is_asked(tmp_path, stack):
    path = write_backup(tmp_path)
    with pytest.raises(DockstackError, match="already exists"):
        gb.backup(None, stack, NoHosts(), print, file=str(path))
    with pytest.raises(DockstackError, match="--node 'galera9' is not a node of role galera"):
        gb.restore(None, stack, NoHosts(), print, str(path), node="galera9")
