"""dockstack.facts: HOST_FACTS_SCRIPT's argv and its sectioned output (dockerd, containers, addresses, images,
network, books, files), parse_network, parse_books and parse_record."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time

import pytest

from dockstack import agent, dockercli, facts, firewall
from dockstack.facts import BookCopy, ContainerState, HostFacts, Lease, NetworkFacts, Record
from dockstack.firewall import Chains, parse_chains
from dockstack.services.registry import facts_wanted

WEB_IMAGE_ID = "sha256:9d1c3b2a0f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f5e"
CONF_DIGEST = "a" * 64
CFG_DIGEST = "b" * 64


def inspect_entry(name: str, running: bool, pid: int, image: str = "dockstack/base:bookworm",
                  image_id: str = WEB_IMAGE_ID, labels: dict | None = None) -> dict:
    """One element of `docker container inspect` output, trimmed to what dockstack reads."""
    return {"Id": name * 8, "Name": f"/{name}", "Image": image_id,
            "State": {"Status": "running" if running else "exited", "Running": running, "Pid": pid},
            "Config": {"Hostname": name, "Image": image, "Labels": labels}}


def ip_link(index: int, dev: str, flags: str = "BROADCAST,MULTICAST,UP,LOWER_UP", master: str | None = None) -> str:
    """One line of `ip -o link show dev DEV`."""
    where = f"master {master} " if master else ""
    return (f"{index}: {dev}: <{flags}> mtu 1450 qdisc noqueue {where}state UP mode DEFAULT group default qlen 1000"
            f"\\    link/ether 5a:0c:11:22:33:{index:02x} brd ff:ff:ff:ff:ff:ff")


NETWORK = [
    "bridge " + ip_link(4, "dsbr0"),
    "vxlan " + ip_link(5, "dsvx0", master="dsbr0"),
    "peer 10.99.0.12",
    "peer 10.99.0.13",
    "uplink " + ip_link(2, "eth1", master="dsbr0"),
    "rule -P INPUT ACCEPT",
    "rule -N DOCKER-USER",
    "rule -A DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT",
]
RULES = parse_chains(["-P INPUT ACCEPT", "-N DOCKER-USER", "-A DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT"])
BOOKS = [
    "dns generation 7",
    "dns record dns dnsmasq h1 02:00:0a:64:00:02 10.100.0.2 static",
    "dns record web webui h1 02:42:0A:64:00:96 10.100.0.150 lease",
    "dns released 10.100.0.160",
    "dns released 10.100.0.161",
    "dns lease 1732500000 02:42:0a:64:00:96 10.100.0.150 web 01:02:42:0a:64:00:96",
    "dns lease duid 00:01:00:01:2c:5f:1a:2b:02:00:0a:64:00:02",
    "dns lease 0 02:42:0a:64:00:97 10.100.0.151 * *",
    "dns2 generation 6",
    "dns2 record dns dnsmasq h1 02:00:0a:64:00:02 10.100.0.2 static",
]
FILES = [
    f"{CONF_DIGEST}  /var/lib/dockstack/dnsmasq/dns/dnsmasq.conf",
    f"{CFG_DIGEST}  /var/lib/dockstack/haproxy/lb/haproxy.cfg",
]
WEB_STATE = ContainerState("web", True, 41234, "dockstack/base:bookworm", WEB_IMAGE_ID,
                           {dockercli.LABEL_MANAGED: "true"})
DNS_RECORD = Record("dns", "dnsmasq", "h1", "02:00:0a:64:00:02", "10.100.0.2", "static")
WEB_RECORD = Record("web", "webui", "h1", "02:42:0a:64:00:96", "10.100.0.150", "lease")


def output(dockerd: str = "up", inspect: list[dict] | None = None, addresses: list[str] = (),
           images: list[str] = (), network: list[str] = (), books: list[str] = (), files: list[str] = ()) -> str:
    """Text as HOST_FACTS_SCRIPT prints it."""
    return "\n".join(["#dockerd", dockerd, "#containers", json.dumps(inspect or [], indent=4),
                      "#addresses", *addresses, "#images", *images, "#network", *network,
                      "#books", *books, "#files", *files, "#end"]) + "\n"


def full() -> HostFacts:
    return facts.parse_host_facts(output(
        inspect=[inspect_entry("web", True, 41234, labels={dockercli.LABEL_MANAGED: "true"}),
                 inspect_entry("dns", False, 0)],
        addresses=["41234 2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP\\    "
                   "link/ether 02:42:0a:64:00:96 brd ff:ff:ff:ff:ff:ff link-netnsid 0",
                   "41234 2: eth0    inet 10.100.0.150/24 brd 10.100.0.255 scope global eth0\\       "
                   "valid_lft forever preferred_lft forever"],
        images=["dockstack/base:bookworm " + WEB_IMAGE_ID, "dockstack/haproxy:bookworm "],
        network=NETWORK, books=BOOKS, files=FILES))


# --- host_facts_argv ----------------------------------------------------------------------------


def script_vars(script: str) -> list[str]:
    """The names the script assigns from $1, $2, ... in order (`label=$1 root=$2 ...`)."""
    pairs = [(int(n), name) for name, n in re.findall(r"\b(\w+)=\$(\d+)\b", script)]
    assert [n for n, _ in pairs] == list(range(1, len(pairs) + 1))
    return [name for _, name in pairs]


def test_host_facts_argv_passes_every_value_as_its_own_argument():
    argv = facts.host_facts_argv("org.dockstack.managed=true", "/var/lib/dockstack", "dsbr0", "dsvx0", "eth1",
                                 ["dockstack/base:bookworm", "dockstack/haproxy:bookworm"], "dnsmasq",
                                 [("galera", "data/grastate.dat")], [("haproxy", "*"), ("dnsmasq", "dnsmasq.conf")],
                                 replica="/var/lib/dockstack/addressbook", catalog="puppet-catalog.sha256")
    assert argv[:4] == ["sh", "-c", facts.HOST_FACTS_SCRIPT, "sh"]
    names = script_vars(facts.HOST_FACTS_SCRIPT)
    assert f"shift {len(names)}" in facts.HOST_FACTS_SCRIPT
    assert dict(zip(names, argv[4:])) == {"label": "org.dockstack.managed=true", "root": "/var/lib/dockstack",
                                          "br": "dsbr0", "vx": "dsvx0", "uplink": "eth1", "books": "dnsmasq",
                                          "replica": "/var/lib/dockstack/addressbook",
                                          "catalog": "puppet-catalog.sha256", "nstate": "1"}
    assert argv[4 + len(names):] == ["galera", "data/grastate.dat", "2", "haproxy", "*", "dnsmasq", "dnsmasq.conf",
                                     "dockstack/base:bookworm", "dockstack/haproxy:bookworm"]


def test_host_facts_argv_without_uplink_or_tags():
    argv = facts.host_facts_argv("l=true", "/r", "br0", "vx0", None, [])
    assert argv[4:] == ["l=true", "/r", "br0", "vx0", "", "", "", "", "0", "0"]


def test_host_facts_script_is_constant():
    argv = facts.host_facts_argv("x; reboot", "/srv/$(id)", "br0", "vx0", "up link", ["evil tag"])
    assert argv[2] is facts.HOST_FACTS_SCRIPT
    for value in ("x; reboot", "/srv/$(id)", "up link", "evil tag"):
        assert value in argv[4:]
        assert value not in facts.HOST_FACTS_SCRIPT


def test_host_facts_script_prints_every_section_in_order():
    markers = [f"echo '#{s}'" for s in ("dockerd", "containers", "addresses", "images", "network", "books", "replica",
                                        "state", "files", "end")]
    positions = [facts.HOST_FACTS_SCRIPT.index(m) for m in markers]
    assert positions == sorted(positions)


# --- parse_host_facts: the sectioned form ---------------------------------------------------------


def test_full_output_containers_and_addresses():
    hf = full()
    assert hf.dockerd
    assert hf.containers["web"] == WEB_STATE
    assert hf.containers["dns"].running is False
    assert hf.addresses == {"web": ("02:42:0a:64:00:96", "10.100.0.150"), "dns": (None, None)}
    assert hf.images == {"dockstack/base:bookworm": WEB_IMAGE_ID, "dockstack/haproxy:bookworm": None}


def test_full_output_network():
    assert full().network == NetworkFacts(bridge_up=True, vxlan_master="dsbr0",
                                          peers=frozenset({"10.99.0.12", "10.99.0.13"}), uplink_master="dsbr0",
                                          firewall=RULES)


def test_full_output_books():
    books = full().books
    assert set(books) == {"dns", "dns2"}
    dns = books["dns"]
    assert dns == BookCopy("dns", 7, {"dns": DNS_RECORD, "web": WEB_RECORD}, ("10.100.0.160", "10.100.0.161"),
                           (Lease(1732500000, "02:42:0a:64:00:96", "10.100.0.150", "web", "01:02:42:0a:64:00:96"),
                            Lease(0, "02:42:0a:64:00:97", "10.100.0.151", None)))
    assert books["dns2"] == BookCopy("dns2", 6, {"dns": DNS_RECORD}, (), ())


def test_the_replica_section_is_the_hosts_own_copy_and_no_dnsmasqs():
    text = output(books=BOOKS[:3]).replace("#files", "\n".join([
        "#replica", "replica generation 9", "replica file web web webui h1 02:42:0a:64:00:96 10.100.0.150 lease?",
        "replica released 10.100.0.160", "#files"]))
    hf = facts.parse_host_facts(text)
    assert set(hf.books) == {"dns"}
    assert hf.replica == BookCopy("", 9, {"web": WEB_RECORD}, ("10.100.0.160",), ())
    assert full().replica is None  # no section, or an empty one: the host has no replica yet
    assert facts.parse_host_facts(output().replace("#files", "#replica\n#files")).replica is None


def test_full_output_files_digests():
    assert full().files == {"/var/lib/dockstack/dnsmasq/dns/dnsmasq.conf": CONF_DIGEST,
                            "/var/lib/dockstack/haproxy/lb/haproxy.cfg": CFG_DIGEST}


def test_file_path_with_spaces_is_kept_whole():
    hf = facts.parse_host_facts(output(files=[f"{CONF_DIGEST}  /var/lib/dockstack/puppet/p/a file.pp"]))
    assert hf.files == {"/var/lib/dockstack/puppet/p/a file.pp": CONF_DIGEST}


def test_dockerd_down():
    hf = facts.parse_host_facts(output(dockerd="down"))
    assert hf.dockerd is False
    assert hf.dockerd_said == ""
    assert (hf.containers, hf.addresses, hf.books, hf.files) == ({}, {}, {}, {})


def test_dockerd_down_keeps_what_docker_said():
    said = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    hf = facts.parse_host_facts(output(dockerd=f"down {said}"))
    assert hf.dockerd is False
    assert hf.dockerd_said == said


def test_dockerd_up_says_nothing():
    hf = full()
    assert (hf.dockerd, hf.dockerd_said) == (True, "")


def test_empty_host_with_every_section():
    assert facts.parse_host_facts(output()) == HostFacts({}, {}, {}, dockerd=True, network=NetworkFacts(), books={},
                                                         files={})


def test_older_form_without_the_new_sections_still_parses():
    """inspect JSON first, then #addresses and #images (what hosts printed before the sections)."""
    text = "\n".join([json.dumps([inspect_entry("web", True, 41234, labels={dockercli.LABEL_MANAGED: "true"})]),
                      "#addresses", "41234 2: eth0    inet 10.100.0.150/24 scope global eth0",
                      "#images", "dockstack/base:bookworm " + WEB_IMAGE_ID]) + "\n"
    hf = facts.parse_host_facts(text)
    assert hf.containers == {"web": WEB_STATE}
    assert hf.addresses == {"web": (None, "10.100.0.150")}
    assert hf.images == {"dockstack/base:bookworm": WEB_IMAGE_ID}
    assert hf.dockerd  # no #dockerd section: it answered
    assert (hf.network, hf.books, hf.files) == (NetworkFacts(), {}, {})


# --- parse_network ------------------------------------------------------------------------------


def test_parse_network_nothing_set_up():
    assert facts.parse_network("") == NetworkFacts(bridge_up=False, vxlan_master=None, peers=frozenset(),
                                                   uplink_master=None, firewall=Chains())


@pytest.mark.parametrize(("flags", "up"), [
    ("BROADCAST,MULTICAST,UP,LOWER_UP", True),
    ("NO-CARRIER,BROADCAST,MULTICAST,UP", True),  # up, no port yet
    ("UP", True),
    ("BROADCAST,MULTICAST", False),
    ("BROADCAST,MULTICAST,LOWER_UP", False),  # LOWER_UP is not UP
])
def test_parse_network_bridge_up_flag(flags, up):
    assert facts.parse_network("bridge " + ip_link(4, "dsbr0", flags)).bridge_up is up


def test_parse_network_vxlan_device_not_enslaved_is_empty_master():
    found = facts.parse_network("vxlan " + ip_link(5, "dsvx0"))
    assert found.vxlan_master == ""  # present, on no bridge: differs from missing (None)


def test_parse_network_vxlan_on_another_bridge():
    assert facts.parse_network("vxlan " + ip_link(5, "dsvx0", master="docker0")).vxlan_master == "docker0"


def test_parse_network_uplink_not_enslaved_is_none():
    assert facts.parse_network("uplink " + ip_link(2, "eth1")).uplink_master is None


def test_parse_network_peers_are_a_set():
    found = facts.parse_network("peer 10.99.0.12\npeer 10.99.0.13\npeer 10.99.0.12\n")
    assert found.peers == frozenset({"10.99.0.12", "10.99.0.13"})


def test_parse_network_all_facts():
    assert facts.parse_network("\n".join(NETWORK)) == NetworkFacts(True, "dsbr0", frozenset({"10.99.0.12",
                                                                                             "10.99.0.13"}),
                                                                    "dsbr0", RULES)


# --- parse_record / parse_books -----------------------------------------------------------------


def test_parse_record_lowercases_the_mac():
    assert facts.parse_record("web webui h1 02:42:0A:64:00:96 10.100.0.150 lease") == WEB_RECORD


@pytest.mark.parametrize("line", [
    "",
    "web webui h1 02:42:0a:64:00:96 10.100.0.150",  # 5 fields
    "web webui h1 02:42:0a:64:00:96 10.100.0.150 lease extra",  # 7 fields
    "web webui h1 02:42:0a:64:00:96 10.100.0.999 lease",  # not an IPv4 address
    "web webui h1 02:42:0a:64:00:96 fd00::5 lease",
])
def test_parse_record_rejects_other_lines(line):
    assert facts.parse_record(line) is None


def test_parse_books_empty():
    assert facts.parse_books("") == {}


def test_parse_books_generation():
    books = facts.parse_books("a generation 12\nb generation x\nc generation \nd record "
                              "dns dnsmasq h1 02:00:0a:64:00:02 10.100.0.2 static\n")
    assert {n: b.generation for n, b in books.items()} == {"a": 12, "b": 0, "c": 0, "d": 0}
    assert books["d"].records == {"dns": DNS_RECORD}


def test_parse_books_later_record_of_a_name_wins():
    books = facts.parse_books("dns record web webui h1 02:42:0a:64:00:01 10.100.0.101 lease\n"
                              "dns record web webui h1 02:42:0a:64:00:96 10.100.0.150 lease\n")
    assert books["dns"].records == {"web": WEB_RECORD}


def test_parse_books_skips_garbled_lines():
    books = facts.parse_books("dns generation 3\n"
                              "dns record web webui h1 02:42:0a:64:00:96 not-an-ip lease\n"
                              "dns record half a line\n"
                              "dns released \n"
                              "dns lease garbage\n"
                              "dns whatever 1 2 3\n")
    assert books == {"dns": BookCopy("dns", 3, {}, (), (), bad_leases=("garbage",))}


def test_parse_books_keeps_released_in_order():
    books = facts.parse_books("dns released 10.100.0.161\ndns released 10.100.0.160\n")
    assert books["dns"].released == ("10.100.0.161", "10.100.0.160")


def test_parse_books_keeps_the_copies_apart():
    books = facts.parse_books("\n".join(BOOKS))
    assert books["dns2"].records == {"dns": DNS_RECORD}
    assert "web" not in books["dns2"].records
    assert books["dns2"].leases == ()
    assert [x.ip for x in books["dns"].leases] == ["10.100.0.150", "10.100.0.151"]


def test_books_name_each_registry_file_and_flag_damaged_ones():
    from dockstack.facts import parse_books

    text = ("dns generation 3\n"
            "dns file web web app host1 02:42:0a:64:00:96 10.100.0.150 lease?\n"
            "dns file db ????garbage??\n"
            "dns file empty \n"
            "dns file other web app host1 02:42:0a:64:00:97 10.100.0.151 lease?\n")
    book = parse_books(text)["dns"]
    assert set(book.records) == {"web"} and book.records["web"].ip == "10.100.0.150"
    assert book.damaged == {"db": "????garbage??", "empty": "",
                            "other": "web app host1 02:42:0a:64:00:97 10.100.0.151 lease?"}


def test_books_report_the_last_good_copy_of_a_damaged_record_only():
    text = ("dns file web web webui h1 02:42:0a:64:00:96 10.100.0.150 lease?\n"
            "dns file db \n"
            "dns last-good db db app h1 02:42:0a:64:00:97 10.100.0.151 lease?\n"
            "dns file gone ?garbage\n"
            "dns last-good gone ?garbage too\n")
    book = facts.parse_books(text)["dns"]
    assert book.records == {"web": WEB_RECORD}
    assert book.damaged == {"db": "", "gone": "?garbage"}
    assert book.last_good == {"db": Record("db", "app", "h1", "02:42:0a:64:00:97", "10.100.0.151", "lease")}
    assert book.unbacked == frozenset()


@pytest.mark.parametrize("last_good", ["", "web webui h1 02:42:0a:64:00:01 10.100.0.101 lease?", "???"])
def test_books_flag_an_intact_record_whose_last_good_copy_is_missing_or_differs(last_good):
    book = facts.parse_books("dns file web web webui h1 02:42:0a:64:00:96 10.100.0.150 lease?\n"
                             f"dns last-good web {last_good}\n")["dns"]
    assert book.records == {"web": WEB_RECORD}
    assert book.unbacked == frozenset({"web"}) and book.last_good == {} and book.damaged == {}


def test_books_name_garbled_lease_lines():
    lines = [*BOOKS, "dns lease 1795658616 zz:b0 10.100.0.999 control *", "dns lease ??\x7f??"]
    book = facts.parse_books("\n".join(lines))["dns"]
    assert [x.ip for x in book.leases] == ["10.100.0.150", "10.100.0.151"]
    assert book.bad_leases == ("1795658616 zz:b0 10.100.0.999 control *", "??\x7f??")


def books_section() -> str:
    """The #books part of HOST_FACTS_SCRIPT (after the script's functions), to run on its own."""
    script = facts.HOST_FACTS_SCRIPT
    return (script[:script.index("label=$1")] + "root=$1 books=dnsmasq\n"
            + script[script.index("echo '#books'"):script.index("echo '#state'")])


def test_books_section_run_on_a_folder(tmp_path):
    """The shell side: last good copies only where they differ from the record, lease lines escaped and cut."""
    d = tmp_path / "dnsmasq" / "dns"
    for sub in ("registry", "last-good"):
        (d / sub).mkdir(parents=True)
    web = "web webui h1 02:42:0a:64:00:96 10.100.0.150 lease\n"
    (d / "registry/web").write_text(web)
    (d / "last-good/web").write_text(web)
    (d / "registry/db").write_text("")
    (d / "last-good/db").write_text("db app h1 02:42:0a:64:00:97 10.100.0.151 lease\n")
    (d / "registry/new").write_text("new app h1 02:42:0a:64:00:98 10.100.0.152 lease\n")
    (d / "generation").write_text("4\n")
    (d / "leases").write_bytes(b"1732500000 02:42:0a:64:00:96 10.100.0.150 web *\n\x00\x01bad\xff line\n" +
                               b"x" * 5000 + b"\n")
    out = subprocess.run(["sh", "-c", books_section(), "sh", str(tmp_path)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and out.stderr == "", out
    book = facts.parse_books(out.stdout.split("\n", 1)[1])["dns"]
    assert book.generation == 4
    assert set(book.records) == {"web", "new"} and book.damaged == {"db": ""}
    assert book.last_good == {"db": Record("db", "app", "h1", "02:42:0a:64:00:97", "10.100.0.151", "lease")}
    assert book.unbacked == frozenset({"new"})
    assert [x.ip for x in book.leases] == ["10.100.0.150"]
    assert book.bad_leases == ("??bad? line", "x" * 1000)
    assert "last-good web" not in out.stdout  # the same as its record: not reported


def test_the_lease_file_is_read_from_the_containers_folder_and_never_through_a_symlink(tmp_path):
    """dnsmasq writes its leases in lease/ (the one folder its container may write); a symlink there (planted by
    the container, to a file of the host) is never followed; a folder made before keeps its leases at the top."""
    d = tmp_path / "dnsmasq" / "dns"
    (d / "registry").mkdir(parents=True)
    (d / "lease").mkdir()

    def leases() -> list[str]:
        out = subprocess.run(["sh", "-c", books_section(), "sh", str(tmp_path)], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0 and out.stderr == "", out
        return [x.ip for x in facts.parse_books(out.stdout.split("\n", 1)[1])["dns"].leases]

    (d / "lease/leases").write_text("1732500000 02:42:0a:64:00:96 10.100.0.150 web *\n")
    assert leases() == ["10.100.0.150"]
    secret = tmp_path / "host-file"
    secret.write_text("1732500000 02:42:0a:64:00:97 10.100.0.151 db *\n")
    (d / "lease/leases").unlink()
    (d / "lease/leases").symlink_to(secret)
    assert leases() == []
    (d / "leases").write_text("1732500000 02:42:0a:64:00:98 10.100.0.152 old *\n")  # where a folder kept them
    assert leases() == ["10.100.0.152"]


def test_a_registry_file_name_that_forges_a_line_reaches_no_record(tmp_path):
    """The dnsmasq container can write its registry folder: a file whose name holds a newline and a record line,
    or a record with a field that is no config value, must not become a record (nor a damaged entry, whose name
    a repair would put in a command)."""
    d = tmp_path / "dnsmasq" / "dns"
    (d / "registry").mkdir(parents=True)
    web = "web webui h1 02:42:0a:64:00:96 10.100.0.150 lease\n"
    (d / "registry/web").write_text(web)
    forged = "x\ndns file galera1 galera1 galera h1 02:42:0a:64:00:66 10.100.0.66 static"
    (d / "registry" / forged).write_text("")
    (d / "registry/evil").write_text("evil web;reboot h1 02:42:0a:64:00:67 10.100.0.67 lease\n")
    (d / "registry/odd").write_text("odd webui h1 02:42:0a:64:00:68 10.100.0.068 lease\n")
    out = subprocess.run(["sh", "-c", books_section(), "sh", str(tmp_path)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out
    assert "galera1" not in out.stdout  # the shell lists no file whose name is no record's name
    book = facts.parse_books(out.stdout.split("\n", 1)[1])["dns"]
    assert set(book.records) == {"web"} and set(book.damaged) == {"evil", "odd"}
    # and the parser on its own: a line forged any other way is no record either
    said = "dns file galera1 galera1 galera h1 02:42:0a:64:00:66 10.100.0.66 static\n" \
           "dns file x/../y x/../y galera h1 02:42:0a:64:00:69 10.100.0.69 static\n" \
           "dns released 10.100.0.70;rm\n"
    book = facts.parse_books(said)["dns"]
    assert set(book.records) == {"galera1"} and book.damaged == {} and book.released == ()


# --- what a container can plant where the facts read (its data folders) ---------------------------------------

GRASTATE = "version: 2.1\nuuid:    57367630-ea9a-11f1-9ec4-7fbd6987d806\nseqno:   12\nsafe_to_bootstrap: 1\n"


def functions() -> str:
    """HOST_FACTS_SCRIPT's functions (plain, bounded, kind), which come before anything it runs."""
    script = facts.HOST_FACTS_SCRIPT
    return script[:script.index("label=$1")]


def state_section() -> str:
    """The #state part of HOST_FACTS_SCRIPT (after its functions), reading galera's data/grastate.dat."""
    script = facts.HOST_FACTS_SCRIPT
    return (functions() + "root=$1 state=' galera/data/grastate.dat'\n"
            + script[script.index("echo '#state'"):script.index("echo '#files'")])


def planted(root) -> dict[str, str]:
    """A galera folder per thing a galera container could leave in place of its grastate.dat (data/ is its to
    write), and a good one; returns name -> what it is. A writer keeps the FIFO of galera7 open, sending nothing."""
    g = root / "galera"
    for name in ("galera1", "galera2", "galera3", "galera4", "galera5", "galera6", "galera7", "galera8"):
        (g / name / "data").mkdir(parents=True)
    (g / "galera1/data/grastate.dat").write_text(GRASTATE)
    os.mkfifo(g / "galera2/data/grastate.dat")
    (g / "galera3/data/grastate.dat").symlink_to("/dev/zero")
    (root / "elsewhere").mkdir()
    (root / "elsewhere/grastate.dat").write_text(GRASTATE)
    (g / "galera4/data").rmdir()
    (g / "galera4/data").symlink_to(root / "elsewhere")
    (g / "galera5/data/grastate.dat").mkdir()
    (g / "galera6/data/grastate.dat").write_text("seqno: 1\n" * 100000)  # 900 kB: cut to the bound
    os.mkfifo(g / "galera7/data/grastate.dat")
    # galera8: no grastate.dat yet
    return {"galera2": "a FIFO", "galera3": "a symlink", "galera4": "data is a symlink", "galera5": "a folder",
            "galera7": "a FIFO"}


def test_the_state_section_reads_a_regular_file_and_refuses_whatever_else_was_planted(tmp_path):
    """A FIFO in place of grastate.dat (no writer, or one that sends nothing), a symlink to /dev/zero, a symlinked
    data folder, a folder: none is read (nothing waits, nothing is followed), each node says why, and the good
    node's state comes through; a huge file is read up to the bound only."""
    said = planted(tmp_path)
    writer = subprocess.Popen(["sh", "-c", 'exec 3>"$1"; sleep 30', "sh",
                               str(tmp_path / "galera/galera7/data/grastate.dat")])
    try:
        t0 = time.monotonic()
        out = subprocess.run(["sh", "-c", state_section(), "sh", str(tmp_path)], capture_output=True, text=True,
                             timeout=60)
        took = time.monotonic() - t0
    finally:
        writer.kill()
        writer.wait()
    assert out.returncode == 0 and out.stderr == "", out
    assert took < 5, took
    state, refused = facts.parse_state(out.stdout.split("\n", 1)[1])
    assert state["galera1"] == GRASTATE and state["galera8"] is None
    assert set(refused) == set(said)
    for name, what in said.items():
        assert what in refused[name] and state[name] is None, (name, refused[name])
    assert refused["galera2"] == "data/grastate.dat is a FIFO, not a regular file: not read"
    assert refused["galera4"] == "data is a symlink: not read"
    assert len(state["galera6"]) <= 65536 + 65536 // 9 + 1  # the bound, and `galera6 = ` per line parsed away


def test_bounded_reads_never_wait_on_a_fifo_nor_follow_a_symlink_swapped_in_after_the_check(tmp_path):
    """The read itself holds when the file was swapped after plain() looked (here plain() says yes to anything):
    a FIFO whose writer sends nothing ends at once, a symlink to /dev/zero or to a host file is not opened."""
    fifo, link, secret = tmp_path / "fifo", tmp_path / "link", tmp_path / "secret"
    os.mkfifo(fifo)
    secret.write_text("host secret\n")
    link.symlink_to(secret)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    writer = subprocess.Popen(["sh", "-c", 'exec 3>"$1"; sleep 30', "sh", str(fifo)])
    try:
        for path in (fifo, link, zero):
            t0 = time.monotonic()
            out = subprocess.run(["sh", "-c", functions() + 'plain() { true; }\nbounded "$1"', "sh", str(path)],
                                 capture_output=True, timeout=30)
            assert time.monotonic() - t0 < 3 and out.stdout == b"", (path, out)
    finally:
        writer.kill()
        writer.wait()


def test_a_lease_file_swapped_for_a_fifo_or_a_symlink_is_no_lease_file(tmp_path):
    """dnsmasq writes lease/ (its one writable folder): a FIFO or a symlink to /dev/zero there is skipped at once."""
    d = tmp_path / "dnsmasq" / "dns"
    (d / "registry").mkdir(parents=True)
    (d / "lease").mkdir()
    for plant in (lambda p: os.mkfifo(p), lambda p: p.symlink_to("/dev/zero")):
        lease = d / "lease" / "leases"
        if lease.exists() or lease.is_symlink():
            lease.unlink()
        plant(lease)
        out = subprocess.run(["sh", "-c", books_section(), "sh", str(tmp_path)], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0 and out.stderr == "", out
        assert facts.parse_books(out.stdout.split("\n", 1)[1])["dns"].leases == ()


def test_parse_state_keeps_refused_nodes_apart():
    text = ("g1 dir\ng1 = seqno: 1\ng2 dir\ng2 refused data is a symlink: not read\ng3 dir\n"
            "g4 dir\ng4 = dir\ng4 = refused x\n")
    assert facts.parse_state(text) == ({"g1": "seqno: 1\n", "g2": None, "g3": None, "g4": "dir\nrefused x\n"},
                                       {"g2": "data is a symlink: not read"})


# --- HOST_FACTS_SCRIPT, the whole of it, run here with fake docker, nsenter, ip, bridge and iptables ------

HOST_INSPECT = [inspect_entry("web", True, 41234, labels={dockercli.LABEL_MANAGED: "true"}),
                inspect_entry("db", False, 0, labels={dockercli.LABEL_MANAGED: "true"})]
PINNED = "registry.example/web@sha256:" + "c" * 64  # a tag the listing does not show as written
PINNED_ID = "sha256:" + "d" * 64
FAKE_FACTS_DOCKER = f"""case "$1 $2" in
  "ps -a") printf '%s\\n' "webid true web" "dbid true db" "strangerid  stranger" "oddid false odd" ;;
  "container inspect") cat "$FAKEBIN_STATE/inspect" ;;
  "images --no-trunc") printf '%s\\n' "dockstack/base:bookworm {WEB_IMAGE_ID}" "<none>:<none> sha256:{"e" * 64}" ;;
  "image inspect") [ "$5" = "{PINNED}" ] || exit 1; echo "{PINNED_ID}" ;;
esac
"""
FAKE_FACTS_NSENTER = r"""case "$*" in
  "-t 41234 -n ip -o link show dev eth0")
    printf '%s%s\n' '2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP' \
      '\    link/ether 02:42:0A:64:00:96 brd ff:ff:ff:ff:ff:ff' ;;
  "-t 41234 -n ip -o -4 addr show dev eth0")
    printf '%s\n' '2: eth0    inet 10.100.0.150/24 brd 10.100.0.255 scope global eth0\       valid_lft forever' ;;
  *) exit 1 ;;
esac
"""
FAKE_FACTS_IP = """for dev; do :; done
case $dev in
  dsbr0) echo "4: dsbr0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT" ;;
  dsvx0|eth1) echo "5: $dev: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master dsbr0 state UP" ;;
  *) exit 1 ;;
esac
"""
FAKE_FACTS_BRIDGE = """printf '%s\\n' "00:00:00:00:00:00 dst 10.99.0.12 self permanent" \\
  "00:00:00:00:00:00 dst 10.99.0.13 self permanent" "02:42:0a:64:00:05 dst 10.99.0.12 self"
"""
FAKE_FACTS_IPTABLES = """case "$2 $3" in  # no DOCKER-USER chain; the rule is in FORWARD; the VXLAN filter is there
  "-S FORWARD") printf '%s\\n' "-P FORWARD ACCEPT" "-A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT" ;;
  "-S DOCKSTACK-VXLAN") printf '%s\\n' "-N DOCKSTACK-VXLAN" "-A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN" \\
    "-A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN" "-A DOCKSTACK-VXLAN -j DROP" ;;
  "-S INPUT") printf '%s\\n' "-P INPUT ACCEPT" "-A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN" ;;
  *) echo "iptables: No chain/target/match by that name." >&2; exit 1 ;;
esac
"""


def run_host_facts(fakebin, root, tags: list[str]) -> subprocess.CompletedProcess[str]:
    """HOST_FACTS_SCRIPT on the service folders under root, with the fake docker, nsenter, ip, bridge, iptables."""
    (fakebin.state / "inspect").write_text(json.dumps(HOST_INSPECT, indent=4) + "\n")
    for name, body in {"docker": FAKE_FACTS_DOCKER, "nsenter": FAKE_FACTS_NSENTER, "ip": FAKE_FACTS_IP,
                       "bridge": FAKE_FACTS_BRIDGE, "iptables": FAKE_FACTS_IPTABLES}.items():
        fakebin.add(name, body)
    return fakebin.run(facts.host_facts_argv(dockercli.LABEL_MANAGED + "=true", str(root), "dsbr0", "dsvx0", "eth1",
                                             tags, *facts_wanted(), catalog=agent.DIGEST_FILE))


def test_the_whole_facts_answer_at_once_for_every_container_whatever_was_planted(tmp_path, fakebin):
    """A host where galera containers planted a FIFO, a symlink to /dev/zero, ... in place of their grastate.dat
    and dnsmasq a FIFO in place of its lease file: the facts script ends within its bound, the other sections and the
    good node's state come through, and each planted node is named with why."""
    root = tmp_path / "root"
    said = planted(root)
    (root / "dnsmasq" / "dns" / "registry").mkdir(parents=True)
    (root / "dnsmasq" / "dns" / "registry" / "dns").write_text("dns dnsmasq h1 02:00:0a:64:00:02 10.100.0.2 static\n")
    (root / "dnsmasq" / "dns" / "lease").mkdir()
    os.mkfifo(root / "dnsmasq" / "dns" / "lease" / "leases")
    t0 = time.monotonic()
    proc = run_host_facts(fakebin, root, ["dockstack/base:bookworm"])
    assert proc.returncode == 0 and time.monotonic() - t0 < 10, proc
    hf = facts.parse_host_facts(proc.stdout)
    assert set(hf.containers) == {"web", "db"} and hf.books["dns"].records == {"dns": DNS_RECORD}
    assert hf.state["galera1"] == GRASTATE and set(hf.state_problems) == set(said)


def test_host_facts_script_reports_every_section(tmp_path, fakebin):
    root = tmp_path / "root"
    (root / "dnsmasq" / "dns" / "registry").mkdir(parents=True)
    (root / "dnsmasq" / "dns" / "registry" / "dns").write_text("dns dnsmasq h1 02:00:0a:64:00:02 10.100.0.2 static\n")
    (root / "dnsmasq" / "dns" / "generation").write_text("3\n")
    (root / "dnsmasq" / "dns" / "dnsmasq.conf").write_text("no-ping\n")
    (root / "haproxy" / "lb" / ".incoming.x").mkdir(parents=True)  # a push in progress: not a service file
    (root / "haproxy" / "lb" / ".incoming.x" / "haproxy.cfg").write_text("new\n")
    (root / "haproxy" / "lb" / "haproxy.cfg").write_text("global\n")
    (root / "galera" / "galera1" / "data").mkdir(parents=True)
    (root / "galera" / "galera1" / "data" / "grastate.dat").write_text(
        "version: 2.1\nuuid:    57367630-ea9a-11f1-9ec4-7fbd6987d806\nseqno:   12\nsafe_to_bootstrap: 1\n")
    tags = ["dockstack/base:bookworm", PINNED, "dockstack/db:bookworm"]
    proc = run_host_facts(fakebin, root, tags)
    assert proc.returncode == 0, proc.stderr
    hf = facts.parse_host_facts(proc.stdout)
    assert proc.stdout.splitlines()[-1] == "#end"
    assert (hf.dockerd, set(hf.containers), hf.foreign) == (True, {"web", "db"}, frozenset({"stranger", "odd"}))
    assert hf.addresses == {"web": ("02:42:0a:64:00:96", "10.100.0.150"), "db": (None, None)}
    assert hf.images == {"dockstack/base:bookworm": WEB_IMAGE_ID, PINNED: PINNED_ID, "dockstack/db:bookworm": None}
    assert hf.network == NetworkFacts(bridge_up=True, vxlan_master="dsbr0", peers=frozenset({"10.99.0.12",
                                      "10.99.0.13"}), uplink_master="dsbr0", firewall=parse_chains([
                                          "-N DOCKSTACK-VXLAN", "-A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN",
                                          "-A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN",
                                          "-A DOCKSTACK-VXLAN -j DROP", "-P INPUT ACCEPT",
                                          "-A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN",
                                          "-P FORWARD ACCEPT", "-A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT"]))
    assert hf.books["dns"].generation == 3 and hf.books["dns"].records == {"dns": DNS_RECORD}
    assert hf.state == {"galera1": "version: 2.1\nuuid:    57367630-ea9a-11f1-9ec4-7fbd6987d806\nseqno:   12\n"
                                   "safe_to_bootstrap: 1\n"}
    assert hf.files == {f"{root}/dnsmasq/dns/dnsmasq.conf": hashlib.sha256(b"no-ping\n").hexdigest(),
                        f"{root}/haproxy/lb/haproxy.cfg": hashlib.sha256(b"global\n").hexdigest()}
    docker = fakebin.calls("docker")
    # one listing: every name, and the IDs of those whose label says managed (its value compared exactly)
    assert f'docker ps -a --no-trunc --format {{{{.ID}}}} {{{{.Label "{dockercli.LABEL_MANAGED}"}}}} {{{{.Names}}}}' \
        in docker
    assert "docker container inspect webid dbid" in docker  # the IDs, one argument each
    assert not any(c.startswith(("docker version", "docker container inspect --format")) for c in docker)
    assert [c for c in docker if c.startswith("docker image inspect")] == [
        f"docker image inspect --format {{{{.Id}}}} {tag}" for tag in tags[1:]]  # only what the listing lacks
    assert all(" 0 " not in c for c in fakebin.calls("nsenter"))  # a stopped container (PID 0) is not entered
    assert fakebin.calls("iptables") == [f"iptables -w -S {c}" for c in firewall.READ_CHAINS]


def test_host_facts_read_each_folders_catalog_digest_as_a_plain_file_and_hex_only(tmp_path, fakebin):
    """The digest of each container's last passing agent run, from its folder (SERVICE/NAME): a digest as it is, a
    file that holds anything else as unknown, a symlink or a folder in its place skipped (never followed), a
    folder that is no name skipped."""
    root, digest = tmp_path / "root", "ab" * 32
    outside = tmp_path / "outside"
    outside.write_text("cd" * 32 + "\n")
    for folder, what in (("galera/galera1", digest + "\n"), ("webui/web", "not a digest $(id)\n"),
                         ("galera/galera2", outside), ("redis/redis", None), ("Odd/x", digest + "\n"),
                         ("openstack/openstack", digest + "\n" + "cd" * 32 + "\n")):
        (root / folder).mkdir(parents=True)
        if isinstance(what, str):
            (root / folder / agent.DIGEST_FILE).write_text(what)
        elif what is None:
            (root / folder / agent.DIGEST_FILE).mkdir()
        else:
            (root / folder / agent.DIGEST_FILE).symlink_to(what)
    hf = facts.parse_host_facts(run_host_facts(fakebin, root, []).stdout)
    assert hf.catalogs == {"galera/galera1": digest, "webui/web": None, "openstack/openstack": digest}


def test_catalog_digests_are_taken_only_as_64_hex_digits_of_a_named_folder():
    got = facts.parse_catalogs("\n".join([f"galera/galera1 {'a' * 64}", f"galera/galera2 {'A' * 64}",
                                           f"galera/galera3 {'a' * 63}", f"../x {'a' * 64}", "web/web", "",
                                           f"redis/redis {'a' * 64} extra"]))
    assert got == {"galera/galera1": "a" * 64, "galera/galera2": None, "galera/galera3": None, "web/web": None,
                   "redis/redis": None}


def test_host_facts_script_says_dockerd_is_down_from_its_one_listing(tmp_path, fakebin):
    """The facts ask docker for the containers once (no `docker version` before): when that listing fails, the
    section says dockerd is down with docker's own words, no container is inspected, and the facts still end."""
    said = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    fakebin.add("docker", f'echo "{said}" >&2; exit 1\n')
    for name in ("nsenter", "ip", "bridge", "iptables"):
        fakebin.add(name, "exit 1\n")
    proc = fakebin.run(facts.host_facts_argv(dockercli.LABEL_MANAGED + "=true", str(tmp_path / "root"), "dsbr0",
                                             "dsvx0", None, ["dockstack/base:bookworm"]))
    hf = facts.parse_host_facts(proc.stdout)
    assert (proc.returncode, proc.stdout.splitlines()[-1]) == (0, "#end"), proc.stderr
    assert (hf.dockerd, hf.dockerd_said, hf.containers, hf.foreign) == (False, said, {}, frozenset())
    assert not any(c.startswith("docker container inspect") for c in fakebin.calls("docker"))
