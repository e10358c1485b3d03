"""Issue 10: an image the operator brings as a `docker save` archive is shipped like a built one.

The archive is written here, small and runnable (one layer with glibc's static ldconfig), in the OCI layout
newer Docker's `docker save` writes (blobs/sha256/..., index.json, manifest.json); the lab's Docker loads it
through manifest.json. Its only image is tagged otherwise in the archive, so the hosts tag it as containers.yaml
says.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from dockstack.config.tls import copy_kept
from dockstack.remote import parallel

from .helpers import ENGINE_STACK, ssh, traced

LAB = "b"
TAG = "dockstack-test/tiny:archive"
ARCHIVE_TAG = "vendor/tiny:upstream"  # the tag inside the archive: the hosts get TAG too
PROGRAM = Path("/sbin/ldconfig")  # statically linked (Debian's glibc): runs in an otherwise empty image


def tar_bytes(members: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_archive(path: Path) -> str:
    """A one-image archive as Docker 25+ saves it; returns the image ID (sha256 of its config)."""
    layer = tar_bytes({"ldconfig": (PROGRAM.read_bytes(), 0o755)})
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
                         "config": {"Cmd": ["/ldconfig", "--version"]},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]}}).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": f"blobs/sha256/{config_digest}", "RepoTags": [ARCHIVE_TAG],
                 "Layers": [f"blobs/sha256/{layer_digest}"]}]
    path.write_bytes(tar_bytes({
        "oci-layout": (b'{"imageLayoutVersion":"1.0.0"}', 0o644),
        f"blobs/sha256/{layer_digest}": (layer, 0o644),
        f"blobs/sha256/{config_digest}": (config, 0o644),
        "index.json": (b'{"schemaVersion":2,"manifests":[]}', 0o644),
        "manifest.json": (json.dumps(manifest).encode(), 0o644)}))
    return f"sha256:{config_digest}"


@pytest.fixture
def archive_stack(inventory, remotes, tmp_path) -> tuple[Path, str, int]:
    """The engine stack plus a role whose image is the archive (a relative path); no host has the image."""
    image_id = write_archive(tmp_path / "tiny.tar")
    data = yaml.safe_load(ENGINE_STACK.read_text())
    data["images"][TAG] = {"archive": "tiny.tar"}
    data["roles"].append({"name": "tiny", "depends_on": ["dnsmasq"]})
    data["containers"].append({"name": "tiny", "role": "tiny", "host": "host1", "image": TAG})
    path = tmp_path / "containers.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    copy_kept(ENGINE_STACK, path)  # the deployed engine stack's secrets and CA
    parallel(remotes.all(), lambda r: r.run(["sh", "-c", 'docker rmi --force "$@" >/dev/null 2>&1; true', "sh",
                                             TAG, ARCHIVE_TAG, image_id], "remove the test image"))
    return path, image_id, (tmp_path / "tiny.tar").stat().st_size


def loads(events: list[dict]) -> dict[str, int]:
    """host -> bytes sent by `docker load` of the test image."""
    return {e["host"]: e["sent"] for e in events if e.get("step") == f"docker load {TAG}"}


def test_an_archive_is_shipped_once_to_the_host_that_runs_it_and_a_second_sync_sends_nothing(inventory, archive_stack,
                                                                                              tmp_path):
    """images.sync ships an image to the hosts whose containers run it (tiny runs on host1); --everywhere to the
    others too."""
    path, image_id, size = archive_stack
    first, events = traced(tmp_path, "images.sync", f"--containers-file={path}")
    sent = loads(events)
    assert sorted(sent) == ["host1"], first.stdout
    assert all(n >= size for n in sent.values()), (sent, size)  # the whole archive, once
    assert f"{TAG}: archive {tmp_path / 'tiny.tar'} {image_id[:19]}" in first.stdout
    for h in inventory.hosts:  # tagged as containers.yaml says, with the ID read from the archive; only on host1
        got = ssh(inventory, h.name, f"docker image inspect --format '{{{{.Id}}}}' {TAG}", check=False).stdout.strip()
        assert got == (image_id if h.name == "host1" else ""), h.name
    second, events = traced(tmp_path, "images.sync", f"--containers-file={path}")
    assert loads(events) == {} and not any(e.get("step", "").startswith("docker load") for e in events)
    assert "nothing to transfer" in second.stdout and "sending" not in second.stdout
    third, events = traced(tmp_path, "images.sync", f"--containers-file={path}", "--everywhere")
    assert sorted(loads(events)) == sorted(h.name for h in inventory.hosts if h.name != "host1"), third.stdout
    # a container runs from it
    out = ssh(inventory, "host2", f"docker run --rm --network none {TAG}").stdout
    assert out.startswith("ldconfig (Debian GLIBC"), out


def test_a_broken_archive_is_refused_before_anything_runs(inventory, archive_stack, tmp_path):
    path, _, _ = archive_stack
    (tmp_path / "tiny.tar").write_bytes(b"not an archive")
    proc, events = traced(tmp_path, "images.sync", f"--containers-file={path}", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{path}: images.{TAG}.archive: {tmp_path / 'tiny.tar'}: it is not a readable tar archive" in proc.stderr
    assert events == []  # refused before any connection
