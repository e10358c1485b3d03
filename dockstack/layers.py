"""Image layers as Docker loads them, made on this machine without a daemon.

A layer is the changes of one build step: the root layer is a whole debootstrapped tree; an image's own layer is
what its package install changed on top of that tree, caught in an overlayfs upper folder. Overlayfs marks a
removed file with a 0/0 character device and a replaced folder with the `trusted.overlay.opaque` attribute; a layer
tar says the same with `.wh.NAME` and `.wh..wh..opq` entries (the OCI image spec's whiteouts), so `to_layer`
rewrites them. A layer is stored gzip-compressed (by ISA-L's igzip: five times zlib's speed at level 1's size, and
plain gzip, which any `docker load` reads); its diff ID is the sha256 of the uncompressed tar, as Docker computes it
on load.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from isal import igzip

from dockstack import local
from dockstack.errors import DockstackError

OPAQUE = "SCHILY.xattr.trusted.overlay.opaque"  # how GNU tar --xattrs records overlayfs's folder attribute
OVERLAY_XATTR = "SCHILY.xattr.trusted.overlay."  # overlayfs's own attributes: never part of an image
WHITEOUT, OPAQUE_MARK = ".wh.", ".wh..wh..opq"
# igzip's level 2: the openstack image's 1.6 GiB tar in 4.4 s at 522 MiB, where zlib's level 1 took 22 s for 519 MiB
GZIP_LEVEL = 2
PACK_CHUNK = 1 << 20  # bytes handed to the compressing thread at a time
COPY_BUFFER = 1 << 20  # a file's data passes in 1 MiB pieces (tarfile's default, 16 KiB, costs a layer seconds)
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
    thread of its own, a PACK_CHUNK at a time, while the caller reads the tree's tar and rewrites its members: on a big
    layer (the openstack image's, the last build to end) compressing was a third of the work and the other core idle.
    close() waits for the thread and raises what it met."""

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


def _tar_of(tree: Path) -> subprocess.Popen[bytes]:
    """GNU tar of a tree, numeric owners and extended attributes (file capabilities) kept, in PAX format."""
    return subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--format=posix",
                             "-C", str(tree), "-cf", "-", *EXCLUDES, "."], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def whiteouts(member: tarfile.TarInfo) -> list[tarfile.TarInfo]:
    """One member of an overlayfs upper folder's tar as the layer tar's members (pure): a removed file's 0/0 device
    becomes its `.wh.` entry; a replaced folder keeps its entry and gets `.wh..wh..opq`; overlayfs's attributes go."""
    name = member.name.removeprefix("./")
    if member.ischr() and member.devmajor == 0 and member.devminor == 0:
        folder, _, base = name.rpartition("/")
        wh = tarfile.TarInfo(f"{folder}/{WHITEOUT}{base}" if folder else f"{WHITEOUT}{base}")
        wh.mtime, wh.mode = member.mtime, 0o644
        return [wh]
    opaque = member.isdir() and member.pax_headers.get(OPAQUE) == "y"
    member.pax_headers = {k: v for k, v in member.pax_headers.items() if not k.startswith(OVERLAY_XATTR)}
    out = [member]
    if opaque:
        mark = tarfile.TarInfo(f"{name}/{OPAQUE_MARK}" if name not in ("", ".") else OPAQUE_MARK)
        mark.mtime, mark.mode = member.mtime, 0o644
        out.append(mark)
    return out


def write_layer(tree: Path, blob: Path, upper: bool) -> Layer:
    """The layer of a tree into blob (gzip): a whole root tree as it is, an overlayfs upper folder (upper=True)
    with its whiteouts rewritten."""
    tar = _tar_of(tree)
    assert tar.stdout is not None
    tmp = blob.with_name(blob.name + ".part")
    with open(tmp, "wb") as raw, igzip.IGzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
        packer = _Packer(gz)
        try:
            with tarfile.open(fileobj=tar.stdout, mode="r|", copybufsize=COPY_BUFFER) as src, \
                    tarfile.open(fileobj=packer, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[arg-type]
                                 copybufsize=COPY_BUFFER) as dst:
                for member in src:
                    data = src.extractfile(member) if member.isreg() else None
                    for out in (whiteouts(member) if upper else [member]):
                        dst.addfile(out, data if out is member else None)
        finally:
            packer.close()
    err = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
    if tar.wait() != 0:
        tmp.unlink(missing_ok=True)
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
