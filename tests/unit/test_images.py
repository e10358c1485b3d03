"""dockstack.images: apt mirror discovery, the image config, the docker-save archive, recipe keys, the apt script."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile

import pytest
import yaml

from dockstack import images
from dockstack.config import DEFAULT_CONTAINERS_FILE, ROOT, Container, Image, Role, Stack
from dockstack.errors import DockstackError
from dockstack.layers import Layer
from tests.unit.conftest import FakeBin

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

DEB822_SECURITY_FIRST = DEB822.split("\n\n")[1] + "\n" + DEB822.split("\n\n")[0] + "\n"

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian.gpg] http://security.example/debian-security bookworm-security main
deb-src http://source.example/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm main contrib
"""


# --- parse_apt_mirror ------------------------------------------------------------------------


def test_deb822_picks_block_serving_the_suite():
    assert images.parse_apt_mirror(DEB822, "bookworm") == "http://mirror.example/debian"


def test_deb822_security_block_is_not_chosen_for_bookworm():
    assert images.parse_apt_mirror(DEB822_SECURITY_FIRST, "bookworm") == "http://mirror.example/debian"
    assert images.parse_apt_mirror(DEB822, "bookworm-security") == "http://security.example/debian-security"


def test_deb822_other_suite_of_the_same_block():
    assert images.parse_apt_mirror(DEB822, "bookworm-updates") == "http://mirror.example/debian"


def test_deb822_unknown_suite():
    assert images.parse_apt_mirror(DEB822, "trixie") is None


def test_deb822_source_only_block_is_ignored():
    text = "Types: deb-src\nURIs: http://source.example/debian\nSuites: bookworm\nComponents: main\n"
    assert images.parse_apt_mirror(text, "bookworm") is None


def test_deb822_both_types_and_several_uris():
    text = ("Types: deb deb-src\nURIs: http://mirror.example/debian http://mirror2.example/debian\n"
            "Suites: bookworm\nComponents: main\n")
    assert images.parse_apt_mirror(text, "bookworm") == "http://mirror.example/debian"


def test_one_line_format_with_signed_by():
    assert images.parse_apt_mirror(ONE_LINE, "bookworm") == "http://mirror.example/debian"


def test_one_line_format_security_suite():
    assert images.parse_apt_mirror(ONE_LINE, "bookworm-security") == "http://security.example/debian-security"


def test_one_line_format_without_options():
    assert images.parse_apt_mirror("deb http://mirror.example/debian bookworm main\n", "bookworm") == \
        "http://mirror.example/debian"


def test_one_line_format_skips_comments_and_deb_src():
    text = "# deb http://commented.example/debian bookworm main\ndeb-src http://source.example/debian bookworm main\n"
    assert images.parse_apt_mirror(text, "bookworm") is None


def test_one_line_format_with_several_options():
    text = "deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://mirror.example/debian bookworm main\n"
    assert images.parse_apt_mirror(text, "bookworm") == "http://mirror.example/debian"


def test_empty_sources():
    assert images.parse_apt_mirror("", "bookworm") is None


# --- recipe_key / cache_path ----------------------------------------------------------------------

IMG = Image(tag="dockstack/base:bookworm", suite="bookworm", packages=("iproute2", "dnsmasq"))


def test_recipe_key_is_short_hex_and_stable():
    key = images.recipe_key(IMG, "http://mirror.example/debian")
    assert len(key) == 16
    int(key, 16)
    assert key == images.recipe_key(IMG, "http://mirror.example/debian")


def test_recipe_key_changes_with_packages():
    other = Image(IMG.tag, IMG.suite, (*IMG.packages, "procps"))
    assert images.recipe_key(other, None) != images.recipe_key(IMG, None)


def test_recipe_key_ignores_package_order():
    swapped = Image(IMG.tag, IMG.suite, tuple(reversed(IMG.packages)))
    assert images.recipe_key(swapped, None) == images.recipe_key(IMG, None)


def test_recipe_key_changes_with_what_dpkg_leaves_out(monkeypatch):
    before = images.recipe_key(IMG, None)
    monkeypatch.setattr(images, "DPKG_EXCLUDES", images.DPKG_EXCLUDES + "path-exclude=/usr/share/zoneinfo/*\n")
    assert images.recipe_key(IMG, None) != before


def test_recipe_key_changes_with_the_install_script(monkeypatch):
    before = images.recipe_key(IMG, None)
    monkeypatch.setattr(images, "APT_SCRIPT", images.APT_SCRIPT + "\n# changed\n")
    assert images.recipe_key(IMG, None) != before


def test_recipe_key_changes_with_suite_and_mirror():
    base = images.recipe_key(IMG, None)
    assert images.recipe_key(Image(IMG.tag, "trixie", IMG.packages), None) != base
    assert images.recipe_key(IMG, "http://mirror.example/debian") != base


def test_recipe_key_of_an_image_without_placeholders_is_unchanged():
    # the key without placeholders: only an image that has some gets the installer in its key
    text = json.dumps([images.RECIPE_VERSION, IMG.suite, sorted(IMG.packages), None, images.DEFAULT_CMD,
                       images.DPKG_EXCLUDES, images.APT_SCRIPT])
    assert images.recipe_key(IMG, None) == hashlib.sha256(text.encode()).hexdigest()[:16]
    with_placeholder = Image(IMG.tag, IMG.suite, IMG.packages, placeholders=("q-text-as-data",))
    assert images.recipe_key(with_placeholder, None) != images.recipe_key(IMG, None)


def test_placeholder_control_is_an_empty_arch_all_package():
    control = images.placeholder_control("q-text-as-data")
    fields = dict(line.split(": ", 1) for line in control.splitlines() if not line.startswith(" "))
    assert fields["Package"] == "q-text-as-data" and fields["Architecture"] == "all"
    assert fields["Version"].startswith("0~")  # any real package of that name is newer
    assert control.endswith("\n")


def test_cache_path_sanitises_the_tag():
    p = images.cache_path(IMG, "0123456789abcdef")
    assert p.parent == images.CACHE_DIR
    assert p.name == "dockstack_base_bookworm-0123456789abcdef"


def test_stack_images_only_those_in_use():
    other = Image("other:1", "bookworm", ("curl",))
    stack = Stack(path="c.yaml", images=(IMG, other), roles=(Role("app"),),
                  containers=(Container("a", "app", "h1", IMG.tag), Container("b", "app", "h1", "external:2")))
    assert images.stack_images(stack) == [IMG]


def test_a_host_is_shipped_the_images_its_containers_run():
    other = Image("other:1", "bookworm", ("curl",))
    stack = Stack(path="c.yaml", images=(IMG, other), roles=(Role("app"),),
                  containers=(Container("a", "app", "h1", IMG.tag), Container("b", "app", "h2", "other:1"),
                              Container("c", "app", "h2", IMG.tag)))
    assert images.images_on(stack, "h1") == {IMG.tag}
    assert images.images_on(stack, "h2") == {IMG.tag, "other:1"}
    assert images.images_on(stack, "h3") == set()


# --- image_config -------------------------------------------------------------------------------------

DIFF_ID = "sha256:" + "ab" * 32
ROOT_ID = "sha256:" + "0f" * 32
LAYERS = [ROOT_ID, DIFF_ID]


def test_image_config_is_deterministic():
    a = images.image_config(LAYERS, "k1", IMG, "amd64")
    b = images.image_config(LAYERS, "k1", Image(IMG.tag, IMG.suite, tuple(IMG.packages)), "amd64")
    assert isinstance(a, bytes)
    assert a == b


def test_image_config_differs_for_different_packages():
    other = Image(IMG.tag, IMG.suite, (*IMG.packages, "procps"))
    assert images.image_config(LAYERS, "k1", other, "amd64") != images.image_config(LAYERS, "k1", IMG, "amd64")


def test_image_config_differs_for_layers_key_and_arch():
    base = images.image_config(LAYERS, "k1", IMG, "amd64")
    assert images.image_config([ROOT_ID, "sha256:" + "cd" * 32], "k1", IMG, "amd64") != base
    assert images.image_config(["sha256:" + "cd" * 32, DIFF_ID], "k1", IMG, "amd64") != base  # another root layer
    assert images.image_config(LAYERS, "k2", IMG, "amd64") != base
    assert images.image_config(LAYERS, "k1", IMG, "arm64") != base


def test_image_config_contents():
    cfg = json.loads(images.image_config(LAYERS, "k1", IMG, "amd64"))
    assert cfg["architecture"] == "amd64"
    assert cfg["os"] == "linux"
    assert cfg["created"] == "1970-01-01T00:00:00Z"
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": LAYERS}  # the shared root layer first
    assert cfg["config"]["Cmd"] == images.DEFAULT_CMD
    assert cfg["config"]["Env"] == [images.PATH_ENV]
    assert cfg["config"]["Labels"] == {"org.dockstack.recipe": "k1", "org.dockstack.packages": "iproute2 dnsmasq"}
    assert len(cfg["history"]) == 2


def test_root_key_is_per_suite_and_mirror_and_not_per_image():
    a = images.root_key("bookworm", "http://deb.debian.org/debian")
    assert a == images.root_key("bookworm", "http://deb.debian.org/debian")
    assert a != images.root_key("trixie", "http://deb.debian.org/debian")
    assert a != images.root_key("bookworm", None)


# --- layers the host lacks, and the archive of only those ------------------------------------------------------

OTHER = "sha256:" + "cd" * 32


def test_a_host_without_images_lacks_every_layer():
    assert images.missing_layers((ROOT_ID, DIFF_ID), set()) == [0, 1]


def test_a_host_with_another_image_on_the_same_root_lacks_only_the_top_layer():
    present = images.chains((ROOT_ID, OTHER))
    assert images.missing_layers((ROOT_ID, DIFF_ID), present) == [1]
    assert images.missing_layers((ROOT_ID, OTHER), present) == []


def test_a_layer_counts_as_there_only_on_the_same_layers_below():
    # the same top layer over another root is another chain: docker load would not find it
    present = images.chains((OTHER, DIFF_ID))
    assert images.missing_layers((ROOT_ID, DIFF_ID), present) == [0, 1]


def test_host_layers_are_parsed_into_chains():
    image_id = "sha256:" + "11" * 32
    text = f"{image_id} {ROOT_ID} {DIFF_ID}\n{'sha256:' + '22' * 32} {OTHER}\n\n"
    assert images.parse_host_layers(text, "host1") == {(ROOT_ID,), (ROOT_ID, DIFF_ID), (OTHER,)}
    assert images.parse_host_layers("", "host1") == set()


@pytest.mark.parametrize("line", ["sha256:xyz sha256:abc", f"{ROOT_ID} ../../etc/passwd", f"{ROOT_ID} {DIFF_ID};rm"])
def test_a_host_layer_line_that_is_not_ids_is_refused(line):
    with pytest.raises(DockstackError, match="host1: unexpected line in its image list"):
        images.parse_host_layers(line, "host1")


@pytest.fixture
def built(tmp_path) -> images.BuiltImage:
    """An image of two gzip layers with a file each."""
    found = []
    for n, text in enumerate((b"root layer\n", b"top layer\n")):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(f"etc/layer{n}")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
        blob = tmp_path / f"layer{n}.tar.gz"
        blob.write_bytes(gzip.compress(raw.getvalue()))
        found.append(Layer(blob, "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest(), blob.stat().st_size))
    config = images.image_config([x.diff_id for x in found], "k1", IMG, "amd64")
    return images.BuiltImage(IMG.tag, "sha256:" + hashlib.sha256(config).hexdigest(), config, tuple(found))


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def archive_of(b: images.BuiltImage, present=None) -> dict[str, bytes]:
    out = io.BytesIO()
    images.write_archive(b, out, present)
    return members(out.getvalue())


def test_archive_manifest_names_every_layer(built):
    manifest = json.loads(archive_of(built)["manifest.json"])
    assert manifest == [{"Config": f"{built.id.removeprefix('sha256:')}.json", "RepoTags": ["dockstack/base:bookworm"],
                         "Layers": [f"{d.removeprefix('sha256:')}/layer.tar" for d in built.diff_ids]}]


def test_archive_config_is_named_by_its_sha256(built):
    files = archive_of(built)
    assert files[f"{hashlib.sha256(built.config).hexdigest()}.json"] == built.config


def test_archive_layers_are_the_gzip_blobs_whose_content_matches_the_diff_ids(built):
    files = archive_of(built)
    assert len(files) == 4
    for layer in built.layers:
        blob = files[f"{layer.diff_id.removeprefix('sha256:')}/layer.tar"]
        assert blob == layer.blob.read_bytes()
        assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == layer.diff_id


def test_archive_for_a_host_with_the_root_layer_carries_only_the_top_one(built):
    files = archive_of(built, images.chains(built.diff_ids[:1]))
    assert set(files) == {"manifest.json", f"{built.id.removeprefix('sha256:')}.json",
                          f"{built.diff_ids[1].removeprefix('sha256:')}/layer.tar"}


def test_a_tag_has_one_recipe_in_the_shipped_and_the_engine_stack():
    """The e2e session syncs both files' images: a tag built from two package lists would flip between them."""
    shipped = yaml.safe_load(DEFAULT_CONTAINERS_FILE.read_text())["images"]
    engine = yaml.safe_load((ROOT / "tests" / "e2e" / "stacks" / "engine.yaml").read_text())["images"]
    for tag in set(shipped) & set(engine):
        assert shipped[tag] == engine[tag], tag


def test_a_build_waits_while_another_process_builds(tmp_path, monkeypatch):
    """Clones share the cache: while another process holds an image's build lock, a build of it waits (and says
    why), then goes on once that process ends; another image's build does not wait."""
    import subprocess
    import threading

    monkeypatch.setattr(images, "CACHE_DIR", tmp_path)
    folder = tmp_path / "t_x_1-abc"
    holder = subprocess.Popen(["flock", str(tmp_path / "t_x_1-abc.lock"), "sh", "-c", "echo held; read x"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with images.build_lock(tmp_path / "t_y_1-abc", "t/y:1: build", pytest.fail):
            pass  # another folder's lock is free
        said, spoke, entered = [], threading.Event(), threading.Event()

        def say(line: str) -> None:
            said.append(line)
            spoke.set()

        def build() -> None:
            with images.build_lock(folder, "t/x:1: build", say):
                entered.set()

        t = threading.Thread(target=build)
        t.start()
        assert spoke.wait(10) and said[0].startswith("t/x:1: build: waiting for another build of it")
        assert not entered.is_set()
        holder.stdin.close()  # the other build ends: its lock goes with its process
        assert entered.wait(10)
        t.join(10)
    finally:
        holder.kill()
        holder.wait()


def fake_builds(monkeypatch, tmp_path, fake_build) -> None:
    """build_all/building with fake_build for each image: nothing cached, the root layer there (its lock file in
    tmp_path), no local mirror."""
    monkeypatch.setattr(images, "build", fake_build)
    monkeypatch.setattr(images, "load_built", lambda image: None)
    monkeypatch.setattr(images, "load_root", lambda suite, mirror: object())
    monkeypatch.setattr(images, "local_mirror", lambda suite: None)
    monkeypatch.setattr(images, "CACHE_DIR", tmp_path)


def test_build_all_builds_jobs_images_at_once_and_keeps_their_order(tmp_path, monkeypatch):
    """Two builds run at once (each waits until the other has started), the third after one ends; the results
    come back in the order asked for, whichever ends first."""
    import threading

    wanted = [Image(f"t/{n}:1", "bookworm", ("p",)) for n in "abc"]
    running, most, lock = set(), [0], threading.Lock()
    both = threading.Barrier(2, timeout=10)

    def fake_build(image: Image, say, meter, behind=False) -> images.BuiltImage:
        with lock:
            running.add(image.tag)
            most[0] = max(most[0], len(running))
        if image.tag != "t/c:1":
            both.wait()  # a and b: each returns only once the other runs too
        with lock:
            running.discard(image.tag)
        return images.BuiltImage(image.tag, f"sha256:{image.tag}")

    fake_builds(monkeypatch, tmp_path, fake_build)
    built = images.build_all(wanted, print, jobs=2)
    assert [b.tag for b in built] == ["t/a:1", "t/b:1", "t/c:1"] and most[0] == 2


def test_the_builds_behind_the_longest_one_give_it_the_cpu(tmp_path, monkeypatch):
    """The longest package list builds at the normal priority, the others behind it (niced): it ends, and ships,
    before them on a machine every build keeps busy."""
    seen: dict[str, bool] = {}

    def fake_build(image: Image, say, meter, behind=False) -> images.BuiltImage:
        seen[image.tag] = behind
        return images.BuiltImage(image.tag, f"sha256:{image.tag}")

    fake_builds(monkeypatch, tmp_path, fake_build)
    wanted = [Image("t/a:1", "bookworm", ("p",)), Image("t/long:1", "bookworm", ("p", "q", "r")),
              Image("t/b:1", "bookworm", ("p", "q"))]
    images.build_all(wanted, print, jobs=2)
    assert seen == {"t/a:1": True, "t/long:1": False, "t/b:1": True}


def test_building_hands_out_each_image_once_built_while_the_others_still_build(tmp_path, monkeypatch):
    """images.sync ships an image while the longer builds go on: the quick image's future is done while the long
    build waits; leaving the block waits for it."""
    import threading

    release = threading.Event()

    def fake_build(image: Image, say, meter, behind=False) -> images.BuiltImage:
        if image.tag == "t/long:1":
            assert release.wait(10)
        return images.BuiltImage(image.tag, f"sha256:{image.tag}")

    fake_builds(monkeypatch, tmp_path, fake_build)
    wanted = [Image("t/quick:1", "bookworm", ("p",)), Image("t/long:1", "bookworm", ("p", "q"))]
    with images.building(wanted, print, jobs=2) as futures:
        assert futures[0].result(timeout=10).tag == "t/quick:1"
        assert not futures[1].done()
        release.set()
    assert futures[1].done() and futures[1].result().tag == "t/long:1"


def test_images_built_already_ship_in_the_stacks_order_the_others_as_they_finish():
    from concurrent.futures import Future

    futures = [Future() for _ in range(4)]
    futures[3].set_result("cached d")
    futures[1].set_result("cached b")
    order = images.finish_order(futures)
    assert [next(order).result(), next(order).result()] == ["cached b", "cached d"]  # as listed, not as finished
    futures[2].set_result("built c")
    assert next(order).result() == "built c"
    futures[0].set_result("built a")
    assert next(order).result() == "built a"


def test_an_error_while_building_stops_the_builds_not_started(tmp_path, monkeypatch):
    """A failed transfer (the caller's error) ends the sync: the build running ends, the others never start."""
    import threading

    started: list[str] = []
    never = threading.Event()

    def fake_build(image: Image, say, meter, behind=False) -> images.BuiltImage:
        started.append(image.tag)
        never.wait(0.5)  # still building when the caller fails
        return images.BuiltImage(image.tag, "sha256:x")

    fake_builds(monkeypatch, tmp_path, fake_build)
    wanted = [Image(f"t/{n}:1", "bookworm", ("p",) * (3 - i)) for i, n in enumerate("abc")]
    with pytest.raises(DockstackError, match="docker load"), images.building(wanted, print, jobs=1) as futures:
        raise DockstackError("host1: docker load failed")
    assert started == ["t/a:1"] and futures[1].result() is None and futures[2].result() is None


def test_build_all_starts_the_longest_package_list_first(tmp_path, monkeypatch):
    """The build that takes longest (most packages: openstack's) does not start last, behind the quick ones."""
    wanted = [Image("t/a:1", "bookworm", ("p",)), Image("t/big:1", "bookworm", ("p", "q", "r")),
              Image("t/b:1", "bookworm", ("p", "q"))]
    started: list[str] = []

    def fake_build(image: Image, say, meter, behind=False) -> images.BuiltImage:
        started.append(image.tag)
        return images.BuiltImage(image.tag, f"sha256:{image.tag}")

    fake_builds(monkeypatch, tmp_path, fake_build)
    built = images.build_all(wanted, print, jobs=1)
    assert started == ["t/big:1", "t/b:1", "t/a:1"] and [b.tag for b in built] == ["t/a:1", "t/big:1", "t/b:1"]


def test_build_all_raises_the_first_failure_and_starts_no_other_build(tmp_path, monkeypatch):
    started: list[str] = []

    def fake_build(image: Image, say, meter, behind=False) -> images.BuiltImage:
        started.append(image.tag)
        raise DockstackError(f"apt-get install of {image.tag} failed")

    fake_builds(monkeypatch, tmp_path, fake_build)
    with pytest.raises(DockstackError, match="t/b:1 failed"):
        images.build_all([Image(f"t/{n}:1", "bookworm", ("p",) * (2 if n == "b" else 1)) for n in "abc"], print,
                         jobs=1)
    assert started == ["t/b:1"]  # the first to start (the most packages) failed: no other started


# --- APT_SCRIPT, run here by bash with fake dpkg and apt-get ---------------------------------------------------

FAKE_DPKG = 'echo "Unpacking libfoo (0~dockstack1) ..."\necho "Setting up libfoo (0~dockstack1) ..."\n'
# update says which frontend it got; install prints apt-get's kinds of lines, then fails when the test says so
FAKE_APT_GET = """case "$1" in
  update) echo "Get:1 http://mirror.example/debian bookworm InRelease"; echo "frontend $DEBIAN_FRONTEND $LC_ALL" ;;
  install) if [ "$5" = --download-only ]; then  # says whether apt.sh holds the download lock meanwhile
             if flock -n "$FAKEBIN_STATE/download.lock" true; then l=free; else l=held; fi
             echo "$l" > "$FAKEBIN_STATE/lock-during-download"
             echo "Get:1 http://mirror.example/debian bookworm/main amd64 iproute2 amd64 6.1.0-3 [1039 kB]"
             exit 0
           fi
           printf '%s\\n' "Reading package lists..." "Unpacking iproute2 (6.1.0-3) ..." \\
             "Selecting previously unselected package dnsmasq." "Setting up iproute2 (6.1.0-3) ..." \\
             "Processing triggers for libc-bin (2.36-9) ..."
           if [ -f "$FAKEBIN_STATE/install-fails" ]; then echo "E: Unable to locate package nosuch" >&2; exit 100; fi ;;
esac
"""


def placeholder_dir(fakebin: FakeBin, *names: str) -> str:
    folder = fakebin.state / "placeholders"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.deb").write_text("")
    return str(folder)


def run_apt_script(fakebin: FakeBin, *packages: str, placeholders: tuple[str, ...] = ("libfoo",)
                   ) -> subprocess.CompletedProcess[str]:
    """APT_SCRIPT as _apt_install runs it in the chroot (`bash -c APT_SCRIPT bash DIR PACKAGE...`), here."""
    fakebin.add("dpkg", FAKE_DPKG)
    fakebin.add("apt-get", FAKE_APT_GET)
    return fakebin.run(["bash", "-c", images.APT_SCRIPT, "bash", placeholder_dir(fakebin, *placeholders),
                        str(fakebin.state / "download.lock"), *packages])


def test_apt_script_installs_the_placeholders_then_the_packages(fakebin):
    proc = run_apt_script(fakebin, "iproute2", "dnsmasq")
    assert proc.returncode == 0, proc.stderr
    calls = fakebin.calls()
    assert calls[0] == f"dpkg --force-unsafe-io -i {fakebin.state}/placeholders/libfoo.deb"
    assert calls[1:] == ["apt-get update -q",
                         "apt-get install -y -q --no-install-recommends --download-only iproute2 dnsmasq",
                         "apt-get install -y -q --no-install-recommends -o Debug::NoLocking=true "
                         "-o Dpkg::Options::=--force-unsafe-io iproute2 dnsmasq"]
    assert proc.stdout.splitlines() == [
        "I: Unpacking libfoo (0~dockstack1) ...", "I: Setting up libfoo (0~dockstack1) ...",  # dpkg: every line
        "I: Get:1 http://mirror.example/debian bookworm InRelease", "I: frontend noninteractive C",
        "I: Get:1 http://mirror.example/debian bookworm/main amd64 iproute2 amd64 6.1.0-3 [1039 kB]",  # downloads
        "I: Unpacking iproute2 (6.1.0-3) ...", "I: Setting up iproute2 (6.1.0-3) ...",  # install: these only
    ]
    assert (fakebin.state / "lock-during-download").read_text() == "held\n"  # another build's apt waits


def test_apt_script_fails_when_apt_get_fails_behind_its_filter(fakebin):
    """pipefail: the sed that filters apt-get's lines succeeds, the build still fails."""
    (fakebin.state / "install-fails").write_text("")
    proc = run_apt_script(fakebin, "nosuch")
    assert proc.returncode == 100
    assert "Unable to locate package nosuch" in proc.stderr


def test_apt_script_stops_when_dpkg_fails(fakebin):
    fakebin.add("dpkg", 'echo "dpkg: error processing archive" >&2\nexit 1\n')
    fakebin.add("apt-get", FAKE_APT_GET)
    proc = fakebin.run(["bash", "-c", images.APT_SCRIPT, "bash", placeholder_dir(fakebin, "libfoo"),
                        str(fakebin.state / "download.lock"), "iproute2"])
    assert proc.returncode == 1
    assert fakebin.calls("apt-get") == []


def test_apt_script_without_placeholders_runs_no_dpkg(fakebin):
    proc = run_apt_script(fakebin, "iproute2", placeholders=())
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls() == ["apt-get update -q",
                               "apt-get install -y -q --no-install-recommends --download-only iproute2",
                               "apt-get install -y -q --no-install-recommends -o Debug::NoLocking=true "
                               "-o Dpkg::Options::=--force-unsafe-io iproute2"]


def test_a_failed_build_step_says_dpkgs_words_even_when_progress_lines_come_after_them():
    # apt-get's error (stderr) reaches the pipe before the progress lines sed still buffers: the words are named
    script = "echo 'E: Sub-process /usr/bin/dpkg returned an error code (1)' >&2; " \
             "for p in a b c d e; do echo \"I: Setting up $p ...\"; done; exit 100"
    said: list[str] = []

    class Notes:
        def update(self, done: int | None = None, note: str | None = None) -> None:
            said.append(note or "")

        def finish(self, note: str) -> None:
            said.append(note)

    with pytest.raises(DockstackError, match=r"exit 100\): E: Sub-process /usr/bin/dpkg returned an error code"):
        images.run_streaming(["sh", "-c", script], "apt-get install of x", Notes())
    assert said == [f"Setting up {p} ..." for p in "abcde"]  # the progress went on meanwhile


def _compile_python(tmp_path, asked: str, dpkg_fails: bool = False
                    ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """apt.sh's compile_python run by bash with stand-ins: dpkg -L lists a package's files (or fails), python3 notes
    the files it is given to compile."""
    script = images.APT_SCRIPT
    function = script[script.index("compile_python() {"):]
    function = function[:function.index("\n}\n") + 3]
    site = tmp_path / "usr/lib/python3/dist-packages/pkg"
    site.mkdir(parents=True)
    (site / "mod.py").write_text("")
    folder = tmp_path / "share/app"
    folder.mkdir(parents=True)
    (folder / "manage.py").write_text("")
    (tmp_path / "asked").write_text(asked.replace("FOLDER", str(folder)))
    compiled = tmp_path / "compiled"
    bin_dir = tmp_path / "bin"  # xargs runs python3 as a program: a script stands in
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nshift 5\nprintf "%s\\n" "$@" >> {compiled}\n')
    (bin_dir / "python3").chmod(0o755)
    stand_ins = (f"asked={tmp_path}/asked\n"
                 f"dpkg() {{ {'return 2' if dpkg_fails else 'echo /usr/lib/python3/dist-packages/pkg/mod.py'}; }}\n"
                 "nproc() { echo 2; }\n")
    # the listed path is the build root's: here, below tmp_path (the -f test runs from /)
    function = function.replace('if [ -f "$file" ]', f'if [ -f "{tmp_path}$file" ] || [ -f "$file" ]')
    proc = subprocess.run(["bash", "-c", "set -eo pipefail\n" + stand_ins + function + "compile_python\necho end"],
                          capture_output=True, text=True, timeout=30, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return proc, compiled.read_text().splitlines() if compiled.exists() else []


def test_compile_python_compiles_the_files_of_the_packages_and_folders_py3compile_was_asked_about(tmp_path):
    proc, compiled = _compile_python(tmp_path, "-p python3-pkg\n-p app FOLDER\n")
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "end", proc.stderr
    assert sorted(compiled) == sorted(["/usr/lib/python3/dist-packages/pkg/mod.py", f"{tmp_path}/share/app/manage.py"])


def test_compile_python_fails_the_build_when_dpkg_cannot_list_a_package(tmp_path):
    proc, compiled = _compile_python(tmp_path, "-p python3-pkg\n", dpkg_fails=True)
    assert proc.returncode != 0 and "end" not in proc.stdout and compiled == [], proc.stdout
    assert "dpkg -L python3-pkg failed" in proc.stderr
