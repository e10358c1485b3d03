"""The guest disk image (containers.yaml `images:` with `kind: guest`): what nova boots to prove the cloud runs a
workload. Made from two Debian packages, a kernel (bookworm's linux-image-cloud-amd64) and busybox-static, with no
chroot and no loop mount:

- the packages are downloaded into the images' shared package cache by apt, inside an overlay of the suite's root
  tree (the root layer the container images share; guest_debs.sh), and unpacked with `dpkg-deb -x`;
- the initramfs (cpio newc, gzip, written here) holds busybox, the kernel modules the guest needs (virtio_pci and
  virtio_net are modules in that kernel: they and what modules.dep says they need, in load order) and the init
  (templates/guest/init.sh), which takes an address by DHCP, reads the instance id from the metadata service and
  prints one marker line on the serial console (parse_marker reads it back);
- the disk is one raw FAT "superfloppy" (mkfs.vfat, mtools' mcopy) made bootable by `syslinux --install`: SeaBIOS
  boots it as it is, the kernel and initramfs are files on it, and syslinux.cfg puts the console on ttyS0.

It is cached like the container images (under the images cache, keyed by its recipe) and never shipped to a Docker
host: GuestDisk says where the file is, its format and checksums (what Glance is given).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import math
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dockstack import images, layers, local
from dockstack.config import Image, Stack
from dockstack.errors import DockstackError
from dockstack.prereq import GUEST_PROGRAMS, IMAGE_PROGRAMS, require
from dockstack.progress import Item, LineMeter, Meter, amount
from dockstack.render import TEMPLATES, render
from dockstack.scripts import script

GUEST_RECIPE_VERSION = 1
GUEST_TEMPLATES = TEMPLATES / "guest"
INIT_SCRIPT = (GUEST_TEMPLATES / "init.sh").read_text()  # the initramfs's /init, as it is
UDHCPC_SCRIPT = (GUEST_TEMPLATES / "udhcpc.sh").read_text()  # its /etc/dockstack/udhcpc.sh
SYSLINUX_TEMPLATE = "guest/syslinux.cfg.j2"
# Inside an overlay of the suite's root tree (chroot): the packages downloaded into the shared package cache and
# their file names listed. The text: dockstack/scripts/guest_debs.sh.
GUEST_DEBS_SCRIPT = script("guest_debs.sh")
GUEST_MODULES = ("virtio_pci", "virtio_net")  # modules in Debian's kernels; the serial console (8250) is built in
SERIAL_SPEED = 115200
KERNEL_FILE, INITRD_FILE, SYSLINUX_FILE = "vmlinuz", "initrd.gz", "syslinux.cfg"
# the last console= is /dev/console, where init writes: the serial port, nova's console log
KERNEL_APPEND = f"console=tty0 console=ttyS0,{SERIAL_SPEED}n8 panic=10"
DISK_FILE, DISK_FORMAT, CONTAINER_FORMAT = "disk.img", "raw", "bare"  # Glance's disk_format and container_format
DISK_LABEL, DISK_VOLUME_ID = "DOCKSTACK", "64737467"  # fixed: the same recipe gives the same FAT header
DISK_SLACK = 1 << 20  # room on the FAT disk beyond its three files (the FAT, the root folder, syslinux's ldlinux)
META_FILE = "guest.json"
MARKER = "dockstack-guest:"
MARKER_RE = re.compile(r"dockstack-guest: instance-id=(?P<id>[A-Za-z0-9._-]+) address=(?P<address>[0-9.]+/[0-9]+) "
                       r"mtu=(?P<mtu>[0-9]+)")
FAILED_RE = re.compile(r"dockstack-guest: FAILED (?P<what>[a-z]+): (?P<detail>.*)")
DEB_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~%_-]*\.deb")  # a file name apt-get download saves
KERNEL_VERSION_RE = re.compile(r"[0-9][A-Za-z0-9.+~_-]*")
MODULE_SUFFIXES = (".ko", ".ko.xz")  # Debian's kernels: plain (bookworm) or xz (trixie); the initramfs gets .ko
HASH_RE = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class GuestDisk:
    """A built guest disk image: the file, its Glance formats, its size and checksums, the kernel it boots."""

    tag: str
    path: Path
    size: int
    sha256: str
    md5: str  # Glance's own checksum (os_hash_value is sha512 by default; `checksum` is md5)
    kernel: str
    disk_format: str = DISK_FORMAT
    container_format: str = CONTAINER_FORMAT


@dataclass(frozen=True)
class CpioEntry:
    """One file of the initramfs: a folder, a regular file, a symbolic link (data: its target) or a device."""

    name: str  # relative, no leading '/'
    mode: int  # type and permission bits (stat.S_IFREG | 0o755, ...)
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class GuestMarker:
    """What a guest's console says: its instance id, address and MTU, or what failed (failed set)."""

    instance_id: str = ""
    address: str = ""
    mtu: int = 0
    failed: str = ""  # "dhcp" or "metadata" when the guest said it failed
    detail: str = ""


def guest_images(stack: Stack) -> list[Image]:
    """The stack's guest disk images (kind: guest): built by images.build, never shipped to a Docker host."""
    return [i for i in stack.images if i.is_guest]


def recipe_key(image: Image, mirror: str | None) -> str:
    """What the disk is made from: a change to any of it (the init, the boot settings, the modules) is a new build."""
    parts: list[object] = [GUEST_RECIPE_VERSION, "guest", image.suite, sorted(image.packages), mirror, INIT_SCRIPT,
                           UDHCPC_SCRIPT, syslinux_cfg(), GUEST_MODULES, GUEST_DEBS_SCRIPT, DISK_SLACK]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def syslinux_cfg() -> str:
    """SYSLINUX's settings on the disk: its own prompt on the serial port too, straight to the kernel."""
    return render(SYSLINUX_TEMPLATE, speed=SERIAL_SPEED, kernel=KERNEL_FILE, initrd=INITRD_FILE,
                  append=KERNEL_APPEND)


def module_name(path: str) -> str:
    """A module's name as the kernel and modprobe know it: the file's name, less .ko*, '-' read as '_'."""
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.ko(\.[a-z0-9]+)?$", "", base).replace("-", "_")


def module_load_order(modules_dep: str, builtin: str, wanted: Iterable[str], kernel: str = "the kernel"
                      ) -> list[str]:
    """The module files (paths as modules.dep names them) to load, each after those it needs, for the wanted
    modules: each module's line in modules.dep lists what it needs (all of it), and each of those is taken the same
    way first. A wanted module built into the kernel (modules.builtin) needs no file; one that is neither is an
    error."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in modules_dep.splitlines():
        if ":" not in line:
            continue
        path, _, rest = line.partition(":")
        deps[path.strip()] = rest.split()
        by_name[module_name(path.strip())] = path.strip()
    built_in = {module_name(p) for p in builtin.split()}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(path: str) -> None:
        if path in order:
            return
        if path in visiting:
            raise DockstackError(f"{kernel}: modules.dep has a loop through {path}")
        visiting.add(path)
        for dep in deps.get(path, []):
            visit(dep)
        visiting.discard(path)
        order.append(path)

    for name in wanted:
        key = name.replace("-", "_")
        if key in by_name:
            visit(by_name[key])
        elif key not in built_in:
            raise DockstackError(f"{kernel} has no module {name} (not in modules.dep nor built in): a guest image "
                                 "needs a kernel with virtio_pci and virtio_net, such as linux-image-cloud-amd64")
    return order


def cpio_newc(entries: Iterable[CpioEntry]) -> bytes:
    """The entries as a cpio archive in the "newc" format the kernel unpacks an initramfs from: owned by root, time
    0 (the same files give the same bytes), a parent folder before what is in it (the caller's order)."""
    out = bytearray()

    def add(n: int, name: str, mode: int, data: bytes, rdev: tuple[int, int]) -> None:
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = (n, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0)
        out.extend(("070701" + "".join(f"{f:08x}" for f in fields)).encode())
        out.extend(name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for n, e in enumerate(entries, start=1):
        if not e.name or e.name.startswith("/") or ".." in e.name.split("/"):
            raise ValueError(f"{e.name!r} is not a relative path inside the archive")
        add(n, e.name, e.mode, e.data, e.rdev)
    add(0, "TRAILER!!!", 0, b"", (0, 0))
    return bytes(out)


def initramfs_entries(busybox: bytes, modules: list[tuple[str, bytes]]) -> list[CpioEntry]:
    """The initramfs's files: busybox (its applets linked at boot by the init), /dev/console (where the kernel
    gives init its output before devtmpfs is mounted), the init, udhcpc's script, and the modules with the list
    (names in load order) the init loads them by."""
    d, x, f = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755, stat.S_IFREG | 0o644
    entries = [CpioEntry(name, d) for name in ("bin", "dev", "etc", "etc/dockstack", "lib", "lib/modules", "proc",
                                                "run", "sys", "tmp")]
    entries += [
        CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        CpioEntry("bin/busybox", x, busybox),
        CpioEntry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
        CpioEntry("init", x, INIT_SCRIPT.encode()),
        CpioEntry("etc/dockstack/udhcpc.sh", x, UDHCPC_SCRIPT.encode()),
        CpioEntry("etc/dockstack/modules", f, "".join(f"{name}\n" for name, _ in modules).encode()),
    ]
    entries += [CpioEntry(f"lib/modules/{name}.ko", f, data) for name, data in modules]
    return entries


def disk_size_kib(payload: int) -> int:
    """The FAT disk's size: its files and DISK_SLACK, in whole MiB (in KiB, as mkfs.vfat takes it)."""
    return math.ceil((payload + DISK_SLACK) / (1 << 20)) * 1024


def parse_marker(console: str) -> GuestMarker | None:
    """The guest's marker line in a console log (nova's `console log show`), or None while it has none yet."""
    for line in console.splitlines():
        line = line.strip()
        if (m := MARKER_RE.fullmatch(line)) is not None:
            return GuestMarker(m["id"], m["address"], int(m["mtu"]))
        if (m := FAILED_RE.fullmatch(line)) is not None:
            return GuestMarker(failed=m["what"], detail=m["detail"])
    return None


def kernel_version(boot: Path) -> str:
    """The version of the one kernel (boot/vmlinuz-VERSION) the unpacked packages hold."""
    found = sorted(p.name.removeprefix("vmlinuz-") for p in boot.glob("vmlinuz-*")) if boot.is_dir() else []
    if len(found) != 1 or not KERNEL_VERSION_RE.fullmatch(found[0]):
        raise DockstackError(f"the guest image's kernel package holds {len(found)} kernels ({', '.join(found)}) in "
                             "/boot, not one: list one kernel package (e.g. linux-image-cloud-amd64)")
    return found[0]


def load_built(image: Image) -> GuestDisk | None:
    """The cached disk of this image's current recipe, if it is whole (its size as recorded)."""
    folder = images.cache_path(image, recipe_key(image, images.local_mirror(image.suite)))
    meta, disk = folder / META_FILE, folder / DISK_FILE
    if not (meta.is_file() and disk.is_file()):
        return None
    data = json.loads(meta.read_text())
    if data.get("size") != disk.stat().st_size or not all(HASH_RE.fullmatch(str(data.get(k, "")))
                                                         for k in ("sha256", "md5")):
        return None
    return GuestDisk(image.tag, disk, data["size"], data["sha256"], data["md5"], str(data.get("kernel", "")))


def build(image: Image, say=print, meter: Meter | None = None) -> GuestDisk:
    """Build (or take from the cache) the guest disk image."""
    if not image.is_guest:
        raise DockstackError(f"{image.tag} is not a guest image (kind: guest)")
    cached = load_built(image)
    if cached:
        say(f"{image.tag}: cached guest disk {cached.sha256[:12]} ({amount(cached.size)})")
        return cached
    require({**IMAGE_PROGRAMS, **GUEST_PROGRAMS}, f"building guest image {image.tag}")
    mirror = images.local_mirror(image.suite)
    with images.build_lock(images.cache_path(image, recipe_key(image, mirror)), f"{image.tag}: build", say):
        cached = load_built(image)  # built by another run while this one waited
        if cached:
            say(f"{image.tag}: built meanwhile by another run: {cached.sha256[:12]} ({amount(cached.size)})")
            return cached
        item = (meter or LineMeter(say)).item(f"{image.tag}: build", note=f"guest disk: {', '.join(image.packages)}")
        return _build(image, mirror, item)


def _build(image: Image, mirror: str | None, item: Item) -> GuestDisk:
    """The packages downloaded and unpacked, the initramfs and the disk made in a work folder that becomes the cache
    folder when whole; the caller holds the image's build_lock."""
    root = images.suite_root(image.suite, mirror, item)
    out = images.cache_path(image, recipe_key(image, mirror))
    work = out.with_name(out.name + ".work")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    debs = _download(image, root.tree, work, item)
    tree = work / "unpacked"
    for deb in debs:
        item.update(note=f"dpkg-deb -x {deb.name}")
        local.run(["dpkg-deb", "-x", str(deb), str(tree)], f"unpacking {deb.name} for {image.tag}")
    version = kernel_version(tree / "boot")
    modules = _modules(tree, version)
    busybox = tree / "bin" / "busybox"
    if not busybox.is_file():
        raise DockstackError(f"{image.tag}: busybox-static left no bin/busybox")
    item.update(note=f"initramfs: busybox and {len(modules)} modules of {version}")
    initrd = gzip.compress(cpio_newc(initramfs_entries(busybox.read_bytes(), modules)), compresslevel=9, mtime=0)
    disk = _make_disk(work, tree / "boot" / f"vmlinuz-{version}", initrd, image.tag, item)
    data = disk.read_bytes()
    meta = {"tag": image.tag, "file": DISK_FILE, "format": DISK_FORMAT, "container_format": CONTAINER_FORMAT,
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(),
            "kernel": version, "initrd_size": len(initrd)}
    final = work / "final"
    final.mkdir()
    disk.rename(final / DISK_FILE)
    (final / META_FILE).write_text(json.dumps(meta, sort_keys=True) + "\n")
    if out.exists():
        shutil.rmtree(out)
    final.rename(out)
    shutil.rmtree(work)
    built = load_built(image)
    assert built is not None
    item.finish(f"built {DISK_FORMAT} disk {built.sha256[:12]} ({amount(built.size)}: kernel {version}, "
                f"initramfs {amount(len(initrd))})")
    return built


def _download(image: Image, root: Path, work: Path, item: Item) -> list[Path]:
    """The image's packages (and a kernel metapackage's kernel package) in the shared package cache, fetched by
    apt in an overlay of the suite's root tree (the tree itself stays as it is): their files there."""
    debs = images.package_cache()
    listed = "/tmp/dockstack-guest-debs"
    item.update(note=f"apt-get download {' '.join(image.packages)}")
    with layers.overlay(root, work / "overlay") as merged:
        with images.apt_root(merged, debs, image.tag, proc=False) as lock:
            images.run_streaming(["chroot", str(merged), "bash", "-c", GUEST_DEBS_SCRIPT, "bash", lock, listed,
                                  *image.packages], f"apt-get download of {image.tag}", item)
        names = (merged / listed.lstrip("/")).read_text().split()
    shutil.rmtree(work / "overlay")
    bad = [n for n in names if not DEB_FILE_RE.fullmatch(n)]
    if bad or not names:
        raise DockstackError(f"apt-get download of {image.tag} named {bad[0]!r} as a package file"
                             if bad else f"apt-get download of {image.tag} named no package file")
    missing = [n for n in names if not (debs / n).is_file()]
    if missing:
        raise DockstackError(f"apt-get download of {image.tag} left no {missing[0]} in {debs}")
    return [debs / n for n in names]


def _modules(tree: Path, version: str) -> list[tuple[str, bytes]]:
    """The guest's modules of the unpacked kernel, in load order, by name, uncompressed: modules.dep made by
    depmod (Debian's kernel packages leave that to their maintainer scripts)."""
    local.run(["depmod", "--basedir", str(tree), version], f"depmod of the guest kernel {version}")
    folder = next((d for d in (tree / "lib" / "modules" / version, tree / "usr" / "lib" / "modules" / version)
                   if (d / "modules.dep").is_file()), None)
    if folder is None:
        raise DockstackError(f"depmod left no modules.dep for the guest kernel {version}")
    builtin = (folder / "modules.builtin").read_text() if (folder / "modules.builtin").is_file() else ""
    out = []
    for rel in module_load_order((folder / "modules.dep").read_text(), builtin, GUEST_MODULES, f"kernel {version}"):
        path = folder / rel
        if rel.endswith(".ko"):
            data = path.read_bytes()
        elif rel.endswith(".ko.xz"):
            data = lzma.decompress(path.read_bytes())
        else:
            raise DockstackError(f"kernel {version}: {rel} is compressed in a way the guest image does not unpack "
                                 f"(it takes {', '.join(MODULE_SUFFIXES)})")
        out.append((module_name(rel), data))
    return out


def _make_disk(work: Path, kernel: Path, initrd: bytes, tag: str, item: Item) -> Path:
    """The bootable FAT disk: mkfs.vfat makes the file, mcopy puts the kernel, initramfs and syslinux.cfg on it,
    `syslinux --install` its boot sector and loader (no loop mount: both work on the file)."""
    files = work / "disk-files"
    files.mkdir()
    shutil.copyfile(kernel, files / KERNEL_FILE)
    (files / INITRD_FILE).write_bytes(initrd)
    (files / SYSLINUX_FILE).write_text(syslinux_cfg())
    payload = sum(p.stat().st_size for p in files.iterdir())
    disk = work / DISK_FILE
    item.update(note=f"FAT disk of {disk_size_kib(payload) // 1024} MiB, syslinux")
    local.run(["mkfs.vfat", "-C", "-n", DISK_LABEL, "-i", DISK_VOLUME_ID, str(disk), str(disk_size_kib(payload))],
              f"mkfs.vfat for {tag}")
    local.run(["mcopy", "-i", str(disk), *(str(files / n) for n in (KERNEL_FILE, INITRD_FILE, SYSLINUX_FILE)),
               "::/"], f"mcopy onto the disk of {tag}")
    local.run(["syslinux", "--install", str(disk)], f"syslinux --install on the disk of {tag}")
    return disk
