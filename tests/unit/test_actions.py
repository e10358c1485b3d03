"""dockstack.actions: the one constant script of a create/recreate/start/restart, its argv and output; service files."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockstack import actions, agent, dockercli, ipam, network, settings
from dockstack.actions import ActionResult
from dockstack.config import Role
from dockstack.ipam import AddressPlan
from dockstack.services import base, registry
from dockstack.services import haproxy as haproxy_service
from dockstack.services import puppet as puppet_service

DNS_SERVERS = ["10.100.0.2", "10.100.0.3"]
NASTY = "x; rm -rf / $(id) 'q' \"d\""


def script_groups(script: str) -> list[list[str]]:
    """The names each `a=$1 b=$2 ...` line assigns, checking that `shift N` follows each group."""
    groups = []
    for line in script.splitlines():
        pairs = re.findall(r"\b(\w+)=\$(\d+)\b", line)
        if pairs:
            assert [int(n) for _, n in pairs] == list(range(1, len(pairs) + 1)), line
            groups.append([name for name, _ in pairs])
    for g in groups:
        assert f"shift {len(g)}" in script
    return groups


def script_keys(script: str) -> list[str]:
    """The names the script's `case` reads its values under (`name=*) var=$value ;;`)."""
    return re.findall(r"^\s+(\w+)=\*\) \w+=\$value ;;$", script, re.M)


def split_action(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """(value name -> value, the docker run argv after `--`), checking the `sh -c SCRIPT sh` prefix and that every
    name is one the script reads, once."""
    assert argv[:4] == ["sh", "-c", actions.ACTION_SCRIPT, "sh"]
    end = argv.index("--")
    pairs = [a.split("=", 1) for a in argv[4:end]]
    assert [k for k, _ in pairs] == script_keys(actions.ACTION_SCRIPT)
    return dict(pairs), argv[end + 1:]


def spec(mode: str, c, role, net, plan, dns, with_files: bool, agent=None, files=None) -> actions.ActionSpec:
    """action_spec with a service file when with_files (its content does not matter to the argv)."""
    return actions.action_spec(mode, c, role, net, plan, dns, files if files is not None else
                               ({"/x/f": "text\n"} if with_files else {}), agent=agent)


def argv_of(*args, **kw) -> list[str]:
    return spec(*args, **kw).argv()


@pytest.fixture
def web(container):
    return container("web", role="webui", host="host2")


@pytest.fixture
def role():
    return Role("webui", check="curl -sf http://localhost/", check_timeout=60.0)


NEW_PLAN = AddressPlan(None, None, ipam.NEW, None, "new lease")
STATIC_PLAN = AddressPlan("02:00:0a:64:00:05", "10.100.0.5", ipam.STATIC, None, "static")


# --- ActionSpec -----------------------------------------------------------------------------------------


def test_script_interface(web, net):
    """The script reads named values, the spec names the same ones in the same order, and no positional
    parameter is read before `--` (the docker run arguments)."""
    assert script_keys(actions.ACTION_SCRIPT) == [k for k, _ in spec(
        actions.CREATE, web, Role("webui"), net, NEW_PLAN, [], False).named()]
    assert script_groups(actions.ACTION_SCRIPT) == []  # no `x=$1 y=$2 ...`: nothing read by its position


def test_an_unknown_value_fails_the_action_before_anything_runs(tmp_path):
    proc = subprocess.run(["/bin/sh", "-c", actions.ACTION_SCRIPT, "sh", "mode=create", "name=web", "bogus=1", "--"],
                          capture_output=True, text=True, env={"PATH": str(tmp_path)}, timeout=10)
    assert proc.returncode == 1
    assert actions.parse_action(proc.stdout).failed_step == "spec" and "bogus" in proc.stdout


def test_create_with_a_new_address(web, role, net):
    argv = argv_of(actions.CREATE, web, role, net, NEW_PLAN, DNS_SERVERS, False)
    values, run = split_action(argv)
    hv, tmp = network.veth_names("web")
    assert values == {"mode": "create", "name": "web", "mac": "", "cidr": "", "gateway": "", "mtu": "1450",
                      "bridge": "dsbr0", "host_veth": hv, "tmp_veth": tmp, "dhcp_timeout": "30",
                      "check": "curl -sf http://localhost/", "check_timeout": "60", "poll": "0.2", "files": "0",
                      "secrets": "/run/dockstack-secrets/web", "env_lines": "0", "agent_server": "", "certname": "",
                      "agent_script": "", "agent_ca": ""}
    assert run == dockercli.run_argv(web, net, DNS_SERVERS)[2:]  # the script adds `docker run --cidfile`
    assert all(isinstance(a, str) for a in argv)


def test_static_ip_is_passed_as_cidr_with_its_mac(container, role, net):
    c = container("db", ip="10.100.0.10")
    plan = ipam.plan_address(c, {})
    values, _ = split_action(argv_of(actions.CREATE, c, role, net, plan, DNS_SERVERS, False))
    assert (values["mac"], values["cidr"], values["gateway"]) == ("02:00:0a:64:00:0a", "10.100.0.10/24", "")


def test_static_ip_cidr_uses_the_subnet_prefix(container, role, net):
    n = dataclasses.replace(net, subnet=ipaddress.IPv4Network("10.8.0.0/16"))
    plan = AddressPlan("02:00:0a:08:01:02", "10.8.1.2", ipam.STATIC, "10.8.1.2", "static")
    values, _ = split_action(argv_of(actions.START, container("db"), role, n, plan, [], False))
    assert values["cidr"] == "10.8.1.2/16"


def test_gateway_is_passed(web, role, net):
    n = dataclasses.replace(net, gateway=ipaddress.IPv4Address("10.100.0.1"))
    values, _ = split_action(argv_of(actions.CREATE, web, role, n, NEW_PLAN, DNS_SERVERS, False))
    assert values["gateway"] == "10.100.0.1"


def test_lease_plan_passes_the_mac_and_no_cidr(web, role, net):
    plan = ipam.plan_address(web, {"web": ("02:42:0a:64:00:96", "10.100.0.150")})
    values, _ = split_action(argv_of(actions.RECREATE, web, role, net, plan, DNS_SERVERS, True))
    assert (values["mode"], values["mac"], values["cidr"], values["files"]) == ("recreate", "02:42:0a:64:00:96", "",
                                                                                "1")


def test_recreate_appends_the_run_argv(web, role, net):
    _, run = split_action(argv_of(actions.RECREATE, web, role, net, NEW_PLAN, DNS_SERVERS, False))
    assert run == dockercli.run_argv(web, net, DNS_SERVERS)[2:]


@pytest.mark.parametrize("mode", [actions.START, actions.RESTART])
def test_start_and_restart_have_no_run_argv(web, role, net, mode):
    argv = argv_of(mode, web, role, net, NEW_PLAN, DNS_SERVERS, True)
    values, run = split_action(argv)
    assert values["mode"] == mode
    assert values["files"] == "1"
    assert run == []
    assert len(argv) == 4 + len(script_keys(actions.ACTION_SCRIPT)) + 1


PIN = agent.AgentPin("puppet.dockstack.lab", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                       "Challenge0123456789abcdef")


def test_agent_run_passes_the_server_the_certname_the_agent_script_and_the_ca(web, role, net):
    argv = argv_of(actions.CREATE, web, role, net, NEW_PLAN, DNS_SERVERS, False, PIN)
    values, run = split_action(argv)
    assert (values["agent_server"], values["certname"]) == ("puppet.dockstack.lab", "web.dockstack.lab")
    assert values["agent_script"] == agent.AGENT_SCRIPT and values["agent_ca"] == PIN.ca
    assert run == dockercli.run_argv(web, net, DNS_SERVERS)[2:]
    assert PIN.challenge not in argv and PIN.challenge not in repr(PIN)  # a secret: standard input only


def test_the_challenge_is_the_first_line_of_standard_input_before_the_env(container, net):
    c = container("web", env=(("A", "1"),))
    data = spec(actions.CREATE, c, Role("webui"), net, NEW_PLAN, [], False, agent=PIN).stdin
    assert data == f"{PIN.challenge}\nA=1\n".encode()
    assert spec(actions.CREATE, c, Role("webui"), net, NEW_PLAN, [], False).stdin == b"A=1\n"


def test_agent_time_counts_in_the_time_bound(role):
    with_classes = dataclasses.replace(role, classes=("profile::web",))
    assert actions.time_bound(with_classes) == actions.time_bound(role) + settings.AGENT_TIMEOUT


@pytest.mark.parametrize(("timeout", "text"), [(60.0, "60"), (20, "20"), (2.1, "3"), (0.5, "1"), (59.999, "60")])
def test_check_timeout_is_rounded_up_to_whole_seconds(web, net, timeout, text):
    role = Role("webui", check="true", check_timeout=timeout)
    values, _ = split_action(argv_of(actions.START, web, role, net, NEW_PLAN, [], False))
    assert values["check_timeout"] == text


def test_role_without_check_passes_an_empty_check(web, net):
    values, _ = split_action(argv_of(actions.START, web, Role("webui"), net, NEW_PLAN, [], False))
    assert values["check"] == ""


def test_script_is_constant_text(container, net):
    """No value is pasted into the script: argv[2] is ACTION_SCRIPT itself, whatever the config says."""
    c = container("web", env=(("X", NASTY),), command=("sh", "-c", NASTY))
    role = Role("webui", check=NASTY)
    n = dataclasses.replace(net, bridge="br 0; reboot")
    plan = AddressPlan("02:00:00:00:00:01; reboot", "10.100.0.5 dev lo", ipam.STATIC, None, "x")
    argv = argv_of(actions.CREATE, c, role, n, plan, DNS_SERVERS, True)
    assert argv[2] is actions.ACTION_SCRIPT
    values, run = split_action(argv)
    assert values["check"] == NASTY
    assert values["bridge"] == "br 0; reboot"
    assert values["mac"] == "02:00:00:00:00:01; reboot"
    assert values["cidr"] == "10.100.0.5 dev lo/24"
    assert run[-3:] == ["sh", "-c", NASTY]
    for value in (NASTY, "br 0; reboot", "reboot", "10.100.0.5"):
        assert value not in actions.ACTION_SCRIPT


SECRET = "s3cr3t pass'word $(id)"


@pytest.mark.parametrize("mode", [actions.CREATE, actions.RECREATE])
def test_env_values_go_on_standard_input_never_in_the_argv(container, role, net, mode):
    c = container("web", env=(("DB_PASSWORD", SECRET), ("MODE", "production")))
    argv = argv_of(mode, c, role, net, NEW_PLAN, DNS_SERVERS, True)
    values, _ = split_action(argv)
    assert values["env_lines"] == "2"
    assert not any(SECRET in a or "production" in a for a in argv)
    data = spec(mode, c, role, net, NEW_PLAN, DNS_SERVERS, True).stdin
    env = f"DB_PASSWORD={SECRET}\nMODE=production\n".encode()
    assert data.startswith(env)
    assert members(data[len(env):]) == [("x/f", False, 0o644, "text\n")]


@pytest.mark.parametrize("mode", [actions.START, actions.RESTART])
def test_start_and_restart_send_no_env(container, role, net, mode):
    c = container("web", env=(("DB_PASSWORD", SECRET),))
    values, _ = split_action(argv_of(mode, c, role, net, NEW_PLAN, DNS_SERVERS, False))
    assert values["env_lines"] == "0"
    assert spec(mode, c, role, net, NEW_PLAN, DNS_SERVERS, False).stdin == b""


@pytest.mark.parametrize("mode", [actions.CREATE, actions.RECREATE, actions.START, actions.RESTART])
def test_secret_files_go_in_the_tar_root_only_with_every_mode_never_in_the_argv_or_env(container, role, net, mode):
    """Every mode writes them (the host folder is in /run, which a restart of the host empties): read-only for root,
    in a folder only root enters; the argv names the folder, never a value; the env file holds its path only."""
    c = container("web", env=(("DB_PASSWORD_FILE", "/run/secrets/DB_PASSWORD"),),
                  secrets=(("DB_PASSWORD", SECRET), ("API_KEY", "k" * 24)))
    made = spec(mode, c, role, net, NEW_PLAN, DNS_SERVERS, False)
    values, _ = split_action(made.argv())
    assert values["files"] == "1" and values["secrets"] == "/run/dockstack-secrets/web"
    assert not any(SECRET in a for a in made.argv())
    env = b"DB_PASSWORD_FILE=/run/secrets/DB_PASSWORD\n" if mode in (actions.CREATE, actions.RECREATE) else b""
    assert made.stdin.startswith(env)
    assert members(made.stdin[len(env):]) == [
        ("run/dockstack-secrets/web", True, 0o700, None),
        ("run/dockstack-secrets/web/API_KEY", False, 0o400, "k" * 24),  # the value, no newline
        ("run/dockstack-secrets/web/DB_PASSWORD", False, 0o400, SECRET)]


def test_a_container_without_secrets_still_names_its_folder_so_old_ones_go(container, role, net):
    values, _ = split_action(argv_of(actions.START, container("web"), role, net, NEW_PLAN, DNS_SERVERS, False))
    assert values["files"] == "0" and values["secrets"] == "/run/dockstack-secrets/web"


FAKE_DOCKER = """#!/bin/sh
# records what `docker run` got, then fails it, so the action script stops there
case "$1" in
  run) printf '%s\\n' "$@" > "$OUT/argv"
       while [ $# -gt 0 ]; do
         if [ "$1" = --env-file ]; then echo "$2" > "$OUT/path"; cp "$2" "$OUT/env"; stat -c %a "$2" > "$OUT/mode"; fi
         shift
       done
       echo "docker: stopped by the test" >&2; exit 125 ;;
esac
exit 0
"""


def test_script_writes_the_env_file_from_stdin_and_leaves_the_files_to_tar(container, role, net, tmp_path,
                                                                           monkeypatch):
    """The real script under /bin/sh with a fake docker: `read` leaves the tar stream on stdin, the env file is
    0600, holds the values verbatim, is passed as --env-file and removed again."""
    bin_dir, out = tmp_path / "bin", tmp_path / "out"
    bin_dir.mkdir()
    out.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    c = container("web", env=(("DB_PASSWORD", SECRET), ("PADDED", "  x\ty  "), ("EMPTY", "")))
    service_file = f"{tmp_path}/svc/site.pp"
    made = spec(actions.CREATE, c, role, net, NEW_PLAN, DNS_SERVERS, True, files={service_file: "node default {}\n"})
    argv, data = made.argv(), made.stdin
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out)})
    result = actions.parse_action(proc.stdout.decode())
    assert (result.failed_step, result.said) == ("docker run", "docker: stopped by the test")
    assert (tmp_path / "svc" / "site.pp").read_text() == "node default {}\n"  # tar got the rest of stdin
    assert (out / "env").read_text() == f"DB_PASSWORD={SECRET}\nPADDED=  x\ty  \nEMPTY=\n"
    assert (out / "mode").read_text().strip() == "600"
    assert "--env-file" in (out / "argv").read_text() and SECRET not in (out / "argv").read_text()
    assert not Path((out / "path").read_text().strip()).exists()  # removed on exit


def test_script_replaces_the_secret_files_keeping_their_folder(container, role, net, tmp_path, monkeypatch):
    """The real script under /bin/sh with a fake docker: a secret the container no longer gets is deleted, the
    new ones are written read-only for root in a folder only root enters, which is the same folder (a running
    container's mount of it stays valid)."""
    bin_dir, out, folder = tmp_path / "bin", tmp_path / "out", tmp_path / "secrets" / "web"
    for d in (bin_dir, out, folder):
        d.mkdir(parents=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    (folder / "RETIRED_PASSWORD").write_text("old")
    inode = folder.stat().st_ino
    monkeypatch.setattr(actions, "secrets_dir", lambda c: f"{tmp_path}/secrets/{c.name}")
    c = container("web", env=(("DB_PASSWORD_FILE", "/run/secrets/DB_PASSWORD"),), secrets=(("DB_PASSWORD", SECRET),))
    made = spec(actions.CREATE, c, role, net, NEW_PLAN, DNS_SERVERS, False)
    proc = subprocess.run(made.argv(), input=made.stdin, capture_output=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out)})
    assert actions.parse_action(proc.stdout.decode()).failed_step == "docker run", proc.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["DB_PASSWORD"]
    assert (folder / "DB_PASSWORD").read_text() == SECRET
    assert (folder / "DB_PASSWORD").stat().st_mode & 0o777 == 0o400
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_ino == inode
    assert SECRET not in (out / "argv").read_text() and SECRET not in (out / "env").read_text()


def test_every_mode_has_its_branch_in_the_script():
    modes = (actions.CREATE, actions.RECREATE, actions.START, actions.RESTART)
    assert modes == ("create", "recreate", "start", "restart")
    for mode in modes:
        assert re.search(rf"^\s*{mode}\)", actions.ACTION_SCRIPT, re.M), mode


# --- parse_action -------------------------------------------------------------------------------------

LINK = ("link 2: eth0@if9: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT group "
        "default qlen 1000\\    link/ether 02:42:0A:64:00:96 brd ff:ff:ff:ff:ff:ff link-netnsid 0")
ADDR = ("addr 2: eth0    inet 10.100.0.150/24 brd 10.100.0.255 scope global dynamic eth0\\       "
        "valid_lft 43199sec preferred_lft 43199sec")


def test_parse_action_success():
    res = actions.parse_action(f"started\n{LINK}\n{ADDR}\nready\n")
    assert res == ActionResult(started=True, mac="02:42:0a:64:00:96", ip="10.100.0.150", ready=True,
                               failed_step=None, said="")


def test_parse_action_success_without_a_check():
    res = actions.parse_action(f"started\n{LINK}\n{ADDR}\nready")
    assert res.ready and res.failed_step is None


def test_parse_action_failed_before_start():
    res = actions.parse_action("failed docker run\n"
                               "said Unable to find image 'test/base:bookworm' locally\n"
                               "said   \n"
                               "said docker: Error response from daemon: pull access denied.\n")
    assert res == ActionResult(started=False, mac=None, ip=None, ready=False, failed_step="docker run",
                               said="Unable to find image 'test/base:bookworm' locally; "
                                    "docker: Error response from daemon: pull access denied.")


def test_parse_action_failed_after_start():
    res = actions.parse_action("started\nfailed dhclient\nsaid no lease from dnsmasq within 30s (is a dnsmasq "
                               "container running?)\nsaid \n")
    assert res.started
    assert (res.mac, res.ip, res.ready) == (None, None, False)
    assert res.failed_step == "dhclient"
    assert res.said == "no lease from dnsmasq within 30s (is a dnsmasq container running?)"


def test_parse_action_unready_keeps_the_address():
    res = actions.parse_action(f"started\n{LINK}\n{ADDR}\nunready not passing after 60s\n"
                               "said curl: (7) Failed to connect to localhost port 80\n")
    assert (res.started, res.mac, res.ip, res.ready) == (True, "02:42:0a:64:00:96", "10.100.0.150", False)
    assert res.failed_step == "readiness check"
    assert res.unready == "not passing after 60s"
    assert res.said == "curl: (7) Failed to connect to localhost port 80"


def test_parse_action_only_an_unready_check_sets_unready():
    assert actions.parse_action(f"started\n{LINK}\n{ADDR}\nready\n").unready is None
    assert actions.parse_action("failed docker run\nsaid no such image\n").unready is None
    assert actions.parse_action("").unready is None


@pytest.mark.parametrize("text", ["", "\n", "garbage\n"])
def test_parse_action_without_output(text):
    res = actions.parse_action(text)
    assert res == ActionResult(False, None, None, False, "action", "")


def test_parse_action_cut_off_after_start():
    res = actions.parse_action(f"started\n{LINK}\n")
    assert (res.started, res.mac, res.ip, res.ready, res.failed_step) == (True, "02:42:0a:64:00:96", None, False,
                                                                         "action")


def test_parse_action_uses_the_first_ipv4_address():
    res = actions.parse_action(f"started\n{LINK}\n{ADDR}\naddr 2: eth0    inet 10.100.0.200/24 scope global "
                               "secondary eth0\nready\n")
    assert res.ip == "10.100.0.150"


# --- files_payload ------------------------------------------------------------------------------------


def members(data: bytes) -> list[tuple[str, bool, int, str | None]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [(m.name, m.isdir(), m.mode, tar.extractfile(m).read().decode() if m.isfile() else None)
                for m in tar.getmembers()]


def test_files_payload_writes_relative_to_root_sorted():
    data = actions.files_payload({"/var/lib/dockstack/haproxy/lb/haproxy.cfg": "global\n",
                                  "/var/lib/dockstack/dnsmasq/dns/dnsmasq.conf": "no-ping\n"},
                                 ("/var/lib/dockstack/dnsmasq/dns/registry",))
    assert members(data) == [
        ("var/lib/dockstack/dnsmasq/dns/registry", True, 0o755, None),
        ("var/lib/dockstack/dnsmasq/dns/dnsmasq.conf", False, 0o644, "no-ping\n"),
        ("var/lib/dockstack/haproxy/lb/haproxy.cfg", False, 0o644, "global\n"),
    ]


def test_files_payload_relative_paths_stay_relative():
    assert members(actions.files_payload({"manifests/site.pp": "node default {}\n"})) == [
        ("manifests/site.pp", False, 0o644, "node default {}\n")]


def test_files_payload_empty():
    assert members(actions.files_payload({})) == []


# --- service_files_argv ---------------------------------------------------------------------------------


def test_service_files_argv_haproxy(container):
    lb = container("lb", role="haproxy")
    argv = actions.service_files_argv(lb, registry.definition(lb), ["haproxy.cfg"])
    assert argv == ["sh", "-c", actions.SERVICE_FILES_SCRIPT, "sh", "lb", "/var/lib/dockstack/haproxy/lb",
                    "/etc/haproxy", "USR2", "2", "haproxy.cfg", "haproxy -c", haproxy_service.CFG_CHECK,
                    "keepalived.conf", "keepalived -t", 'keepalived -t -f "$1"', "haproxy.cfg"]


def test_service_files_argv_puppet(container):
    pp = container("pp", role="config-mgmt", service="puppet")
    argv = actions.service_files_argv(pp, registry.definition(pp), ["data/common.yaml", "hiera.yaml"])
    assert argv[4:9] == ["pp", "/var/lib/dockstack/puppet/pp", puppet_service.MOUNT, "", "0"]
    assert argv[9:] == ["data/common.yaml", "hiera.yaml"]


def test_service_files_script_interface(container):
    assert script_groups(actions.SERVICE_FILES_SCRIPT) == [["name", "dir", "mount", "signal", "nchecks"],
                                                           ["file", "label", "command"]]
    web = container("web", role="zk", service="zookeeper")
    argv = actions.service_files_argv(web, registry.definition(web), [NASTY])
    assert argv[4:] == ["web", "/var/lib/dockstack/zookeeper/web", "/var/lib/dockstack/zookeeper", "", "0", NASTY]
    assert argv[2] is actions.SERVICE_FILES_SCRIPT
    assert NASTY not in actions.SERVICE_FILES_SCRIPT


FAKE_DOCKER_FILES = """#!/bin/sh
# a running container whose `exec` runs the check on the host (the mount is the folder itself) and logs kills
echo "$*" >> "$LOG"
case "$1" in
  container) echo true ;;
  exec) shift 2; exec "$@" ;;
  kill) exit 0 ;;
esac
"""


@pytest.mark.parametrize("valid", [True, False])
def test_service_files_script_checks_then_installs_then_reloads(container, tmp_path, valid):
    """The real script with a fake docker: a file its definition checks is checked in the container first; a
    failing check replaces nothing and says why; a passing one installs every file and sends the reload signal."""
    bin_dir, folder, log = tmp_path / "bin", tmp_path / "lb", tmp_path / "log"
    bin_dir.mkdir()
    folder.mkdir()
    (folder / "haproxy.cfg").write_text("old\n")
    (bin_dir / "docker").write_text(FAKE_DOCKER_FILES)
    (bin_dir / "docker").chmod(0o755)
    lb = container("lb", role="haproxy")
    d = dataclasses.replace(registry.definition(lb), file_checks=(
        base.FileCheck("haproxy.cfg", 'grep -q "^good" "$1" || { echo "line 1: bad"; exit 1; }', "haproxy -c"),),
        mount=str(folder))
    argv = actions.service_files_argv(lb, d, ["haproxy.cfg", "sub/extra"])
    argv[5] = str(folder)
    payload = actions.files_payload({"haproxy.cfg": "good\n" if valid else "bad\n", "sub/extra": "x\n"})
    proc = subprocess.run(argv, input=payload, capture_output=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log)})
    out = proc.stdout.decode().split("\n")
    if valid:
        assert proc.returncode == 0 and "reloaded" in out and "done" in out, out
        assert (folder / "haproxy.cfg").read_text() == "good\n" and (folder / "sub/extra").read_text() == "x\n"
        assert "kill --signal USR2 lb" in log.read_text()
    else:
        assert proc.returncode == 1 and out[:2] == ["failed haproxy -c", "said line 1: bad"], out
        assert (folder / "haproxy.cfg").read_text() == "old\n" and not (folder / "sub").exists()
        assert "kill" not in log.read_text()
    assert not [p for p in folder.iterdir() if p.name.startswith(".incoming")]  # its temporary folder is gone


def test_parse_action_step_durations():
    res = actions.parse_action(f"started\n{LINK}\n{ADDR}\ntook addressing 1234\ntook check 50\nready\n")
    assert res.took == {"addressing": 1.234, "check": 0.05}
    assert actions.parse_action(f"started\n{LINK}\n{ADDR}\ntook addressing x\ntook other 5\nready\n").took == {}


FAKE_DOCKER_RUNNING = """#!/bin/sh
# a container that runs: inspect says running with this shell's PID, exec runs the check
case "$1" in
  container) echo "$$" ;;
  exec) shift; while [ "$1" != sh ]; do shift; done; exec "$@" ;;
esac
exit 0
"""


def test_script_reports_how_long_addressing_and_the_check_took(container, role, net, tmp_path):
    """The real script with a fake docker and nsenter/ip that do nothing: a start with a static address prints
    `took addressing MS` after the address and `took check MS` once the check passes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, text in {"docker": FAKE_DOCKER_RUNNING, "nsenter": "#!/bin/sh\nexit 0\n",
                       "ip": "#!/bin/sh\nexit 0\n"}.items():
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)
    c = container("web")
    checked = dataclasses.replace(role, check="true")
    argv = argv_of(actions.START, c, checked, net, STATIC_PLAN, DNS_SERVERS, False)
    proc = subprocess.run(argv, capture_output=True, timeout=30, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    res = actions.parse_action(proc.stdout.decode())
    assert res.ready, proc.stdout
    assert set(res.took) == {"addressing", "check"} and all(0 <= s < 30 for s in res.took.values())


# --- the whole script with fakes: eth0's plumbing, the address, a failed lease undone ------------------------

DEAD_PID = "99999999"  # above any pid_max: no process has it, so no /proc/PID/cgroup of this machine is read
FAKE_DOCKER_CREATE = f"""case "$1" in
  run) while [ "$1" != --cidfile ]; do shift; done; echo cafe1234 > "$2" ;;  # docker run writes the new ID
  container) echo {DEAD_PID} ;;  # inspect --format {{{{.State.Pid}}}}
  exec) shift; while [ "$1" != sh ]; do shift; done; exec "$@" ;;  # the readiness check, here
esac
"""
# `nsenter -t PID -n CMD` prints eth0 as ip would; the dhclient path's `nsenter ... -- sh -c ...` runs its command
FAKE_NSENTER = r"""case "$*" in
  *" ip -o link show dev eth0") printf '%s\n' '9: eth0@if10: <UP> mtu 1450 link/ether 02:00:0a:64:00:05 brd ff' ;;
  *" ip -o -4 addr show dev eth0") printf '%s\n' '9: eth0    inet 10.100.0.5/24 brd 10.100.0.255 scope global eth0' ;;
  *" -- "*) while [ "$1" != -- ]; do shift; done; shift; exec "$@" ;;
esac
"""


@pytest.fixture
def action_fakes(fakebin):
    """docker, nsenter and ip fakes (and pkill, dhclient: the lease path never touches this machine's)."""
    fakebin.add("docker", FAKE_DOCKER_CREATE)
    fakebin.add("nsenter", FAKE_NSENTER)
    for name in ("ip", "pkill"):
        fakebin.add(name)
    fakebin.add("dhclient", 'echo "No DHCPOFFERS received." >&2\nexit 2\n')
    return fakebin


def test_script_plumbs_eth0_and_sets_the_static_address(container, net, action_fakes):
    c = container("web")
    argv = argv_of(actions.CREATE, c, Role("webui", check="true"), net, STATIC_PLAN, DNS_SERVERS, False)
    proc = action_fakes.run(argv)
    res = actions.parse_action(proc.stdout)
    assert (res.ready, res.mac, res.ip, res.failed_step) == (True, "02:00:0a:64:00:05", "10.100.0.5", None), proc
    hv, tmp = network.veth_names("web")
    netns = f"nsenter -t {DEAD_PID} -n"
    assert action_fakes.calls("ip", "nsenter") == [
        f"ip link del {hv}", f"ip link del {tmp}", f"{netns} ip link del eth0",
        f"ip link add {hv} mtu 1450 type veth peer name {tmp} mtu 1450",
        f"ip link set {tmp} netns {DEAD_PID}",
        f"{netns} ip link set {tmp} name eth0",
        f"{netns} ip link set eth0 address 02:00:0a:64:00:05",
        f"{netns} ip link set lo up", f"{netns} ip link set eth0 up",
        f"ip link set {hv} master dsbr0 up",
        f"{netns} ip addr flush dev eth0", f"{netns} ip addr add 10.100.0.5/24 dev eth0",
        f"{netns} ip -o link show dev eth0", f"{netns} ip -o -4 addr show dev eth0",
    ]
    assert action_fakes.calls("docker")[0].startswith("docker run --cidfile /tmp/dockstack-cid.")
    assert action_fakes.calls("dhclient", "pkill") == []


def test_script_asks_for_a_lease_in_the_containers_namespaces_and_undoes_a_create_without_one(container, role, net,
                                                                                             action_fakes):
    argv = argv_of(actions.CREATE, container("web"), role, net, NEW_PLAN, DNS_SERVERS, False)
    proc = action_fakes.run(argv)
    assert proc.returncode == 1
    res = actions.parse_action(proc.stdout)
    assert (res.started, res.failed_step) == (True, "dhclient")
    assert res.said == ("no lease from dnsmasq within 30s (is a dnsmasq container running?); "
                        "No DHCPOFFERS received.")
    assert [c for c in action_fakes.calls("nsenter") if " -- " in c] == [
        f"nsenter -t {DEAD_PID} -n -m -u -i -p -r -w -- sh -c pkill -x dhclient; exec timeout \"$1\" dhclient -1 eth0 "
        "sh 30"]
    assert action_fakes.calls("pkill", "dhclient") == ["pkill -x dhclient", "dhclient -1 eth0"]
    assert action_fakes.calls("docker")[-1] == "docker rm --force cafe1234"  # what this run created, by its ID
    assert not any("addr add" in c for c in action_fakes.calls("nsenter"))
