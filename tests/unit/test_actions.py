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
from dockstack.config import Container, Role
from dockstack.ipam import AddressPlan
from dockstack.services import base, registry, service_dir
from dockstack.services import haproxy as haproxy_service

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
    """action_spec with a service file in c's folder when with_files (its content does not matter to the argv)."""
    return actions.action_spec(mode, c, role, net, plan, dns, files if files is not None else
                               ({f"{service_dir(c)}/f": "text\n"} if with_files else {}), agent=agent)


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
    assert values == {"mode": "create", "name": "web", "mac": "", "cidr": "", "gateway": "",
                      "subnet": "10.100.0.0/24", "mtu": "1450", "bridge": "dsbr0", "host_veth": hv, "tmp_veth": tmp,
                      "dhcp_timeout": "30", "dhcp_hook": actions.DHCP_HOOK, "dhcp_dir": "/var/lib/dockstack-dhcp",
                      "check": "curl -sf http://localhost/", "check_timeout": "60", "poll": "0.2", "files": "0",
                      "folder": "", "files_script": "", "secrets": "/run/dockstack-secrets/web", "secret_lines": "0",
                      "env_lines": "0", "agent_server": "", "certname": "",
                      "agent_script": "", "agent_ca": "", "digest": "", "digest_file": "", "hold": "0"}
    assert run == dockercli.run_argv(web, net, DNS_SERVERS)[2:]  # the script adds `docker run --cidfile`
    assert all(isinstance(a, str) for a in argv)


def test_static_ip_is_passed_as_cidr_with_its_mac(container, role, net):
    c = container("db", ip="10.100.0.10")
    plan = ipam.plan_address(c, {})
    values, _ = split_action(argv_of(actions.CREATE, c, role, net, plan, DNS_SERVERS, False))
    assert (values["mac"], values["cidr"], values["gateway"]) == ("02:00:0a:64:00:0a", "10.100.0.10/24", "")
    assert (values["dhcp_hook"], values["dhcp_dir"]) == ("", "")  # no lease: no hook written


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
                     "web.dockstack.lab", "Challenge0123456789abcdef")


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
    assert members(data[len(env):]) == [("f", False, 0o644, "text\n")]


@pytest.mark.parametrize("mode", [actions.START, actions.RESTART])
def test_start_and_restart_send_no_env(container, role, net, mode):
    c = container("web", env=(("DB_PASSWORD", SECRET),))
    values, _ = split_action(argv_of(mode, c, role, net, NEW_PLAN, DNS_SERVERS, False))
    assert values["env_lines"] == "0"
    assert spec(mode, c, role, net, NEW_PLAN, DNS_SERVERS, False).stdin == b""


@pytest.mark.parametrize("mode", [actions.CREATE, actions.RECREATE, actions.START, actions.RESTART])
def test_secret_files_go_as_lines_with_every_mode_never_in_the_argv_env_or_tar(container, role, net, mode):
    """Every mode writes them (the host folder is in /run, which a restart of the host empties): NAME=VALUE lines
    after the env lines, before the service files' tar (which goes to the service folder: no secret in it); the
    argv names the folder and how many, never a value; the env file holds its path only."""
    c = container("web", env=(("DB_PASSWORD_FILE", "/run/secrets/DB_PASSWORD"),),
                  secrets=(("DB_PASSWORD", SECRET), ("API_KEY", "k" * 24)))
    made = spec(mode, c, role, net, NEW_PLAN, DNS_SERVERS, True)
    values, _ = split_action(made.argv())
    assert values["secrets"] == "/run/dockstack-secrets/web" and values["secret_lines"] == "2"
    assert not any(SECRET in a for a in made.argv())
    env = b"DB_PASSWORD_FILE=/run/secrets/DB_PASSWORD\n" if mode in (actions.CREATE, actions.RECREATE) else b""
    lines = f"DB_PASSWORD={SECRET}\nAPI_KEY={'k' * 24}\n".encode()  # the values verbatim, one a line
    assert made.stdin.startswith(env + lines)
    assert members(made.stdin[len(env + lines):]) == [("f", False, 0o644, "text\n")]


@pytest.mark.parametrize("value", ["two\nlines", "cr\r"])
def test_a_secret_that_would_leave_its_line_is_refused(container, role, net, value):
    c = container("web", secrets=(("DB_PASSWORD", value),))
    with pytest.raises(ValueError, match="line break"):
        spec(actions.START, c, role, net, NEW_PLAN, DNS_SERVERS, False)


def test_a_container_without_secrets_still_names_its_folder_so_old_ones_go(container, role, net):
    values, _ = split_action(argv_of(actions.START, container("web"), role, net, NEW_PLAN, DNS_SERVERS, False))
    assert values["secret_lines"] == "0" and values["secrets"] == "/run/dockstack-secrets/web"


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
    made = spec(actions.CREATE, c, role, net, STATIC_PLAN, DNS_SERVERS, True,
                files={f"{service_dir(c)}/site.pp": "node default {}\n"})
    made = dataclasses.replace(made, folder=str(tmp_path / "svc"))  # the service folder, here
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


def test_script_installs_nothing_through_a_symlink_planted_in_the_service_folder(container, role, net, tmp_path):
    """A service folder whose data folder was replaced by a symlink to a folder of the host (what a container that
    could write its folder might leave): the action fails at `write service files` before docker runs (its
    --volume would follow the symlink), and nothing is written there or in the folder."""
    bin_dir, out, folder, outside = tmp_path / "bin", tmp_path / "out", tmp_path / "svc", tmp_path / "outside"
    for d in (bin_dir, out, folder, outside):
        d.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    (folder / "data").symlink_to(outside)
    c = container("db", role="galera", service="galera")
    made = actions.action_spec(actions.CREATE, c, role, net, STATIC_PLAN, DNS_SERVERS,
                               {f"{service_dir(c)}/entrypoint": "sh\n"}, (f"{service_dir(c)}/data",))
    made = dataclasses.replace(made, folder=str(folder))
    proc = subprocess.run(made.argv(), input=made.stdin, capture_output=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out)})
    result = actions.parse_action(proc.stdout.decode())
    assert result.failed_step == "write service files" and "data is not a folder of its own" in result.said, result
    assert not (out / "argv").exists()  # docker run never ran
    assert list(outside.iterdir()) == [] and sorted(p.name for p in folder.iterdir()) == ["data"]


def test_action_files_must_lie_in_the_containers_service_folder(container, role, net):
    c = container("db", role="galera", service="galera")
    for path in ("/etc/cron.d/x", f"{service_dir(c)}/../other/x", f"{service_dir(c)}x/y", service_dir(c)):
        with pytest.raises(ValueError, match="is not a path in"):
            actions.action_spec(actions.CREATE, c, role, net, NEW_PLAN, DNS_SERVERS, {path: "x"})


def test_script_replaces_the_secret_files_keeping_their_folder(container, role, net, tmp_path, monkeypatch):
    """The real script under /bin/sh with a fake docker: a secret the container no longer gets is deleted, the
    new ones are written read-only for root in a folder only root enters, which is the same folder (a running
    container's mount of it stays valid); the secret lines leave the service files' tar on standard input, and
    the service files go to the service folder, never among the secrets."""
    bin_dir, out, folder = tmp_path / "bin", tmp_path / "out", tmp_path / "secrets" / "web"
    for d in (bin_dir, out, folder):
        d.mkdir(parents=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    (folder / "RETIRED_PASSWORD").write_text("old")
    folder.chmod(0o755)
    inode = folder.stat().st_ino
    monkeypatch.setattr(actions, "secrets_dir", lambda c: f"{tmp_path}/secrets/{c.name}")
    c = container("web", env=(("DB_PASSWORD_FILE", "/run/secrets/DB_PASSWORD"),),
                  secrets=(("DB_PASSWORD", SECRET), ("PADDED", " a=b  ")))
    made = spec(actions.CREATE, c, role, net, STATIC_PLAN, DNS_SERVERS, True,
                files={f"{service_dir(c)}/site.pp": "node default {}\n"})
    made = dataclasses.replace(made, folder=str(tmp_path / "svc"))  # the service folder, here
    proc = subprocess.run(made.argv(), input=made.stdin, capture_output=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out)})
    assert actions.parse_action(proc.stdout.decode()).failed_step == "docker run", proc.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["DB_PASSWORD", "PADDED"]
    assert (folder / "DB_PASSWORD").read_text() == SECRET and (folder / "PADDED").read_text() == " a=b  "
    assert all((folder / n).stat().st_mode & 0o777 == 0o400 for n in ("DB_PASSWORD", "PADDED"))
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_ino == inode
    assert sorted(p.name for p in (tmp_path / "svc").iterdir()) == ["site.pp"]  # tar got the rest of stdin
    assert SECRET not in (out / "argv").read_text() and SECRET not in (out / "env").read_text()


def test_script_makes_the_secrets_folder_root_only(container, role, net, tmp_path, monkeypatch):
    """A host that has no secrets folder yet (a first create, or /run emptied by a restart): made 0700."""
    bin_dir, out = tmp_path / "bin", tmp_path / "out"
    for d in (bin_dir, out):
        d.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setattr(actions, "secrets_dir", lambda c: f"{tmp_path}/run/secrets/{c.name}")
    made = spec(actions.START, container("web", secrets=(("K", "v" * 24),)), role, net, STATIC_PLAN, DNS_SERVERS,
                False)
    subprocess.run(made.argv(), input=made.stdin, capture_output=True, timeout=30,
                   env={"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out)})
    folder = tmp_path / "run" / "secrets" / "web"
    assert (folder / "K").read_text() == "v" * 24 and folder.stat().st_mode & 0o777 == 0o700
    assert (folder.parent.stat().st_mode & 0o777) == 0o700  # the folder of every container's, too


def test_script_refuses_a_secret_line_that_is_not_name_value_without_saying_it(tmp_path):
    folder = tmp_path / "secrets"
    proc = subprocess.run(["/bin/sh", "-c", actions.ACTION_SCRIPT, "sh", "mode=start", "name=web", "cidr=10.0.0.5/24",
                           f"secrets={folder}", "secret_lines=1", "--"], input=b"../x=leaked-value\n",
                          capture_output=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    result = actions.parse_action(proc.stdout.decode())
    assert result.failed_step == "write secret files" and "not NAME=VALUE" in result.said
    assert b"leaked-value" not in proc.stdout and not (tmp_path / "x").exists()


def test_every_mode_has_its_branch_in_the_script():
    modes = (actions.CREATE, actions.RECREATE, actions.START, actions.RESTART, actions.AGENT)
    assert modes == ("create", "recreate", "start", "restart", "agent")
    for mode in modes:
        assert re.search(rf"^\s*{mode}\)", actions.ACTION_SCRIPT, re.M), mode


# --- mode agent: the running container's Puppet agent again, and the catalog digest it records ----------------

DIGEST = "0123456789abcdef" * 4
DIGEST_PIN = dataclasses.replace(PIN, digest=DIGEST)


def test_an_agent_run_takes_the_running_container_as_it_is(container, role, net):
    """No docker run argv, no env, no secret files (the running container's stay as they are: its folder is not
    named, so none is deleted), no service files; the agent's pin and the digest to record once it passed."""
    c = container("web", env=(("A", "1"),), secrets=(("DB_PASSWORD", SECRET),))
    made = spec(actions.AGENT, c, role, net, NEW_PLAN, DNS_SERVERS, False, DIGEST_PIN)
    values, run = split_action(made.argv())
    assert run == [] and values["mode"] == "agent"
    assert (values["env_lines"], values["secrets"], values["secret_lines"], values["files"]) == ("0", "", "0", "0")
    assert (values["agent_server"], values["digest"]) == (PIN.server, DIGEST)
    assert values["digest_file"] == f"{service_dir(c)}/{agent.DIGEST_FILE}"
    assert made.stdin == f"{PIN.challenge}\n".encode()  # the challenge only


def test_every_agent_run_records_its_digest_and_none_without_one(container, role, net):
    for mode in (actions.CREATE, actions.RECREATE, actions.START, actions.AGENT):
        values, _ = split_action(argv_of(mode, container("web"), role, net, NEW_PLAN, DNS_SERVERS, False, DIGEST_PIN))
        assert values["digest"] == DIGEST and values["digest_file"].endswith(f"/web/{agent.DIGEST_FILE}"), mode
    values, _ = split_action(argv_of(actions.START, container("web"), role, net, NEW_PLAN, DNS_SERVERS, False, PIN))
    assert (values["digest"], values["digest_file"]) == ("", "")
    with pytest.raises(ValueError, match="is no catalog digest"):
        spec(actions.AGENT, container("web"), role, net, NEW_PLAN, DNS_SERVERS, False,
             dataclasses.replace(PIN, digest="x; reboot"))


AGENT_DOCKER = """case "$1 $2" in
  "container inspect") case "$4" in *Running*) cat "$FAKEBIN_STATE/running" ;; *Pid*) echo 4242 ;; esac ;;
  "exec -i") cat >/dev/null; cat "$FAKEBIN_STATE/agent" ;;
  "exec web") exit 0 ;;
  *) echo "docker $1: not in an agent run" >&2; exit 99 ;;
esac
"""
AGENT_NSENTER = """case "$*" in
  *"link show"*) echo "2: eth0@if9: <UP> mtu 1450 link/ether 02:42:0a:64:00:96 brd ff:ff:ff:ff:ff:ff" ;;
  *"addr show"*) echo "2: eth0    inet 10.100.0.150/24 scope global eth0" ;;
  *) echo "nsenter $*: not in an agent run" >&2; exit 99 ;;
esac
"""
PASSED = "agent exit 2\nagent summary resources:\nagent summary   changed: 1\nagent summary   failed: 0\n"


def run_agent_mode(fakebin, tmp_path, container, role, net, said: str = PASSED, running: str = "true",
                   digest_file: Path | None = None) -> tuple[ActionResult, Path]:
    """ACTION_SCRIPT in mode agent with fake docker and nsenter (the container runs, its agent says `said`), the
    digest going to digest_file (default: a folder of its own under tmp_path)."""
    fakebin.add("docker", AGENT_DOCKER)
    fakebin.add("nsenter", AGENT_NSENTER)
    fakebin.add("ip", 'echo "ip $*: not in an agent run" >&2; exit 99\n')
    (fakebin.state / "agent").write_text(said)
    (fakebin.state / "running").write_text(running + "\n")
    target = digest_file or tmp_path / "svc" / "web" / agent.DIGEST_FILE
    made = dataclasses.replace(spec(actions.AGENT, container("web"), role, net, NEW_PLAN, DNS_SERVERS, False,
                                    DIGEST_PIN), digest_file=str(target))
    proc = fakebin.run(made.argv(), made.stdin)
    return actions.parse_action(proc.stdout), target


def test_the_script_runs_the_agent_in_the_running_container_then_records_the_digest(fakebin, tmp_path, container,
                                                                                   role, net):
    """No start, no eth0, no lease (no udhcpc on PATH), the address it has reported; the digest in its file."""
    result, target = run_agent_mode(fakebin, tmp_path, container, role, net)
    assert (result.ready, result.failed_step, result.mac, result.ip) == (True, None, "02:42:0a:64:00:96",
                                                                         "10.100.0.150")
    assert result.agent is not None and result.agent.ok
    assert target.read_text() == DIGEST + "\n" and target.stat().st_mode & 0o777 == 0o644
    assert not fakebin.calls("ip") and not [c for c in fakebin.calls("docker") if c.split()[1] in
                                            ("run", "start", "restart", "stop", "rm")]


def test_a_failed_agent_run_leaves_the_container_running_and_records_nothing(fakebin, tmp_path, container, role,
                                                                            net):
    said = "agent exit 1\nagent error Could not find template 'profile/x.epp'\nagent summary resources:\n"
    result, target = run_agent_mode(fakebin, tmp_path, container, role, net, said=said)
    assert result.failed_step == "puppet agent" and "Could not find template" in result.said
    assert not target.exists()
    assert not [c for c in fakebin.calls("docker") if c.split()[1] in ("stop", "rm")]  # it runs on as it was


def test_an_agent_run_of_a_container_that_does_not_run_fails_before_anything(fakebin, tmp_path, container, role,
                                                                             net):
    result, target = run_agent_mode(fakebin, tmp_path, container, role, net, running="false")
    assert result.failed_step == "docker inspect" and "is not running" in result.said
    assert not target.exists() and not [c for c in fakebin.calls("docker") if c.startswith("docker exec")]


def test_the_digest_replaces_a_symlink_in_its_place_never_writing_through_it(fakebin, tmp_path, container, role,
                                                                            net):
    outside = tmp_path / "outside"
    outside.write_text("the host's own file\n")
    folder = tmp_path / "svc" / "web"
    folder.mkdir(parents=True)
    (folder / agent.DIGEST_FILE).symlink_to(outside)
    result, target = run_agent_mode(fakebin, tmp_path, container, role, net)
    assert result.ready and not target.is_symlink() and target.read_text() == DIGEST + "\n"
    assert outside.read_text() == "the host's own file\n"


def test_a_digest_that_cannot_be_recorded_fails_the_agent_step_saying_where(fakebin, tmp_path, container, role, net):
    blocked = tmp_path / "file"
    blocked.write_text("")
    result, _ = run_agent_mode(fakebin, tmp_path, container, role, net, digest_file=blocked / agent.DIGEST_FILE)
    assert result.failed_step == "puppet agent" and "could not be recorded" in result.said


@pytest.mark.parametrize("digest", ["x" * 64, "a" * 63, "A" * 64])
def test_the_script_takes_no_digest_but_64_hex_digits(tmp_path, digest):
    proc = subprocess.run(["/bin/sh", "-c", actions.ACTION_SCRIPT, "sh", "mode=agent", "name=web", f"digest={digest}",
                           f"digest_file={tmp_path}/d", "--"], capture_output=True, text=True, timeout=10,
                          env={"PATH": "/usr/bin:/bin"})
    assert actions.parse_action(proc.stdout).failed_step == "spec" and not (tmp_path / "d").exists()


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
    res = actions.parse_action("started\nfailed dhcp\nsaid no lease from dnsmasq within 30s (is a dnsmasq "
                               "container running?)\nsaid \n")
    assert res.started
    assert (res.mac, res.ip, res.ready) == (None, None, False)
    assert res.failed_step == "dhcp"
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
                    "USR2", "2", "haproxy.cfg", "haproxy -c", haproxy_service.CFG_CHECK,
                    "keepalived.conf", "keepalived -t", 'keepalived -t -f "$1"', "haproxy.cfg"]


def test_service_files_argv_puppet(container):
    pp = container("pp", role="config-mgmt", service="puppet")
    argv = actions.service_files_argv(pp, registry.definition(pp), ["data/common.yaml", "hiera.yaml"])
    assert argv[4:8] == ["pp", "/var/lib/dockstack/puppet/pp", "", "0"]
    assert argv[8:] == ["data/common.yaml", "hiera.yaml"]


def test_service_files_script_interface(container):
    assert script_groups(actions.SERVICE_FILES_SCRIPT) == [["name", "dir", "signal", "nchecks"],
                                                           ["file", "label", "command"]]
    web = container("web", role="zk", service="zookeeper")
    argv = actions.service_files_argv(web, registry.definition(web), [NASTY])
    assert argv[4:] == ["web", "/var/lib/dockstack/zookeeper/web", "", "0", NASTY]
    assert argv[2] is actions.SERVICE_FILES_SCRIPT
    assert NASTY not in actions.SERVICE_FILES_SCRIPT


FAKE_DOCKER_FILES = """#!/bin/sh
# a running container: `exec -i NAME CMD...` runs CMD here (standard input passed on), after logging what the
# service folder holds at that moment; inspect says running; kills are logged
echo "$*" >> "$LOG"
case "$1" in
  container) echo true ;;
  exec) find "$FOLDER" >> "$LOG"; shift 3; exec "$@" ;;
  kill) exit 0 ;;
esac
"""


def push(tmp_path: Path, files: dict[str, str], paths: list[str] | None = None, check: str = "",
         dirs: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[bytes], list[str], str]:
    """SERVICE_FILES_SCRIPT run here on tmp_path/lb (a haproxy container's folder) with a fake docker: the files
    (relative paths) pushed as PATHs (paths: these; [] for none, as the action script runs it), haproxy.cfg
    checked by `check` when given. Returns the process, its lines, and the fake docker's log."""
    bin_dir, folder, log = tmp_path / "bin", tmp_path / "lb", tmp_path / "log"
    bin_dir.mkdir(exist_ok=True)
    folder.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER_FILES)
    (bin_dir / "docker").chmod(0o755)
    checks = (base.FileCheck("haproxy.cfg", check, "haproxy -c"),) if check else ()
    d = dataclasses.replace(registry.definition(Container("lb", "haproxy", "h1", "i", service="haproxy")),
                            file_checks=checks, reload_signal=None if paths == [] else "USR2")
    argv = actions.service_files_argv(Container("lb", "haproxy", "h1", "i", service="haproxy"), d,
                                      sorted(files) if paths is None else paths)
    argv[5] = str(folder)
    proc = subprocess.run(argv, input=actions.files_payload(files, dirs), capture_output=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log), "FOLDER": str(folder)})
    return proc, proc.stdout.decode().split("\n"), log.read_text() if log.exists() else ""


@pytest.mark.parametrize("valid", [True, False])
def test_service_files_script_checks_then_installs_then_reloads(tmp_path, valid):
    """The real script with a fake docker: a file its definition checks is checked in the container first (on a
    copy streamed into it, beside the other new files); a failing check replaces nothing and says why; a passing
    one installs every file and sends the reload signal. The unpacked files are never in the container's folder."""
    folder = tmp_path / "lb"
    folder.mkdir()
    (folder / "haproxy.cfg").write_text("old\n")
    check = 'grep -q "^good" "$1" && [ -f "${1%/*}/sub/extra" ] || { echo "line 1: bad"; exit 1; }'
    proc, out, log = push(tmp_path, {"haproxy.cfg": "good\n" if valid else "bad\n", "sub/extra": "x\n"},
                          check=check)
    if valid:
        assert proc.returncode == 0 and "reloaded" in out and "done" in out, out
        assert (folder / "haproxy.cfg").read_text() == "good\n" and (folder / "sub/extra").read_text() == "x\n"
        assert "kill --signal USR2 lb" in log
    else:
        assert proc.returncode == 1 and out[:2] == ["failed haproxy -c", "said line 1: bad"], out
        assert (folder / "haproxy.cfg").read_text() == "old\n" and not (folder / "sub").exists()
        assert "kill" not in log
    assert "exec -i lb sh -c" in log and ".incoming" not in log  # the container saw no unpacked folder of its own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "lb", "log"]  # the unpacked folder is gone


def test_service_files_script_never_writes_through_a_symlinked_folder(tmp_path):
    """A folder on the way replaced by a symlink (the Puppet server's environments/, planted by its container) to a
    folder outside: nothing is written there, nothing in the service folder is replaced, and the push says why."""
    folder, outside = tmp_path / "lb", tmp_path / "outside"
    (folder / "environments").mkdir(parents=True)
    outside.mkdir()
    (folder / "puppet.conf").write_text("old\n")
    (folder / "environments").rmdir()
    (folder / "environments").symlink_to(outside)
    proc, out, _ = push(tmp_path, {"puppet.conf": "new\n", "environments/production/manifests/site.pp": "node {}\n"})
    assert proc.returncode == 1 and out[0] == "failed write files", out
    assert "environments/production/manifests is not a folder of its own" in out[1], out
    assert list(outside.iterdir()) == [] and (folder / "puppet.conf").read_text() == "old\n"
    deeper = tmp_path / "lb" / "deep"
    (deeper / "a").mkdir(parents=True)
    (deeper / "a" / "b").symlink_to(outside)
    proc, out, _ = push(tmp_path, {"deep/a/b/c/f": "x\n"})
    assert proc.returncode == 1 and list(outside.iterdir()) == [], out


def test_service_files_script_replaces_a_planted_symlink_and_never_writes_through_it(tmp_path):
    """A file's own name planted as a symlink to a file outside: the new file takes the symlink's place, the file
    outside stays as it was; a folder planted with a file's name is refused (never written into)."""
    folder, outside = tmp_path / "lb", tmp_path / "canary"
    folder.mkdir()
    outside.write_text("canary\n")
    (folder / "haproxy.cfg").symlink_to(outside)
    proc, out, _ = push(tmp_path, {"haproxy.cfg": "new\n"})
    assert proc.returncode == 0 and "done" in out, out
    assert outside.read_text() == "canary\n"
    assert not (folder / "haproxy.cfg").is_symlink() and (folder / "haproxy.cfg").read_text() == "new\n"
    (folder / "keepalived.conf").mkdir()
    proc, out, _ = push(tmp_path, {"keepalived.conf": "k\n"})
    assert proc.returncode == 1 and out[0] == "failed write files", out
    assert list((folder / "keepalived.conf").iterdir()) == []


def test_service_files_script_without_paths_installs_every_file_and_folder_of_the_tar(tmp_path):
    """As the action script runs it (no PATH, no check, no signal): the tar's files and its empty folders (a
    service's data folders), every folder on the way made; a planted symlink among those folders is refused."""
    proc, out, log = push(tmp_path, {"entrypoint": "e\n", "conf/a/b": "b\n"}, paths=[], dirs=("data", "state"))
    folder = tmp_path / "lb"
    assert proc.returncode == 0 and "done" in out and "reloaded" not in out, out
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
        "conf", "conf/a", "conf/a/b", "data", "entrypoint", "state"]
    assert log == ""  # docker is not asked: no check, no signal
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "data").rmdir()
    (folder / "data").symlink_to(outside)
    proc, out, _ = push(tmp_path, {"entrypoint": "new\n"}, paths=[], dirs=("data",))
    assert proc.returncode == 1 and "data is not a folder of its own" in out[1], out
    assert (folder / "entrypoint").read_text() == "e\n"


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


# --- the whole script with fakes: eth0's plumbing, the address, a lease, a failed lease undone -----------------

DEAD_PID = "99999999"  # above any pid_max: no process has it, so nothing of this machine's is read or entered
NETNS_HOST, NETNS_CONTAINER = "net:[4026531840]", "net:[4026532002]"  # what the fake readlink names them
FAKE_DOCKER_CREATE = f"""case "$1" in
  run) while [ "$1" != --cidfile ]; do shift; done; echo cafe1234 > "$2" ;;  # docker run writes the new ID
  container) echo {DEAD_PID} ;;  # inspect --format {{{{.State.Pid}}}}
  exec) shift; while [ "$1" != sh ]; do shift; done; exec "$@" ;;  # the readiness check, here
esac
"""
# `nsenter -t PID -n CMD`: `ip addr add` remembers the address, `ip -o ... show dev eth0` prints eth0 as ip would
# (its address once one was added), and udhcpc runs (in "the container's network": FAKE_IN_NETNS)
FAKE_NSENTER = r"""case "$4 $5 $6" in "ip addr add") echo "$7" > "$FAKEBIN_STATE/addr" ;; esac
case "$*" in
  *" ip -o link show dev eth0") printf '%s\n' '9: eth0@if10: <UP> mtu 1450 link/ether 02:00:0a:64:00:05 brd ff' ;;
  *" ip -o -4 addr show dev eth0")
    if [ -s "$FAKEBIN_STATE/addr" ]; then
      printf '9: eth0    inet %s brd 10.100.0.255 scope global eth0\n' "$(cat "$FAKEBIN_STATE/addr")"
    fi ;;
  *"/udhcpc "*) shift 3; FAKE_IN_NETNS=1 exec "$@" ;;
esac
"""
# the host's ip, and the hook's: an address added is remembered, a flush forgets it
FAKE_IP = """case "$1 $2" in
  "addr add") echo "$3" > "$FAKEBIN_STATE/addr" ;;
  "-4 addr") rm -f "$FAKEBIN_STATE/addr" ;;
esac
"""
# /proc/PID/ns/net: the container's for DEAD_PID and the PIDs a test marks, the host's otherwise; /proc/self's is the
# container's inside the fake nsenter
FAKE_READLINK = f"""case "$1" in
  /proc/self/ns/net) if [ -n "${{FAKE_IN_NETNS:-}}" ]; then echo '{NETNS_CONTAINER}'; else echo '{NETNS_HOST}'; fi ;;
  /proc/*/ns/net) p=${{1#/proc/}}
    if [ -e "$FAKEBIN_STATE/container-${{p%%/*}}" ]; then echo '{NETNS_CONTAINER}'; else echo '{NETNS_HOST}'; fi ;;
  *) exec /usr/bin/readlink "$@" ;;
esac
"""
# env -i, keeping only what the fakes need to log
FAKE_ENV = """[ "$1" = -i ] || { echo "env without -i: $*" >&2; exit 9; }
shift
exec /usr/bin/env -i FAKEBIN_LOG="$FAKEBIN_LOG" FAKEBIN_STATE="$FAKEBIN_STATE" "$@"
"""
# udhcpc: keeps the script it was given and its environment, then runs the script as udhcpc does, with the lease in
# $FAKEBIN_STATE/lease (udhcpc's variables, one a line); no such file: no lease
FAKE_UDHCPC = """while [ $# -gt 0 ]; do case $1 in -s) hook=$2; shift ;; esac; shift; done
cp "$hook" "$FAKEBIN_STATE/hook-run"
/usr/bin/env > "$FAKEBIN_STATE/udhcpc-env"
if [ ! -e "$FAKEBIN_STATE/lease" ]; then
  echo "udhcpc: broadcasting discover" >&2; echo "udhcpc: no lease, failing" >&2; exit 1
fi
interface=eth0 "$hook" deconfig
set -a; . "$FAKEBIN_STATE/lease"; set +a
interface=eth0 "$hook" bound
"""


@pytest.fixture
def action_fakes(fakebin):
    """docker, nsenter, ip, readlink, env, pgrep and udhcpc fakes: the lease path never touches this machine's."""
    fakebin.add("docker", FAKE_DOCKER_CREATE)
    fakebin.add("nsenter", FAKE_NSENTER)
    fakebin.add("ip", FAKE_IP)
    fakebin.add("readlink", FAKE_READLINK)
    fakebin.add("env", FAKE_ENV)
    fakebin.add("pgrep", 'cat "$FAKEBIN_STATE/pgrep" 2>/dev/null\n')
    fakebin.add("udhcpc", FAKE_UDHCPC)
    (fakebin.state / f"container-{DEAD_PID}").touch()
    return fakebin


def lease_argv(mode: str, c, role, net, dhcp_dir: Path) -> list[str]:
    """The action's argv for a lease, its hook written under dhcp_dir (a folder of the test)."""
    return dataclasses.replace(spec(mode, c, role, net, NEW_PLAN, DNS_SERVERS, False), dhcp_dir=str(dhcp_dir)).argv()


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
    assert action_fakes.calls("udhcpc", "env", "pgrep") == []


def test_script_leases_with_the_hosts_udhcpc_in_the_containers_network_namespace_only(container, net, action_fakes,
                                                                                     tmp_path):
    """The host's udhcpc, entered into the container's network namespace alone (`nsenter -t PID -n`: the host's
    files and programs), runs dockstack's hook from a host folder, in a clean environment; the hook applies the lease
    with the host's ip. Nothing runs inside the container's other namespaces, nothing of its filesystem runs."""
    (action_fakes.state / "lease").write_text("ip=10.100.0.150\nmask=24\n")
    dhcp_dir = tmp_path / "dhcp"
    proc = action_fakes.run(lease_argv(actions.CREATE, container("web"), Role("webui", check="true"), net, dhcp_dir),
                            LEAKED="from the caller")
    res = actions.parse_action(proc.stdout)
    assert (res.ready, res.ip, res.failed_step) == (True, "10.100.0.150", None), proc
    entered = action_fakes.calls("nsenter")
    assert all(c.startswith(f"nsenter -t {DEAD_PID} -n ") for c in entered), entered  # the network namespace only
    leases = [c for c in entered if "udhcpc" in c]
    assert len(leases) == 1 and re.fullmatch(
        rf"nsenter -t {DEAD_PID} -n {action_fakes.dir}/udhcpc -f -q -n -C -i eth0 -s {dhcp_dir}/hook\.\w+ "
        r"-t 30 -T 1 -x hostname:web", leases[0]), leases
    assert (action_fakes.state / "hook-run").read_text() == actions.DHCP_HOOK
    env = dict(line.split("=", 1) for line in (action_fakes.state / "udhcpc-env").read_text().splitlines()
               if "=" in line)
    assert (env["DOCKSTACK_NETNS"], env["DOCKSTACK_SUBNET"], env["DOCKSTACK_GATEWAY"]) == (
        NETNS_CONTAINER, "10.100.0.0/24", "")
    assert "LEAKED" not in env  # env -i: the hook sees udhcpc's values and these, nothing of the caller's
    assert action_fakes.calls("ip")[-3:] == [
        "ip -4 addr flush dev eth0",  # deconfig
        "ip -4 addr flush dev eth0",
        "ip addr add 10.100.0.150/24 broadcast + dev eth0 valid_lft forever preferred_lft forever"]
    assert action_fakes.calls("pkill", "dhclient", "sh", "timeout") == []  # nothing run in the container
    assert list(dhcp_dir.iterdir()) == [] and dhcp_dir.stat().st_mode & 0o777 == 0o700  # the hook went


def test_a_lease_with_the_stacks_gateway_gets_the_default_route(container, net, action_fakes, tmp_path):
    gw = dataclasses.replace(net, gateway=ipaddress.IPv4Address("10.100.0.1"))
    (action_fakes.state / "lease").write_text("ip=10.100.0.150\nmask=24\nrouter='10.100.0.1 10.100.0.2'\n")
    proc = action_fakes.run(lease_argv(actions.START, container("web"), Role("webui"), gw, tmp_path / "dhcp"))
    assert actions.parse_action(proc.stdout).ip == "10.100.0.150", proc
    assert action_fakes.calls("ip")[-1] == "ip route replace default via 10.100.0.1 dev eth0"


def test_a_refused_lease_fails_the_create_and_undoes_it(container, net, action_fakes, tmp_path):
    """A lease from another server (a router the stack does not have): nothing applied, the create undone."""
    (action_fakes.state / "lease").write_text("ip=10.100.0.150\nmask=24\nrouter=10.100.0.66\n")
    dhcp_dir = tmp_path / "dhcp"
    proc = action_fakes.run(lease_argv(actions.CREATE, container("web"), Role("webui"), net, dhcp_dir))
    assert proc.returncode == 1
    res = actions.parse_action(proc.stdout)
    assert (res.started, res.ip, res.failed_step) == (True, None, "dhcp")
    assert res.said == ("the lease was refused, eth0 has no address; "
                        "dhcp hook: the lease's router '10.100.0.66' is not the stack's gateway ''")
    assert not any("addr add" in c for c in action_fakes.calls("ip", "nsenter"))
    assert action_fakes.calls("docker")[-1] == "docker rm --force cafe1234"  # what this run created, by its ID
    assert list(dhcp_dir.iterdir()) == []


def test_no_lease_fails_the_create_and_undoes_it(container, role, net, action_fakes, tmp_path):
    proc = action_fakes.run(lease_argv(actions.CREATE, container("web"), role, net, tmp_path / "dhcp"))
    assert proc.returncode == 1
    res = actions.parse_action(proc.stdout)
    assert (res.started, res.failed_step) == (True, "dhcp")
    assert res.said == ("no lease from dnsmasq within 30s (is a dnsmasq container running?); "
                        "udhcpc: broadcasting discover; udhcpc: no lease, failing")
    assert action_fakes.calls("docker")[-1] == "docker rm --force cafe1234"
    assert not any("addr add" in c for c in action_fakes.calls("ip", "nsenter"))


def test_without_udhcpc_on_the_host_nothing_changes(container, role, net, fakebin, tmp_path):
    """No DHCP client on the host: refused before the env file, the files or docker, naming the Debian package."""
    fakebin.add("docker")
    dhcp_dir = tmp_path / "dhcp"
    c = dataclasses.replace(container("web"), env=(("A", "1"),))
    spec_ = dataclasses.replace(spec(actions.CREATE, c, role, net, NEW_PLAN, DNS_SERVERS, True), dhcp_dir=str(dhcp_dir))
    proc = fakebin.run(spec_.argv(), spec_.stdin)
    assert proc.returncode == 1
    res = actions.parse_action(proc.stdout)
    assert (res.started, res.failed_step) == (False, "dhcp")
    assert res.said.startswith("udhcpc is not installed on this host: run `apt-get install -y udhcpc`"), res.said
    assert fakebin.calls() == [] and not dhcp_dir.exists()


def test_a_dhclient_an_older_dockstack_left_in_the_container_is_ended_from_the_host(container, role, net,
                                                                                   action_fakes, tmp_path):
    """The privileged dhclient an older dockstack started in a running container is ended by its PID (never by a
    command run in the container); a dhclient in another network namespace (the host's own) is left alone."""
    (action_fakes.state / "lease").write_text("ip=10.100.0.150\nmask=24\n")
    theirs = subprocess.Popen(["sleep", "60"])
    hosts = subprocess.Popen(["sleep", "60"])
    try:
        (action_fakes.state / f"container-{theirs.pid}").touch()
        (action_fakes.state / "pgrep").write_text(f"{hosts.pid}\n{theirs.pid}\n")
        proc = action_fakes.run(lease_argv(actions.START, container("web"), Role("webui"), net, tmp_path / "dhcp"))
        assert actions.parse_action(proc.stdout).ip == "10.100.0.150", proc
        assert action_fakes.calls("pgrep") == ["pgrep -x dhclient"]
        assert theirs.wait(timeout=10) == -15  # SIGTERM
        assert hosts.poll() is None
    finally:
        for p in (theirs, hosts):
            p.kill()
            p.wait()


# --- dhcp_hook.sh, udhcpc's script: what it applies, and every lease it refuses ----------------------------------

HOOK_ENV = {"DOCKSTACK_NETNS": NETNS_CONTAINER, "DOCKSTACK_SUBNET": "10.100.0.0/24", "DOCKSTACK_GATEWAY": "",
            "interface": "eth0", "ip": "10.100.0.150", "mask": "24"}


def run_hook(fakebin, event: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The hook as udhcpc runs it (HOOK EVENT, the lease in its environment) with fake ip and readlink: its
    readlink names the container's namespace, as inside `nsenter -t PID -n`."""
    fakebin.add("ip")
    fakebin.add("readlink", f"echo '{NETNS_CONTAINER}'\n")
    return fakebin.run(["sh", "-c", actions.DHCP_HOOK, "hook", event], **{**HOOK_ENV, **env})


def test_the_hook_applies_a_lease_for_ever(fakebin):
    proc = run_hook(fakebin, "bound")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert fakebin.calls("ip") == [
        "ip -4 addr flush dev eth0",
        "ip addr add 10.100.0.150/24 broadcast + dev eth0 valid_lft forever preferred_lft forever"]


def test_the_hook_sets_the_stacks_gateway_the_lease_names_as_its_first_router(fakebin):
    proc = run_hook(fakebin, "renew", DOCKSTACK_SUBNET="10.8.0.0/16", DOCKSTACK_GATEWAY="10.8.0.1",
                    ip="10.8.1.2", mask="16", router="10.8.0.1 10.8.0.254")
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls("ip") == [
        "ip -4 addr flush dev eth0",
        "ip addr add 10.8.1.2/16 broadcast + dev eth0 valid_lft forever preferred_lft forever",
        "ip route replace default via 10.8.0.1 dev eth0"]


@pytest.mark.parametrize(("event", "calls"), [("deconfig", ["ip -4 addr flush dev eth0"]), ("leasefail", []),
                                              ("nak", [])])
def test_the_hook_on_udhcpcs_other_events(fakebin, event, calls):
    assert run_hook(fakebin, event).returncode == 0
    assert fakebin.calls("ip") == calls


@pytest.mark.parametrize(("env", "said"), [
    ({"DOCKSTACK_NETNS": NETNS_HOST}, "not in the container's network namespace"),
    ({"DOCKSTACK_NETNS": ""}, "not in the container's network namespace"),
    ({"interface": "eth1"}, "interface 'eth1' is not eth0"),
    ({"ip": "10.100.1.5"}, "the lease's address 10.100.1.5 is not in 10.100.0.0/24"),
    ({"ip": "10.100.0.050"}, "the lease's address '10.100.0.050' is no IPv4 address"),
    ({"ip": "10.100.0.256"}, "is no IPv4 address"),
    ({"ip": "10.100.0"}, "is no IPv4 address"),
    ({"ip": "10.100.0.5 dev lo"}, "is no IPv4 address"),
    ({"ip": "10.100.0.5;reboot"}, "is no IPv4 address"),
    ({"ip": ""}, "is no IPv4 address"),
    ({"ip": "10.100.0.0"}, "is 10.100.0.0/24's network or broadcast address"),
    ({"ip": "10.100.0.255"}, "is 10.100.0.0/24's network or broadcast address"),
    ({"mask": "16"}, "the lease's prefix '16' is not the subnet's (10.100.0.0/24)"),
    ({"mask": ""}, "the lease's prefix '' is not the subnet's"),
    ({"router": "10.100.0.1"}, "the lease's router '10.100.0.1' is not the stack's gateway ''"),
    ({"DOCKSTACK_GATEWAY": "10.100.0.1"}, "the lease's router '' is not the stack's gateway '10.100.0.1'"),
    ({"DOCKSTACK_GATEWAY": "10.100.0.1", "router": "10.100.0.9"}, "router '10.100.0.9' is not the stack's gateway"),
    ({"DOCKSTACK_GATEWAY": "10.101.0.1", "router": "10.101.0.1"}, "the gateway 10.101.0.1 is not in 10.100.0.0/24"),
    ({"DOCKSTACK_SUBNET": "10.100.0.0"}, "DOCKSTACK_SUBNET '10.100.0.0' is no NETWORK/PREFIX"),
    ({"DOCKSTACK_SUBNET": "10.100.0.0/31"}, "is no NETWORK/PREFIX"),
])
def test_the_hook_refuses_a_lease_it_cannot_trust_and_applies_nothing(fakebin, env, said):
    proc = run_hook(fakebin, "bound", **env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("dhcp hook: ") and said in proc.stderr, proc.stderr
    assert fakebin.calls("ip") == []


@pytest.mark.parametrize("service", sorted(registry.DEFINITIONS))
def test_a_remove_of_any_service_container_stops_it_cleanly_first(service):
    """Issue 31: a remove (inv remove, destroy-all, a move) gives every service its stop signal and stop timeout
    before the container goes (openstack's, the Puppet server's, ZooKeeper's and dnsmasq's were SIGKILLed);
    a container that runs no service of dockstack's is removed at once."""
    d = registry.DEFINITIONS[service]
    spec = actions.stop_spec("c1", "h1", actions.stop_timeout_of(d), remove=True)
    assert spec.clean and spec.argv() == ["sh", "-c", actions.STOP_SCRIPT, "sh", "c1", "remove"]
    wait = d.stop_timeout if d.stop_timeout is not None else actions.DOCKER_STOP_TIMEOUT
    assert spec.timeout >= wait
    bare = actions.stop_spec("c1", "h1", actions.stop_timeout_of(None), remove=True)
    assert not bare.clean and bare.argv() == ["docker", "rm", "--force", "c1"]
