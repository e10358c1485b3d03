"""dockstack.remote: the pure helpers (quoting and the thread fan-out), and READ_FILES_SCRIPT run here; no SSH here."""

from __future__ import annotations

import os
import shlex
import threading
import time
from pathlib import Path

import pytest

from dockstack import remote
from dockstack.config import Host
from dockstack.errors import RemoteError
from dockstack.remote import TMP_SUFFIX, Remote, Result, parallel, quote
from tests.unit.conftest import FakeBin

TRICKY = ["echo", "two words", "semi;colon", "$(id)", "`id`", "it's", 'say "hi"', "", "*", "a\nb", 42, "-n"]


def test_quote_round_trips_through_shlex():
    assert shlex.split(quote(TRICKY)) == [str(a) for a in TRICKY]


def test_quote_leaves_plain_words_readable():
    assert quote(["docker", "ps", "--all"]) == "docker ps --all"
    assert quote(["sleep", 5]) == "sleep 5"


def test_quote_empty_argument_is_kept():
    assert quote(["printf", ""]) == "printf ''"


def test_parallel_keeps_item_order():
    delays = [0.03, 0.0, 0.02, 0.01]
    out = parallel(list(enumerate(delays)), lambda it: (time.sleep(it[1]), it[0] * 10)[1])
    assert out == [0, 10, 20, 30]


def test_parallel_runs_items_concurrently():
    barrier = threading.Barrier(4, timeout=5)
    # each call waits for all four: only possible if they run at the same time
    assert parallel(range(4), lambda i: (barrier.wait(), i)[1]) == [0, 1, 2, 3]


def test_parallel_empty():
    assert parallel([], lambda x: x) == []


def test_parallel_accepts_any_iterable():
    assert parallel((x for x in "abc"), str.upper) == ["A", "B", "C"]


def test_parallel_reraises_after_all_finish():
    finished = []
    lock = threading.Lock()

    def fn(i):
        if i == 1:
            raise RuntimeError("item 1 failed")
        time.sleep(0.05)
        with lock:
            finished.append(i)
        return i

    with pytest.raises(RuntimeError, match="item 1 failed"):
        parallel(range(4), fn)
    assert sorted(finished) == [0, 2, 3]


def test_parallel_reraises_the_first_error_in_item_order():
    def fn(i):
        if i == 0:
            time.sleep(0.05)  # fails last in time, but first in order
            raise KeyError("zero")
        if i == 2:
            raise ValueError("two")
        return i

    with pytest.raises(KeyError, match="zero"):
        parallel(range(3), fn)


# --- READ_FILES_SCRIPT, through get_texts, with the command line run here ----------------------------


class LocalRemote(Remote):
    """A Remote whose command lines run here under sh (fakebin's PATH) instead of over SSH."""

    def __init__(self, fakebin: FakeBin) -> None:
        self.host = Host("here", "127.0.0.1")
        self.fakebin = fakebin

    def shell(self, cmdline: str, step: str, check: bool = True, timeout: float | None = None,
              stdin: str | None = None) -> Result:
        """The command line as the host's login shell would run it; fails as Remote.shell does."""
        proc = self.fakebin.run(["sh", "-c", cmdline], stdin)
        res = Result(proc.returncode == 0, proc.returncode, proc.stdout, proc.stderr)
        if check and not res.ok:
            raise RemoteError(self.name, step, (res.stderr or res.stdout).strip() or f"exit code {res.exit_code}")
        return res


class LocalSender(LocalRemote):
    """LocalRemote whose `send` streams the data into the command line run here."""

    def send(self, cmdline: str, data, step: str, progress=None, check: bool = True, timeout=None) -> Result:
        proc = self.fakebin.run(["sh", "-c", cmdline], data.read())
        res = Result(proc.returncode == 0, proc.returncode, proc.stdout, proc.stderr)
        if check and not res.ok:
            raise RemoteError(self.name, step, (res.stderr or res.stdout).strip() or f"exit code {res.exit_code}")
        return res


def test_put_texts_writes_every_file_whole_through_its_temporary_name(tmp_path, fakebin):
    """PUT_FILES_SCRIPT: the tar's PATH.dockstack-tmp files renamed onto PATH; an old file is replaced."""
    (tmp_path / "old").write_text("before\n")
    files = {str(tmp_path / "old"): "after\n", str(tmp_path / "new file"): "grüße\n"}
    LocalSender(fakebin).put_texts(files, "put files")
    assert {p: Path(p).read_text() for p in files} == files
    assert not list(tmp_path.glob("*" + TMP_SUFFIX))


def test_put_texts_fails_when_a_file_cannot_be_written(tmp_path, fakebin):
    (tmp_path / "plain").write_text("a file where a folder should be")
    with pytest.raises(RemoteError):
        LocalSender(fakebin).put_texts({str(tmp_path / "plain" / "x"): "text\n"}, "put files")
    assert (tmp_path / "plain").read_text() == "a file where a folder should be"


def test_get_texts_reads_exact_contents_and_missing_files(tmp_path, fakebin):
    files = {"plain": "one line\n", "empty": "", "with space": "grüße\tand a tab\n\nno final newline",
             "big": "x" * 5000 + "\n"}  # base64 -w0: one line however long
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = [str(tmp_path / name) for name in files] + [str(tmp_path / "missing")]
    got = LocalRemote(fakebin).get_texts(paths, "read files")
    assert got == {str(tmp_path / name): text for name, text in files.items()} | {str(tmp_path / "missing"): None}


def test_read_files_script_stops_at_a_file_it_cannot_read(tmp_path, fakebin):
    (tmp_path / "a").write_text("a\n")
    (tmp_path / "dir").mkdir()  # exists, but base64 cannot read it
    proc = fakebin.run(["sh", "-c", remote.READ_FILES_SCRIPT, "sh", str(tmp_path / "a"), str(tmp_path / "dir"),
                        str(tmp_path / "after")])
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == f"{tmp_path}/a\tYQo="
    assert "after" not in proc.stdout
    with pytest.raises(RemoteError, match="here: read files failed"):
        LocalRemote(fakebin).get_texts([str(tmp_path / "dir")], "read files")


def test_read_files_script_never_follows_a_symlink_nor_waits_on_a_fifo(tmp_path, fakebin):
    """A symlink (to a file of the host, or to /dev/zero) or a FIFO where a file is asked for is refused at once."""
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    (tmp_path / "link").symlink_to(secret)
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "zero", "dangling", "fifo"):
        proc = fakebin.run(["sh", "-c", remote.READ_FILES_SCRIPT, "sh", str(tmp_path / name)])
        assert proc.returncode == 1 and proc.stdout == "" and "is not a regular file" in proc.stderr, (name, proc)
