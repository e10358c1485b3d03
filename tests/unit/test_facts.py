"""dockstack.facts: parsers for dnsmasq files and docker / iproute2 output."""

from __future__ import annotations

import json

import pytest

from dockstack import facts
from dockstack.facts import ContainerState, DhcpHost, Lease

# --- dnsmasq leases -------------------------------------------------------------------------

LEASES = """\
1732500000 02:42:AC:11:00:05 10.100.0.105 web 01:02:42:ac:11:00:05
1732500100 02:42:ac:11:00:06 10.100.0.106 * 01:02:42:ac:11:00:06
duid 00:01:00:01:2c:5f:1a:2b:02:00:0a:64:00:02
1732500200 02:42:ac:11:00:07 10.100.0.107 db
1732500300 02:42:ac:11:00:08 fd00::8 v6host *
garbage line
abc 02:42:ac:11:00:09 10.100.0.109 x *
1732500400 02:42:ac:11:00:0a 10.100.0.110

"""


def test_parse_leases():
    assert facts.parse_leases(LEASES) == [
        Lease(1732500000, "02:42:ac:11:00:05", "10.100.0.105", "web", "01:02:42:ac:11:00:05"),
        Lease(1732500100, "02:42:ac:11:00:06", "10.100.0.106", None, "01:02:42:ac:11:00:06"),
        Lease(1732500200, "02:42:ac:11:00:07", "10.100.0.107", "db"),
    ]


def test_parse_leases_client_id_star_or_garbage_is_none():
    assert facts.parse_leases("1 02:00:00:00:00:01 10.100.0.5 web *\n")[0].client_id is None
    assert facts.parse_leases("1 02:00:00:00:00:01 10.100.0.5 web x;y\n")[0].client_id is None


def test_parse_leases_lowercases_mac():
    (lease,) = facts.parse_leases("1 02:AB:CD:EF:00:01 10.100.0.5 web *\n")
    assert lease.mac == "02:ab:cd:ef:00:01"
    assert isinstance(lease.expiry, int)


def test_parse_leases_star_hostname_is_none():
    (lease,) = facts.parse_leases("5 02:00:00:00:00:01 10.100.0.5 * *\n")
    assert lease.hostname is None


def test_parse_leases_empty():
    assert facts.parse_leases("") == []
    assert facts.parse_leases("duid 00:01:00:01\n") == []


# --- dhcp-hosts / hosts files -----------------------------------------------------------------


def test_parse_dhcp_hosts():
    text = ("# MAC,name,IP of every dockstack container\n"
            "02:00:0A:64:00:02,dnsmasq,10.100.0.2\n"
            "\n"
            " 02:42:00:00:00:05 , web , 10.100.0.105  # trailing comment\n"
            "# 02:42:00:00:00:06,commented,10.100.0.106\n"
            "02:ff:0a:64:00:96,10.100.0.150\n")
    assert facts.parse_dhcp_hosts(text) == [DhcpHost("02:00:0a:64:00:02", "dnsmasq", "10.100.0.2"),
                                            DhcpHost("02:42:00:00:00:05", "web", "10.100.0.105")]


def test_parse_hosts_file():
    text = ("# comment 10.0.0.1 nope\n"
            "127.0.0.1 localhost\n"
            "10.100.0.2 dnsmasq.dockstack.lab dnsmasq   # the dnsmasq\n"
            "10.100.0.2 dns\n"
            "10.100.0.9\n")
    assert facts.parse_hosts_file(text) == {"127.0.0.1": ["localhost"],
                                            "10.100.0.2": ["dnsmasq.dockstack.lab", "dnsmasq", "dns"]}


# --- docker -----------------------------------------------------------------------------------

INSPECT = [{
    "Id": "4f2a9c1d0b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a",
    "Created": "2024-11-24T22:10:00.000000000Z",
    "Path": "sh",
    "Args": ["-c", "trap 'exit 0' TERM; sleep infinity & wait"],
    "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
              "Dead": False, "Pid": 41234, "ExitCode": 0, "Error": "",
              "StartedAt": "2024-11-24T22:10:01.000000000Z", "FinishedAt": "0001-01-01T00:00:00Z"},
    "Image": "sha256:9d1c3b2a0f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f5e",
    "Name": "/web",
    "RestartCount": 0,
    "HostConfig": {"NetworkMode": "none", "CapAdd": ["NET_ADMIN"], "Dns": ["10.100.0.2"]},
    "Config": {"Hostname": "web", "Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh", "-c", "sleep infinity"],
               "Image": "dockstack/base:bookworm",
               "Labels": {"org.dockstack.managed": "true", "org.dockstack.role": "webui"}},
    "NetworkSettings": {"Networks": {"none": {"IPAddress": "", "MacAddress": ""}}},
}]


def test_parse_inspect_running():
    state = facts.parse_inspect(json.dumps(INSPECT, indent=4))
    assert state == ContainerState(name="web", running=True, pid=41234, image="dockstack/base:bookworm",
                                   image_id=INSPECT[0]["Image"],
                                   labels={"org.dockstack.managed": "true", "org.dockstack.role": "webui"})
    assert state.status == "running"


def test_parse_inspect_stopped_without_labels():
    d = json.loads(json.dumps(INSPECT))
    d[0]["State"].update(Running=False, Pid=0, Status="exited")
    d[0]["Config"]["Labels"] = None
    state = facts.parse_inspect(json.dumps(d))
    assert state is not None
    assert (state.running, state.pid, state.labels, state.status) == (False, 0, {}, "stopped")


def test_parse_inspect_paused():
    d = json.loads(json.dumps(INSPECT))
    d[0]["State"].update(Paused=True, Status="paused")  # Docker keeps Running true while paused
    state = facts.parse_inspect(json.dumps(d))
    assert state is not None
    assert (state.running, state.paused, state.status) == (True, True, "paused")


def test_parse_inspect_empty_array():
    assert facts.parse_inspect("[]\n") is None


def test_parse_inspect_not_json():
    assert facts.parse_inspect("Error: No such container: web\n") is None
    assert facts.parse_inspect("") is None


def test_parse_ps():
    text = "dnsmasq\trunning\nweb\texited\ndb\tcreated\n\nnot a row\n"
    assert facts.parse_ps(text) == {"dnsmasq": "running", "web": "stopped", "db": "stopped"}


def test_parse_ps_empty():
    assert facts.parse_ps("") == {}


# --- iproute2 -----------------------------------------------------------------------------------

LINK = ("2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT "
        "group default qlen 1000\\    link/ether 02:00:0a:64:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n")
ADDR = ("2: eth0    inet 10.100.0.105/24 brd 10.100.0.255 scope global dynamic eth0\\       "
        "valid_lft 43170sec preferred_lft 43170sec\n")


def test_parse_link_mac():
    assert facts.parse_link_mac(LINK) == "02:00:0a:64:00:02"


def test_parse_link_mac_absent():
    assert facts.parse_link_mac("1: lo: <LOOPBACK,UP> mtu 65536 qdisc noqueue\\    link/loopback 00:00:00:00:00:00\n") \
        is None
    assert facts.parse_link_mac("") is None


def test_parse_ipv4():
    assert facts.parse_ipv4(ADDR) == "10.100.0.105"


def test_parse_ipv4_from_combined_link_and_addr_output():
    assert facts.parse_ipv4(LINK + ADDR) == "10.100.0.105"
    assert facts.parse_link_mac(LINK + ADDR) == "02:00:0a:64:00:02"


def test_parse_ipv4_first_address_wins():
    second = ADDR.replace("10.100.0.105", "10.100.0.200").replace("dynamic ", "secondary ")
    assert facts.parse_ipv4(ADDR + second) == "10.100.0.105"


def test_parse_ipv4_absent():
    assert facts.parse_ipv4("") is None
    assert facts.parse_ipv4(LINK) is None
    assert facts.parse_ipv4("2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever\n") is None


def test_parse_lease_file_names_the_lines_that_are_no_lease():
    leases, bad = facts.parse_lease_file(LEASES)
    assert leases == facts.parse_leases(LEASES)
    assert bad == ["1732500300 02:42:ac:11:00:08 fd00::8 v6host *", "garbage line",
                   "abc 02:42:ac:11:00:09 10.100.0.109 x *", "1732500400 02:42:ac:11:00:0a 10.100.0.110"]


@pytest.mark.parametrize("line", [
    "1795658616 zz:b0 10.100.0.999 control *",  # a MAC and an IP that are no such thing
    "1795658616 02:42:ac:11:00:05 10.100.0.999 web *",
    "1795658616 02:42:ac:11:00:05 10.100.0.5 web * extra",
    "17956?8616 02:42:ac:11:00:05 10.100.0.5 web *",
    "1795658616 02:42:ac:11:00",  # truncated
    "duid",
    "????\x00?",
])
def test_parse_lease_file_garbled_line(line):
    assert facts.parse_lease_file(line + "\n") == ([], [line])


def test_parse_lease_file_keeps_dnsmasqs_own_lines_and_skips_blank_ones():
    text = ("duid 00:01:00:01:2c:5f:1a:2b:02:00:0a:64:00:02\n\n   \n"
            "1732500000 1234567 fd00::5 web 00:01:00:01:2c:5f:1a:2b:02:00:0a:64:00:05\n")
    assert facts.parse_lease_file(text) == ([], [])
