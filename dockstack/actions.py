"""Container actions as constant remote scripts: one SSH round trip per action, parsed by a pure function.

create/recreate/start/restart: write the env file and the service files (standard input), `docker run` (or start), give
the container its eth0 on the bridge with the planned MAC, static IP or dhclient inside it, print the
MAC and IP it ended with, then poll the role's readiness check. A create that fails before the
container has an address removes the container again, so nothing is left half-made.
"""

from __future__ import annotations

import io
import math
import tarfile
from dataclasses import dataclass, field

from dockstack import dockercli, network
from dockstack.config import Container, Network, Role
from dockstack.facts import parse_ipv4, parse_link_mac
from dockstack.ipam import AddressPlan
from dockstack.remote import seconds_from_env, step_timeout
from dockstack.services import service_dir
from dockstack.services.base import Service

CREATE, RECREATE, START, RESTART = "create", "recreate", "start", "restart"
DHCP_TIMEOUT = 30  # seconds dhclient may take for one lease ($DOCKSTACK_DHCP_TIMEOUT)
CHECK_POLL = 0.2  # seconds between readiness probes
AGENT_TIMEOUT = 300  # seconds a Puppet agent run may take ($DOCKSTACK_AGENT_TIMEOUT), on top of the action's bound

ACTION_SCRIPT = r"""
set -u
mode=$1 name=$2 mac=$3 cidr=$4 gw=$5 mtu=$6 br=$7 hv=$8 tmp=$9
shift 9
dhcp_timeout=$1 check=$2 check_timeout=$3 poll=$4 files=$5 envs=$6 agent_server=$7 certname=$8 agent=$9
shift 9
fail() { echo "failed $1"; shift; printf '%s\n' "$@" | tail -n 5 | sed 's/^/said /'; exit 1; }
t0=$(date +%s%N)  # the action's steps report their durations (`took STEP MS`): the benchmark splits them
took() { echo "took $1 $(( ($(date +%s%N) - $2) / 1000000 ))"; }
cid=$(mktemp -u /tmp/dockstack-cid.XXXXXX)  # docker run writes the new container's ID here
envfile=
trap 'rm -f "$cid" ${envfile:+"$envfile"}' EXIT
undo() {  # remove what this run created, by ID: never a container of the same name made by someone else
  if [ -s "$cid" ]; then docker rm --force "$(cat "$cid")" >/dev/null 2>&1; fi
}
docker_run() {
  out=$(docker run --cidfile "$cid" ${envfile:+--env-file "$envfile"} "$@" 2>&1 >/dev/null) || {
    undo; fail "docker run" "$out"; }
  if [ -n "$envfile" ]; then rm -f "$envfile"; fi  # docker has read it: gone before the readiness wait
}
if [ "$envs" -gt 0 ]; then
  # the env: $envs KEY=VALUE lines on standard input (before the files), into a file only root can read, for
  # `docker run --env-file`; a value on a command line would show in the host's process list. `read` takes one
  # byte at a time from a pipe, so the files that follow stay on standard input for tar.
  envfile=$(umask 077 && mktemp /tmp/dockstack-env.XXXXXX) || fail "env file" "mktemp failed"
  i=0
  while [ "$i" -lt "$envs" ]; do
    IFS= read -r line || fail "env file" "standard input ended after $i of $envs lines"
    printf '%s\n' "$line" >> "$envfile" || fail "env file" "cannot write $envfile"
    i=$((i + 1))
  done
fi
if [ "$files" = 1 ]; then
  out=$(tar -xzf - -C / --no-same-owner 2>&1) || fail "write service files" "$out"
fi
case $mode in
  recreate) docker rm --force "$name" >/dev/null 2>&1
            docker_run "$@" ;;
  create)   docker_run "$@" ;;
  restart)  out=$(docker restart "$name" 2>&1 >/dev/null) || fail "docker restart" "$out" ;;
  start)    state=$(docker container inspect --format '{{.State.Running}}' "$name" 2>&1) ||
              fail "docker inspect" "$state"
            if [ "$state" != true ]; then
              out=$(docker start "$name" 2>&1 >/dev/null) || fail "docker start" "$out"
            fi ;;
esac
echo started
pid=$(docker container inspect --format '{{.State.Pid}}' "$name" 2>/dev/null)
if [ -z "$pid" ] || [ "$pid" -le 0 ]; then
  logs=$(docker logs --tail 5 "$name" 2>&1); undo; fail "start" "the container exited: $logs"
fi
cn() { nsenter -t "$pid" -n "$@"; }
out=$( (
  set -e
  ip link del "$hv" 2>/dev/null || true
  ip link del "$tmp" 2>/dev/null || true
  cn ip link del eth0 2>/dev/null || true
  ip link add "$hv" mtu "$mtu" type veth peer name "$tmp" mtu "$mtu"
  ip link set "$tmp" netns "$pid"
  cn ip link set "$tmp" name eth0
  if [ -n "$mac" ]; then cn ip link set eth0 address "$mac"; fi
  cn ip link set lo up
  cn ip link set eth0 up
  ip link set "$hv" master "$br" up
) 2>&1) || { undo; fail "plumb eth0" "$out"; }
if [ -n "$cidr" ]; then
  out=$( (
    set -e
    cn ip addr flush dev eth0
    cn ip addr add "$cidr" dev eth0
    if [ -n "$gw" ]; then cn ip route replace default via "$gw"; fi
  ) 2>&1) || { undo; fail "static IP" "$out"; }
else
  # dhclient needs NET_ADMIN, the container does not get it: run the container's own dhclient in all its
  # namespaces with the host's privileges (a privileged exec; it dies with the container's PID 1)
  # (moved into the container's cgroup first where cgroup v2 allows it, so docker counts and stops it too)
  cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)
  out=$(sh -c 'if [ -n "$1" ]; then echo $$ > "/sys/fs/cgroup$1/cgroup.procs"; fi 2>/dev/null
               shift; exec "$@"' sh "$cg" \
    nsenter -t "$pid" -n -m -u -i -p -r -w -- sh -c 'pkill -x dhclient; exec timeout "$1" dhclient -1 eth0' \
    sh "$dhcp_timeout" 2>&1) ||
    { undo; fail "dhclient" "no lease from dnsmasq within ${dhcp_timeout}s (is a dnsmasq container running?)" "$out"; }
fi
cn ip -o link show dev eth0 | sed 's/^/link /'
cn ip -o -4 addr show dev eth0 | sed 's/^/addr /'
took addressing "$t0"  # docker run or start, eth0, the address
if [ -n "$agent_server" ]; then
  # the Puppet agent applies the role's classes: the container has its address and DNS name now
  ta=$(date +%s%N)
  # fresh ssldir, its usual folder, the server's port, and up to 180 s for the server to accept connections: a
  # server container that runs but still starts (a deploy-all after a host restart) is waited for, not failed
  out=$(docker exec "$name" sh -c "$agent" sh "$agent_server" "$certname" 1 /var/lib/dockstack-agent 8140 180 2>&1)
  printf '%s\n' "$out" | grep '^agent '
  echo "agent ms $(( ($(date +%s%N) - ta) / 1000000 ))"
  code=$(printf '%s\n' "$out" | sed -n 's/^agent exit //p')
  failed=$(printf '%s\n' "$out" |  # resources: failed: N of the last run summary
    sed -n '/^agent summary resources:/,/^agent summary [a-z]/s/^agent summary   failed: //p')
  if [ "$code" != 0 ] && [ "$code" != 2 ] || [ "${failed:-x}" != 0 ]; then
    # not left looking done: a created container goes (its address stays recorded), a started one stops,
    # so the next deploy-all brings it up again and the agent runs again
    if [ -s "$cid" ]; then undo; else docker stop "$name" >/dev/null 2>&1; fi
    said=$(printf '%s\n' "$out" | sed -n 's/^agent error //p')
    fail "puppet agent" "$said" "exit code ${code:-none}, ${failed:-unknown} failed resource(s)"
  fi
fi
tc=$(date +%s%N)
if [ -n "$check" ]; then
  start=$(date +%s)
  until out=$(docker exec "$name" sh -c "$check" 2>&1); do
    if [ $(( $(date +%s) - start )) -ge "$check_timeout" ]; then
      echo "unready not passing after ${check_timeout}s"; printf '%s\n' "$out" | tail -n 1 | sed 's/^/said /'; exit 0
    fi
    sleep "$poll"  # interval between readiness probes, bounded by check_timeout
  done
  took check "$tc"
fi
echo ready
"""

AGENT_DIR = "/var/lib/dockstack-agent"  # inside a container: the agent's ssldir, run log and last run summary
# One Puppet agent run inside a container (`docker exec NAME sh -c AGENT_SCRIPT sh SERVER CERTNAME`; then
# FRESH=1, DIR=AGENT_DIR, PORT=8140 and WAIT=0: seconds to wait for the server's port to accept), from a
# fresh ssldir: a container re-created with its old name, or a Puppet server re-created with a new CA, still
# gets a working certificate (the server's allow_duplicate_certs replaces the old one). A 2048-bit key: Puppet's
# default 4096 bits take seconds to generate on a busy 2-core machine. No kept-alive connections: the one that
# submitted the certificate request stalled the next request for 30 s (Jetty's idle timeout), measured in the
# lab: 34 s for a first run with them, 6 s without. Prints `agent exit N`,
# the agent's Error lines (`agent error ...`) and its last run summary (`agent summary ...`).
AGENT_SCRIPT = r"""
server=$1 certname=$2 fresh=${3:-1} dir=${4:-/var/lib/dockstack-agent} port=${5:-8140} wait=${6:-0}
start=$(date +%s)
until [ "$wait" -le 0 ] || timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' sh "$server" "$port" 2>/dev/null; do
  if [ $(( $(date +%s) - start )) -ge "$wait" ]; then
    echo "agent exit 1"
    echo "agent error the Puppet server $server does not accept connections on port $port after ${wait}s"
    exit 0
  fi
  sleep 0.5  # between probes of the server's port, bounded by $wait
done
if [ "$fresh" = 1 ]; then rm -rf "$dir/ssl"; fi
mkdir -p "$dir" && rm -f "$dir/last_run_summary.yaml"
puppet agent --onetime --no-daemonize --no-splay --detailed-exitcodes --waitforcert 0 --no-usecacheonfailure \
  --logdest console --color false --keylength 2048 --http_keepalive_timeout 0 \
  --server "$server" --certname "$certname" --ssldir "$dir/ssl" \
  --lastrunfile "$dir/last_run_summary.yaml" > "$dir/run.log" 2>&1
echo "agent exit $?"
grep '^Error: ' "$dir/run.log" | tail -n 4 | sed 's/^/agent error /'
if [ -f "$dir/last_run_summary.yaml" ]; then sed 's/^/agent summary /' "$dir/last_run_summary.yaml"; fi
"""


@dataclass(frozen=True)
class AgentRun:
    """What one Puppet agent run reported: its exit code (--detailed-exitcodes), the resources its last run
    summary counts, its Error lines and how long it took."""

    exit_code: int | None
    changed: int | None
    failed: int | None
    total: int | None
    errors: tuple[str, ...] = ()
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        """Exit 0 (nothing to change) or 2 (changed), and a summary that counts no failed resource."""
        return self.exit_code in (0, 2) and self.failed == 0


def parse_agent(lines: list[str]) -> AgentRun | None:
    """The `agent ...` lines of an action or of AGENT_SCRIPT (prefix included); None when no agent ran."""
    code, errors, summary, ms, seen = None, [], [], None, False
    for line in lines:
        kind, _, rest = line.removeprefix("agent ").partition(" ")
        if not line.startswith("agent "):
            continue
        seen = True
        if kind == "exit" and rest.strip().lstrip("-").isdigit():
            code = int(rest)
        elif kind == "error":
            errors.append(rest.strip())
        elif kind == "summary":
            summary.append(rest)
        elif kind == "ms" and rest.strip().isdigit():
            ms = int(rest) / 1000
    if not seen:
        return None
    resources = summary_section(summary, "resources")
    return AgentRun(code, resources.get("changed"), resources.get("failed"), resources.get("total"), tuple(errors), ms)


def summary_section(lines: list[str], section: str) -> dict[str, int]:
    """`key: number` pairs of one top-level section of last_run_summary.yaml (flat YAML, 2-space indents)."""
    out: dict[str, int] = {}
    inside = False
    for line in lines:
        if line and not line.startswith(" "):
            inside = line.rstrip() == f"{section}:"
            continue
        key, _, value = line.strip().partition(":")
        if inside and value.strip().isdigit():
            out[key] = int(value)
    return out


def time_bound(role: Role) -> float:
    """How long one action may take in all: docker run or start, DHCP, the Puppet agent (roles with classes),
    the readiness check, and slack."""
    return step_timeout() + dhcp_timeout() + (agent_timeout() if role.classes else 0) + math.ceil(role.check_timeout)


def agent_timeout() -> int:
    return math.ceil(seconds_from_env("DOCKSTACK_AGENT_TIMEOUT", AGENT_TIMEOUT))


def dhcp_timeout() -> int:
    return math.ceil(seconds_from_env("DOCKSTACK_DHCP_TIMEOUT", DHCP_TIMEOUT))


def files_payload(files: dict[str, str], dirs: tuple[str, ...] = (), private: frozenset[str] = frozenset()) -> bytes:
    """Path -> text (and empty folders), as a tar.gz that `tar -xzf - -C /` (or -C DIR) writes in place; files
    whose name is in private (they hold a secret) readable by root only."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path in dirs:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o600 if path.rpartition("/")[2] in private else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def action_argv(mode: str, c: Container, role: Role, net: Network, plan: AddressPlan, dns_servers: list[str],
                with_files: bool, agent_server: str = "") -> list[str]:
    """The one command of a create, recreate or start; every value is a quoted argument, except env values:
    those go on standard input (action_input), so the host's process list never shows them. With an
    agent_server (the Puppet server's DNS name), the Puppet agent runs after addressing, before the check."""
    hv, tmp = network.veth_names(c.name)
    cidr = f"{plan.static_ip}/{net.subnet.prefixlen}" if plan.static_ip else ""
    creates = mode in (CREATE, RECREATE)
    run = dockercli.run_argv(c, net, dns_servers)[2:] if creates else []  # after `docker run`
    return ["sh", "-c", ACTION_SCRIPT, "sh", mode, c.name, plan.mac or "", cidr,
            str(net.gateway) if net.gateway else "", str(net.mtu), net.bridge, hv, tmp,
            str(dhcp_timeout()), role.check or "", str(math.ceil(role.check_timeout)), f"{CHECK_POLL:g}",
            "1" if with_files else "0", str(len(c.env) if creates else 0), agent_server,
            f"{c.name}.{net.domain}" if agent_server else "", AGENT_SCRIPT if agent_server else "", *run]


def action_input(mode: str, c: Container, files: dict[str, str], dirs: tuple[str, ...] = (),
                 private: frozenset[str] = frozenset()) -> bytes:
    """The action script's standard input: the env file's lines (create and recreate), then the service files
    as tar.gz when there are any (action_argv says how many lines and whether files follow)."""
    env = dockercli.env_file(c).encode() if mode in (CREATE, RECREATE) else b""
    return env + (files_payload(files, dirs, private) if files else b"")


@dataclass(frozen=True)
class ActionResult:
    """What one action script reported."""

    started: bool  # the container was running at some point (it may hold an address)
    mac: str | None
    ip: str | None
    ready: bool
    failed_step: str | None  # the step that failed (the container was removed again on create)
    said: str  # the last lines the failing step printed
    unready: str | None = None  # the readiness check did not pass: for how long
    agent: AgentRun | None = None  # the Puppet agent's run, when the role has classes
    took: dict[str, float] = field(default_factory=dict)  # seconds per step: addressing, check (`took` lines)


def parse_action(text: str) -> ActionResult:
    started, ready, failed, unready, said, link, addr = False, False, None, None, [], "", ""
    took: dict[str, float] = {}
    lines = text.splitlines()
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "started":
            started = True
        elif kind == "link":
            link = rest
        elif kind == "addr":
            addr += rest + "\n"
        elif kind == "ready":
            ready = True
        elif kind == "failed":
            failed = rest
        elif kind == "unready":
            failed, unready = "readiness check", rest
        elif kind == "said":
            said.append(rest)
        elif kind == "took":
            step, _, ms = rest.partition(" ")
            if step in ("addressing", "check") and ms.strip().isdigit():
                took[step] = int(ms) / 1000
    if failed is None and not ready:
        failed = "action"  # the script ended early without saying why
    return ActionResult(started, parse_link_mac(link), parse_ipv4(addr), ready, failed,
                        "; ".join(s.strip() for s in said if s.strip()), unready, parse_agent(lines), took)


# Installs a service's new files: each file a check names is checked inside the running container first (the
# definition's FileCheck: e.g. `haproxy -c`), then all are renamed into place, then the container's PID 1 gets the
# definition's reload signal (haproxy's supervisor: haproxy reloads, keepalived re-reads its file).
# Arguments: NAME DIR MOUNT SIGNAL N, then N (FILE LABEL COMMAND) triples, then the files' relative paths.
SERVICE_FILES_SCRIPT = r"""
set -u
name=$1 dir=$2 mount=$3 signal=$4 nchecks=$5
shift 5
mkdir -p "$dir"
new=$(mktemp -d "$dir/.incoming.XXXXXX") || exit 1  # its own folder: two runs may push at once
trap 'rm -rf "$new"' EXIT
out=$(tar -xzf - -C "$new" --no-same-owner 2>&1) || { echo "failed write files"; echo "said $out"; exit 1; }
running=$(docker container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)
while [ "$nchecks" -gt 0 ]; do
  file=$1 label=$2 command=$3
  shift 3
  nchecks=$((nchecks - 1))
  if [ "$running" = true ] && [ -f "$new/$file" ]; then
    out=$(docker exec "$name" sh -c "$command" sh "$mount/${new##*/}/$file" 2>&1) ||
      { rm -rf "$new"; echo "failed $label"; printf '%s\n' "$out" | tail -n 3 | sed 's/^/said /'; exit 1; }
  fi
done
for f in "$@"; do mkdir -p "$(dirname "$dir/$f")"; mv -f "$new/$f" "$dir/$f"; done
rm -rf "$new"
if [ -n "$signal" ] && [ "$running" = true ]; then
  docker kill --signal "$signal" "$name" >/dev/null && echo reloaded
fi
echo done
"""


def service_files_argv(c: Container, service: Service, relative: list[str]) -> list[str]:
    """SERVICE_FILES_SCRIPT for c's new files (relative to its folder), with its service's checks and signal."""
    checks = [x for fc in service.file_checks for x in (fc.file, fc.label, fc.command)]
    return ["sh", "-c", SERVICE_FILES_SCRIPT, "sh", c.name, service_dir(c), service.mount,
            service.reload_signal or "", str(len(service.file_checks)), *checks, *relative]
