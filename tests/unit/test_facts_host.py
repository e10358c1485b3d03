"""dockstack.facts.parse_host_facts: the older host output (inspect JSON, #addresses, #images), parsed into HostFacts.

test_facts_sections.py covers the sectioned output of facts.HOST_FACTS_SCRIPT.
"""

from __future__ import annotations

import json

from dockstack import dockercli, facts
from dockstack.facts import ContainerState, HostFacts

WEB_IMAGE_ID = "sha256:9d1c3b2a0f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f5e"
DB_IMAGE_ID = "sha256:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"


def inspect_entry(name: str, running: bool, pid: int, image: str, image_id: str, labels: dict | None) -> dict:
    """One element of `docker container inspect` output, trimmed to what dockstack reads plus some noise."""
    return {
        "Id": name * 8,
        "Name": f"/{name}",
        "State": {"Status": "running" if running else "exited", "Running": running, "Pid": pid, "ExitCode": 0},
        "Image": image_id,
        "HostConfig": {"NetworkMode": "none"},
        "Config": {"Hostname": name, "Image": image, "Labels": labels, "Env": ["PATH=/usr/bin"]},
    }


WEB_LABELS = {dockercli.LABEL_MANAGED: "true", dockercli.LABEL_ROLE: "webui",
              dockercli.LABEL_SPEC: '{"command":[],"env":[],"image":"dockstack/base:bookworm"}'}
INSPECT = [
    inspect_entry("web", True, 41234, "dockstack/base:bookworm", WEB_IMAGE_ID, WEB_LABELS),
    inspect_entry("db", False, 0, "dockstack/db:bookworm", DB_IMAGE_ID, None),
    inspect_entry("cache", True, 5150, "dockstack/base:bookworm", WEB_IMAGE_ID, {dockercli.LABEL_MANAGED: "true"}),
]


def link_line(pid: int, mac: str) -> str:
    return (f"{pid} 2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT "
            f"group default qlen 1000\\    link/ether {mac} brd ff:ff:ff:ff:ff:ff link-netnsid 0")


def addr_line(pid: int, ip: str) -> str:
    return (f"{pid} 2: eth0    inet {ip}/24 brd 10.100.0.255 scope global dynamic eth0\\       "
            "valid_lft 43170sec preferred_lft 43170sec")


def observed(inspect: list[dict] | None, address_lines: list[str], image_lines: list[str]) -> str:
    """Text in the older form: inspect JSON (indented like docker does, or []), #addresses, #images."""
    head = json.dumps(inspect, indent=4) if inspect else "[]"
    return "\n".join([head, "#addresses", *address_lines, "#images", *image_lines]) + "\n"


def full_output() -> str:
    return observed(
        INSPECT,
        [link_line(41234, "02:42:0a:64:00:96"), addr_line(41234, "10.100.0.150"),
         link_line(999, "02:42:0a:64:00:99"), addr_line(999, "10.100.0.199")],  # 999: no container of ours
        ["dockstack/base:bookworm " + WEB_IMAGE_ID, "dockstack/db:bookworm ", "dockstack/haproxy:bookworm"],
    )


def test_containers_by_name():
    hf = facts.parse_host_facts(full_output())
    assert isinstance(hf, HostFacts)
    assert list(hf.containers) == ["web", "db", "cache"]
    assert hf.containers["web"] == ContainerState("web", True, 41234, "dockstack/base:bookworm", WEB_IMAGE_ID,
                                                  WEB_LABELS)
    db = hf.containers["db"]
    assert (db.running, db.pid, db.image, db.image_id, db.labels) == (False, 0, "dockstack/db:bookworm",
                                                                      DB_IMAGE_ID, {})


def test_spec_label_survives_parsing():
    hf = facts.parse_host_facts(full_output())
    assert json.loads(hf.containers["web"].labels[dockercli.LABEL_SPEC])["image"] == "dockstack/base:bookworm"


def test_addresses_of_running_containers_by_pid():
    hf = facts.parse_host_facts(full_output())
    assert hf.addresses["web"] == ("02:42:0a:64:00:96", "10.100.0.150")


def test_stopped_container_has_no_address():
    hf = facts.parse_host_facts(full_output())
    assert hf.addresses["db"] == (None, None)


def test_running_container_without_eth0_has_no_address():
    hf = facts.parse_host_facts(full_output())
    assert hf.addresses["cache"] == (None, None)


def test_addresses_only_for_known_containers():
    hf = facts.parse_host_facts(full_output())
    assert set(hf.addresses) == {"web", "db", "cache"}


def test_stopped_container_ignores_lines_of_its_old_pid():
    inspect = [inspect_entry("db", False, 777, "dockstack/db:bookworm", DB_IMAGE_ID, None)]
    hf = facts.parse_host_facts(observed(inspect, [link_line(777, "02:42:0a:64:00:07"), addr_line(777, "10.100.0.7")],
                                         []))
    assert hf.addresses == {"db": (None, None)}


def test_link_without_ipv4_gives_mac_only():
    hf = facts.parse_host_facts(observed(INSPECT[:1], [link_line(41234, "02:42:0a:64:00:96")], []))
    assert hf.addresses["web"] == ("02:42:0a:64:00:96", None)


def test_images_present_and_absent():
    hf = facts.parse_host_facts(full_output())
    assert hf.images == {"dockstack/base:bookworm": WEB_IMAGE_ID, "dockstack/db:bookworm": None,
                         "dockstack/haproxy:bookworm": None}


def test_empty_host():
    hf = facts.parse_host_facts("[]\n#addresses\n#images\n")
    assert hf == HostFacts({}, {}, {})


def test_empty_host_with_image_tags():
    hf = facts.parse_host_facts(observed(None, [], ["dockstack/base:bookworm " + WEB_IMAGE_ID,
                                                    "dockstack/db:bookworm "]))
    assert hf.containers == {}
    assert hf.addresses == {}
    assert hf.images == {"dockstack/base:bookworm": WEB_IMAGE_ID, "dockstack/db:bookworm": None}


def test_blank_lines_are_ignored():
    text = observed(INSPECT[:1], ["", addr_line(41234, "10.100.0.150"), ""], ["", "dockstack/base:bookworm x", ""])
    hf = facts.parse_host_facts(text)
    assert hf.addresses["web"] == (None, "10.100.0.150")
    assert hf.images == {"dockstack/base:bookworm": "x"}


def test_a_vip_on_eth0_is_a_secondary_address_never_the_containers_own():
    """keepalived adds the VIP after the container's own address: facts keep the first as its address."""
    vip = ("41234 2: eth0    inet 10.100.0.10/24 scope global secondary eth0\\       "
           "valid_lft forever preferred_lft forever")
    hf = facts.parse_host_facts(observed(INSPECT, [link_line(41234, "02:42:0a:64:00:96"),
                                                   addr_line(41234, "10.100.0.150"), vip], []))
    assert hf.addresses["web"] == ("02:42:0a:64:00:96", "10.100.0.150")
    assert hf.secondary == {"web": ("10.100.0.10",)}
    assert facts.parse_host_facts(full_output()).secondary == {}
