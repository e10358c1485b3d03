"""Issue 19: images share their root layer, and a host receives only the layers it lacks.

On a throwaway one-host lab of its own (nothing of the labs the other modules use): a first `images.sync` of two
images sends the shared root layer once and each image's own layer; after one image's package list changes, the
second sync sends only that image's new top layer, well under 15% of the first. Bytes are what the SSH channel
carried, from the round-trip trace. The loaded images run, with the packages of their recipe.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from dockstack import lab
from dockstack.config import load_inventory

from .helpers import HOSTS_FILE, traced

LAB = "b"
BASE = "dockstack/base:bookworm"  # the shipped recipe: usually cached already
TEST_TAG = "dockstack-test/layers:bookworm"
PACKAGES = ["isc-dhcp-client", "iproute2", "procps", "less"]


@pytest.fixture
def one_host_lab(tmp_path):
    """One host on its own bridge, prefix and subnet (the other labs run beside it), torn down after."""
    data = yaml.safe_load(HOSTS_FILE.read_text())
    data["hosts"] = [{"name": "l1", "address": "10.95.0.11", "key": "/var/lib/dockstack-layerlab/id_ed25519"}]
    data["lab"] = {"bridge": "dslayer0", "gateway": "10.95.0.1/24", "prefix": "dsy",
                   "state_dir": "/var/lib/dockstack-layerlab"}
    data["known_hosts"] = "/var/lib/dockstack-layerlab/known_hosts"
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(data))
    inv = load_inventory(path)
    lab.up(inv, say=lambda m: None)
    yield path
    lab.down(inv, purge=True, say=lambda m: None)


def containers_file(tmp_path, packages: list[str]):
    data = {
        "images": {BASE: {"suite": "bookworm", "packages": ["isc-dhcp-client", "iproute2", "procps", "dnsmasq",
                                                            "dnsmasq-utils", "busybox"]},
                   TEST_TAG: {"suite": "bookworm", "packages": packages}},
        "roles": [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "app"}],
        "containers": [{"name": "dnsmasq", "role": "dnsmasq", "host": "l1", "image": BASE,
                        "mac": "02:00:0a:64:00:02", "ip": "10.100.0.2"},
                       {"name": "app1", "role": "app", "host": "l1", "image": TEST_TAG}],
    }
    path = tmp_path / "containers.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sent_by_loads(events: list[dict]) -> int:
    return sum(e.get("sent", 0) for e in events if str(e.get("step", "")).startswith("docker load"))


def run_on_host(hosts_file, command: str) -> str:
    inv = load_inventory(hosts_file)
    h = lab.lab_hosts(inv)[0]
    return subprocess.run([*h.enter(), "sh", "-c", command], capture_output=True, text=True, timeout=120,
                          check=True).stdout


def test_a_changed_image_resends_only_its_own_layer(one_host_lab, tmp_path):
    hosts = f"--hosts-file={one_host_lab}"
    first, events = traced(tmp_path, "images.sync", hosts, f"--containers-file={containers_file(tmp_path, PACKAGES)}",
                           timeout=1200)
    first_bytes = sent_by_loads(events)
    assert "l1: 2 image(s) loaded" in first.stdout, first.stdout
    # the second image found the root layer the first one brought: only its own layer travelled
    assert f"l1: {TEST_TAG}: sending 1 layer(s), 1 there already" in first.stdout, first.stdout
    assert "\x1b" not in first.stdout  # a pipe: plain lines, no bars

    changed = containers_file(tmp_path, [*PACKAGES, "file"])
    second, events = traced(tmp_path, "images.sync", hosts, f"--containers-file={changed}", timeout=1200)
    second_bytes = sent_by_loads(events)
    assert f"l1: {BASE} up to date" in second.stdout, second.stdout
    assert f"l1: {TEST_TAG}: sending 1 layer(s), 1 there already" in second.stdout, second.stdout
    print(f"\nlayers: first sync {first_bytes / 2**20:.1f} MiB, second {second_bytes / 2**20:.1f} MiB "
          f"({100 * second_bytes / first_bytes:.1f}%)")
    assert 0 < second_bytes < 0.15 * first_bytes
    # what was loaded runs, with its recipe's packages (the new one from the top layer, the rest from below)
    out = run_on_host(one_host_lab, f"docker run --rm --network none {TEST_TAG} sh -c "
                                    "'dpkg -s file less iproute2 | grep -c \"^Status: install ok installed\"'")
    assert out.strip() == "3"
    # dpkg left the packages' manuals and documentation out (images.DPKG_EXCLUDES), their copyright kept
    probe = "test -e /usr/share/man/man1/less.1.gz || echo no manual; ls /usr/share/doc/less/"
    out = run_on_host(one_host_lab, f"docker run --rm --network none {TEST_TAG} sh -c '{probe}'")
    assert out.split() == ["no", "manual", "copyright"], out
    third, _ = traced(tmp_path, "images.sync", hosts, f"--containers-file={changed}", timeout=600)
    assert "nothing to transfer" in third.stdout
