"""dockstack.guestimage and `kind: guest` images: the config's checks, the recipe key, module load order from
modules.dep, the initramfs (cpio newc), syslinux.cfg, the marker line, and the guest's shell scripts run against
fake binaries (guest_debs.sh in the build root, the guest's udhcpc script)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess

import pytest

from dockstack import guestimage, images
from dockstack.config import Image, Stack
from dockstack.errors import ConfigError, DockstackError
from tests.unit.conftest import FakeBin

GUEST_TAG = "test/guest:bookworm"
GUEST = {"kind": "guest", "suite": "bookworm", "packages": ["linux-image-cloud-amd64", "busybox-static"]}
GUEST_IMAGE = Image(tag=GUEST_TAG, suite="bookworm", packages=("linux-image-cloud-amd64", "busybox-static"),
                    kind="guest")

# bookworm's cloud kernel (6.1.0-50-cloud-amd64), as depmod writes it: each line lists every module the module needs
MODULES_DEP = """\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko \
kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko \
kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
"""


def with_guest(cfg, **changes) -> dict:
    raw = {**GUEST, **changes}
    cfg.containers["images"][GUEST_TAG] = {k: v for k, v in raw.items() if v is not None}
    return raw


# --- containers.yaml: kind ------------------------------------------------------------------------


def test_a_guest_image_loads_and_is_no_container_image(cfg):
    with_guest(cfg)
    _, st = cfg.load()
    guest = st.image(GUEST_TAG)
    assert guest is not None and guest.is_guest and guest.kind == "guest"
    assert guest.packages == ("linux-image-cloud-amd64", "busybox-static")
    assert not st.image("test/base:bookworm").is_guest  # the default kind
    assert guestimage.guest_images(st) == [guest]
    assert [i.tag for i in images.stack_images(st)] == ["test/base:bookworm"]  # never shipped by images.sync
    assert all(GUEST_TAG not in images.images_on(st, h) for h in ("h1", "h2"))


def test_kind_container_is_the_default_spelled_out(cfg):
    cfg.containers["images"]["test/base:bookworm"]["kind"] = "container"
    _, st = cfg.load()
    assert st.images[0].kind == "container" and not st.images[0].is_guest


def test_an_unknown_kind_is_refused(cfg, config_error):
    with_guest(cfg, kind="vm")
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{GUEST_TAG}.kind", "'vm' is not a kind of image", "kind: guest")


@pytest.mark.parametrize("key, value", [("archive", "x.tar"), ("placeholders", ["q-text-as-data"])])
def test_a_guest_image_has_no_archive_or_placeholders(cfg, config_error, key, value):
    with_guest(cfg, **{key: value})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{GUEST_TAG}.{key}", f"a guest image (kind: guest) has no {key}")


@pytest.mark.parametrize("packages, problem", [
    (["linux-image-cloud-amd64", "busybox-static", "curl"], "curl cannot go into it"),
    (["busybox-static"], "it lists 0 kernel packages"),
    (["linux-image-cloud-amd64", "linux-image-amd64", "busybox-static"], "it lists 2 kernel packages"),
    (["linux-image-cloud-amd64"], "busybox-static is missing"),
    (["linux-image-cloud-amd64", "busybox-static", "busybox-static"], "a package is listed twice"),
])
def test_a_guest_image_is_one_kernel_and_busybox_static(cfg, config_error, packages, problem):
    with_guest(cfg, packages=packages)
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{GUEST_TAG}.packages", problem, "one kernel package")


def test_a_guest_image_needs_its_packages_listed(cfg, config_error):
    with_guest(cfg, packages=None)
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{GUEST_TAG}.packages", "missing")


def test_a_guest_package_name_is_checked(cfg, config_error):
    with_guest(cfg, packages=["linux-image-cloud-amd64", "--force-all"])
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{GUEST_TAG}.packages[1]", "not a Debian package name")


def test_no_container_runs_a_guest_image(cfg, config_error):
    with_guest(cfg)
    cfg.container(1)["image"] = GUEST_TAG
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].image", f"{GUEST_TAG} is a guest disk image",
                 "use a container image")


def test_the_shipped_stack_has_one_guest_image_that_no_container_runs(shipped_stack: Stack):
    guests = guestimage.guest_images(shipped_stack)
    assert [g.tag for g in guests] == ["dockstack/guest:bookworm"]
    assert guests[0].packages == ("linux-image-cloud-amd64", "busybox-static")
    assert "dockstack/guest:bookworm" not in {i.tag for i in images.stack_images(shipped_stack)}


# --- the recipe key -----------------------------------------------------------------------------------


def test_the_recipe_key_follows_everything_the_disk_is_made_of(monkeypatch):
    key = guestimage.recipe_key(GUEST_IMAGE, "http://deb.debian.org/debian")
    assert key == guestimage.recipe_key(GUEST_IMAGE, "http://deb.debian.org/debian")
    assert len(key) == 16
    reordered = Image(tag=GUEST_TAG, packages=tuple(reversed(GUEST_IMAGE.packages)), kind="guest")
    assert guestimage.recipe_key(reordered, "http://deb.debian.org/debian") == key  # a set of packages
    others = {
        guestimage.recipe_key(GUEST_IMAGE, "http://mirror.example/debian"),
        guestimage.recipe_key(Image(tag=GUEST_TAG, suite="trixie", packages=GUEST_IMAGE.packages, kind="guest"),
                              "http://deb.debian.org/debian"),
        guestimage.recipe_key(Image(tag=GUEST_TAG, packages=("linux-image-amd64", "busybox-static"), kind="guest"),
                              "http://deb.debian.org/debian"),
        images.recipe_key(GUEST_IMAGE, "http://deb.debian.org/debian"),  # a container image's key is another
    }
    for name, value in (("INIT_SCRIPT", "#!/bin/sh\n"), ("UDHCPC_SCRIPT", "#!/bin/sh\n"),
                        ("GUEST_MODULES", ("virtio_pci",)), ("KERNEL_APPEND", "console=ttyS0")):
        with monkeypatch.context() as m:
            m.setattr(guestimage, name, value)
            others.add(guestimage.recipe_key(GUEST_IMAGE, "http://deb.debian.org/debian"))
    assert key not in others and len(others) == 8


def test_a_cached_disk_is_taken_only_when_whole(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(images, "local_mirror", lambda suite: "http://deb.debian.org/debian")
    assert guestimage.load_built(GUEST_IMAGE) is None
    folder = images.cache_path(GUEST_IMAGE, guestimage.recipe_key(GUEST_IMAGE, "http://deb.debian.org/debian"))
    folder.mkdir()
    (folder / "disk.img").write_bytes(b"x" * 1024)
    meta = {"size": 1024, "sha256": "ab" * 32, "md5": "cd" * 16, "kernel": "6.1.0-50-cloud-amd64"}
    (folder / "guest.json").write_text(json.dumps(meta))
    built = guestimage.load_built(GUEST_IMAGE)
    assert built == guestimage.GuestDisk(GUEST_TAG, folder / "disk.img", 1024, "ab" * 32, "cd" * 16,
                                         "6.1.0-50-cloud-amd64", "raw", "bare")
    (folder / "disk.img").write_bytes(b"x" * 10)  # cut short
    assert guestimage.load_built(GUEST_IMAGE) is None


def test_build_refuses_a_container_image():
    with pytest.raises(DockstackError, match="not a guest image"):
        guestimage.build(Image(tag="test/base:bookworm", packages=("iproute2",)))


# --- modules ---------------------------------------------------------------------------------------


def test_each_module_loads_after_what_it_needs():
    order = guestimage.module_load_order(MODULES_DEP, "", ("virtio_pci", "virtio_net"))
    assert order == ["kernel/drivers/virtio/virtio_pci_legacy_dev.ko", "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                     "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
                     "kernel/drivers/virtio/virtio_pci.ko", "kernel/net/core/failover.ko",
                     "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko"]
    for i, path in enumerate(order):  # whatever modules.dep's own order: every need comes earlier
        needs = next(line for line in MODULES_DEP.splitlines() if line.startswith(path + ":")).split()[1:]
        assert all(order.index(n) < i for n in needs)


def test_module_names_read_dashes_as_underscores_and_drop_the_compression():
    assert guestimage.module_name("kernel/drivers/char/hw_random/virtio-rng.ko") == "virtio_rng"
    assert guestimage.module_name("kernel/drivers/net/virtio_net.ko.xz") == "virtio_net"
    assert guestimage.module_load_order(MODULES_DEP, "", ("virtio-rng",))[-1].endswith("virtio-rng.ko")


def test_a_built_in_module_needs_no_file_and_a_missing_one_is_an_error():
    dep = "kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio.ko:\n"
    builtin = "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/virtio/virtio.ko\n"
    assert guestimage.module_load_order(dep, builtin, ("virtio_pci", "virtio_net")) == [
        "kernel/drivers/virtio/virtio.ko", "kernel/drivers/net/virtio_net.ko"]
    with pytest.raises(DockstackError, match=r"kernel 6\.1\.0-9 has no module virtio_pci"):
        guestimage.module_load_order(dep, "", ("virtio_pci",), "kernel 6.1.0-9")


def test_a_loop_in_modules_dep_is_an_error():
    dep = "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n"
    with pytest.raises(DockstackError, match="loop"):
        guestimage.module_load_order(dep, "", ("a",))


def test_the_kernel_is_the_one_vmlinuz(tmp_path):
    boot = tmp_path / "boot"
    boot.mkdir()
    with pytest.raises(DockstackError, match="holds 0 kernels"):
        guestimage.kernel_version(boot)
    (boot / "vmlinuz-6.1.0-50-cloud-amd64").write_bytes(b"")
    (boot / "config-6.1.0-50-cloud-amd64").write_bytes(b"")
    assert guestimage.kernel_version(boot) == "6.1.0-50-cloud-amd64"
    (boot / "vmlinuz-6.1.0-57-cloud-amd64").write_bytes(b"")
    with pytest.raises(DockstackError, match="holds 2 kernels"):
        guestimage.kernel_version(boot)


# --- the initramfs ---------------------------------------------------------------------------------


def read_newc(data: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """(name, mode, data, rdev) of each entry of a newc archive, the trailer left out: a reader of the format."""
    out, at = [], 0
    while True:
        assert data[at:at + 6] == b"070701", at
        f = [int(data[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        name_at = at + 110
        name = data[name_at:name_at + f[11] - 1].decode()
        assert data[name_at + f[11] - 1] == 0
        body_at = name_at + f[11] + (-(name_at + f[11]) % 4)
        body = data[body_at:body_at + f[6]]
        at = body_at + f[6] + (-(body_at + f[6]) % 4)
        if name == "TRAILER!!!":
            assert at == len(data)
            return out
        assert (f[2], f[3], f[5]) == (0, 0, 0)  # root's, time 0
        out.append((name, f[1], body, (f[9], f[10])))


def test_cpio_newc_holds_every_entry_aligned():
    entries = [guestimage.CpioEntry("dev", stat.S_IFDIR | 0o755),
               guestimage.CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
               guestimage.CpioEntry("init", stat.S_IFREG | 0o755, b"#!/bin/sh\n"),
               guestimage.CpioEntry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
               guestimage.CpioEntry("odd", stat.S_IFREG | 0o644, b"12345")]
    data = guestimage.cpio_newc(entries)
    assert len(data) % 4 == 0
    assert read_newc(data) == [(e.name, e.mode, e.data, e.rdev) for e in entries]
    assert guestimage.cpio_newc(entries) == data  # the same files, the same bytes


@pytest.mark.parametrize("name", ["", "/init", "a/../../etc"])
def test_cpio_newc_takes_relative_names_only(name):
    with pytest.raises(ValueError, match="not a relative path"):
        guestimage.cpio_newc([guestimage.CpioEntry(name, stat.S_IFREG | 0o644)])


def test_the_initramfs_has_init_busybox_a_console_and_the_modules_in_order():
    entries = guestimage.initramfs_entries(b"BUSYBOX", [("virtio_ring", b"R"), ("virtio", b"V")])
    by_name = {e.name: e for e in entries}
    assert by_name["init"].data == guestimage.INIT_SCRIPT.encode() and by_name["init"].mode == stat.S_IFREG | 0o755
    assert by_name["bin/busybox"].data == b"BUSYBOX"
    assert by_name["bin/sh"] == guestimage.CpioEntry("bin/sh", stat.S_IFLNK | 0o777, b"busybox")
    assert by_name["dev/console"].rdev == (5, 1) and stat.S_ISCHR(by_name["dev/console"].mode)
    assert by_name["etc/dockstack/udhcpc.sh"].data == guestimage.UDHCPC_SCRIPT.encode()
    assert by_name["etc/dockstack/modules"].data == b"virtio_ring\nvirtio\n"
    assert by_name["lib/modules/virtio.ko"].data == b"V"
    names = [e.name for e in entries]
    for name in names:  # a folder before what is in it
        parent = name.rpartition("/")[0]
        assert not parent or names.index(parent) < names.index(name)
    for mount in ("proc", "sys", "run", "tmp"):
        assert stat.S_ISDIR(by_name[mount].mode)


def test_the_init_reads_what_the_initramfs_holds_and_prints_the_marker_parse_marker_reads():
    init = guestimage.INIT_SCRIPT
    assert init.startswith("#!/bin/sh\n")
    for path in ("/etc/dockstack/modules", "/etc/dockstack/udhcpc.sh", '"/lib/modules/$module.ko"'):
        assert path in init
    assert "MARK=dockstack-guest\n" in init
    assert 'echo "$MARK: instance-id=$id address=$address mtu=$mtu"' in init
    # the port given (busybox-static's wget segfaults on a service name) and no -T (it segfaults with it too)
    assert "METADATA=http://169.254.169.254:80/latest/meta-data/instance-id\n" in init
    assert "wget -T" not in init and "timeout 5 wget" in init


def test_parse_marker_reads_the_line_or_what_failed():
    console = "[    2.297128] Run /init as init process\r\ndockstack-guest: instance-id=i-0000abcd " \
              "address=10.99.0.23/24 mtu=1400\r\n[    3.99] IPv6: eth0: link becomes ready\n"
    assert guestimage.parse_marker(console) == guestimage.GuestMarker("i-0000abcd", "10.99.0.23/24", 1400)
    failed = "dockstack-guest: FAILED metadata: no instance-id from http://169.254.169.254:80/latest/meta-data/" \
             "instance-id in 90 s, 15 tries (address=10.0.0.5/24 mtu=1450)\n"
    marker = guestimage.parse_marker(failed)
    assert marker is not None and marker.failed == "metadata" and "in 90 s, 15 tries" in marker.detail
    assert guestimage.parse_marker("[    1.0] booting\n") is None
    assert guestimage.parse_marker("dockstack-guest: instance-id=a;b address=1/2 mtu=3\n") is None


# --- the disk --------------------------------------------------------------------------------------


def test_syslinux_cfg_boots_the_kernel_with_the_console_on_the_serial_port():
    cfg = guestimage.syslinux_cfg()
    lines = [line.strip() for line in cfg.splitlines()]
    assert "SERIAL 0 115200" in lines and "DEFAULT guest" in lines and "TIMEOUT 0" in lines
    assert "LINUX /vmlinuz" in lines and "INITRD /initrd.gz" in lines
    append = next(line for line in lines if line.startswith("APPEND "))
    consoles = [w for w in append.split() if w.startswith("console=")]
    assert consoles[-1].startswith("console=ttyS0,115200")  # the last console is /dev/console, where init writes


def test_the_disk_is_its_files_and_a_mib_of_room_in_whole_mib():
    assert guestimage.disk_size_kib(15 * 2**20) == 16 * 1024
    assert guestimage.disk_size_kib(15 * 2**20 + 1) == 17 * 1024
    assert guestimage.disk_size_kib(0) == 1024


# --- guest_debs.sh (the build root's apt) ------------------------------------------------------------

FAKE_APT_GET = r"""
case "$*" in
  *--print-uris*)
    [ -z "$(ls)" ] || { echo "asked in a folder with files" >&2; exit 1; }
    for p in "$@"; do case $p in -*|download) ;; *) echo "'http://deb.example/$p.deb' ${p}_1_amd64.deb 10 SHA256:00";;
    esac; done ;;
  *download*) pwd > "$FAKEBIN_STATE/cwd" ;;
  *update*) echo "Hit:1 http://deb.example bookworm InRelease" ;;
esac
"""
FAKE_APT_CACHE = r"""
case $3 in
  linux-image-cloud-amd64) printf '%s\n' linux-image-cloud-amd64 '  Depends: linux-image-6.1.0-50-cloud-amd64' ;;
  *) printf '%s\n' "$3" '  Depends: kmod' '  Depends: linux-base' ;;
esac
"""


def run_guest_debs(fakebin: FakeBin, *packages: str) -> subprocess.CompletedProcess[str]:
    fakebin.add("apt-get", FAKE_APT_GET)
    fakebin.add("apt-cache", FAKE_APT_CACHE)
    fakebin.add("flock", 'shift\nexec "$@"\n')
    archives = fakebin.state / "archives"
    archives.mkdir()
    (archives / "busybox-static_1_amd64.deb").write_bytes(b"")  # there already
    return fakebin.run(["bash", "-c", guestimage.GUEST_DEBS_SCRIPT, "bash", str(archives / ".download.lock"),
                        str(fakebin.state / "list"), *packages], TMPDIR=str(fakebin.state))


def test_guest_debs_downloads_the_kernel_a_metapackage_names_and_lists_the_files(fakebin):
    proc = run_guest_debs(fakebin, "linux-image-cloud-amd64", "busybox-static")
    assert proc.returncode == 0, proc.stderr
    wanted = "linux-image-cloud-amd64 busybox-static linux-image-6.1.0-50-cloud-amd64"
    assert fakebin.calls("apt-get", "apt-cache", "flock") == [
        "apt-get update -q", "apt-cache depends --important linux-image-cloud-amd64",
        f"apt-get -q --print-uris download {wanted}",
        f"flock {fakebin.state}/archives/.download.lock apt-get -q -o APT::Sandbox::User=root download {wanted}",
        f"apt-get -q -o APT::Sandbox::User=root download {wanted}"]
    assert (fakebin.state / "list").read_text().split() == [f"{p}_1_amd64.deb" for p in wanted.split()]
    assert (fakebin.state / "cwd").read_text().strip() == str(fakebin.state / "archives")  # into the package folder
    assert "I: Hit:1" in proc.stdout


def test_guest_debs_takes_a_versioned_kernel_as_it_is(fakebin):
    proc = run_guest_debs(fakebin, "linux-image-6.1.0-50-cloud-amd64", "busybox-static")
    assert proc.returncode == 0, proc.stderr
    assert (fakebin.state / "list").read_text().split() == ["linux-image-6.1.0-50-cloud-amd64_1_amd64.deb",
                                                            "busybox-static_1_amd64.deb"]


def test_guest_debs_fails_when_apt_fails(fakebin):
    fakebin.add("apt-get", 'case "$*" in *update*) echo "E: no network" >&2; exit 100;; esac\n')
    fakebin.add("apt-cache")
    proc = fakebin.run(["bash", "-c", guestimage.GUEST_DEBS_SCRIPT, "bash", str(fakebin.state / ".download.lock"),
                        str(fakebin.state / "list"), "linux-image-cloud-amd64", "busybox-static"])
    assert proc.returncode != 0
    assert fakebin.calls("apt-cache") == []


# --- the guest's udhcpc script ----------------------------------------------------------------------

LEASE = {"interface": "eth0", "ip": "10.0.0.5", "mask": "24", "broadcast": "10.0.0.255", "router": "10.0.0.1",
         "mtu": "1450"}


def run_udhcpc(fakebin: FakeBin, event: str, **lease: str) -> list[str]:
    fakebin.add("ip")
    proc = fakebin.run(["sh", "-c", guestimage.UDHCPC_SCRIPT, "udhcpc.sh", event], **lease)
    assert proc.returncode == 0, proc.stderr
    return fakebin.calls("ip")


def test_udhcpc_bound_with_classless_routes_takes_them_not_the_router(fakebin):
    calls = run_udhcpc(fakebin, "bound", **LEASE,
                       staticroutes="169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1 10.1.0.0/16 0.0.0.0")
    assert calls == ["ip link set dev eth0 mtu 1450", "ip -4 addr flush dev eth0",
                     "ip addr replace 10.0.0.5/24 broadcast 10.0.0.255 dev eth0",
                     "ip route replace 169.254.169.254/32 via 10.0.0.2 dev eth0",
                     "ip route replace 0.0.0.0/0 via 10.0.0.1 dev eth0",
                     "ip route replace 10.1.0.0/16 dev eth0"]  # gateway 0.0.0.0: on the link


def test_udhcpc_without_classless_routes_takes_the_first_router(fakebin):
    calls = run_udhcpc(fakebin, "renew", **{**LEASE, "router": "10.0.0.1 10.0.0.9", "broadcast": ""})
    assert calls == ["ip link set dev eth0 mtu 1450", "ip addr replace 10.0.0.5/24 dev eth0",
                     "ip route replace default via 10.0.0.1 dev eth0"]  # a renewal keeps the address in place


@pytest.mark.parametrize("mtu", ["", "1x", "100", "70000", "-1"])
def test_udhcpc_leaves_the_mtu_alone_unless_it_is_a_sane_number(fakebin, mtu):
    calls = run_udhcpc(fakebin, "bound", **{**LEASE, "mtu": mtu})
    assert not any("mtu" in c for c in calls)


def test_udhcpc_deconfig_drops_the_address(fakebin):
    assert run_udhcpc(fakebin, "deconfig", interface="eth0") == ["ip -4 addr flush dev eth0",
                                                                  "ip link set dev eth0 up"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_guests_scripts_are_shellcheck_clean():
    proc = subprocess.run(["shellcheck", "--norc", "init.sh", "udhcpc.sh"], cwd=guestimage.GUEST_TEMPLATES,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
