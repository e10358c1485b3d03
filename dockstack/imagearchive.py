"""Images an operator brings as a `docker save` archive: what they hold, read without loading them locally.

The image ID that `docker load` gives an image is the SHA-256 of its config JSON, the file manifest.json names
for it: `<id>.json` in the legacy layout (Docker before 25), `blobs/sha256/<digest>` in the OCI layout newer
Docker writes. So the ID comes from hashing that member, whichever layout, and sync compares it with each host's
like a built image's. A compressed archive (gzip, bzip2, xz: `docker load` reads them too) has to be read
whole, so what it holds is remembered beside the image cache, keyed by the file's path, size and mtime.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockstack import settings
from dockstack.errors import DockstackError

CACHE_DIR = settings.cache_dir() / "archives"
CONFIG_MAX = 16 << 20  # an image config is a few KiB; a member this large is a layer, never hashed
CACHE_VERSION = 1


class ArchiveError(DockstackError):
    """The file is not a usable `docker save` archive (the message says why; config.py adds file and key)."""


@dataclass(frozen=True)
class ArchivedImage:
    """One image of an archive: its ID (sha256 of its config) and the tags manifest.json gives it."""

    id: str
    tags: tuple[str, ...]


def normalize_tag(tag: str) -> str:
    """NAME[:TAG] as Docker reads it: no tag means `latest` (a ':' after the last '/' starts the tag)."""
    return tag if ":" in tag.rpartition("/")[2] else f"{tag}:latest"


def parse_manifest(manifest: bytes, digests: dict[str, str]) -> tuple[ArchivedImage, ...]:
    """The images of an archive, from its manifest.json and the SHA-256 of its small members (name -> hex)."""
    try:
        entries: Any = json.loads(manifest)
    except ValueError:
        raise ArchiveError("its manifest.json is not JSON") from None
    if not isinstance(entries, list) or not entries:
        raise ArchiveError("its manifest.json lists no image")
    out = []
    for i, e in enumerate(entries):
        config = e.get("Config") if isinstance(e, dict) else None
        if not isinstance(config, str) or not config:
            raise ArchiveError(f"entry {i} of its manifest.json has no Config")
        digest = digests.get(config.removeprefix("./"))
        if digest is None:
            raise ArchiveError(f"its manifest.json names the config {config!r}, which the archive lacks")
        tags = e.get("RepoTags") or []
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise ArchiveError(f"entry {i} of its manifest.json has RepoTags that are not a list of strings")
        out.append(ArchivedImage(f"sha256:{digest}", tuple(tags)))
    return tuple(out)


def pick(images: tuple[ArchivedImage, ...], tag: str) -> ArchivedImage:
    """The archive's image for `tag`: the one tagged so, else its only image (which the hosts then tag)."""
    want = normalize_tag(tag)
    tagged = [i for i in images if want in {normalize_tag(t) for t in i.tags}]
    if tagged:
        return tagged[0]
    if len({i.id for i in images}) == 1:
        return images[0]
    held = sorted({t for i in images for t in i.tags}) or ["(untagged)"]
    raise ArchiveError(f"it holds {len(images)} images and none is tagged {tag} (its tags: {', '.join(held)})")


def scan(path: Path) -> tuple[ArchivedImage, ...]:
    """Read the archive's manifest.json and hash its small members, in one pass (any compression)."""
    manifest: bytes | None = None
    digests: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                if not m.isfile() or m.size > CONFIG_MAX:
                    continue
                f = tar.extractfile(m)
                if f is None:
                    continue
                data = f.read()
                name = m.name.removeprefix("./")
                if name == "manifest.json":
                    manifest = data
                digests[name] = hashlib.sha256(data).hexdigest()
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ArchiveError(f"it is not a readable tar archive ({type(exc).__name__})") from None
    if manifest is None:
        raise ArchiveError("it has no manifest.json, so it is not `docker save` output")
    return parse_manifest(manifest, digests)


def _cache_file(path: Path) -> Path:
    return CACHE_DIR / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")


def read(path: Path) -> tuple[ArchivedImage, ...]:
    """What the archive at `path` (absolute) holds; remembered for a compressed one, which is read whole.
    Raises ArchiveError, or OSError when the file cannot be read."""
    st = path.stat()
    key = {"version": CACHE_VERSION, "path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    cache = _cache_file(path)
    try:
        saved = json.loads(cache.read_text())
        if {k: saved.get(k) for k in key} == key:
            return tuple(ArchivedImage(i["id"], tuple(i["tags"])) for i in saved["images"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no or an unusable memo: read the archive
    with open(path, "rb") as f:  # unreadable: OSError for the caller
        head = f.read(6)
    compressed = head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head == b"\xfd7zXZ\x00"  # gzip, bzip2, xz
    found = scan(path)
    if compressed:
        try:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({**key, "images": [{"id": i.id, "tags": list(i.tags)} for i in found]}))
            tmp.replace(cache)
        except OSError:
            pass  # a memo only: without it the next command reads the archive again
    return found
