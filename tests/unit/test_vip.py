"""The virtual IP of a haproxy role: its config keys and their validation, its address-book entry, the
privileges it gives, and the files rendered for keepalived and the container's supervisor."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from dockstack import actions, dockercli, ipam
from dockstack.config import Vip
from dockstack.errors import ConfigError
from dockstack.masking import MASK
from dockstack.services import base
from dockstack.services import haproxy as haproxy_service

PASSWORD = "s3cr3t+x"


def with_vip(cfg, **vip) -> None:
    """cfg's stack with a haproxy role holding a vip over two containers on different hosts."""
    cfg.containers["images"]["test/haproxy:bookworm"] = {"packages": ["haproxy", "keepalived"]}
    cfg.containers["roles"].insert(1, {"name": "lb", "service": "haproxy",
                                       "vip": {"ip": "10.100.0.10", "name": "vip", "router_id": 51,
                                               "password": PASSWORD, **vip}})
    cfg.containers["containers"] += [
        {"name": "lb1", "role": "lb", "host": "h1", "image": "test/haproxy:bookworm", "ip": "10.100.0.11"},
        {"name": "lb2", "role": "lb", "host": "h2", "image": "test/haproxy:bookworm", "ip": "10.100.0.12"}]


def test_vip_is_read(cfg):
    with_vip(cfg)
    _, stack = cfg.load()
    vip = Vip(ipaddress.IPv4Address("10.100.0.10"), "vip", 51, PASSWORD)
    assert stack.role("lb").vip == vip
    assert [c.vip for c in stack.of_role("lb")] == [vip, vip]
    assert stack.vips() == ((stack.role("lb"), vip),)
    assert vip.mac == "00:00:5e:00:01:33"  # VRRP's virtual router MAC of router id 51
    assert stack.container("app1").vip is None


def test_vip_name_defaults_to_vip(cfg):
    with_vip(cfg)
    del cfg.containers["roles"][1]["vip"]["name"]
    _, stack = cfg.load()
    assert stack.role("lb").vip is not None and stack.role("lb").vip.name == "vip"


@pytest.mark.parametrize(("vip", "key", "words"), [
    ({"ip": "10.101.0.10"}, "ip", ["outside the container subnet 10.100.0.0/24", "network.subnet"]),
    ({"ip": "10.100.0.0"}, "ip", ["outside the container subnet"]),
    ({"ip": "10.100.0.255"}, "ip", ["outside the container subnet"]),
    ({"ip": "10.100.0.150"}, "ip", ["inside dhcp_range 10.100.0.100-10.100.0.199", "network.dhcp_range"]),
    ({"ip": "10.100.0.100"}, "ip", ["inside dhcp_range"]),
    ({"ip": "10.100.0.199"}, "ip", ["inside dhcp_range"]),
    ({"ip": "10.100.0.2"}, "ip", ["already the static ip of container dns"]),
    ({"ip": "vip.lab"}, "ip", ["is not an IPv4 address"]),
    ({"ip": None}, "ip", ["missing"]),
    ({"name": "app1"}, "name", ["already the name of a container"]),
    ({"name": "Vip_1"}, "name", ["is not a valid name"]),
    ({"router_id": 0}, "router_id", ["0 is not a VRRP virtual router id", "1-255"]),
    ({"router_id": 256}, "router_id", ["256 is not a VRRP virtual router id"]),
    ({"router_id": "51"}, "router_id", ["must be an integer"]),
    ({"router_id": True}, "router_id", ["must be an integer"]),
    ({"router_id": None}, "router_id", ["missing"]),
    ({"password": None}, "password", ["missing"]),
    ({"extra": 1}, "extra", ["unknown key"]),
])
def test_rejected_vip_values(cfg, config_error, vip, key, words):
    with_vip(cfg, **vip)
    if vip.get("ip", 1) is None or vip.get("router_id", 1) is None or vip.get("password", 1) is None:
        del cfg.containers["roles"][1]["vip"][key]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"roles[1].vip.{key}", *words)


def test_vip_on_the_gateway(cfg, config_error):
    cfg.hosts["network"]["gateway"] = "10.100.0.1"
    with_vip(cfg, ip="10.100.0.1")
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].vip.ip", "is the network gateway")


def test_vip_that_is_a_containers_static_ip_given_later(cfg, config_error):
    with_vip(cfg)
    cfg.containers["containers"][1]["ip"] = "10.100.0.10"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].vip.ip", "10.100.0.10 is already the static ip of container app1")


def test_vip_router_mac_used_by_a_container(cfg, config_error):
    with_vip(cfg)
    cfg.containers["containers"][1]["mac"] = "00:00:5e:00:01:33"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].vip.router_id", "VRRP MAC of router id 51")


def test_vip_only_on_a_haproxy_role(cfg, config_error):
    cfg.containers["roles"][1]["vip"] = {"ip": "10.100.0.10", "router_id": 51, "password": PASSWORD}
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].vip", "needs the role's containers to run haproxy",
                 "service: haproxy")


def test_two_vips_need_their_own_address_name_and_router_id(cfg, config_error):
    with_vip(cfg)
    cfg.containers["roles"].append({"name": "lb2", "service": "haproxy", "vip": {
        "ip": "10.100.0.13", "name": "vip2", "router_id": 51, "password": PASSWORD}})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[3].vip.router_id", "51 is already used by the vip of role lb")


def test_vip_must_be_a_mapping(cfg, config_error):
    with_vip(cfg)
    cfg.containers["roles"][1]["vip"] = "10.100.0.10"
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].vip", "must be a mapping")


@pytest.mark.parametrize(("password", "words"), [
    ("abc\ndef", ["contains a newline"]),
    ("abc\x00def", ["contains a NUL character"]),
    ("abc\tdef", ["is not 4-8 characters"]),
    ("abc def", ["is not 4-8 characters"]),
    ("abc#defg", ["is not 4-8 characters"]),
    ("ab$HOME", ["is not 4-8 characters"]),
    ('ab"cdef', ["is not 4-8 characters"]),
    ("abc", ["is not 4-8 characters"]),
    ("abcdefghi", ["is not 4-8 characters", "8 characters at most"]),
    (12345678, ["the secret value (a int) is not a string", "quote"]),
    (["abcd"], ["the secret value (a list) is not a string"]),
])
def test_rejected_vrrp_passwords_are_never_quoted(cfg, config_error, password, words):
    with_vip(cfg, password=password)
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "roles[1].vip.password", *words)
    msg = str(e.value)
    shown = password if isinstance(password, str) else str(password)
    assert shown not in msg and repr(shown) not in msg and "abc" not in msg and "1234" not in msg
    if isinstance(password, str):
        assert MASK in msg


def test_vrrp_password_is_masked_like_a_secret_env_value(cfg):
    with_vip(cfg)
    _, stack = cfg.load()
    assert PASSWORD in stack.secret_values
    assert stack.mask(f"auth_pass {PASSWORD}\n") == f"auth_pass {MASK}\n"


def test_vrrp_password_never_reaches_a_label(cfg):
    with_vip(cfg)
    inv, stack = cfg.load()
    argv = dockercli.run_argv(stack.container("lb1"), inv.network, ["10.100.0.2"])
    assert not any(PASSWORD in a for a in argv)


# --- privileges -------------------------------------------------------------------------------------------


def test_only_the_vip_roles_containers_get_net_admin(cfg):
    with_vip(cfg)
    cfg.containers["roles"].append({"name": "plainlb", "service": "haproxy"})
    cfg.containers["containers"].append({"name": "lb3", "role": "plainlb", "host": "h1",
                                         "image": "test/haproxy:bookworm"})
    inv, stack = cfg.load()
    caps = {c.name: dockercli.cap_add(c) for c in stack.containers}
    assert caps == {"dns": ["NET_ADMIN"], "app1": [], "lb1": ["NET_ADMIN", "NET_RAW"],
                    "lb2": ["NET_ADMIN", "NET_RAW"], "lb3": []}
    argv = dockercli.run_argv(stack.container("lb1"), inv.network, ["10.100.0.2"])
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--cap-add"] == ["NET_ADMIN", "NET_RAW"]
    # keepalived's VRRP adverts go out on a raw socket: NET_RAW stays (MKNOD goes, as everywhere)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--cap-drop"] == ["MKNOD"]


def test_adding_a_vip_changes_the_spec(cfg):
    """Its containers need new privileges, which only a new container gets: deploy-all recreates them."""
    with_vip(cfg)
    _, stack = cfg.load()
    del cfg.containers["roles"][1]["vip"]
    _, plain = cfg.load()
    assert dockercli.spec_digests(stack.container("lb1"))["cap_add"] != \
        dockercli.spec_digests(plain.container("lb1"))["cap_add"]


# --- the address book --------------------------------------------------------------------------------------


def test_vip_record_reserves_the_address_and_names_it(cfg):
    with_vip(cfg)
    inv, stack = cfg.load()
    rec = ipam.vip_records(stack)["vip"]
    assert rec == ipam.Record("vip", "lb", ipam.NO_HOST, "00:00:5e:00:01:33", "10.100.0.10", ipam.VIP)
    assert ipam.render_dhcp_host(rec) == "00:00:5e:00:01:33,vip,10.100.0.10\n"  # pinned to a MAC nobody has
    assert ipam.render_host(rec, inv.network.domain) == "10.100.0.10 vip.example.lab vip\n"


def test_vip_changes_put_new_or_changed_entries_and_drop_stale_ones(cfg):
    with_vip(cfg)
    _, stack = cfg.load()
    rec = ipam.vip_records(stack)["vip"]
    assert ipam.vip_changes(stack, {}) == ((rec,), ())
    assert ipam.vip_changes(stack, {"vip": rec}) == ((), ())
    moved = ipam.Record("vip", "lb", ipam.NO_HOST, rec.mac, "10.100.0.9", ipam.VIP)
    assert ipam.vip_changes(stack, {"vip": moved}) == ((rec,), ())
    old = ipam.Record("oldvip", "lb", ipam.NO_HOST, "00:00:5e:00:01:07", "10.100.0.7", ipam.VIP)
    app = ipam.Record("app1", "app", "h2", "02:00:00:00:00:01", "10.100.0.120", ipam.NEW)
    assert ipam.vip_changes(stack, {"vip": rec, "oldvip": old, "app1": app}) == ((), ("oldvip",))


# --- rendered files ----------------------------------------------------------------------------------------


def test_keepalived_conf(cfg):
    with_vip(cfg)
    inv, stack = cfg.load()
    first = haproxy_service.render_keepalived(stack, stack.container("lb1"), inv.network)
    second = haproxy_service.render_keepalived(stack, stack.container("lb2"), inv.network)
    for text in (first, second):
        assert "vrrp_instance lb {" in text
        assert "    state BACKUP\n    nopreempt\n    interface eth0\n" in text
        assert "virtual_router_id 51\n" in text
        assert f"auth_pass {PASSWORD}\n" in text
        assert "10.100.0.10/24 dev eth0\n" in text
        assert 'script "/usr/bin/pgrep -x haproxy"' in text and "track_script {\n        haproxy_alive" in text
    assert "priority 150\n" in first and "router_id lb1\n" in first
    assert "priority 140\n" in second and "router_id lb2\n" in second
    # unicast to the other container's static address, from its own; adverts from anyone else ignored
    unicast = "unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n    check_unicast_src\n"
    assert unicast.format("10.100.0.11", "10.100.0.12") in first
    assert unicast.format("10.100.0.12", "10.100.0.11") in second
    assert "{{" not in first and "{%" not in first


def test_keepalived_of_a_vip_role_alone_has_no_peer_to_send_to(cfg):
    with_vip(cfg)
    cfg.containers["containers"] = [c for c in cfg.containers["containers"] if c["name"] != "lb2"]
    inv, stack = cfg.load()
    text = haproxy_service.render_keepalived(stack, stack.container("lb1"), inv.network)
    assert "unicast" not in text and "vrrp_instance lb {" in text


def test_a_vip_roles_container_without_a_static_ip_is_refused(cfg, config_error):
    with_vip(cfg)
    del cfg.containers["containers"][-1]["ip"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"containers[{len(cfg.containers['containers']) - 1}].ip",
                 "container lb2 has no static ip, and its role lb has a vip", "inv ipam.show")


def test_keepalived_conf_is_written_for_root_only():
    private = haproxy_service.SERVICE.private_files
    data = actions.files_payload({"/x/lb1/keepalived.conf": "k", "/x/lb1/haproxy.cfg": "h"}, (), private)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {"x/lb1/keepalived.conf": 0o600, "x/lb1/haproxy.cfg": 0o644}


@pytest.mark.parametrize("keepalived", [True, False])
def test_supervisor_script(cfg, tmp_path, keepalived):
    with_vip(cfg)
    _, stack = cfg.load()
    c = stack.container("lb1")
    text = haproxy_service.render_supervisor(c if keepalived else dataclasses.replace(c, vip=None))
    assert 'haproxy -W -db -f "$conf/haproxy.cfg" &' in text
    assert ("keepalived -P -n" in text) is keepalived
    assert "trap 'stopping=1' TERM INT" in text and "wait -n -p ended" in text
    script = tmp_path / "supervise.sh"
    script.write_text(text)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    if shutil.which("shellcheck"):
        proc = subprocess.run(["shellcheck", "--norc", "--shell=bash", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


FAKE_DAEMON = """#!/bin/bash
# a fake daemon: says it started, and on SIGTERM says so and ends
trap 'echo "$(basename "$0") TERM" >> "$LOG"; kill "$nap"; exit 0' TERM
trap 'echo "$(basename "$0") HUP" >> "$LOG"' HUP
trap 'echo "$(basename "$0") USR2" >> "$LOG"' USR2
echo "$(basename "$0") started" >> "$LOG"
sleep 60 & nap=$!
until wait "$nap"; do :; done  # a reload's signal interrupts wait
"""


def run_supervisor(tmp_path, text: str, addresses: str, keepalived_conf: str = "", reload: bool = False
                   ) -> list[str]:
    """The rendered supervisor under fake haproxy, keepalived, ip (eth0 holding `addresses`) and nft, its files in
    tmp_path (keepalived.conf: keepalived_conf), sent SIGUSR2 once both daemons run when reload, then stopped by
    SIGTERM: what each fake was told, in order, less what nft was told before the daemons started (the VRRP
    filter, see test_only_the_peers_may_speak_vrrp_to_a_container)."""
    text = text.replace(f"conf={haproxy_service.MOUNT}\n", f"conf={tmp_path}\n")
    (tmp_path / "keepalived.conf").write_text(keepalived_conf)
    fakes, log = tmp_path / "bin", tmp_path / "log"
    fakes.mkdir()
    for name, body in {"haproxy": FAKE_DAEMON, "keepalived": FAKE_DAEMON,
                       "ip": f"#!/bin/sh\nprintf '%s\\n' '{addresses}'\n",
                       "nft": '#!/bin/sh\n{ echo "nft:"; cat; } >> "$LOG"\n'}.items():
        (fakes / name).write_text(body)
        (fakes / name).chmod(0o755)
    (tmp_path / "supervise.sh").write_text(text)
    env = {"PATH": f"{fakes}:/usr/bin:/bin", "LOG": str(log)}
    proc = subprocess.Popen(["bash", str(tmp_path / "supervise.sh")], env=env, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    while not (log.exists() and log.read_text().count(" started") == 2):
        assert time.monotonic() - started < 10, "the fake daemons did not start"
        time.sleep(0.02)
    if reload:
        proc.send_signal(signal.SIGUSR2)
        # both fakes have written what they were told (each when its own trap runs: on a busy machine haproxy's
        # USR2, sent first, may be written after keepalived's HUP)
        while not {"keepalived HUP", "haproxy USR2"} <= set(log.read_text().splitlines()):
            assert time.monotonic() - started < 10, "haproxy and keepalived were not both told to reload"
            time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    lines = log.read_text().splitlines()
    first = lines.index("keepalived started") if "keepalived started" in lines else 0
    return [x for x in lines[first:] if "started" not in x]


def test_only_the_peers_may_speak_vrrp_to_a_container(cfg, tmp_path):
    """keepalived restarts its advert timer for every VRRP packet it reads, a stranger's too (which it then drops):
    a stranger sending one a second would silence the VIP holder. An nft rule in the container drops VRRP from
    any address but the peers' (keepalived.conf's unicast_peer list) before keepalived starts, and again on a
    reload, before keepalived re-reads its file."""
    with_vip(cfg)
    inv, stack = cfg.load()
    c = stack.container("lb1")
    conf = haproxy_service.render_keepalived(stack, c, inv.network)
    said = run_supervisor(tmp_path, haproxy_service.render_supervisor(c), "2: eth0 inet 10.100.0.11/24", conf,
                          reload=True)
    log = (tmp_path / "log").read_text()
    rule = "ip protocol 112 ip saddr != { 10.100.0.12 } drop  # 112: VRRP"
    before = log[:log.index("keepalived started")]  # the filter is in place before keepalived starts
    assert before.count(rule) == 1 and "delete table ip dockstack_vrrp" in before, before
    reloaded = log[log.index("keepalived started"):log.index("keepalived HUP")]
    assert reloaded.count(rule) == 1, reloaded  # set again before keepalived re-reads its file
    # what the daemons were told (each fake writes when its trap runs, not when the signal was sent: the two reloads
    # in either order, nft's lines of the reload may come first)
    daemons = [x for x in said if x.startswith(("haproxy ", "keepalived "))]
    assert sorted(daemons[:2]) == ["haproxy USR2", "keepalived HUP"], said
    assert sorted(daemons[2:]) == ["haproxy TERM", "keepalived TERM"], said


def test_a_container_without_peers_filters_no_vrrp(cfg, tmp_path):
    """One container of a VIP role sends its adverts by multicast and has no peer: no filter (one left from an
    earlier start is deleted)."""
    with_vip(cfg)
    cfg.containers["containers"] = [c for c in cfg.containers["containers"] if c["name"] != "lb2"]
    inv, stack = cfg.load()
    c = stack.container("lb1")
    conf = haproxy_service.render_keepalived(stack, c, inv.network)
    run_supervisor(tmp_path, haproxy_service.render_supervisor(c), "2: eth0 inet 10.100.0.11/24", conf)
    log = (tmp_path / "log").read_text()
    before = log[:log.index("keepalived started")]
    assert "ip protocol 112" not in log and "delete table ip dockstack_vrrp" in before, log


def test_a_stopping_vip_holder_holds_new_connections_back_then_stops_keepalived_before_haproxy(cfg, tmp_path):
    with_vip(cfg)
    _, stack = cfg.load()
    text = haproxy_service.render_supervisor(stack.container("lb1"))
    said = run_supervisor(tmp_path, text, "2: eth0 inet 10.100.0.21/24 scope global eth0\n"
                                          "2: eth0 inet 10.100.0.10/24 scope global secondary eth0")
    rule = "ip daddr 10.100.0.10 tcp flags & (syn | ack) == syn drop"
    assert said[0] == "nft:" and any(x.strip() == rule for x in said), said  # SYNs to the VIP dropped first
    assert said[-2:] == ["keepalived TERM", "haproxy TERM"], said  # the VIP handed over, then haproxy stops


def test_a_stopping_peer_without_the_vip_stops_both_at_once(cfg, tmp_path):
    with_vip(cfg)
    _, stack = cfg.load()
    text = haproxy_service.render_supervisor(stack.container("lb2"))
    said = run_supervisor(tmp_path, text, "2: eth0 inet 10.100.0.22/24 scope global eth0")
    assert sorted(said) == ["haproxy TERM", "keepalived TERM"], said  # no nft: nothing to hand over


def test_service_files_script_checks_keepalived_conf():
    assert base.FileCheck("keepalived.conf", 'keepalived -t -f "$1"', "keepalived -t") in \
        haproxy_service.SERVICE.file_checks
    assert '[ -f "$new/$file" ]' in actions.SERVICE_FILES_SCRIPT  # only a changed file is checked
