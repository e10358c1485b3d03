"""The lab: real Docker hosts on this machine, each a network + mount namespace with its own sshd and dockerd.

Every step checks what is there first, so `up` is idempotent and repairs leftovers of a stopped
session (namespaces whose daemons died, stale pid files, files that are no longer mounts), and
`down` removes whatever it finds of the lab, also after a half-failed `up`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from dockstack import local
from dockstack.config import Inventory, LabSpec, load_inventory
from dockstack.errors import ConfigError, DockstackError
from dockstack.prereq import HOST_PROGRAMS, LAB_PROGRAMS, require, which
from dockstack.render import render

READY_TIMEOUT = 60.0
PRIVATE_DIRS = ("/var/lib/dockstack", "/etc/docker", "/tmp")
POLL = 0.2


@dataclass(frozen=True)
class LabHost:
    """Names and paths of one lab host, all derived from hosts.yaml."""

    name: str
    address: str
    spec: LabSpec

    @property
    def netns(self) -> str:
        return f"{self.spec.prefix}-{self.name}"

    @property
    def netns_file(self) -> Path:
        return Path("/run/netns") / self.netns

    @property
    def veth(self) -> str:
        return f"{self.spec.prefix}-{self.name}"[:15]

    @property
    def lan_veth(self) -> str:
        """Root side of the host's eth1 on the lab LAN (for network.join: uplink)."""
        return f"{self.spec.prefix}-{self.name}-l"

    @property
    def mnt_file(self) -> Path:
        return mount_dir(self.spec) / f"{self.name}.mnt"

    @property
    def uts_file(self) -> Path:
        return mount_dir(self.spec) / f"{self.name}.uts"

    @property
    def dir(self) -> Path:
        return Path(self.spec.state_dir) / "hosts" / self.name

    @property
    def cgroup_parent(self) -> str:
        return f"{self.spec.prefix}-{self.name}"

    def pid_file(self, daemon: str) -> Path:
        return self.dir / f"{daemon}.pid"

    def enter(self) -> list[str]:
        """argv prefix that runs a program inside this host (its mount and network namespaces)."""
        return ["nsenter", f"--mount={self.mnt_file}", f"--net={self.netns_file}", f"--uts={self.uts_file}", "--"]


def mount_dir(spec: LabSpec) -> Path:
    return Path("/run") / f"{spec.prefix}-lab"


def lan_bridge(spec: LabSpec) -> str:
    """A second shared segment: each host's eth1 is on it, an uplink for `join: uplink` tests."""
    return f"{spec.prefix}-lan"


def key_file(spec: LabSpec) -> Path:
    return Path(spec.state_dir) / "id_ed25519"


def known_hosts_file(spec: LabSpec) -> Path:
    return Path(spec.state_dir) / "known_hosts"


def lab_hosts(inv: Inventory) -> list[LabHost]:
    spec = require_lab(inv)
    out = []
    for h in inv.hosts:
        lh = LabHost(h.name, h.address, spec)
        if len(lh.lan_veth) > 15:
            raise ConfigError(inv.path, "hosts", f"lab host name {h.name!r} is too long",
                              f"'{spec.prefix}-NAME-l' must fit in 15 characters")
        out.append(lh)
    return out


def require_lab(inv: Inventory) -> LabSpec:
    if inv.lab is None:
        raise ConfigError(inv.path, "lab", "missing: these hosts are not the built-in lab",
                          "lab tasks only manage hosts.yaml files with a lab: section")
    return inv.lab


# --- observation -----------------------------------------------------------------------


def _mounts() -> dict[str, str]:
    """mount point -> filesystem type, from this process's mountinfo."""
    out = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        out[fields[4].replace("\\040", " ")] = fields[sep + 1]
    return out


def _is_ns_mount(path: Path, mounts: dict[str, str] | None = None) -> bool:
    return (mounts or _mounts()).get(str(path)) == "nsfs"


def _link_exists(name: str) -> bool:
    return local.ok(["ip", "link", "show", "dev", name])


def _ns_inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _pid_alive(pid_file: Path, comm: str, netns_file: Path) -> int | None:
    """The daemon's pid if its pid file names a live `comm` process inside that network namespace."""
    try:
        pid = int(pid_file.read_text().split()[0])
        if Path(f"/proc/{pid}/comm").read_text().strip() != comm:
            return None
        if os.stat(f"/proc/{pid}/ns/net").st_ino != _ns_inode(netns_file):
            return None
        return pid
    except (OSError, ValueError, IndexError):
        return None


def _port_open(address: str, port: int = 22, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(what: str, probe, timeout: float = READY_TIMEOUT, failed=None) -> None:
    """Poll a readiness probe until it passes; `failed` may explain an early, certain failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        if failed is not None:
            reason = failed()
            if reason:
                raise DockstackError(f"{what} failed: {reason}")
        time.sleep(POLL)
    raise DockstackError(f"{what}: not ready after {timeout:.0f}s")


@dataclass(frozen=True)
class HostState:
    name: str
    address: str
    netns: bool
    sshd: bool
    dockerd: bool


def observe(lh: LabHost) -> HostState:
    mounts = _mounts()
    netns = all(_is_ns_mount(f, mounts) for f in (lh.netns_file, lh.mnt_file, lh.uts_file))
    sshd = netns and _pid_alive(lh.pid_file("sshd"), "sshd", lh.netns_file) is not None
    dockerd = netns and _pid_alive(lh.pid_file("dockerd"), "dockerd", lh.netns_file) is not None
    return HostState(lh.name, lh.address, netns, sshd and _port_open(lh.address), dockerd)


# --- up --------------------------------------------------------------------------------


def up(inv: Inventory, say=print) -> list[str]:
    """Bring the lab to its desired state; returns the changes made (empty: nothing to do)."""
    require(LAB_PROGRAMS | HOST_PROGRAMS, "inv lab.up")
    spec = require_lab(inv)
    hosts = lab_hosts(inv)
    changes: list[str] = []
    _ensure_state_dir(spec, changes)
    _ensure_key(spec, changes)
    _ensure_bridge(spec, changes)
    _ensure_forward_rule(spec, changes)
    _ensure_mount_dir(spec, changes)
    for lh in hosts:
        _ensure_host(lh, changes, say)
    for name in sorted(_present_hosts(spec) - {lh.name for lh in hosts}):  # dropped from hosts.yaml
        _teardown_host(LabHost(name, "", spec), changes)
        changes.append(f"{name}: removed (no longer in {inv.path})")
    _write_known_hosts(spec, hosts)
    for c in changes:
        say(f"  changed: {c}")
    return changes


def state_marker(spec: LabSpec) -> Path:
    """The file that says dockstack made the state directory: `lab.down --purge` deletes no directory without it."""
    return Path(spec.state_dir) / ".dockstack-lab"


def _ensure_state_dir(spec: LabSpec, changes: list[str]) -> None:
    marker = state_marker(spec)
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("This folder holds a dockstack lab's state; `inv lab.down --purge` deletes it.\n")
    changes.append(f"marked {spec.state_dir} as the lab's state directory")


def _ensure_key(spec: LabSpec, changes: list[str]) -> None:
    key = key_file(spec)
    if key.exists() and key.with_suffix(".pub").exists():
        return
    key.parent.mkdir(parents=True, exist_ok=True)
    key.unlink(missing_ok=True)
    local.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockstack-lab", "-f", str(key)],
              "generate the lab SSH key")
    changes.append(f"generated lab key {key}")


def _ensure_bridge(spec: LabSpec, changes: list[str]) -> None:
    for br in (spec.bridge, lan_bridge(spec)):
        if not _link_exists(br):
            local.run(["ip", "link", "add", br, "type", "bridge"], f"create lab bridge {br}")
            changes.append(f"created bridge {br}")
        if "UP" not in local.run(["ip", "-o", "link", "show", "dev", br], "read bridge").stdout.split(">")[0]:
            local.run(["ip", "link", "set", br, "up"], f"bring up {br}")
            changes.append(f"brought up {br}")
    addrs = local.run(["ip", "-o", "-4", "addr", "show", "dev", spec.bridge], "read bridge address").stdout
    if str(spec.gateway) not in addrs:
        local.run(["ip", "addr", "replace", str(spec.gateway), "dev", spec.bridge], f"address bridge {spec.bridge}")
        changes.append(f"addressed {spec.bridge} {spec.gateway}")


def forward_rule(spec: LabSpec, bridge: str | None = None) -> list[str]:
    """The FORWARD ACCEPT rule that keeps Docker's DROP policy off in-bridge lab traffic."""
    br = bridge or spec.bridge
    return ["-i", br, "-o", br, "-j", "ACCEPT", "-m", "comment", "--comment", f"{spec.prefix}-lab"]


def _forward_chain() -> str:
    """DOCKER-USER when a local dockerd made it (it is evaluated first), else FORWARD."""
    return "DOCKER-USER" if local.ok(["iptables", "-w", "-S", "DOCKER-USER"]) else "FORWARD"


def _ensure_forward_rule(spec: LabSpec, changes: list[str]) -> None:
    chain = _forward_chain()
    for br in (spec.bridge, lan_bridge(spec)):
        if not local.ok(["iptables", "-w", "-C", chain, *forward_rule(spec, br)]):
            local.run(["iptables", "-w", "-I", chain, "1", *forward_rule(spec, br)], "add lab FORWARD rule")
            changes.append(f"added iptables {chain} ACCEPT rule for {br}")


def _ensure_mount_dir(spec: LabSpec, changes: list[str]) -> None:
    d = mount_dir(spec)
    d.mkdir(parents=True, exist_ok=True)
    if str(d) not in _mounts():
        local.run(["mount", "--bind", str(d), str(d)], f"bind-mount {d}")
        local.run(["mount", "--make-private", str(d)], f"make {d} private")
        changes.append(f"mounted {d}")


def _ensure_host(lh: LabHost, changes: list[str], say) -> None:
    lh.dir.mkdir(parents=True, exist_ok=True)
    mounts = _mounts()
    if not _is_ns_mount(lh.netns_file, mounts):
        if lh.netns_file.exists():  # leftover file of a namespace that is gone
            local.run(["ip", "netns", "delete", lh.netns], f"{lh.name}: remove stale netns")
        local.run(["ip", "netns", "add", lh.netns], f"{lh.name}: create netns")
        changes.append(f"{lh.name}: created netns {lh.netns}")
    _ensure_veth(lh, changes)
    dockerd_alive = _pid_alive(lh.pid_file("dockerd"), "dockerd", lh.netns_file) is not None
    namespaces = _is_ns_mount(lh.mnt_file, mounts) and _is_ns_mount(lh.uts_file, mounts)
    if not (namespaces and dockerd_alive):
        # like a reboot: whatever is left of the host goes, and it gets an empty /run
        _kill_all(lh, changes)
        _make_mount_ns(lh)
        changes.append(f"{lh.name}: fresh mount and UTS namespaces")
        say(f"  {lh.name}: starting dockerd")
        _start_dockerd(lh)
        changes.append(f"{lh.name}: started dockerd")
    sshd_pid = _pid_alive(lh.pid_file("sshd"), "sshd", lh.netns_file)
    cfg = lh.dir / "sshd_config"
    if sshd_pid is not None and (not cfg.exists() or cfg.read_text() != _sshd_config(lh)):
        os.kill(sshd_pid, signal.SIGTERM)  # listening sshd only: sessions in progress keep their own process
        wait_until(f"{lh.name}: old sshd gone", lambda: _pid_alive(lh.pid_file("sshd"), "sshd", lh.netns_file)
                   is None and not _port_open(lh.address))
        sshd_pid = None
        changes.append(f"{lh.name}: sshd config changed")
    if sshd_pid is None:
        _start_sshd(lh)
        changes.append(f"{lh.name}: started sshd")
    # listening and its pid file written (sshd writes it after it binds): what observe() and lab.status call up
    wait_until(f"{lh.name}: sshd on {lh.address}:22", lambda: _port_open(lh.address) and _pid_alive(
        lh.pid_file("sshd"), "sshd", lh.netns_file) is not None)


def _ensure_veth(lh: LabHost, changes: list[str]) -> None:
    """eth0 (addressed) on the lab bridge, eth1 (no address) on the lab LAN."""
    _ensure_nic(lh, "eth0", lh.veth, lh.spec.bridge, changes)
    prefix = ipaddress.IPv4Interface(f"{lh.address}/{lh.spec.gateway.network.prefixlen}")
    inside = ["nsenter", f"--net={lh.netns_file}", "--"]
    local.run([*inside, "ip", "addr", "replace", str(prefix), "dev", "eth0"], f"{lh.name}: address eth0")
    local.run([*inside, "ip", "link", "set", "lo", "up"], f"{lh.name}: lo up")
    _ensure_nic(lh, "eth1", lh.lan_veth, lan_bridge(lh.spec), changes)


def _ensure_nic(lh: LabHost, nic: str, root_side: str, bridge: str, changes: list[str]) -> None:
    """A veth pair: `nic` inside the host's namespace, `root_side` on `bridge`; rebuilt if half of it is gone."""
    inside = ["nsenter", f"--net={lh.netns_file}", "--"]
    if not (local.ok([*inside, "ip", "link", "show", "dev", nic]) and _link_exists(root_side)):
        if _link_exists(root_side):
            local.run(["ip", "link", "delete", root_side], f"{lh.name}: remove broken {root_side}")
        peer = f"{root_side[:12]}-p"
        local.run(["ip", "link", "add", root_side, "type", "veth", "peer", "name", peer], f"{lh.name}: veth for {nic}")
        local.run(["ip", "link", "set", peer, "netns", lh.netns], f"{lh.name}: move {nic} into the host")
        local.run([*inside, "ip", "link", "set", peer, "name", nic], f"{lh.name}: name {nic}")
        changes.append(f"{lh.name}: created {nic} ({root_side} on {bridge})")
    local.run([*inside, "ip", "link", "set", nic, "up"], f"{lh.name}: {nic} up")
    local.run(["ip", "link", "set", root_side, "master", bridge, "up"], f"{lh.name}: attach {root_side}")


def _kill_all(lh: LabHost, changes: list[str]) -> None:
    """What a dead dockerd left (containerd, shims, containers, sshd) would block a new one."""
    leftover = _processes_of(lh)
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if leftover:
        wait_until(f"{lh.name}: leftover processes gone", lambda: not _processes_of(lh), timeout=15)
        changes.append(f"{lh.name}: killed {len(leftover)} leftover process(es)")


def _make_mount_ns(lh: LabHost) -> None:
    """Persistent private mount and UTS namespaces: own /run (docker.sock), /etc/docker, hostname."""
    mounts = _mounts()
    for f in (lh.mnt_file, lh.uts_file):
        if _is_ns_mount(f, mounts):
            local.run(["umount", str(f)], f"{lh.name}: drop old namespace")
        f.unlink(missing_ok=True)
        f.touch()
    local.run(["unshare", f"--mount={lh.mnt_file}", f"--uts={lh.uts_file}", "--propagation", "private",
               "hostname", lh.name], f"{lh.name}: create mount and UTS namespaces")
    local.run(["nsenter", f"--mount={lh.mnt_file}", "--", "mount", "-t", "tmpfs", "-o", "mode=755",
               f"{lh.spec.prefix}-run", "/run"], f"{lh.name}: mount private /run")
    local.run(["nsenter", f"--mount={lh.mnt_file}", "--", "mkdir", "-p", "/run/sshd", "/run/lock"],
              f"{lh.name}: prepare /run")
    for target in PRIVATE_DIRS:  # what a real host keeps to itself (dockstack's files on it, /tmp)
        source = lh.dir / "fs" / target.strip("/").replace("/", "_")
        source.mkdir(parents=True, exist_ok=True)
        Path(target).mkdir(parents=True, exist_ok=True)
        local.run(["nsenter", f"--mount={lh.mnt_file}", "--", "mount", "--bind", str(source), target],
                  f"{lh.name}: private {target}")


def _spawn(lh: LabHost, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([*lh.enter(), *argv], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _start_dockerd(lh: LabHost) -> None:
    lh.pid_file("dockerd").unlink(missing_ok=True)
    config = lh.dir / "daemon.json"
    config.write_text("{}\n")
    proc = _spawn(lh, ["dockerd", "--config-file", str(config), "--data-root", str(lh.dir / "docker"),
                       "--pidfile", str(lh.pid_file("dockerd")), "--host", "unix:///run/docker.sock",
                       "--cgroup-parent", f"/{lh.cgroup_parent}", "--shutdown-timeout", "2",
                       "--log-level", "warn"], lh.dir / "dockerd.log")

    def docker_ready() -> bool:
        return local.ok([*lh.enter(), "docker", "-H", "unix:///run/docker.sock", "version"])

    def died() -> str | None:
        if proc.poll() is None:
            return None
        tail = (lh.dir / "dockerd.log").read_text(errors="replace").strip().splitlines()[-5:]
        return f"dockerd exited ({proc.returncode}): " + " | ".join(tail)

    wait_until(f"{lh.name}: dockerd", docker_ready, failed=died)


def _sshd_config(lh: LabHost) -> str:
    """OpenSSH's defaults (MaxSessions 10 among them), so tests see what users' hosts do."""
    return render("lab/sshd_config.j2", name=lh.name, address=lh.address, host_key=lh.dir / "ssh_host_ed25519_key",
                  pid_file=lh.pid_file("sshd"), authorized_keys=f"{key_file(lh.spec)}.pub")


def _start_sshd(lh: LabHost) -> None:
    key = lh.dir / "ssh_host_ed25519_key"
    if not key.exists():
        local.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], f"{lh.name}: host key")
    cfg = lh.dir / "sshd_config"
    cfg.write_text(_sshd_config(lh))
    lh.pid_file("sshd").unlink(missing_ok=True)
    sshd = which("sshd") or "/usr/sbin/sshd"
    local.run([*lh.enter(), sshd, "-f", str(cfg), "-E", str(lh.dir / "sshd.log")], f"{lh.name}: start sshd")


def _write_known_hosts(spec: LabSpec, hosts: list[LabHost]) -> None:
    lines = []
    for lh in hosts:
        pub = (lh.dir / "ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{lh.address} {pub[0]} {pub[1]}")
    known_hosts_file(spec).write_text("\n".join(lines) + "\n")


# --- down ------------------------------------------------------------------------------


def down(inv: Inventory, purge: bool = False, say=print) -> list[str]:
    """Remove every namespace, process, mount, veth, bridge and rule of the lab that exists."""
    require(LAB_PROGRAMS, "inv lab.down")
    spec = require_lab(inv)
    removed: list[str] = []
    for name in sorted({h.name for h in inv.hosts} | _present_hosts(spec)):
        lh = LabHost(name, "", spec)
        _teardown_host(lh, removed)
    chain = _forward_chain()
    for br in (spec.bridge, lan_bridge(spec)):
        while local.ok(["iptables", "-w", "-C", chain, *forward_rule(spec, br)]):
            local.run(["iptables", "-w", "-D", chain, *forward_rule(spec, br)], "remove lab FORWARD rule")
            removed.append(f"iptables {chain} rule for {br}")
        if _link_exists(br):
            local.run(["ip", "link", "delete", br], f"remove bridge {br}")
            removed.append(f"bridge {br}")
    d = mount_dir(spec)
    if str(d) in _mounts():
        local.run(["umount", str(d)], f"unmount {d}")
        removed.append(f"mount {d}")
    if d.is_dir():
        d.rmdir()
    if purge and state_marker(spec).exists():
        local.run(["rm", "-rf", "--one-file-system", spec.state_dir], "remove lab state")
        removed.append(f"state {spec.state_dir}")
    elif purge and Path(spec.state_dir).exists():  # a typo in lab.state_dir must not delete someone's folder
        say(f"  kept: {spec.state_dir}: it has no {state_marker(spec).name} file, so `inv lab.up` did not make it; "
            "remove it yourself if it is the lab's")
    for r in removed:
        say(f"  removed: {r}")
    return removed


def power_off(inv: Inventory, name: str) -> list[str]:
    """Take one lab host down as a crash or reboot would: processes, namespaces, network devices go; disk stays."""
    spec = require_lab(inv)
    inv.host(name)
    removed: list[str] = []
    _teardown_host(LabHost(name, "", spec), removed)
    return removed


def _present_hosts(spec: LabSpec) -> set[str]:
    """Names of lab hosts that exist on this machine, found by the lab's prefix."""
    names = set()
    netns_dir = Path("/run/netns")
    if netns_dir.is_dir():
        names |= {p.name[len(spec.prefix) + 1:] for p in netns_dir.iterdir() if p.name.startswith(f"{spec.prefix}-")}
    if mount_dir(spec).is_dir():
        names |= {p.stem for p in mount_dir(spec).glob("*.mnt")} | {p.stem for p in mount_dir(spec).glob("*.uts")}
    return names


def _processes_of(lh: LabHost) -> list[int]:
    """Every process in the host's network or mount namespace or in its containers' cgroup."""
    inodes = {i for i in (_ns_inode(lh.netns_file), _ns_inode(lh.mnt_file), _ns_inode(lh.uts_file)) if i is not None}
    pids = []
    marker = f"/{lh.cgroup_parent}/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (os.stat(entry / "ns/net").st_ino in inodes or os.stat(entry / "ns/mnt").st_ino in inodes
                    or marker in (entry / "cgroup").read_text()):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _teardown_host(lh: LabHost, removed: list[str]) -> None:
    mounts = _mounts()
    live = lh.netns_file.exists() and _is_ns_mount(lh.netns_file, mounts)
    if live:
        for daemon in ("sshd", "dockerd"):
            pid = _pid_alive(lh.pid_file(daemon), daemon, lh.netns_file)
            if pid:
                os.kill(pid, signal.SIGTERM)
                removed.append(f"{lh.name}: {daemon} (pid {pid})")
        with contextlib.suppress(DockstackError):  # what is left is killed below
            wait_until(f"{lh.name}: daemons stop", lambda: not _processes_of(lh), timeout=15)
    for pid in _processes_of(lh):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            removed.append(f"{lh.name}: process {pid}")
    wait_until(f"{lh.name}: processes gone", lambda: not _processes_of(lh), timeout=15)
    for sub in Path("/sys/fs/cgroup").glob(f"*/{lh.cgroup_parent}"):
        for d in [*sorted(sub.rglob("*"), key=lambda p: len(p.parts), reverse=True), sub]:
            if d.is_dir():
                with contextlib.suppress(OSError):  # cgroupfs: only empty groups go, files are virtual
                    d.rmdir()
    for f in (lh.mnt_file, lh.uts_file):
        if _is_ns_mount(f, mounts):
            local.run(["umount", str(f)], f"{lh.name}: unmount {f.suffix[1:]} namespace")
            removed.append(f"{lh.name}: {f.suffix[1:]} namespace")
        f.unlink(missing_ok=True)
    if lh.netns_file.exists():
        local.run(["ip", "netns", "delete", lh.netns], f"{lh.name}: remove netns")
        removed.append(f"{lh.name}: netns {lh.netns}")
    for veth in (lh.veth, lh.lan_veth):
        # the kernel removes a veth whose peer was in the deleted netns on its own, a moment later: gone
        # between the probe and the delete is gone, not an error
        if _link_exists(veth):
            proc = local.run(["ip", "link", "delete", veth], f"{lh.name}: remove veth", check=False)
            if proc.returncode != 0 and _link_exists(veth):
                raise DockstackError(f"{lh.name}: remove veth {veth} failed: {proc.stderr.strip()}")
    for daemon in ("sshd", "dockerd"):
        lh.pid_file(daemon).unlink(missing_ok=True)


def resize(inv: Inventory, count: int, say=print) -> Inventory:
    """Rewrite the lab's hosts.yaml for `count` hosts: keep the first ones, add hostN at gateway+9+N."""
    spec = require_lab(inv)
    if not 1 <= count <= 50:
        raise ConfigError(inv.path, "--hosts", f"{count} lab hosts is out of range", "use 1-50")
    if len(inv.hosts) == count:
        return inv
    hosts = [{"name": h.name, "address": h.address, "user": h.user, "port": h.port, "key": h.key or key_file(spec)}
             for h in inv.hosts[:count]]
    taken = {h["address"] for h in hosts} | {h["name"] for h in hosts}
    n = 0
    while len(hosts) < count:
        n += 1
        name, address = f"host{n}", str(spec.gateway.ip + 9 + n)
        if name not in taken and address not in taken and ipaddress.IPv4Address(address) in spec.gateway.network:
            hosts.append({"name": name, "address": address, "user": "root", "port": 22, "key": key_file(spec)})
    raw = yaml.safe_load(Path(inv.path).read_text())
    network_yaml = yaml.safe_dump(raw["network"], default_flow_style=False, sort_keys=False)
    Path(inv.path).write_text(render("lab/hosts.yaml.j2", hosts=hosts, lab=spec,
                                     network_yaml="\n".join(f"  {line}" for line in network_yaml.splitlines())))
    say(f"  wrote {inv.path} with {count} lab hosts")
    return load_inventory(inv.path)
