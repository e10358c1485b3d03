"""Image layers as Docker loads them, made on this machine without a daemon.

A layer is the changes of one build step: the root layer is a whole debootstrapped tree; an image's own layer is
what its package install changed on top of that tree, caught in an overlayfs upper folder. Overlayfs marks a
removed file with a 0/0 character device and a replaced folder with the `trusted.overlay.opaque` attribute; a layer
tar says the same with `.wh.NAME` and `.wh..wh..opq` entries (the OCI image spec's whiteouts), so `mark_whiteouts`
rewrites the upper folder that way once the overlay is gone, and GNU tar packs it as it is, leaving overlayfs's own
attributes out. A layer is stored gzip-compressed (by ISA-L's igzip: five times zlib's speed at level 1's size, and
plain gzip, which any `docker load` reads); its diff ID is the sha256 of the uncompressed tar, as Docker computes it
on load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from isal import igzip

from dockstack import local
from dockstack.errors import DockstackError

OPAQUE = "trusted.overlay.opaque"  # overlayfs's attribute of a folder that hides the one below ("y")
OVERLAY_XATTRS = "trusted.overlay.*"  # overlayfs's own attributes: never part of an image
WHITEOUT, OPAQUE_MARK = ".wh.", ".wh..wh..opq"
# igzip's level 2: the openstack image's 1.6 GiB tar in 4.4 s at 522 MiB, where zlib's level 1 took 22 s for 519 MiB
GZIP_LEVEL = 2
PACK_CHUNK = 1 << 20  # bytes handed to the compressing thread at a time
# what a tree holds that is never part of an image (the kernel's and the build's mount points)
EXCLUDES = ("--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*")


@dataclass(frozen=True)
class Layer:
    """A layer in the cache: its gzip blob, the diff ID (sha256 of the uncompressed tar) and the blob's size."""

    blob: Path
    diff_id: str
    size: int


class _Packer:
    """A writable stream that hashes what passes (the uncompressed tar: the diff ID) and hands it to gzip, both in a
    thread of its own, a PACK_CHUNK at a time, while the caller reads GNU tar's output. close() waits for the thread
    and raises what it met."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha = hashlib.sha256()
        self._buf = bytearray()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="layer gzip", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:  # after an error only drain, so the writer never blocks on a full queue
                try:
                    self.sha.update(chunk)
                    self._out.write(chunk)
                except BaseException as exc:  # handed to the writer's thread
                    self._error = exc

    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise self._error
        self._buf += data
        if len(self._buf) >= PACK_CHUNK:
            self._queue.put(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def flush(self) -> None:
        """Nothing to do: close() hands on the rest."""

    def close(self) -> None:
        if self._buf:
            self._queue.put(bytes(self._buf))
            self._buf.clear()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _tar_of(tree: Path, errors: BinaryIO) -> subprocess.Popen[bytes]:
    """GNU tar of a tree, numeric owners and extended attributes (file capabilities) kept but overlayfs's, in PAX
    format; what it says on stderr goes to errors (a file: a pipe nobody reads while the tar is read could fill)."""
    return subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                             f"--xattrs-exclude={OVERLAY_XATTRS}", "--format=posix", "-C", str(tree), "-cf", "-",
                             *EXCLUDES, "."], stdout=subprocess.PIPE, stderr=errors)


def _empty_file(path: Path, mtime_ns: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.fchmod(fd, 0o644)  # whatever the umask
    finally:
        os.close(fd)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def mark_whiteouts(upper: Path) -> int:
    """An overlayfs upper folder, no longer mounted, rewritten in place as a layer says the same: a removed file's
    0/0 device becomes the empty file `.wh.NAME`, a folder with the opaque attribute gets `.wh..wh..opq` (its mtime
    kept). Returns how many marks it made."""
    marks = 0
    for folder, dirs, files in os.walk(upper):
        here = Path(folder)
        before = os.lstat(here)
        made = 0
        for name in [*dirs, *files]:
            st = os.lstat(here / name)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                os.unlink(here / name)
                _empty_file(here / f"{WHITEOUT}{name}", st.st_mtime_ns)
                made += 1
        try:
            opaque = os.getxattr(here, OPAQUE, follow_symlinks=False) == b"y"
        except OSError:  # no such attribute (ENODATA), or none on this file system
            opaque = False
        if opaque:
            _empty_file(here / OPAQUE_MARK, before.st_mtime_ns)
            made += 1
        if made:  # the folder's own entry says what it said before
            os.utime(here, ns=(before.st_atime_ns, before.st_mtime_ns))
        marks += made
    return marks


def write_layer(tree: Path, blob: Path, upper: bool) -> Layer:
    """The layer of a tree into blob (gzip): a whole root tree as it is, an overlayfs upper folder (upper=True)
    with its whiteouts marked first (mark_whiteouts: the folder is changed)."""
    if upper:
        mark_whiteouts(tree)
    tmp = blob.with_name(blob.name + ".part")
    with tempfile.TemporaryFile() as errors:
        tar = _tar_of(tree, errors)
        assert tar.stdout is not None
        try:
            with open(tmp, "wb") as raw, igzip.IGzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL,
                                                         mtime=0) as gz:
                packer = _Packer(gz)
                try:
                    while chunk := tar.stdout.read(PACK_CHUNK):
                        packer.write(chunk)
                finally:
                    packer.close()
        except BaseException:  # nothing half-written stays, and tar does not wait on a pipe nobody reads
            tar.kill()
            tar.wait()
            tmp.unlink(missing_ok=True)
            raise
        if tar.wait() != 0:
            tmp.unlink(missing_ok=True)
            errors.seek(0)
            err = errors.read().decode(errors="replace")
            raise DockstackError(f"packing the layer of {tree} failed: {err.strip()[-500:]}")
    tmp.rename(blob)
    return Layer(blob, "sha256:" + packer.sha.hexdigest(), blob.stat().st_size)


@contextlib.contextmanager
def overlay(lower: Path, work: Path) -> Iterator[Path]:
    """lower seen through an overlayfs whose changes land in work/upper: yields the merged tree, unmounted after."""
    upper, scratch, merged = work / "upper", work / "overlay-work", work / "merged"
    for d in (upper, scratch, merged):
        d.mkdir(parents=True, exist_ok=True)
    local.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={upper},workdir={scratch}",
               str(merged)], f"overlay mount on {merged}")
    try:
        yield merged
    finally:
        local.run(["umount", str(merged)], f"unmount {merged}", check=False)
