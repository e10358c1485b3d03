"""The lab is a set of real, separate Docker hosts reached over SSH; images reach them without a registry."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from dockstack import images, lab, local
from dockstack.config import ROOT, load_inventory, load_stack
from dockstack.services.registry import DEFINITIONS

from .helpers import HOSTS_FILE, INV, run_inv, ssh

LAB = "main"  # light: it evens out the two halves' times


def test_each_host_is_its_own_docker_engine(inventory):
    infos = {h.name: ssh(inventory, h.name, "docker info --format '{{.ID}} {{.DockerRootDir}}'").stdout.split()
             for h in inventory.hosts}
    assert len({i[0] for i in infos.values()}) == len(inventory.hosts), infos
    for name, (_, root) in infos.items():
        assert root == f"{inventory.lab.state_dir}/hosts/{name}/docker"


def test_docker_ps_shows_only_that_hosts_containers(inventory):
    ssh(inventory, "host2", "docker rm -f labprobe >/dev/null 2>&1; docker run -d --name labprobe --network none "
                            "dockstack/base:bookworm >/dev/null")
    try:
        assert "labprobe" in ssh(inventory, "host2", "docker ps --format '{{.Names}}'").stdout.split()
        for other in ("host1", "host3"):
            assert "labprobe" not in ssh(inventory, other, "docker ps -a --format '{{.Names}}'").stdout.split()
    finally:
        ssh(inventory, "host2", "docker rm -f labprobe")


def test_hosts_reach_each_other_over_the_lab_bridge(inventory):
    for src, dst in (("host1", "host2"), ("host3", "host1")):
        address = inventory.host(dst).address
        out = ssh(inventory, src, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/22 && head -c 7 <&3'").stdout
        assert out == "SSH-2.0"


def test_images_sync_second_run_transfers_nothing(inventory):
    first = run_inv("images.sync")
    assert "images.sync:" in first.stdout
    second = run_inv("images.sync")
    assert "nothing to transfer" in second.stdout
    assert "sending" not in second.stdout


def test_lab_status_shows_hosts_up_with_images(inventory):
    out = run_inv("lab.status").stdout
    for h in inventory.hosts:
        line = next(line for line in out.splitlines() if line.startswith(h.name))
        assert h.address in line and "DOWN" not in line and "MISSING" not in line
        assert "dockstack/base:bookworm present" in line


def test_lab_up_twice_changes_nothing(inventory):
    assert "0 change(s)" in run_inv("lab.up").stdout


def test_lab_commands_need_root():
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(INV), "lab.up"],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HOME": "/tmp"})
    assert proc.returncode == 1
    assert "needs root" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_program_is_named_with_its_fix(tmp_path):
    # only python on PATH: docker, ssh, iptables... are then missing
    proc = subprocess.run([str(INV), "lab.up"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": str(tmp_path)})
    assert proc.returncode == 1
    assert "apt-get install -y" in proc.stderr and "docker.io" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_hosts_file_is_reported_with_file_and_key(tmp_path):
    bad = tmp_path / "hosts.yaml"
    data = yaml.safe_load(HOSTS_FILE.read_text())
    data["hosts"][1]["port"] = "twenty-two"
    bad.write_text(yaml.safe_dump(data))
    proc = run_inv("lab.status", "--hosts-file", str(bad), check=False)
    assert proc.returncode == 1
    assert f"{bad}: hosts[1].port: must be an integer" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_host_is_a_clear_error(tmp_path):
    data = yaml.safe_load(HOSTS_FILE.read_text())
    data["hosts"] = [{"name": "gone", "address": "127.0.0.1", "port": 1}]  # nothing listens there
    data.pop("lab")
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(data))
    containers = tmp_path / "containers.yaml"
    containers.write_text(yaml.safe_dump({"roles": ["dnsmasq"], "containers": [
        {"name": "dnsmasq", "role": "dnsmasq", "host": "gone", "image": "x", "mac": "02:00:0a:64:00:02",
         "ip": "10.100.0.2"}]}))
    proc = run_inv("ipam.show", f"--hosts-file={path}", f"--containers-file={containers}", check=False)
    assert proc.returncode == 1
    assert "gone: ssh connect failed: cannot reach 127.0.0.1:1" in proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


# --- a second, throwaway lab: teardown and repair ----------------------------------------------


@pytest.fixture
def mini_lab(tmp_path):
    """Two hosts on their own bridge and prefix, so tearing it down leaves the main lab alone."""
    data = yaml.safe_load(HOSTS_FILE.read_text())
    data["hosts"] = [{"name": f"m{i}", "address": f"10.98.0.{10 + i}", "key": "/var/lib/dockstack-minilab/id_ed25519"}
                     for i in (1, 2)]
    data["lab"] = {"bridge": "dsmini0", "gateway": "10.98.0.1/24", "prefix": "dsm",
                   "state_dir": "/var/lib/dockstack-minilab"}
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(data))
    inv = load_inventory(path)
    yield inv
    lab.down(inv, purge=True, say=lambda m: None)


def leftovers(inv) -> list[str]:
    """Everything of this lab that could still exist on the machine."""
    spec = inv.lab
    found = []
    netns = Path("/run/netns")
    found += [f"netns {p.name}" for p in netns.glob(f"{spec.prefix}-*")] if netns.exists() else []
    mountinfo = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mountinfo.splitlines()
              if f"/{spec.prefix}-lab" in line or spec.state_dir in line]
    if local.ok(["ip", "link", "show", "dev", spec.bridge]):
        found.append(f"bridge {spec.bridge}")
    links = local.run(["ip", "-o", "link"], "links").stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if f" {spec.prefix}-" in line]
    rules = local.run(["iptables", "-w", "-S"], "rules").stdout
    found += [f"rule {r}" for r in rules.splitlines() if f"{spec.prefix}-lab" in r]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            try:
                cgroup = (proc / "cgroup").read_text()
            except OSError:
                cgroup = ""
            if spec.state_dir in cmd or f"/{spec.prefix}-" in cgroup:
                found.append(f"process {proc.name}: {cmd[:80]}")
    if Path(f"/run/{spec.prefix}-lab").exists():
        found.append(f"dir /run/{spec.prefix}-lab")
    return found


def test_lab_down_leaves_nothing_behind(mini_lab):
    lab.up(mini_lab, say=lambda m: None)
    hosts = lab.lab_hosts(mini_lab)
    assert all(lab.observe(h).dockerd and lab.observe(h).sshd for h in hosts)
    # a container running on a host must go too
    lh = hosts[0]
    built = images.load_built(load_stack(load_inventory(HOSTS_FILE), definitions=DEFINITIONS).images[0])
    assert built is not None
    load = subprocess.Popen([*lh.enter(), "docker", "load", "-q"], stdin=subprocess.PIPE,  # a lab host has its own /tmp
                            stdout=subprocess.DEVNULL)
    assert load.stdin is not None
    with load.stdin:
        images.write_archive(built, load.stdin)
    assert load.wait(timeout=300) == 0
    local.run([*lh.enter(), "docker", "run", "-d", "--network", "none", "--name", "c1", built.tag], "run")
    assert any("sleep infinity" in x for x in leftovers(mini_lab))
    lab.down(mini_lab, say=lambda m: None)
    assert leftovers(mini_lab) == []


def test_purge_deletes_only_a_state_directory_lab_up_made(mini_lab, tmp_path):
    lab.up(mini_lab, say=lambda m: None)
    assert lab.state_marker(mini_lab.lab).exists()
    lab.down(mini_lab, purge=True, say=lambda m: None)
    assert not Path(mini_lab.lab.state_dir).exists()
    # a lab.state_dir that names someone's folder (a typo, a copied hosts.yaml): kept, and said so
    data = yaml.safe_load(Path(mini_lab.path).read_text())
    data["lab"]["state_dir"] = str(tmp_path / "home" / "someone")
    (tmp_path / "home" / "someone").mkdir(parents=True)
    (tmp_path / "home" / "someone" / "notes.txt").write_text("keep me\n")
    other = tmp_path / "other-hosts.yaml"
    other.write_text(yaml.safe_dump(data))
    said: list[str] = []
    lab.down(load_inventory(other), purge=True, say=said.append)
    assert (tmp_path / "home" / "someone" / "notes.txt").read_text() == "keep me\n"
    assert any(f"kept: {tmp_path / 'home' / 'someone'}: it has no .dockstack-lab file" in m for m in said), said


def test_lab_up_repairs_a_lab_whose_daemons_died(mini_lab):
    """What a stopped session leaves: namespaces, bridge and rules stay, sshd and dockerd are gone."""
    lab.up(mini_lab, say=lambda m: None)
    for lh in lab.lab_hosts(mini_lab):
        for daemon in ("sshd", "dockerd"):
            pid = int(lh.pid_file(daemon).read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
    hosts = lab.lab_hosts(mini_lab)
    lab.wait_until("daemons dead", lambda: not any(s.dockerd or s.sshd for s in map(lab.observe, hosts)), timeout=10)
    assert all(lab.observe(h).netns for h in lab.lab_hosts(mini_lab))
    changes = lab.up(mini_lab, say=lambda m: None)
    assert any("started dockerd" in c for c in changes) and any("started sshd" in c for c in changes)
    for h in lab.lab_hosts(mini_lab):
        s = lab.observe(h)
        assert s.dockerd and s.sshd
        assert local.ok([*h.enter(), "docker", "info"])
    assert lab.up(mini_lab, say=lambda m: None) == []


def test_lab_down_cleans_a_half_made_lab(mini_lab):
    spec = mini_lab.lab
    local.run(["ip", "link", "add", spec.bridge, "type", "bridge"], "bridge")
    local.run(["ip", "netns", "add", f"{spec.prefix}-m1"], "netns")
    assert leftovers(mini_lab)
    lab.down(mini_lab, say=lambda m: None)
    assert leftovers(mini_lab) == []


def test_lab_up_rebuilds_a_netns_file_that_is_no_longer_a_namespace(mini_lab):
    """After a machine restart /run/netns/NAME can be a plain file: up must replace it."""
    lab.up(mini_lab, say=lambda m: None)
    lh = lab.lab_hosts(mini_lab)[1]
    lab.down(mini_lab, say=lambda m: None)
    lh.netns_file.parent.mkdir(exist_ok=True)
    lh.netns_file.touch()
    lab.up(mini_lab, say=lambda m: None)
    assert lab.observe(lh).dockerd and lab.observe(lh).sshd


def test_lab_up_with_fewer_hosts_removes_the_others(mini_lab):
    lab.up(mini_lab, say=lambda m: None)
    smaller = lab.resize(mini_lab, 1, say=lambda m: None)
    assert [h.name for h in smaller.hosts] == ["m1"]
    assert yaml.safe_load(Path(smaller.path).read_text())["network"]["subnet"] == "10.100.0.0/24"
    changes = lab.up(smaller, say=lambda m: None)
    assert "m2: removed (no longer in" in " ".join(changes)
    assert not Path("/run/netns/dsm-m2").exists()
    assert lab.observe(lab.lab_hosts(smaller)[0]).dockerd
    bigger = lab.resize(smaller, 2, say=lambda m: None)
    lab.up(bigger, say=lambda m: None)
    assert all(lab.observe(h).sshd for h in lab.lab_hosts(bigger))
