"""Images without a registry: built from Debian packages (or brought as a `docker save` archive, see
imagearchive.py), shipped to hosts over SSH.

An image is two layers (layers.py): the root layer, a debootstrapped tree every image of its suite shares, and the
image's own packages installed on top of it. The build writes the layers and the image config itself, so the image
ID (the config's sha256) is known here and identical on every host after `docker load`. Sync compares IDs, and sends
a host only the layers it lacks: `docker load` skips a layer whose chain the host has, so an archive may leave it out.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockstack import layers, local, settings
from dockstack.config import Image, Stack
from dockstack.errors import DockstackError
from dockstack.layers import Layer
from dockstack.prereq import IMAGE_PROGRAMS, require
from dockstack.progress import Item, LineMeter, Meter, amount
from dockstack.remote import Remote, Remotes, parallel, quote
from dockstack.scripts import script

RECIPE_VERSION = 2  # 2: a root layer per suite and mirror, each image's packages in a layer on top
# what dpkg leaves out of an image's packages (the file stays in the image, as in Debian's slim images): documentation,
# manuals and translations, which Debian policy (12.3) says no package needs to work; part of each image's key
DPKG_EXCLUDES = """# dockstack's images: no documentation, manuals or translations (Debian policy 12.3)
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
# Python packages' own test suites (Debian ships nova's, neutron's, cinder's...: 13 500 files, 222 MB of the openstack
# image, unpacked, compiled, packed and loaded for nothing); the only entry points into them are test plugins, loaded
# by name alone
path-exclude=/usr/lib/python3/dist-packages/*/tests/*
"""
CACHE_DIR = settings.cache_dir() / "images"
DEFAULT_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
LOCK_SUFFIX = ".lock"  # beside a root's or an image's cache folder: held while it is built
DOWNLOAD_LOCK = ".download.lock"  # in the package cache: held while a build downloads into it
ARCHIVE_BUFFER = 1 << 20  # a layer passes into an archive in 1 MiB pieces (tarfile's default, 16 KiB, costs seconds)
# the package installs of the builds behind the longest one run this much nicer: on 2 cores the openstack image's
# build ended with the others', and its 475 MiB then shipped alone for 40 s
BEHIND_NICE = 10
MAX_BUILD_JOBS = 4  # images built at once, at most one per core: a build is dpkg and gzip, each one core's work
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DIFF_ID = re.compile(r"sha256:[0-9a-f]{64}")
# what a build leaves in a tree that no image needs: apt's package lists and caches, the fetched packages
JUNK = ("var/lib/apt/lists", "var/cache/apt/archives", "var/cache/apt")


@dataclass(frozen=True)
class BuiltImage:
    """An image ready to ship: its layers (root first) and config, or an operator's whole archive."""

    tag: str
    id: str
    config: bytes = b""  # the image config (its sha256 is id); empty for an operator's archive
    layers: tuple[Layer, ...] = ()
    archive: Path | None = None  # an operator's `docker save` archive: shipped whole

    @property
    def size(self) -> int:
        return self.archive.stat().st_size if self.archive else sum(layer.size for layer in self.layers)

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)


@dataclass(frozen=True)
class Root:
    """The root layer of a suite: the debootstrapped tree (the lower folder of every image build) and its layer."""

    tree: Path
    layer: Layer


def root_key(suite: str, mirror: str | None) -> str:
    return hashlib.sha256(json.dumps([RECIPE_VERSION, "root", suite, mirror]).encode()).hexdigest()[:16]


def recipe_key(image: Image, mirror: str | None) -> str:
    """What the image's layer is made from: a change to any of it (the install script included) is a new build."""
    parts: list[object] = [RECIPE_VERSION, image.suite, sorted(image.packages), mirror, DEFAULT_CMD, DPKG_EXCLUDES,
                           APT_SCRIPT]
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


def image_config(diff_ids: list[str], key: str, image: Image, arch: str) -> bytes:
    """The image config JSON; its sha256 is the image ID. Fixed timestamps keep it reproducible."""
    config = {
        "architecture": arch, "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH_ENV], "Cmd": DEFAULT_CMD,
                   "Labels": {"org.dockstack.recipe": key, "org.dockstack.packages": " ".join(image.packages)}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"dockstack: debootstrap --variant=minbase "
                     f"{image.suite}"},
                    {"created": "1970-01-01T00:00:00Z", "created_by": f"dockstack: apt-get install "
                     f"{' '.join(image.packages)}"}],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _cached_layer(folder: Path) -> Layer | None:
    """The layer a finished build left in folder (layer.json beside layer.tar.gz), if it is whole."""
    meta, blob = folder / "layer.json", folder / "layer.tar.gz"
    if not (meta.exists() and blob.exists()):
        return None
    diff_id = json.loads(meta.read_text()).get("diff_id", "")
    return Layer(blob, diff_id, blob.stat().st_size) if DIFF_ID.fullmatch(diff_id) else None


def root_folder(suite: str, mirror: str | None) -> Path:
    return CACHE_DIR / f"root-{suite}-{root_key(suite, mirror)}"


def load_root(suite: str, mirror: str | None) -> Root | None:
    folder = root_folder(suite, mirror)
    layer = _cached_layer(folder)
    return Root(folder / "tree", layer) if layer and (folder / "tree").is_dir() else None


def load_built(image: Image) -> BuiltImage | None:
    """The cached build of this image's current recipe on the current root layer, if there is one."""
    mirror = local_mirror(image.suite)
    folder = cache_path(image, recipe_key(image, mirror))
    root, top = load_root(image.suite, mirror), _cached_layer(folder)
    meta = folder / "image.json"
    if root is None or top is None or not meta.exists():
        return None
    data = json.loads(meta.read_text())
    if data.get("root") != root.layer.diff_id:  # built on a root layer since rebuilt
        return None
    config = data["config"].encode()
    return BuiltImage(image.tag, data["id"], config, (root.layer, top))


def build(image: Image, say=print, meter: Meter | None = None, behind: bool = False) -> BuiltImage:
    """Build (or take from the cache) the archive of one image; an image brought as an archive is that file.
    A build reports its steps to meter (default: lines through say). A build `behind` another runs its package
    install at a lower CPU priority (BEHIND_NICE)."""
    if image.archive is not None and image.archive_id is not None:  # config.py read its ID from the archive
        archive = Path(image.archive)
        size = archive.stat().st_size
        say(f"{image.tag}: archive {archive} {image.archive_id[:19]} ({size // 2**20} MiB)")
        return BuiltImage(image.tag, image.archive_id, archive=archive)
    cached = load_built(image)
    if cached:
        say(f"{image.tag}: cached build {cached.id[:19]} ({cached.size // 2**20} MiB)")
        return cached
    require(IMAGE_PROGRAMS, f"building image {image.tag}")
    mirror = local_mirror(image.suite)
    with build_lock(cache_path(image, recipe_key(image, mirror)), f"{image.tag}: build", say):
        cached = load_built(image)  # built by another clone (or thread) while this one waited
        if cached:
            say(f"{image.tag}: built meanwhile by another run: {cached.id[:19]} ({cached.size // 2**20} MiB)")
            return cached
        item = (meter or LineMeter(say)).item(f"{image.tag}: build", note=f"{image.suite} with "
                                              f"{', '.join(image.packages)}")
        return _build(image, item, behind)


def build_all(wanted: list[Image], say=print, meter: Meter | None = None, jobs: int | None = None
              ) -> list[BuiltImage]:
    """Every image built (or taken from the cache), in wanted's order (see building)."""
    with building(wanted, say, meter, jobs) as futures:
        pass
    return [b for f in futures if (b := f.result()) is not None]


@contextlib.contextmanager
def building(wanted: list[Image], say=print, meter: Meter | None = None, jobs: int | None = None
             ) -> Iterator[list[Future[BuiltImage | None]]]:
    """The builds started, each image's future in wanted's order, for the caller to use while they run (sync ships
    an image as soon as it is built). Each suite's root layer comes first (every image of the suite needs it), then
    the images, jobs at a time (default: one per core, at most MAX_BUILD_JOBS), the longest package list first.
    Leaving waits for the builds and raises the first failure; after a failure (or an error of the caller) the
    builds not started yet do not start, and their futures hold None."""
    meter = meter or LineMeter(say)
    todo = [i for i in wanted if not (i.archive and i.archive_id) and load_built(i) is None]
    for suite, mirror in dict.fromkeys((i.suite, local_mirror(i.suite)) for i in todo):
        require(IMAGE_PROGRAMS, f"building the {suite} root layer")
        with build_lock(root_folder(suite, mirror), f"{suite}: root layer", meter.say):
            if load_root(suite, mirror) is None:
                item = meter.item(f"{suite}: root layer", note="debootstrap")
                item.finish(f"built ({amount(_root(suite, mirror, item).layer.size)})")
    failed = threading.Event()
    # the longest package list first: the build that takes longest does not start last, behind the quick ones; and
    # the longest of those to build gets the CPU: the others go behind it (BEHIND_NICE), so it ends (and ships) earlier
    order = sorted(range(len(wanted)), key=lambda n: -len(wanted[n].packages))
    first = next((wanted[n] for n in order if wanted[n] in todo), None)

    def one(image: Image) -> BuiltImage | None:
        if failed.is_set():
            return None  # a build failed: what had not started yet does not start
        try:
            return build(image, meter.say, meter, behind=image is not first)
        except BaseException:
            failed.set()
            raise

    workers = max(1, min(jobs or min(MAX_BUILD_JOBS, os.cpu_count() or 1), len(todo) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="build") as pool:
        futures: dict[int, Future[BuiltImage | None]] = {n: pool.submit(one, wanted[n]) for n in order}
        try:
            yield [futures[n] for n in range(len(wanted))]
        except BaseException:
            failed.set()
            raise
    for n in order:  # in the order they started: one that never started comes after the build that failed
        futures[n].result()


@contextlib.contextmanager
def build_lock(folder: Path, what: str, say) -> Iterator[None]:
    """One build of a cache folder (a root layer, an image) at a time, among the threads of this run and every
    clone on the machine (they share the cache): a second build would remove the first one's work folder under it.
    The lock is the kernel's (flock, on a file beside the folder): it goes with the process, so a killed build
    never leaves it held."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + LOCK_SUFFIX), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{what}: waiting for another build of it on this machine (the cache {CACHE_DIR} is shared)")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def download_lock() -> Iterator[None]:
    """Downloads into the shared package cache one at a time (apt locks the folder it downloads to and gives up at
    once when another apt holds it; debootstrap does not lock it at all). apt.sh takes the same lock from inside
    a build's chroot, where the cache is bind-mounted."""
    with open(package_cache() / DOWNLOAD_LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _root(suite: str, mirror: str | None, item: Item) -> Root:
    """The suite's root layer: debootstrap once (its packages cached for every build), kept as a tree for the image
    builds on top and as a layer to ship; the caller holds the root's build_lock."""
    cached = load_root(suite, mirror)
    if cached:
        return cached
    out = root_folder(suite, mirror)
    work = out.with_name(out.name + ".work")
    if work.exists():
        shutil.rmtree(work)
    tree = work / "tree"
    tree.mkdir(parents=True)
    item.update(note=f"debootstrap {suite}: the root layer every image of {suite} shares")
    argv = ["debootstrap", "--variant=minbase", f"--cache-dir={package_cache()}", suite, str(tree)]
    if mirror:
        argv.append(mirror)
    with download_lock():
        run_streaming(argv, f"debootstrap of {suite}", item)
    _drop_junk(tree)
    (tree / "etc" / "resolv.conf").unlink(missing_ok=True)  # Docker gives each container its own
    item.update(note="packing the root layer")
    layer = layers.write_layer(tree, work / "layer.tar.gz", upper=False)
    (work / "layer.json").write_text(json.dumps({"diff_id": layer.diff_id}) + "\n")
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    root = load_root(suite, mirror)
    assert root is not None
    return root


def suite_root(suite: str, mirror: str | None, item: Item) -> Root:
    """The suite's root layer, built first when it is not cached (under its build_lock)."""
    with build_lock(root_folder(suite, mirror), f"{suite}: root layer", lambda msg: item.update(note=msg)):
        return _root(suite, mirror, item)


def package_cache() -> Path:
    """The package cache every build shares: each package is downloaded once."""
    debs = CACHE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    return debs


def _drop_junk(tree: Path) -> None:
    for junk in JUNK:
        for p in (tree / junk).glob("*"):
            if p.is_file():
                p.unlink()


def _build(image: Image, item: Item, behind: bool = False) -> BuiltImage:
    """The root layer (when not cached), then the image's packages installed on it through an overlay whose upper
    folder becomes the image's layer, and the config; the caller holds the image's build_lock."""
    mirror = local_mirror(image.suite)
    key = recipe_key(image, mirror)
    root = suite_root(image.suite, mirror, item)
    out = cache_path(image, key)
    work = out.with_name(out.name + ".work")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    with layers.overlay(root.tree, work) as merged:
        _apt_install(image, merged, package_cache(), work, item, behind)
        _drop_junk(merged)
    item.update(note="packing the layer")
    top = layers.write_layer(work / "upper", work / "layer.tar.gz", upper=True)
    (work / "layer.json").write_text(json.dumps({"diff_id": top.diff_id}) + "\n")
    arch = local.run(["dpkg", "--print-architecture"], "read architecture").stdout.strip()
    config = image_config([root.layer.diff_id, top.diff_id], key, image, arch)
    image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    (work / "image.json").write_text(json.dumps({"tag": image.tag, "id": image_id, "root": root.layer.diff_id,
                                                 "config": config.decode()}) + "\n")
    for d in ("upper", "overlay-work", "merged"):
        shutil.rmtree(work / d, ignore_errors=True)
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    built = load_built(image)
    assert built is not None
    item.finish(f"built {image_id[:19]} ({amount(top.size)} on the {amount(root.layer.size)} root layer)")
    return built


# Inside the new root (chroot): the placeholder packages, then the image's packages with apt-get, which resolves
# dependencies as apt does (debootstrap's resolver skips alternatives and virtual packages). Its progress lines are
# rewritten like debootstrap's (`I: ...`) so run_streaming passes some on. The text: dockstack/scripts/apt.sh.
APT_SCRIPT = script("apt.sh")


def placeholder_control(name: str) -> str:
    """The control file of an empty package that stands in for one the suite no longer has."""
    return (f"Package: {name}\nVersion: 0~dockstack1\nArchitecture: all\nMaintainer: dockstack <root@localhost>\n"
            "Description: placeholder made by dockstack\n the suite lacks this package; what depends on it "
            "installs without it\n")


def _apt_install(image: Image, rootfs: Path, debs: Path, work: Path, item: Item, behind: bool = False) -> None:
    """The image's packages into the root tree (through the build's overlay) with apt-get, after its placeholder
    packages; services are not started (policy-rc.d); apt's package folder is the shared cache, bind-mounted, so a
    package is downloaded once for every build and never lands in a layer."""
    require({"dpkg-deb": "dpkg"}, f"building image {image.tag}")
    item.update(note=f"apt-get install {' '.join(image.packages)}")
    pdir = rootfs / "tmp" / "dockstack-placeholders"
    pdir.mkdir(parents=True)
    for name in image.placeholders:
        src = work / "placeholders" / name
        (src / "DEBIAN").mkdir(parents=True)
        (src / "DEBIAN" / "control").write_text(placeholder_control(name))
        local.run(["dpkg-deb", "--root-owner-group", "--build", str(src), str(pdir / f"{name}.deb")],
                  f"placeholder package {name}")
    policy = rootfs / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# dockstack's image build: no service starts in the build root\nexit 101\n")
    policy.chmod(0o755)
    excludes = rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "dockstack-excludes"
    excludes.parent.mkdir(parents=True, exist_ok=True)
    excludes.write_text(DPKG_EXCLUDES)
    try:
        with apt_root(rootfs, debs, image.tag, proc=True) as lock:
            nice = ["nice", "-n", str(BEHIND_NICE)] if behind else []
            run_streaming([*nice, "chroot", str(rootfs), "bash", "-c", APT_SCRIPT, "bash",
                           "/tmp/dockstack-placeholders", lock, *image.packages],
                          f"apt-get install of {image.tag}", item)
    finally:
        policy.unlink(missing_ok=True)
        shutil.rmtree(pdir, ignore_errors=True)


@contextlib.contextmanager
def apt_root(rootfs: Path, debs: Path, tag: str, proc: bool) -> Iterator[str]:
    """rootfs made ready for apt in a chroot, and undone after: this machine's resolv.conf (apt fetches from the
    mirror debootstrap used), the shared package cache debs bind-mounted as apt's package folder (a package is
    downloaded once for every build and never lands in a layer), and /proc when proc. Gives the download lock's
    path as the chroot sees it (the lock download_lock takes here)."""
    archives = rootfs / "var" / "cache" / "apt" / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    resolv = rootfs / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    mounts: list[Path] = []
    wanted = [(debs, archives, ["mount", "--bind", str(debs), str(archives)])]
    if proc:
        wanted.append((None, rootfs / "proc", ["mount", "-t", "proc", "proc", str(rootfs / "proc")]))
    try:
        for what, where, argv in wanted:
            local.run(argv, f"mount {what or 'proc'} for {tag}")
            mounts.append(where)
        yield f"/var/cache/apt/archives/{DOWNLOAD_LOCK}"
    finally:
        for where in reversed(mounts):
            local.run(["umount", str(where)], f"unmount {where}", check=False)
        resolv.unlink(missing_ok=True)


def missing_layers(diff_ids: tuple[str, ...], present: set[tuple[str, ...]]) -> list[int]:
    """Which of an image's layers a host lacks (pure): a layer counts as there only with every layer below it, as
    `docker load` finds it (by its chain), so a top layer alone on another base does not."""
    return [i for i in range(len(diff_ids)) if diff_ids[:i + 1] not in present]


def chains(diff_ids: tuple[str, ...]) -> set[tuple[str, ...]]:
    """Every layer chain an image with these layers brings: each of its prefixes."""
    return {diff_ids[:i + 1] for i in range(len(diff_ids))}


def write_archive(b: BuiltImage, out: BinaryIO, present: set[tuple[str, ...]] | None = None) -> None:
    """b as a `docker save` archive into out (a stream: no file is written): manifest.json, <id>.json, and each
    layer the host lacks as <diff>/layer.tar (gzip, which docker load reads); the manifest names every layer."""
    cfg_name = f"{b.id.split(':')[1]}.json"
    names = [f"{layer.diff_id.split(':')[1]}/layer.tar" for layer in b.layers]
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [b.tag], "Layers": names}]).encode()
    with tarfile.open(fileobj=out, mode="w|", copybufsize=ARCHIVE_BUFFER) as tar:
        for name, data in ((cfg_name, b.config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for i in missing_layers(b.diff_ids, present or set()):
            tar.add(str(b.layers[i].blob), arcname=names[i])


def run_streaming(argv: list[str], step: str, item: Item) -> None:
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
    """The images the stack's containers use that dockstack builds or ships from an archive (never a guest disk image,
    which no container may use: guestimage.py builds those)."""
    used = {c.image for c in stack.containers}
    return [i for i in stack.images if i.tag in used and not i.is_guest]


# Every image's layer chain on a host, one line per image: its ID, then its layers' diff IDs, bottom first
HOST_LAYERS_SCRIPT = ('ids=$(docker image ls --quiet --no-trunc | sort -u); [ -z "$ids" ] && exit 0; '
                      '# shellcheck disable=SC2086\n'
                      "docker image inspect --format '{{.Id}}{{range .RootFS.Layers}} {{.}}{{end}}' $ids")


def parse_host_layers(text: str, host: str) -> set[tuple[str, ...]]:
    """The layer chains a host has (pure): every prefix of every image's layers; each value checked whole."""
    present: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if not all(DIFF_ID.fullmatch(f) for f in fields):
            raise DockstackError(f"{host}: unexpected line in its image list: {line[:200]!r}")
        present |= chains(tuple(fields[1:]))
    return present


def remote_image_id(remote: Remote, tag: str) -> str | None:
    r = remote.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag], f"inspect image {tag}", check=False)
    return r.stdout.strip() if r.ok else None


def _send(remote: Remote, b: BuiltImage, present: set[tuple[str, ...]], item: Item) -> None:
    """docker load on the host, fed b's archive with only the layers it lacks (or an operator's whole archive).
    The archive is written into a pipe by a thread while the SSH channel reads it."""
    cmd = quote(["docker", "load", "--quiet"])
    if b.archive:
        with open(b.archive, "rb") as f:
            remote.send(cmd, f, f"docker load {b.tag}", progress=item.update)
        return
    read_fd, write_fd = os.pipe()
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as w:
                write_archive(b, w, present)
        except OSError as exc:  # the reader went away: the send reports why
            failed.append(exc)

    writer = threading.Thread(target=produce, name=f"archive {b.tag}", daemon=True)
    writer.start()
    with os.fdopen(read_fd, "rb") as r:
        remote.send(cmd, r, f"docker load {b.tag}", progress=item.update)
    writer.join()
    if failed:
        raise DockstackError(f"{remote.name}: writing the archive of {b.tag} failed: {failed[0]}")


def finish_order(futures: list[Future[BuiltImage | None]]) -> Iterator[Future[BuiltImage | None]]:
    """The futures that are done already, in the order given (cached images: the same order every run), then the
    others as they finish."""
    done = [f for f in futures if f.done()]
    yield from done
    yield from as_completed([f for f in futures if f not in done])


def images_on(stack: Stack, host: str) -> set[str]:
    """The images the stack's containers on host run: what images.sync ships there."""
    return {c.image for c in stack.containers if c.host == host}


def sync(stack: Stack, remotes: Remotes, say=print, meter: Meter | None = None, everywhere: bool = False) -> int:
    """Ship the built stack images to the hosts that lack their IDs, each with only the layers the host lacks;
    returns the number of transfers. A host gets the images its containers run (everywhere: every stack image, for
    a host that may take over others' containers), each as soon as it is built, while the other images still build.
    Builds and transfers report to meter (default: lines through say)."""
    meter = meter or LineMeter(say)
    wanted = stack_images(stack)

    def sync_host(remote: Remote, futures: list[Future[BuiltImage | None]]) -> int:
        sent, sent_bytes = 0, 0
        present: set[tuple[str, ...]] | None = None
        mine = images_on(stack, remote.name)
        for done in finish_order([f for i, f in zip(wanted, futures) if everywhere or i.tag in mine]):
            b = done.result()
            if b is None:
                continue  # not built: a build failed, which `building` raises
            if remote_image_id(remote, b.tag) == b.id:
                meter.say(f"{remote.name}: {b.tag} up to date")
                continue
            if present is None:  # read once, then kept up to date with what this sync loads
                present = parse_host_layers(remote.shell(HOST_LAYERS_SCRIPT, "list image layers").stdout,
                                            remote.name)
            missing = missing_layers(b.diff_ids, present)
            size = b.size if b.archive else sum(b.layers[i].size for i in missing)
            kept = len(b.layers) - len(missing)
            item = meter.item(f"{remote.name}: {b.tag}", total=size,
                              note=f"sending {len(missing)} layer(s), {kept} there already" if b.layers else "sending")
            _send(remote, b, present, item)
            sent_bytes += size
            got = remote_image_id(remote, b.tag)
            if got != b.id and remote.ok(["docker", "image", "inspect", b.id]):
                # an archive's only image, tagged otherwise (or not at all) in it: it gets the stack's tag
                remote.run(["docker", "tag", b.id, b.tag], f"docker tag {b.tag}")
                got = remote_image_id(remote, b.tag)
            if got != b.id:
                raise DockstackError(f"{remote.name}: after docker load, {b.tag} has ID {got}, expected {b.id}")
            present |= chains(b.diff_ids)
            item.finish(f"sent {amount(size)} and loaded")
            sent += 1
        if sent:
            meter.say(f"{remote.name}: {sent} image(s) loaded, {amount(sent_bytes)} sent")
        return sent

    with building(wanted, meter.say, meter) as futures:
        total = sum(parallel(remotes.all(), lambda r: sync_host(r, futures)))
    if total == 0:
        meter.say("images.sync: nothing to transfer, every host has the images it runs")
    else:
        meter.say(f"images.sync: {total} transfer(s)")
    return total
