"""layers: an overlayfs upper folder becomes a layer tar with OCI whiteouts (`.wh.NAME` for a removed file or
folder, `.wh..wh..opq` in a folder that replaced the one below); overlayfs's own attributes never reach the tar."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile

import pytest

from dockstack import layers


@pytest.mark.root
def test_an_upper_folder_is_marked_as_a_layer_says_it(tmp_path):
    """A removed file's 0/0 device becomes its `.wh.` file, an opaque folder gets its marker; the folders' mtimes
    and a real device stay."""
    upper = tmp_path / "upper"
    (upper / "etc/cron.daily").mkdir(parents=True)
    (upper / "var/lib/x").mkdir(parents=True)
    (upper / "dev").mkdir()
    os.mknod(upper / "etc/cron.daily/apt", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    os.utime(upper / "etc/cron.daily/apt", (1000, 1000), follow_symlinks=False)
    os.mknod(upper / "gone", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    os.mknod(upper / "dev/tty", 0o600 | stat.S_IFCHR, os.makedev(5, 0))
    os.setxattr(upper / "var/lib/x", layers.OPAQUE, b"y")
    for d in ("etc/cron.daily", "var/lib/x", "."):
        os.utime(upper / d, (2000, 2000))
    assert layers.mark_whiteouts(upper) == 3
    apt = upper / "etc/cron.daily/.wh.apt"
    assert apt.is_file() and apt.stat().st_size == 0 and stat.S_IMODE(apt.stat().st_mode) == 0o644
    assert apt.stat().st_mtime == 1000 and not os.path.lexists(upper / "etc/cron.daily/apt")
    assert (upper / ".wh.gone").is_file() and (upper / "var/lib/x/.wh..wh..opq").is_file()
    assert stat.S_ISCHR(os.lstat(upper / "dev/tty").st_mode)
    assert [os.stat(upper / d).st_mtime for d in ("etc/cron.daily", "var/lib/x", ".")] == [2000, 2000, 2000]


@pytest.mark.root
def test_an_overlay_upper_folder_packs_into_a_layer_docker_reads(tmp_path):
    lower = tmp_path / "lower"
    for d in ("etc/old", "usr/bin", "var/lib/app"):
        (lower / d).mkdir(parents=True)
    (lower / "etc/old/conf").write_text("old\n")
    (lower / "usr/bin/tool").write_text("#!/bin/sh\n")
    (lower / "var/lib/app/state").write_text("1\n")
    with layers.overlay(lower, tmp_path / "work") as merged:
        os.remove(merged / "usr/bin/tool")  # a removed file
        (merged / "etc/old/conf").unlink()
        (merged / "etc/old").rmdir()  # a removed folder
        (merged / "etc/new").write_text("new\n")  # an added file
        for f in (merged / "var/lib/app").iterdir():
            f.unlink()
        (merged / "var/lib/app").rmdir()
        (merged / "var/lib/app").mkdir()  # a folder made anew over the old one: opaque
        (merged / "var/lib/app/fresh").write_text("2\n")
    layer = layers.write_layer(tmp_path / "work" / "upper", tmp_path / "layer.tar.gz", upper=True)
    raw = gzip.decompress(layer.blob.read_bytes())
    assert layer.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    with tarfile.open(layer.blob) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
    assert {"usr/bin/.wh.tool", "etc/.wh.old", "etc/new", "var/lib/app/.wh..wh..opq", "var/lib/app/fresh"} <= set(
        members)
    assert all(m.isreg() for n, m in members.items() if ".wh." in n)
    assert not any(m.ischr() for m in members.values())
    assert not any("trusted.overlay." in k for m in members.values() for k in m.pax_headers)
    assert "etc/old/conf" not in members and "var/lib/app/state" not in members


def test_the_packer_hands_on_every_byte_in_order_and_hashes_them():
    """Written in pieces of every size across several chunks, read back whole, hashed as written."""
    out = io.BytesIO()
    packer = layers._Packer(out)
    data = os.urandom(3 * layers.PACK_CHUNK + 12345)
    at, step = 0, 1
    while at < len(data):
        packer.write(data[at:at + step])
        at, step = at + step, step * 3 % 70001 + 1
    packer.close()
    assert out.getvalue() == data and packer.sha.hexdigest() == hashlib.sha256(data).hexdigest()


def test_the_packer_raises_what_the_compressing_thread_met():
    class Full(io.BytesIO):
        def write(self, b) -> int:
            raise OSError(28, "No space left on device")

    packer = layers._Packer(Full())
    with pytest.raises(OSError, match="No space left"):
        for _ in range(20):
            packer.write(b"x" * layers.PACK_CHUNK)
        packer.close()
