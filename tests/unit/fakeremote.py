"""A scripted fake of dockstack.remote.Remotes for the orchestration tests: Docker hosts kept as data, answering
each remote script the way the real one prints (what facts.parse_host_facts, actions.parse_action and
addressbook.parse_txn read), and recording what was asked.

A script is recognised by its text (argv[2] compared with the module's constant, so the fake follows the
scripts wherever they are kept); anything else it does not know fails the test. State carries over between runs:
a second deploy-all sees what the first one left.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import ipaddress
import json
import re
import shlex
import tarfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dockstack import actions, addressbook, facts, health, network
from dockstack.config import Inventory, Stack
from dockstack.dockercli import LABEL_MANAGED
from dockstack.errors import RemoteError
from dockstack.remote import Result
from dockstack.services import SERVICE_ROOT, puppet
from dockstack.services.registry import facts_wanted

FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBfakeCA==\n-----END CERTIFICATE-----\n"  # what the fake Puppet server holds


def action_values(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """ACTION_SCRIPT's named values (KEY=VALUE words up to `--`, each once) and docker run's arguments after them."""
    end = argv.index("--")
    pairs = [a.split("=", 1) for a in argv[4:end]]
    assert all(len(p) == 2 for p in pairs) and len({k for k, _ in pairs}) == len(pairs), argv[4:end]
    return dict(pairs), argv[end + 1:]


SERVING_CHECK = "serving"  # a service definition's serving_check, as a test gives one to a role


@dataclass
class FakeContainer:
    name: str
    image: str
    image_id: str
    labels: dict[str, str]
    running: bool = True
    pid: int = 0
    mac: str = ""
    ip: str = ""
    unhealthy: str = ""  # its readiness check fails saying this ("": it passes)
    paused: bool = False  # `docker pause`: Docker says running, the health script does not check it
    frozen: bool = False  # its service stopped by SIGSTOP: its check gets no answer (timeout(1)'s 124)
    serving: bool = False  # a check named SERVING_CHECK passes though its readiness check fails


@dataclass
class FakeHost:
    name: str
    images: dict[str, str]  # tag -> image ID
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> content
    dirs: set[str] = field(default_factory=set)
    network: tuple[str, str, str, tuple[str, ...], str] | None = None  # bridge, join, device, peers, port (set up)
    planted: list[str] = field(default_factory=list)  # `iptables -S` lines someone added ahead of dockstack's own
    down: str = ""  # why the host does not answer ("": it does)
    checks_fail: str = ""  # what its readiness checks' round trip fails with, its facts answered ("": it works)


@dataclass(frozen=True)
class Call:
    host: str
    what: str  # facts | network | action | txn | rm; unanswered: sent to a host that is down
    name: str = ""  # the container (action, rm), the copy: its dnsmasq container or "replica" (txn), the step
    detail: tuple[str, ...] = ()  # action: (mode,); txn: its operations (one Call per copy, a round trip has all
    # the copies its host keeps)


def printable(text: str) -> str:
    """As `tr -c '[:print:]' '?'` shows it."""
    return re.sub(r"[^\x20-\x7e]", "?", text)


def untar(data: bytes) -> tuple[dict[str, str], set[str]]:
    files, dirs = {}, set()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            if m.isdir():
                dirs.add(m.name)
            else:
                files[m.name] = tar.extractfile(m).read().decode()  # type: ignore[union-attr]
    return files, dirs


class Lab:
    """The fake hosts of an inventory, one L2 segment between them, and what was asked of them."""

    def __init__(self, inv: Inventory, stack: Stack) -> None:
        self.inv, self.stack = inv, stack
        tags = {c.image for c in stack.containers}
        self.hosts = {h.name: FakeHost(h.name, {t: "sha256:" + hashlib.sha256(t.encode()).hexdigest() for t in tags})
                      for h in inv.hosts}
        self.calls: list[Call] = []
        self.fail: dict[str, tuple[str, str]] = {}  # container -> (step, what it says): its next action fails
        self.before_txn: list[Callable[[Lab, FakeHost, str, list[str]], None]] = []  # another run, meanwhile
        self.locked_by = ""  # another run holds the address book's lock
        self.slow_once: set[str] = set()  # containers whose failing check passes the next time it runs
        self.blips: dict[str, int] = {}  # containers whose failing check passes after it failed this many more times
        self.ca = FAKE_CA  # what the Puppet server's CA file holds ("": no such file)
        # the Puppet server's CA: certname -> the container whose agent holds its certificate (one per name: the
        # server signs no duplicate), and the challenge it signs each name with (autosign.sh's derivation)
        self.certs: dict[str, str] = {}
        self.unforgetting = ""  # what the server's forget says when it fails ("": it works)
        self.wire: list[tuple[str, list[str], bytes]] = []  # every round trip: host, argv, standard input
        self.agent_runs: list[tuple[str, str]] = []  # (container, mode) of every agent run that passed
        self._lock = threading.RLock()
        self._pid = 100

    def remotes(self) -> FakeRemotes:
        return FakeRemotes(self)

    # --- setting a scene -------------------------------------------------------------------

    def add_container(self, host: str, name: str, managed: bool = True, running: bool = True) -> FakeContainer:
        """A container that was there before the run (dockstack's own when managed)."""
        image = next(iter(self.hosts[host].images))
        c = FakeContainer(name, image, self.hosts[host].images[image], {LABEL_MANAGED: "true"} if managed else {},
                          running, self._next_pid() if running else 0)
        self.hosts[host].containers[name] = c
        return c

    def container(self, name: str) -> FakeContainer:
        found = [h.containers[name] for h in self.hosts.values() if name in h.containers]
        assert len(found) == 1, f"{name} is on {len(found)} hosts"
        return found[0]

    # --- what was asked ---------------------------------------------------------------------

    def note(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def asked(self, *what: str) -> list[Call]:
        return [c for c in self.calls if c.what in what]

    def acted_on(self) -> list[str]:
        """The containers an action script ran for, in order."""
        return [c.name for c in self.asked("action")]

    # --- answering --------------------------------------------------------------------------

    def answer(self, host_name: str, argv: Sequence[str], data: bytes = b"") -> Result:
        host = self.hosts[host_name]
        argv = [str(a) for a in argv]
        script = argv[2] if argv[:2] == ["sh", "-c"] and len(argv) > 2 else None
        with self._lock:
            self.wire.append((host_name, argv, data))
            if script == facts.HOST_FACTS_SCRIPT:
                self.calls.append(Call(host_name, "facts"))
                return Result(True, 0, self.facts(host, argv[4], argv[10], host_facts_tags(argv), argv[11]), "")
            if script == network.HOST_NETWORK_SCRIPT:
                self.calls.append(Call(host_name, "network"))
                br, _mtu, join, vx, _vni, port = argv[4:10]
                host.network = (br, join, vx, tuple(argv[12:]), port)
                host.planted = []  # the script writes dockstack's chain whole (tests plant in it only)
                return Result(True, 0, "", "")
            if script == actions.ACTION_SCRIPT:
                spec, _ = action_values(argv)
                self.calls.append(Call(host_name, "action", spec["name"], (spec["mode"],)))
                return self.action(host, argv, data)
            if script == addressbook.TXN_SCRIPT:
                files, _ = untar(data)
                known, pairs, said = int(argv[6]), argv[7:], ""
                for k in range(len(pairs) // 2):
                    folder, dnsmasq = pairs[2 * k], pairs[2 * k + 1]
                    ops = files[f"ops/{k + 1}"].splitlines()
                    self.calls.append(Call(host_name, "txn", dnsmasq or "replica", tuple(ops)))
                    r = self.txn(host, folder, dnsmasq, ops, files, known)
                    said += f"copy {k + 1}\n{r.stdout}"
                    if not r.ok:
                        return Result(False, r.exit_code, said, "")
                return Result(True, 0, said, "")
            if script == actions.SERVICE_FILES_SCRIPT:  # a service's files pushed to its running container
                name, folder, signal = argv[4], argv[5], argv[7]
                files, _ = untar(data)
                self.calls.append(Call(host_name, "push", name, tuple(sorted(files))))
                host.files.update({f"{folder}/{rel}": text for rel, text in files.items()})
                c = host.containers.get(name)
                return Result(True, 0, ("reloaded\n" if signal and c and c.running else "") + "done\n", "")
            if script == health.HEALTH_SCRIPT:
                self.calls.append(Call(host_name, "health"))
                if host.checks_fail:
                    return Result(False, 124, "", host.checks_fail)
                return Result(True, 0, self.health(host, argv[4], argv[9:]), "")
            if script == actions.STOP_SCRIPT:
                name, remove = argv[4], argv[5:] == ["remove"]
                self.calls.append(Call(host_name, "rm" if remove else "stop", name))
                if remove:
                    host.containers.pop(name, None)
                elif name in host.containers:  # continued and unpaused first, then stopped
                    host.containers[name].running = host.containers[name].paused = False
                    host.containers[name].frozen = False
                return Result(True, 0, name + "\n", "")
            if argv[:2] == ["docker", "exec"] and argv[3:] == ["cat", puppet.CA_FILE]:  # the CA agents pin
                self.calls.append(Call(host_name, "read ca", argv[2]))
                c = host.containers.get(argv[2])
                if c is None or not c.running:
                    return Result(False, 1, "", f"Error response from daemon: container {argv[2]} is not running")
                if not self.ca:
                    return Result(False, 1, "", f"cat: {puppet.CA_FILE}: No such file or directory")
                return Result(True, 0, self.ca, "")
            if argv[:2] == ["docker", "exec"] and argv[3:6] == ["sh", "-c", puppet.FORGET_SCRIPT]:
                certname = argv[7]  # the server forgets the name's certificate before a new key asks
                self.calls.append(Call(host_name, "forget cert", argv[2], (certname,)))
                c = host.containers.get(argv[2])
                if c is None or not c.running:
                    return Result(False, 1, "", f"Error response from daemon: container {argv[2]} is not running")
                if self.unforgetting:
                    return Result(False, 1, "", self.unforgetting)
                return Result(True, 0, "forget done\n" if self.certs.pop(certname, None) else "forget none\n", "")
            if argv[:2] == ["docker", "exec"]:  # a balancer's member command (drain, ready)
                self.calls.append(Call(host_name, "exec", argv[2], tuple(argv[3:])))
                return Result(True, 0, "done\n", "")
            if argv[:3] == ["docker", "rm", "--force"] and len(argv) == 4:
                self.calls.append(Call(host_name, "rm", argv[3]))
                host.containers.pop(argv[3], None)
                return Result(True, 0, argv[3] + "\n", "")
        raise AssertionError(f"the fake host {host_name} does not know this command: {shlex.join(argv)[:300]}")

    def _next_pid(self) -> int:
        self._pid += 1
        return self._pid

    def facts(self, host: FakeHost, label: str, replica: str, tags: list[str], catalog: str = "") -> str:
        """HOST_FACTS_SCRIPT's output: its sections, each line as the commands in it print it."""
        key, _, value = label.partition("=")
        managed = [c for c in host.containers.values() if c.labels.get(key) == value]
        inspect = [{"Name": f"/{c.name}", "State": {"Running": c.running, "Paused": c.running and c.paused,
                                                    "Pid": c.pid if c.running else 0},
                    "Config": {"Image": c.image, "Labels": c.labels}, "Image": c.image_id} for c in managed]
        out = ["#dockerd", "up", "#containers", json.dumps(inspect, indent=4), "#names",
               *host.containers, "#addresses"]
        for c in managed:
            if c.running and c.mac:
                out += [f"{c.pid} 2: eth0@if{c.pid + 1}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue "
                        f"state UP mode DEFAULT group default qlen 1000\\    link/ether {c.mac} brd ff:ff:ff:ff:ff:ff "
                        "link-netnsid 0",
                        f"{c.pid} 2: eth0    inet {c.ip}/{self.inv.network.subnet.prefixlen} scope global eth0\\       "
                        "valid_lft forever preferred_lft forever"]
        out += ["#images", *(f"{t} {host.images.get(t, '')}" for t in tags), "#network"]
        out += [f"rule {line}" for line in host.planted]
        if host.network:
            br, join, vx, peers, port = host.network
            out.append(f"bridge 5: {br}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode "
                       "DEFAULT group default qlen 1000\\    link/ether 0a:00:00:00:00:05 brd ff:ff:ff:ff:ff:ff")
            if join == "vxlan":
                out.append(f"vxlan 6: {vx}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master {br} "
                           "state UNKNOWN mode DEFAULT group default qlen 1000\\    link/ether 0a:00:00:00:00:06")
                out += [f"peer {p}" for p in sorted(peers)]
                # the rules as `iptables -S` prints what the script restored: the peers in the order it was given
                out += ["rule -N DOCKSTACK-VXLAN", *(f"rule -A DOCKSTACK-VXLAN -s {p}/32 -j RETURN" for p in peers),
                        "rule -A DOCKSTACK-VXLAN -j DROP", "rule -P INPUT ACCEPT",
                        f"rule -A INPUT -p udp -m udp --dport {port} -j DOCKSTACK-VXLAN"]
            out += ["rule -N DOCKER-USER", f"rule -A DOCKER-USER -i {br} -o {br} -j ACCEPT",
                    "rule -A DOCKER-USER -j RETURN", "rule -P FORWARD DROP", "rule -A FORWARD -j DOCKER-USER"]
        out.append("#books")
        for d in sorted(d for d in host.dirs if re.fullmatch(rf"{SERVICE_ROOT}/dnsmasq/[^/]+/registry", d)):
            folder = d.rpartition("/")[0]
            out += self.book(host, folder.rpartition("/")[2], folder)
        out.append("#replica")
        if replica and f"{replica}/registry" in host.dirs:
            out += self.book(host, "replica", replica)
        out += ["#state", "#catalogs"]
        out += [f"{p.removeprefix(SERVICE_ROOT + '/').rpartition('/')[0]} {printable(t.splitlines()[0] if t else '')}"
                for p, t in sorted(host.files.items()) if catalog and p.startswith(f"{SERVICE_ROOT}/")
                and p.endswith(f"/{catalog}") and p.count("/") == SERVICE_ROOT.count("/") + 3]
        out.append("#files")
        # the definitions' `digested` globs, as host_facts.sh finds them (find -path: `*` matches `/` too)
        digested = [f"{SERVICE_ROOT}/{service}/*/{glob}" for service, glob in facts_wanted()[2]]
        out += [f"{hashlib.sha256(t.encode()).hexdigest()}  {p}" for p, t in sorted(host.files.items())
                if "/.incoming" not in p and any(fnmatch.fnmatchcase(p, d) for d in digested)]
        out.append("#end")
        return "\n".join(out) + "\n"

    def health(self, host: FakeHost, label: str, pairs: list[str]) -> str:
        """HEALTH_SCRIPT: `health NAME EXIT BASE64-LINE` for each running container with the label and a check."""
        key, _, value = label.partition("=")
        out = []
        for name, check in zip(pairs[0::2], pairs[1::2]):
            c = host.containers.get(name)
            if c and c.running and not c.paused and c.labels.get(key) == value:  # docker ps status=running
                if c.frozen:
                    out.append(f"health {name} 124 -")
                    continue
                if check == SERVING_CHECK:
                    out.append(f"health {name} {0 if c.serving else 1} {base64.b64encode(b'serving').decode()}")
                    continue
                line = base64.b64encode(c.unhealthy.encode()).decode() if c.unhealthy else "-"
                out.append(f"health {name} {1 if c.unhealthy else 0} {line}")
                if name in self.slow_once:  # it failed only because its host was busy: it passes when asked again
                    self.slow_once.discard(name)
                    c.unhealthy = ""
                if c.unhealthy and name in self.blips:  # its supervisor is healing it: fails this many more times
                    self.blips[name] -= 1
                    if self.blips[name] <= 0:
                        del self.blips[name]
                        c.unhealthy = ""
        return "\n".join(out) + "\n"

    @staticmethod
    def book(host: FakeHost, n: str, folder: str) -> list[str]:
        """One copy of the address book as the facts print it, each line after n."""
        out = [f"{n} generation {host.files.get(f'{folder}/generation', '0').strip()}"]
        for path in sorted(p for p in host.files if p.startswith(f"{folder}/registry/")):
            fname = path.rpartition("/")[2]
            out.append(f"{n} file {fname} {printable(host.files[path][:300])}")
            good = host.files.get(f"{folder}/last-good/{fname}")
            if good != host.files[path]:
                out.append(f"{n} last-good {fname} {printable((good or '')[:300])}")
        out += [f"{n} released {ip}" for ip in host.files.get(f"{folder}/released", "").splitlines()]
        out += [f"{n} lease {printable(x)[:1000]}" for x in host.files.get(f"{folder}/lease/leases", "").splitlines()]
        return out

    def wipe(self, host: str, folder: str) -> None:
        """A folder lost with everything in it (a wiped disk, rm -rf)."""
        h = self.hosts[host]
        h.files = {p: t for p, t in h.files.items() if not p.startswith(f"{folder}/")}
        h.dirs = {d for d in h.dirs if d != folder and not d.startswith(f"{folder}/")}

    def action(self, host: FakeHost, argv: list[str], data: bytes) -> Result:
        """ACTION_SCRIPT: its named values, the env lines, secret lines and tar.gz on standard input, its report."""
        spec, run = action_values(argv)
        mode, name, mac, cidr = spec["mode"], spec["name"], spec["mac"], spec["cidr"]
        check, with_files, envs = spec["check"], spec["files"] == "1", int(spec["env_lines"])
        challenge = b""
        if spec["agent_server"]:  # the challenge line first (the agent runs once the container has its address)
            challenge, _, data = data.partition(b"\n")
            assert challenge and spec["agent_ca"].startswith("-----BEGIN CERTIFICATE-----"), "an agent without its pin"
        for _ in range(envs):
            _, _, data = data.partition(b"\n")
        if spec["secrets"]:  # its old secret files go, then each NAME=VALUE line is one (every mode)
            folder = spec["secrets"]
            host.files = {p: t for p, t in host.files.items() if p.rpartition("/")[0] != folder}
            for _ in range(int(spec["secret_lines"])):
                line, _, data = data.partition(b"\n")
                key, eq, value = line.decode().partition("=")
                assert eq and key.isidentifier(), "a secret line that is not NAME=VALUE"
                host.files[f"{folder}/{key}"] = value
        if with_files:
            files, dirs = untar(data)  # relative to the container's service folder
            host.files.update({f"{spec['folder']}/{p}": t for p, t in files.items()})
            host.dirs.update(f"{spec['folder']}/{d}" for d in dirs)
        if mode == actions.RESUME:
            return self.resume(host.containers.get(name), bool(check))
        step, said = self.fail.pop(name, ("", ""))
        failed = Result(False, 1, f"failed {step}\nsaid {said}\n", "")
        if mode in (actions.CREATE, actions.RECREATE):
            if mode == actions.RECREATE:
                host.containers.pop(name, None)
            if step == "docker run":
                return failed
            labels = dict(run[i + 1].split("=", 1) for i, a in enumerate(run) if a == "--label")
            image = run_image(run)
            host.containers[name] = FakeContainer(name, image, host.images[image], labels)
        elif name not in host.containers:
            return Result(False, 1, f"failed docker inspect\nsaid Error: No such object: {name}\n", "")
        c = host.containers[name]
        in_place = mode == actions.AGENT  # the running container as it is: no start, no new address
        if in_place and not c.running:
            return Result(False, 1, f"failed docker inspect\nsaid {name} is not running\n", "")
        if not in_place:
            c.running, c.pid = True, self._next_pid()
            made = hashlib.sha1(f"{name} {c.pid}".encode()).hexdigest()[:8]
            c.mac = mac or "02:42:" + ":".join(re.findall("..", made))
            c.ip = cidr.partition("/")[0] if cidr else self.dhcp(c.mac, name)
        c.unhealthy = said if step == "readiness check" else ""  # a restart heals it, unless told otherwise
        out = ["started"]
        if not c.ip or step not in ("", "readiness check", "puppet agent"):
            if mode in (actions.CREATE, actions.RECREATE):
                del host.containers[name]  # the script's undo
            return Result(False, 1, "\n".join([*out, f"failed {step or 'dhcp'}",
                                               f"said {said or 'no lease from dnsmasq within 30s'}"]) + "\n", "")
        out += [f"link 2: eth0@if{c.pid + 1}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP "
                f"mode DEFAULT group default qlen 1000\\    link/ether {c.mac} brd ff:ff:ff:ff:ff:ff link-netnsid 0",
                f"addr 2: eth0    inet {c.ip}/{self.inv.network.subnet.prefixlen} scope global eth0",
                "took addressing 9"]
        if spec["agent_server"]:
            refused = self.sign(spec["certname"], challenge.decode(), name, new_key=mode in (actions.CREATE,
                                                                                              actions.RECREATE))
            refused = refused or (said if step == "puppet agent" else "")
            if refused:  # action.sh: a created container goes, a started one stops, a running one runs on
                if mode in (actions.CREATE, actions.RECREATE):
                    del host.containers[name]
                elif not in_place:
                    c.running = False
                return Result(False, 1, "\n".join([*out, "agent exit 1", f"agent error {refused}",
                                                   "failed puppet agent", f"said {refused}"]) + "\n", "")
            out += ["agent exit 2", "agent summary resources:", "agent summary   changed: 1",
                    "agent summary   failed: 0", "agent summary   total: 3"]
            if spec["digest"]:  # recorded once the agent passed
                host.files[spec["digest_file"]] = spec["digest"] + "\n"
            self.agent_runs.append((name, mode))
        if step == "readiness check":
            return Result(True, 0, "\n".join([*out, "unready not passing after 60s", f"said {said}"]) + "\n", "")
        if check:
            out.append("took check 4")
        return Result(True, 0, "\n".join([*out, "ready"]) + "\n", "")

    def resume(self, c: FakeContainer | None, check: bool) -> Result:
        """ACTION_SCRIPT's resume: unpaused, its stopped processes continued, its address as it was, then the check;
        it fails at once when nothing was paused or stopped and its check still fails (a failure set in `fail` waits
        for the next action)."""
        if c is None or not c.running:
            return Result(False, 1, "failed resume\nsaid not running (false false)\n", "")
        resumed = ", ".join(what for what, yes in (("unpaused", c.paused), (f"continued {c.pid}", c.frozen)) if yes)
        if not resumed and check and not c.unhealthy and c.name not in self.fail:
            resumed = "nothing: its check passes now"
        if not resumed:
            return Result(False, 1, "failed resume\nsaid nothing in it was paused or stopped\n", "")
        c.paused = c.frozen = False
        step, said = self.fail.pop(c.name, ("", ""))
        out = [f"resumed {resumed}", "started",
               f"link 2: eth0@if{c.pid + 1}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP "
               f"mode DEFAULT group default qlen 1000\\    link/ether {c.mac} brd ff:ff:ff:ff:ff:ff link-netnsid 0",
               f"addr 2: eth0    inet {c.ip}/{self.inv.network.subnet.prefixlen} scope global eth0",
               "took addressing 1"]
        if step == "readiness check" or c.unhealthy:
            return Result(True, 0, "\n".join([*out, "unready not passing after 60s",
                                              f"said {said or c.unhealthy}"]) + "\n", "")
        return Result(True, 0, "\n".join([*out, *(["took check 4"] if check else []), "ready"]) + "\n", "")

    def sign(self, certname: str, challenge: str, name: str, new_key: bool) -> str:
        """The Puppet server's answer to name's agent: "" when it holds (or was now signed) certname's certificate,
        else the server's reason. A new key (a created container) asks anew: refused while the name has one."""
        if not new_key and self.certs.get(certname) == name:
            return ""
        if certname in self.certs:
            return f"{certname} already has a signed certificate; ignoring certificate request"
        if challenge != puppet.challenge(self.stack, certname):
            return f"the request for {certname} does not carry that name's own challengePassword"
        self.certs[certname] = name
        return ""

    def dhcp(self, mac: str, name: str) -> str:
        """What a running dnsmasq leases: the IP its dhcp-hosts.d pins to the MAC, else the first free one of the
        range; the lease goes to its lease file. "": no dnsmasq answers."""
        for d in self.stack.address_providers():
            host = self.hosts[d.host]
            if not (d.name in host.containers and host.containers[d.name].running and not host.down):
                continue
            folder = f"{SERVICE_ROOT}/dnsmasq/{d.name}"
            pinned = {h.mac: h.ip for p, t in host.files.items() if p.startswith(f"{folder}/dhcp-hosts.d/")
                      for h in facts.parse_dhcp_hosts(t)}
            leases = [x.split() for x in host.files.get(f"{folder}/lease/leases", "").splitlines()]
            taken = set(pinned.values()) | {x[2] for x in leases if x[1] != mac}
            net = self.inv.network
            free = (str(ipaddress.IPv4Address(i)) for i in range(int(net.dhcp_start), int(net.dhcp_end) + 1))
            ip = pinned.get(mac) or next(i for i in free if i not in taken)
            host.files[f"{folder}/lease/leases"] = "".join(
                f"{' '.join(x)}\n" for x in leases if x[1] != mac) + f"1900000000 {mac} {ip} {name} *\n"
            return ip
        return ""

    def txn(self, host: FakeHost, folder: str, dnsmasq: str, ops: list[str], files: dict[str, str],
            known: int) -> Result:
        """TXN_SCRIPT on one copy: the operations on the copy in folder; prints what it did, then the registry."""
        for hook in self.before_txn:
            hook(self, host, dnsmasq, ops)
        if self.locked_by:
            return Result(False, addressbook.LOCKED_EXIT, f"locked {self.locked_by}\n", "")
        host.dirs.update(f"{folder}/{d}" for d in ("registry", "last-good", "dhcp-hosts.d", "hosts.d"))
        registry, out, changed = f"{folder}/registry", [], False

        def forget(n: str) -> None:
            for sub in ("last-good", "registry", "dhcp-hosts.d", "hosts.d"):
                host.files.pop(f"{folder}/{sub}/{n}", None)

        released = host.files.get(f"{folder}/released", "").splitlines()
        for op, *args in (line.split() for line in ops):
            n = args[0] if args else ""
            if op == "put":
                _, _, _, m, i, _ = files[f"put/{n}.record"].split()
                other = next((r for p, t in sorted(host.files.items()) if p.startswith(f"{registry}/")
                              for r in [t.split()] if r[0] != n and (r[3] == m or r[4] == i)), None)
                if other:
                    out.append(f"conflict {n} {other[0]} {'ip' if other[4] == i else 'mac'} "
                               f"{other[4] if other[4] == i else other[3]}")
                    continue
                for sub, part in (("last-good", "record"), ("registry", "record"), ("dhcp-hosts.d", "dhcp"),
                                  ("hosts.d", "host")):
                    changed |= host.files.get(f"{folder}/{sub}/{n}") != files[f"put/{n}.{part}"]
                    host.files[f"{folder}/{sub}/{n}"] = files[f"put/{n}.{part}"]
                out.append(f"put {n}")
            elif op == "del":
                forget(n)
                changed = True
                out.append(f"del {n}")
            elif op == "unquarantine":
                released, changed = [], True
            elif op == "quarantine":
                released, changed = [*(x for x in released if x != n), n], True
            elif op == "release":
                forget(n)
                released, changed = [*(x for x in released if x != args[1]), args[1]], True
                out.append(f"release {n}")
        if released:
            host.files[f"{folder}/released"] = "".join(f"{x}\n" for x in released)
        else:
            host.files.pop(f"{folder}/released", None)
        gen = int(host.files.get(f"{folder}/generation", "0").strip() or 0)
        if changed:
            gen = max(gen, known) + 1
            host.files[f"{folder}/generation"] = f"{gen}\n"
        out.append(f"generation {gen}")
        out += [f"record {t.strip()}" for p, t in sorted(host.files.items()) if p.startswith(f"{registry}/")]
        out += [f"released {x}" for x in released]
        return Result(True, 0, "\n".join([*out, "done"]) + "\n", "")


def run_image(run: list[str]) -> str:
    """The image of `docker run`'s arguments (after `docker run`): the first that is no option or its value."""
    flags_with_value = {"--name", "--hostname", "--network", "--cap-add", "--cap-drop", "--security-opt", "--label",
                        "--dns-search", "--dns",
                        "--volume", "--stop-timeout", "--env-file", "--cidfile"}
    i = 0
    while run[i].startswith("-"):
        i += 2 if run[i] in flags_with_value else 1
    return run[i]


class FakeRemote:
    """What deploy-all, the world and the executor use of dockstack.remote.Remote."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab, self.name = lab, name
        self.unanswered = ""  # as Remote: what a step that got no answer in time said

    def _answer(self, argv: Sequence[str], data: bytes, step: str, check: bool) -> Result:
        host = self.lab.hosts[self.name]
        if host.down:
            self.lab.note(Call(self.name, "unanswered", step))
            raise RemoteError(self.name, "ssh connect", host.down)
        r = self.lab.answer(self.name, argv, data)
        if check and not r.ok:
            raise RemoteError(self.name, step, (r.stderr or r.stdout).strip() or f"exit code {r.exit_code}")
        return r

    def run(self, argv: Sequence[str | int], step: str, check: bool = True, timeout: float | None = None) -> Result:
        return self._answer([str(a) for a in argv], b"", step, check)

    def run_with_input(self, argv: Sequence[str | int], data: bytes, step: str, check: bool = True,
                       timeout: float | None = None) -> Result:
        return self._answer([str(a) for a in argv], data, step, check)

    def shell(self, cmdline: str, step: str, check: bool = True, timeout: float | None = None,
              stdin: str | None = None) -> Result:
        return self._answer(shlex.split(cmdline), (stdin or "").encode(), step, check)

    def explain(self, said: str) -> str:
        return said


class FakeRemotes:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._remotes = {h: FakeRemote(lab, h) for h in lab.hosts}

    def __getitem__(self, host_name: str) -> FakeRemote:
        return self._remotes[host_name]


def host_facts_tags(argv: list[str]) -> list[str]:
    """The image tags at the end of host_facts_argv, after the counted (service, file) and (service, glob) pairs."""
    rest = argv[13:]
    nstate = int(argv[12])
    rest = rest[2 * nstate:]
    return rest[1 + 2 * int(rest[0]):]
