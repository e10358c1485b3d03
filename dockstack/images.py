"""Images without a registry: built from Debian packages (or brought as a `docker save` archive, see
imagearchive.py), shipped to hosts over SSH.

The build writes a `docker save`-format archive itself (layer tar + config + manifest), so the
image ID (the config's sha256) is known here and identical on every host after `docker load`:
sync compares IDs and sends an image only to hosts that lack it.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dockstack import local, settings
from dockstack.config import Image, Stack
from dockstack.errors import DockstackError
from dockstack.prereq import IMAGE_PROGRAMS, require
from dockstack.progress import Item, LineMeter, Meter, amount
from dockstack.remote import Remote, Remotes, parallel, quote
from dockstack.scripts import script

RECIPE_VERSION = 1
CACHE_DIR = settings.cache_dir() / "images"
DEFAULT_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
BUILD_LOCK = ".build.lock"  # in CACHE_DIR: held while an image is built
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    id: str
    archive: Path
    size: int


def recipe_key(image: Image, mirror: str | None) -> str:
    parts: list[object] = [RECIPE_VERSION, image.suite, sorted(image.packages), mirror, DEFAULT_CMD]
    if image.placeholders:  # only then: the other images' keys (and caches) stay what they were
        parts.append({"placeholders": sorted(image.placeholders), "installer": "apt-get"})
    text = json.dumps(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(image: Image, key: str) -> Path:
    return CACHE_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', image.tag)}-{key}"


def parse_apt_mirror(sources: str, suite: str) -> str | None:
    """The Debian mirror URI serving `suite` in apt sources (deb822 or one-line format)."""
    for block in re.split(r"\n\s*\n", sources):
        fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", block, re.M))
        if "deb" in fields.get("Types", "").split() and suite in fields.get("Suites", "").split():
            return fields.get("URIs", "").split()[0] if fields.get("URIs") else None
    for line in sources.splitlines():
        parts = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()  # drop [option ...] groups
        if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
            return parts[1]
    return None


def local_mirror(suite: str) -> str | None:
    """The mirror this machine's apt uses, so debootstrap fetches from the same place."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.sources")),
             *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for f in files:
        if f.is_file():
            found = parse_apt_mirror(f.read_text(errors="replace"), suite)
            if found:
                return found
    return None


def image_config(diff_id: str, key: str, image: Image, arch: str) -> bytes:
    """The image config JSON; its sha256 is the image ID. Fixed timestamps keep it reproducible."""
    config = {
        "architecture": arch, "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH_ENV], "Cmd": DEFAULT_CMD,
                   "Labels": {"org.dockstack.recipe": key, "org.dockstack.packages": " ".join(image.packages)}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by":
                     f"dockstack: debootstrap --variant=minbase {image.suite} + {' '.join(image.packages)}"}],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def load_built(image: Image) -> BuiltImage | None:
    """The cached build of this image's current recipe, if there is one."""
    key = recipe_key(image, local_mirror(image.suite))
    meta = cache_path(image, key) / "image.json"
    if not meta.exists():
        return None
    data = json.loads(meta.read_text())
    archive = meta.parent / "image.tar.gz"
    if not archive.exists():
        return None
    return BuiltImage(image.tag, data["id"], archive, archive.stat().st_size)


def build(image: Image, say=print, meter: Meter | None = None) -> BuiltImage:
    """Build (or take from the cache) the archive of one image; an image brought as an archive is that file.
    A build reports its steps to meter (default: lines through say)."""
    if image.archive is not None and image.archive_id is not None:  # config.py read its ID from the archive
        archive = Path(image.archive)
        size = archive.stat().st_size
        say(f"{image.tag}: archive {archive} {image.archive_id[:19]} ({size // 2**20} MiB)")
        return BuiltImage(image.tag, image.archive_id, archive, size)
    cached = load_built(image)
    if cached:
        say(f"{image.tag}: cached build {cached.id[:19]} ({cached.size // 2**20} MiB)")
        return cached
    require(IMAGE_PROGRAMS, f"building image {image.tag}")
    with build_lock(image, say):
        cached = load_built(image)  # built by another clone while this one waited
        if cached:
            say(f"{image.tag}: built meanwhile by another run: {cached.id[:19]} ({cached.size // 2**20} MiB)")
            return cached
        item = (meter or LineMeter(say)).item(f"{image.tag}: build",
                                              note=f"debootstrap {image.suite} with {', '.join(image.packages)}")
        return _build(image, item)


@contextlib.contextmanager
def build_lock(image: Image, say) -> Iterator[None]:
    """One build at a time in the cache, which every clone on the machine shares: a second build of the same
    image would remove the first one's work folder under it, and debootstraps share the package cache. The
    lock is the kernel's (flock): it goes with the process, so a killed build never leaves it held."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / BUILD_LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{image.tag}: waiting for another image build on this machine (the cache {CACHE_DIR} is shared)")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build(image: Image, item: Item) -> BuiltImage:
    """debootstrap, pack, write the archive, reporting each step to item; the caller holds build_lock."""
    mirror = local_mirror(image.suite)
    key = recipe_key(image, mirror)
    out = cache_path(image, key)
    work = out.with_name(out.name + ".work")
    if work.exists():
        shutil.rmtree(work)
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    debs = CACHE_DIR / "debs"  # shared by all builds: the second image downloads little
    debs.mkdir(parents=True, exist_ok=True)
    # with placeholders, debootstrap makes the base system only and apt-get installs the packages after the
    # placeholder packages (debootstrap cannot take a package from outside the suite)
    include = [] if image.placeholders else [f"--include={','.join(image.packages)}"]
    argv = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}", *include, image.suite, str(rootfs)]
    if mirror:
        argv.append(mirror)
    _run_streaming(argv, f"debootstrap of {image.tag}", item)
    if image.placeholders:
        _apt_install(image, rootfs, debs, work, item)
    for junk in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for p in (rootfs / junk).glob("*"):
            if p.is_file():
                p.unlink()
    item.update(note="packing the layer")
    layer = work / "layer.tar"
    local.run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(layer),
               "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*", "."],
              f"pack {image.tag}", timeout=600)
    diff_id = "sha256:" + _sha256_file(layer)
    arch = local.run(["dpkg", "--print-architecture"], "read architecture").stdout.strip()
    config = image_config(diff_id, key, image, arch)
    image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    archive = work / "image.tar.gz"
    _write_archive(archive, image.tag, config, image_id, layer, diff_id)
    (work / "image.json").write_text(json.dumps({"tag": image.tag, "id": image_id, "diff_id": diff_id}) + "\n")
    layer.unlink()
    shutil.rmtree(rootfs)
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    built = load_built(image)
    assert built is not None
    item.finish(f"built {image_id[:19]} ({amount(built.size)} compressed)")
    return built


# Inside the new root (chroot): the placeholder packages, then the image's packages with apt-get, which resolves
# dependencies as apt does (debootstrap's resolver skips alternatives and virtual packages). Its progress lines are
# rewritten like debootstrap's (`I: ...`) so _run_streaming passes some on. The text: dockstack/scripts/apt.sh.
APT_SCRIPT = script("apt.sh")


def placeholder_control(name: str) -> str:
    """The control file of an empty package that stands in for one the suite no longer has."""
    return (f"Package: {name}\nVersion: 0~dockstack1\nArchitecture: all\nMaintainer: dockstack <root@localhost>\n"
            "Description: placeholder made by dockstack\n the suite lacks this package; what depends on it "
            "installs without it\n")


def _apt_install(image: Image, rootfs: Path, debs: Path, work: Path, item: Item) -> None:
    """The image's packages into a debootstrapped root with apt-get, after its placeholder packages; services are
    not started (policy-rc.d), the shared package cache is reused (hard links both ways)."""
    require({"dpkg-deb": "dpkg"}, f"building image {image.tag}")
    item.update(note=f"apt-get install with placeholders for {', '.join(image.placeholders)}")
    pdir = rootfs / "tmp" / "dockstack-placeholders"
    pdir.mkdir(parents=True)
    for name in image.placeholders:
        src = work / "placeholders" / name
        (src / "DEBIAN").mkdir(parents=True)
        (src / "DEBIAN" / "control").write_text(placeholder_control(name))
        local.run(["dpkg-deb", "--root-owner-group", "--build", str(src), str(pdir / f"{name}.deb")],
                  f"placeholder package {name}")
    archives = rootfs / "var" / "cache" / "apt" / "archives"
    _link_debs(debs, archives)
    policy = rootfs / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# dockstack's image build: no service starts in the build root\nexit 101\n")
    policy.chmod(0o755)
    resolv = rootfs / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)  # apt-get fetches from the mirror debootstrap used
    proc = rootfs / "proc"
    local.run(["mount", "-t", "proc", "proc", str(proc)], f"mount proc for {image.tag}")
    try:
        _run_streaming(["chroot", str(rootfs), "bash", "-c", APT_SCRIPT, "bash", *image.packages],
                       f"apt-get install of {image.tag}", item)
    finally:
        local.run(["umount", str(proc)], f"unmount proc of {image.tag}", check=False)
        policy.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
        shutil.rmtree(pdir, ignore_errors=True)
    _link_debs(archives, debs)  # what apt-get fetched, for the next build


def _link_debs(src: Path, dst: Path) -> None:
    """Hard-link the .deb files of src that dst lacks (the same file system: no copy)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.deb"):
        target = dst / f.name
        if not target.exists():
            try:
                os.link(f, target)
            except OSError:
                shutil.copyfile(f, target)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_archive(archive: Path, tag: str, config: bytes, image_id: str, layer: Path, diff_id: str) -> None:
    """A `docker save` archive: manifest.json, <id>.json, <layer>/layer.tar (gzip, which docker load reads)."""
    cfg_name = f"{image_id.split(':')[1]}.json"
    layer_name = f"{diff_id.split(':')[1]}/layer.tar"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": [layer_name]}]).encode()
    with gzip.open(archive, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in ((cfg_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(str(layer), arcname=layer_name)


def _run_streaming(argv: list[str], step: str, item: Item) -> None:
    """Run a long local command, passing its progress lines on to item so the user sees it move."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    words: list[str] = []  # the last lines that are not progress: where dpkg and apt-get say what failed (their
    # stderr can come before the progress lines still buffered in a pipe, so the tail alone may not show them)
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = [*tail, line.rstrip()][-10:]
        if not line.startswith("I: ") and line.strip():
            words = [*words, line.strip()][-6:]
        if line.startswith("I: "):
            item.update(note=line[3:].strip())  # the meter decides how often a line is shown
    if proc.wait() != 0:
        raise DockstackError(f"{step} failed (exit {proc.returncode}): " + " | ".join(words or tail[-4:]))


def stack_images(stack: Stack) -> list[Image]:
    """The images the stack's containers use that dockstack builds or ships from an archive."""
    used = {c.image for c in stack.containers}
    return [i for i in stack.images if i.tag in used]


def remote_image_id(remote: Remote, tag: str) -> str | None:
    r = remote.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag], f"inspect image {tag}", check=False)
    return r.stdout.strip() if r.ok else None


def sync(stack: Stack, remotes: Remotes, say=print, meter: Meter | None = None) -> int:
    """Ship every built stack image to the hosts that lack its ID; returns the number of transfers. Builds and
    transfers report to meter (default: lines through say)."""
    meter = meter or LineMeter(say)
    built = [build(i, meter.say, meter) for i in stack_images(stack)]

    def sync_host(remote: Remote) -> int:
        sent = 0
        for b in built:
            if remote_image_id(remote, b.tag) == b.id:
                meter.say(f"{remote.name}: {b.tag} up to date")
                continue
            item = meter.item(f"{remote.name}: {b.tag}", total=b.size, note="sending")
            with open(b.archive, "rb") as f:
                remote.send(quote(["docker", "load", "--quiet"]), f, f"docker load {b.tag}", progress=item.update)
            got = remote_image_id(remote, b.tag)
            if got != b.id and remote.ok(["docker", "image", "inspect", b.id]):
                # an archive's only image, tagged otherwise (or not at all) in it: it gets the stack's tag
                remote.run(["docker", "tag", b.id, b.tag], f"docker tag {b.tag}")
                got = remote_image_id(remote, b.tag)
            if got != b.id:
                raise DockstackError(f"{remote.name}: after docker load, {b.tag} has ID {got}, expected {b.id}")
            item.finish(f"sent {amount(b.size)} and loaded")
            sent += 1
        return sent

    total = sum(parallel(remotes.all(), sync_host))
    if total == 0:
        meter.say("images.sync: nothing to transfer, every host has every image")
    else:
        meter.say(f"images.sync: {total} transfer(s)")
    return total
