"""Images brought as `docker save` archives: reading their IDs and tags (both layouts, any compression) and
containers.yaml's `images.TAG.archive` validation. Archives are written here, tiny, as Docker writes them."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from dockstack import imagearchive
from dockstack.errors import ConfigError
from dockstack.imagearchive import ArchivedImage, ArchiveError

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
OTHER_CONFIG = CONFIG.replace(b"true", b"false")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def legacy(images: list[tuple[bytes, list[str]]]) -> dict[str, bytes]:
    """Docker < 25: <id>.json configs, <layer>/layer.tar, manifest.json."""
    layer = tar_bytes({"hello": b"hi\n"})
    members = {f"{sha(layer)}/layer.tar": layer}
    manifest = []
    for config, tags in images:
        members[f"{sha(config)}.json"] = config
        manifest.append({"Config": f"{sha(config)}.json", "RepoTags": tags, "Layers": [f"{sha(layer)}/layer.tar"]})
    members["manifest.json"] = json.dumps(manifest).encode()
    return members


def oci(images: list[tuple[bytes, list[str]]]) -> dict[str, bytes]:
    """Docker 25+: everything under blobs/sha256/, an OCI index and layout, and manifest.json naming blobs."""
    layer = tar_bytes({"hello": b"hi\n"})
    members = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', f"blobs/sha256/{sha(layer)}": layer}
    manifest = []
    for config, tags in images:
        members[f"blobs/sha256/{sha(config)}"] = config
        manifest.append({"Config": f"blobs/sha256/{sha(config)}", "RepoTags": tags,
                         "Layers": [f"blobs/sha256/{sha(layer)}"]})
    members["index.json"] = b'{"schemaVersion":2,"manifests":[]}'
    members["manifest.json"] = json.dumps(manifest).encode()
    return members


def write(path: Path, members: dict[str, bytes], compress=None) -> Path:
    data = tar_bytes(members)
    path.write_bytes(compress(data) if compress else data)
    return path


@pytest.fixture(autouse=True)
def memo_dir(tmp_path, monkeypatch) -> Path:
    """The memo of compressed archives goes to a test folder, never the machine's cache."""
    d = tmp_path / "memo"
    monkeypatch.setattr(imagearchive, "CACHE_DIR", d)
    return d


# --- reading archives ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", [legacy, oci])
@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_the_image_id_is_the_sha256_of_its_config(tmp_path, layout, compress):
    path = write(tmp_path / "a.tar", layout([(CONFIG, ["vendor/config:1"])]), compress)
    assert imagearchive.read(path) == (ArchivedImage(f"sha256:{sha(CONFIG)}", ("vendor/config:1",)),)


def test_a_compressed_archive_is_remembered_until_it_changes(tmp_path, memo_dir):
    path = write(tmp_path / "a.tar.gz", legacy([(CONFIG, ["a:1"])]), gzip.compress)
    first = imagearchive.read(path)
    assert len(list(memo_dir.glob("*.json"))) == 1
    os.utime(path, ns=(0, 1))  # the memo is used while path, size and mtime are the same
    memo = next(memo_dir.glob("*.json"))
    memo.write_text(memo.read_text().replace(first[0].id, "sha256:" + "0" * 64).replace('"mtime_ns": ', '"x": '))
    assert imagearchive.read(path) == first  # the damaged memo does not match: the archive is read again
    write(path, legacy([(OTHER_CONFIG, ["a:1"])]), gzip.compress)
    assert imagearchive.read(path)[0].id == f"sha256:{sha(OTHER_CONFIG)}"


def test_a_plain_archive_is_not_remembered(tmp_path, memo_dir):
    imagearchive.read(write(tmp_path / "a.tar", legacy([(CONFIG, ["a:1"])])))
    assert not memo_dir.exists()


def test_several_images(tmp_path):
    path = write(tmp_path / "a.tar", oci([(CONFIG, ["a:1"]), (OTHER_CONFIG, ["b:2", "b:latest"])]))
    assert [i.tags for i in imagearchive.read(path)] == [("a:1",), ("b:2", "b:latest")]


@pytest.mark.parametrize(("members", "words"), [
    ({"hello": b"x"}, "no manifest.json"),
    ({"manifest.json": b"{not json"}, "not JSON"),
    ({"manifest.json": b"[]"}, "lists no image"),
    ({"manifest.json": b'{"Config": "x"}'}, "lists no image"),
    ({"manifest.json": b'[{"RepoTags": ["a:1"]}]'}, "entry 0 of its manifest.json has no Config"),
    ({"manifest.json": b'[{"Config": "gone.json"}]'}, "names the config 'gone.json', which the archive lacks"),
    ({"c.json": CONFIG, "manifest.json": b'[{"Config": "c.json", "RepoTags": "a:1"}]'}, "not a list of strings"),
])
def test_what_is_not_a_docker_save_archive(tmp_path, members, words):
    with pytest.raises(ArchiveError, match=words):
        imagearchive.read(write(tmp_path / "a.tar", members))


@pytest.mark.parametrize("data", [b"", b"just text, no tar", gzip.compress(b"gzip of no tar"),
                                  gzip.compress(tar_bytes(legacy([(CONFIG, ["a:1"])])))[:-40]])
def test_not_a_tar_or_a_truncated_one(tmp_path, data):
    path = tmp_path / "a.tar"
    path.write_bytes(data)
    with pytest.raises(ArchiveError, match=r"not a readable tar archive|no manifest\.json"):
        imagearchive.read(path)


# --- which image a tag means ----------------------------------------------------------------------------------


A = ArchivedImage("sha256:" + "a" * 64, ("vendor/a:1",))
B = ArchivedImage("sha256:" + "b" * 64, ("vendor/b:latest",))
UNTAGGED = ArchivedImage("sha256:" + "c" * 64, ())


def test_pick_the_image_with_the_tag():
    assert imagearchive.pick((A, B), "vendor/b:latest") == B
    assert imagearchive.pick((A, B), "vendor/b") == B  # no tag is latest, as Docker reads it


def test_pick_the_only_image_whatever_its_tag():
    assert imagearchive.pick((A,), "mine/config:r1") == A
    assert imagearchive.pick((UNTAGGED,), "mine/config:r1") == UNTAGGED


def test_pick_refuses_a_tag_that_several_images_leave_open():
    with pytest.raises(ArchiveError, match=r"holds 2 images and none is tagged mine/x:1 \(its tags: vendor/a:1, "
                       r"vendor/b:latest\)"):
        imagearchive.pick((A, B), "mine/x:1")


def test_normalize_tag():
    assert imagearchive.normalize_tag("registry:5000/a/b") == "registry:5000/a/b:latest"
    assert imagearchive.normalize_tag("a/b:2") == "a/b:2"


# --- containers.yaml: images.TAG.archive --------------------------------------------------------------------


TAG = "tungstenfabric/contrail-config:r1"


def archive_entry(cfg, value, extra: dict | None = None) -> None:
    cfg.containers["images"][TAG] = {"archive": value, **(extra or {})}
    cfg.containers["containers"][1]["image"] = TAG


def test_an_archive_entry_is_read_with_its_image_id(cfg):
    write(cfg.root / "contrail.tar", oci([(CONFIG, [TAG])]))
    archive_entry(cfg, "contrail.tar")  # relative: to containers.yaml's folder
    _, st = cfg.load()
    img = st.image(TAG)
    assert img is not None
    assert (img.archive, img.archive_id, img.packages) == (str(cfg.root / "contrail.tar"), f"sha256:{sha(CONFIG)}", ())


def test_an_absolute_archive_path(cfg, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    path = write(tmp_path / "elsewhere" / "c.tar", legacy([(CONFIG, ["other/name:7"])]))
    archive_entry(cfg, str(path))
    _, st = cfg.load()
    assert st.image(TAG).archive == str(path)  # its only image, tagged otherwise: the hosts tag it


@pytest.mark.parametrize("recipe", [{"suite": "bookworm"}, {"packages": ["curl"]}])
def test_an_archive_and_a_recipe_together(cfg, recipe, config_error):
    write(cfg.root / "c.tar", legacy([(CONFIG, [TAG])]))
    archive_entry(cfg, "c.tar", recipe)
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{TAG}.{next(iter(recipe))}", "either built", "not both")


@pytest.mark.parametrize(("value", "words"), [
    ("missing.tar", "does not exist"),
    (".", "is not a file"),
    ("-rf.tar", "starts with '-'"),
    ("a b.tar", "not a usable file path"),
    ("", "not a usable file path"),
    (7, "must be a string"),
])
def test_bad_archive_paths(cfg, value, words, config_error):
    archive_entry(cfg, value)
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{TAG}.archive", words)
    assert "Traceback" not in str(e.value)


def test_an_archive_that_is_not_docker_save_output(cfg, config_error):
    (cfg.root / "c.tar").write_bytes(tar_bytes({"etc/hostname": b"x\n"}))
    archive_entry(cfg, "c.tar")
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{TAG}.archive", "no manifest.json", "docker save -o")


def test_an_archive_without_the_tag_among_several_images(cfg, config_error):
    write(cfg.root / "c.tar", oci([(CONFIG, ["a:1"]), (OTHER_CONFIG, ["b:1"])]))
    archive_entry(cfg, "c.tar")
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{TAG}.archive", "holds 2 images and none is tagged", "a:1, b:1")


def test_an_unreadable_archive(cfg, config_error, monkeypatch):
    write(cfg.root / "c.tar", legacy([(CONFIG, [TAG])]))
    archive_entry(cfg, "c.tar")

    def denied(path):  # as open() fails for a user who may not read it (root reads any file)
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(imagearchive, "read", denied)
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"images.{TAG}.archive", "cannot be read: Permission denied")


# --- real `docker save` output ----------------------------------------------------------------------------


DOCKER_20_SAVE = Path(__file__).parent / "fixtures" / "docker-20.10-save.tar"  # docker save of an empty import


def test_real_docker_20_10_save_output(tmp_path):
    """The ID Docker 20.10 itself gave the image (`docker image inspect`) is the one read from its archive."""
    assert imagearchive.read(DOCKER_20_SAVE) == (ArchivedImage(
        "sha256:9bdcf84a94d3b0ee704d3e7634721c01235a0878a8da122371c90277fdcf3059", ("fixture/empty:1",)),)
    gz = tmp_path / "a.tar.gz"
    gz.write_bytes(gzip.compress(DOCKER_20_SAVE.read_bytes()))  # `docker save | gzip`
    assert imagearchive.read(gz) == imagearchive.read(DOCKER_20_SAVE)
