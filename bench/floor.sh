#!/usr/bin/env bash
# The floor: the least work that deploying a stack over SSH with persistent addresses must do, in plain
# shell, so `inv deploy-all` can be judged against it (bench/floor.py writes the plan, bench/run.py times this).
#
# Tiers run in sequence, the containers of a tier in parallel (at most max_sessions per host, as dockstack
# does). Per container ONE ssh call to its host: a service container's files unpacked into its folder (the
# tar.gz dockstack's action script reads, on the same call's standard input), `docker run --network none`
# with dockstack's own arguments (bench/floor.py), a veth pair onto the host's
# container bridge (nsenter, as dockstack's action script), then a static IP or a lease as dockstack takes it (the
# host's udhcpc entered into the container's network namespace only, dockstack's own hook as its script, written
# to the host's folder for it), and the role's readiness check (`docker exec`). Per tier ONE
# ssh call to the dnsmasq host: append the tier's "IP FQDN NAME" lines to a file in dnsmasq's hostsdir and
# SIGHUP it. No registry, no lock, no facts, no puppet/haproxy re-rendering: that is the engine's overhead
# this is the baseline for. Connections are reused (ControlMaster), as dockstack keeps one per host.
#
# Usage: floor.sh PLAN
#   PLAN is tab-separated; `-` stands for an empty field:
#     set   KEY VALUE            key, known_hosts, bridge, mtu, domain, dnsmasq_address, dnsmasq_name,
#                                dnsmasq_dir, max_sessions, subnet, gateway, dhcp_dir, dhcp_hook (a file on
#                                this machine: dockstack's hook, sent with each container's call as dockstack
#                                sends it with each action)
#     c     TIER NAME ADDRESS VETH CIDR MAC CHECK FILES DOCKER_ARG...
#   FILES (a tar.gz on this machine, paths relative to /: the container's service files and folders, and its
#   secret files in its secrets folder) is unpacked on the host before `docker run`, as dockstack's action script
#   writes its own.
# Prints "tier N done" after each tier and "floor: C containers, S ssh calls" at the end.
set -euo pipefail

plan=${1:?usage: floor.sh PLAN}

# Runs on a host: one container, from nothing to an address and a passing check. Prints its IP.
# Constant text: every value arrives as a quoted positional argument.
# shellcheck disable=SC2016
CREATE_SCRIPT='
set -eu
name=$1 br=$2 mtu=$3 hv=$4 cidr=$5 mac=$6 check=$7 files=$8 subnet=$9 gw=${10} dhcp_dir=${11} hook_text=${12}
shift 12
if [ "$gw" = - ]; then gw=; fi
if [ "$files" != - ]; then tar -xzf - -C / --no-same-owner; fi  # the service files, on standard input
docker "$@" >/dev/null
pid=$(docker container inspect --format "{{.State.Pid}}" "$name")
tmp="fbt${hv#fbh}"
cn() { nsenter -t "$pid" -n "$@"; }
ip link add "$hv" mtu "$mtu" type veth peer name "$tmp" mtu "$mtu"
ip link set "$tmp" netns "$pid"
cn ip link set "$tmp" name eth0
if [ "$mac" != - ]; then cn ip link set eth0 address "$mac"; fi
cn ip link set lo up
cn ip link set eth0 up
ip link set "$hv" master "$br" up
if [ "$cidr" != - ]; then
  cn ip addr add "$cidr" dev eth0
else
  # the lease as the action script of dockstack takes it: udhcpc of the host in the network namespace of the
  # container only, the hook of dockstack applying the lease
  mkdir -p "$dhcp_dir"
  hook=$(mktemp "$dhcp_dir/hook.XXXXXX")
  trap "rm -f \"\$hook\"" EXIT
  printf "%s\n" "$hook_text" > "$hook"
  chmod 0700 "$hook"
  env -i PATH="$PATH" DOCKSTACK_NETNS="$(readlink "/proc/$pid/ns/net")" DOCKSTACK_SUBNET="$subnet" \
    DOCKSTACK_GATEWAY="$gw" timeout 30 nsenter -t "$pid" -n udhcpc -f -q -n -C -i eth0 -s "$hook" -t 30 -T 1 \
    -x "hostname:$name" >&2
  cn ip -o -4 addr show dev eth0 | grep -q " inet "
fi
if [ "$check" != - ]; then
  tries=0
  until docker exec "$name" sh -c "$check" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then echo "$name: check failed: $check" >&2; exit 1; fi
    sleep 0.2  # interval between readiness probes, as dockstack polls a role check
  done
fi
cn ip -o -4 addr show dev eth0 | awk "{split(\$4, a, \"/\"); print a[1]; exit}"
'

# Runs on the dnsmasq host: the tier's DNS entries, then dnsmasq re-reads its hosts files.
# shellcheck disable=SC2016
DNS_SCRIPT='
set -eu
dir=$1 name=$2
shift 2
mkdir -p "$dir/hosts.d"
printf "%s\n" "$@" >> "$dir/hosts.d/floor"
docker kill --signal HUP "$name" >/dev/null
'

q() {  # shlex.quote: one argument, safe in a remote sh command line ('...', each ' as '\'')
  printf "'%s'" "${1//\'/\'\\\'\'}"
}

declare -A conf=()
tiers=()
lines=()
while IFS= read -r line || [ -n "$line" ]; do
  IFS=$'\t' read -r -a f <<<"$line"
  case ${f[0]:-} in
    set) conf[${f[1]}]=${f[2]} ;;
    c) lines+=("$line"); [[ " ${tiers[*]} " == *" ${f[1]} "* ]] || tiers+=("${f[1]}") ;;
    '' | '#'*) ;;
    *) echo "floor.sh: $plan: unknown line: $line" >&2; exit 2 ;;
  esac
done <"$plan"
for k in key known_hosts bridge mtu domain dnsmasq_address dnsmasq_name dnsmasq_dir max_sessions subnet gateway \
         dhcp_dir dhcp_hook; do
  [ -n "${conf[$k]:-}" ] || { echo "floor.sh: $plan: missing 'set $k'" >&2; exit 2; }
done
hook_text=$(cat "${conf[dhcp_hook]}")

work=$(mktemp -d)
ssh_opts=(-i "${conf[key]}" -o "UserKnownHostsFile=${conf[known_hosts]}" -o StrictHostKeyChecking=yes
          -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 -o LogLevel=ERROR
          -o ControlMaster=auto -o "ControlPath=$work/%h.sock" -o ControlPersist=120)
declare -A addresses=()
cleanup() {
  for a in "${!addresses[@]}"; do ssh "${ssh_opts[@]}" -O exit "root@$a" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

calls=0
remote() {  # ADDRESS SCRIPT ARG...: one ssh call running SCRIPT with quoted arguments (stdin passed on)
  local address=$1 script=$2 cmd
  shift 2
  cmd="sh -c $(q "$script") sh"
  for a in "$@"; do cmd+=" $(q "$a")"; done
  # shellcheck disable=SC2029  # expanded here on purpose: cmd is already quoted for the remote shell
  ssh "${ssh_opts[@]}" "root@$address" "$cmd"
}

create() {  # one plan line -> its IP in $work/NAME.ip
  local f
  IFS=$'\t' read -r -a f <<<"$1"
  local name=${f[2]} address=${f[3]} input=/dev/null files=-
  if [ "${f[8]}" != - ]; then input=${f[8]} files=1; fi
  remote "$address" "$CREATE_SCRIPT" "$name" "${conf[bridge]}" "${conf[mtu]}" "${f[4]}" "${f[5]}" "${f[6]}" \
    "${f[7]}" "$files" "${conf[subnet]}" "${conf[gateway]}" "${conf[dhcp_dir]}" "$hook_text" "${f[@]:9}" \
    <"$input" >"$work/$name.ip" 2>"$work/$name.err"
}

declare -A running=() job_name=() job_host=()
reap() {  # wait for one job of the tier; remember a failure
  local pid rc=0
  wait -n -p pid || rc=$?
  running[${job_host[$pid]}]=$((running[${job_host[$pid]}] - 1))
  if [ "$rc" -ne 0 ]; then
    failed+=("${job_name[$pid]}: $(tail -n 3 "$work/${job_name[$pid]}.err" | tr '\n' ' ')")
  fi
  unset "job_name[$pid]" "job_host[$pid]"
}

for tier in "${tiers[@]}"; do
  failed=()
  entries=()
  names=()
  for line in "${lines[@]}"; do
    IFS=$'\t' read -r -a f <<<"$line"
    [ "${f[1]}" = "$tier" ] || continue
    address=${f[3]}
    addresses[$address]=1
    while [ "${running[$address]:-0}" -ge "${conf[max_sessions]}" ]; do reap; done
    create "$line" &
    job_name[$!]=${f[2]}
    job_host[$!]=$address
    running[$address]=$((${running[$address]:-0} + 1))
    calls=$((calls + 1))
    [ "${f[5]}" != - ] || names+=("${f[2]}")  # addressed by DHCP: dnsmasq must learn its name
  done
  while [ "${#job_name[@]}" -gt 0 ]; do reap; done
  if [ "${#failed[@]}" -gt 0 ]; then
    printf 'floor.sh: tier %s failed: %s\n' "$tier" "${failed[@]}" >&2
    exit 1
  fi
  for name in "${names[@]}"; do
    ip=$(cat "$work/$name.ip")
    [ -n "$ip" ] || { echo "floor.sh: $name: no address" >&2; exit 1; }
    entries+=("$ip $name.${conf[domain]} $name")
  done
  if [ "${#entries[@]}" -gt 0 ]; then
    addresses[${conf[dnsmasq_address]}]=1
    remote "${conf[dnsmasq_address]}" "$DNS_SCRIPT" "${conf[dnsmasq_dir]}" "${conf[dnsmasq_name]}" "${entries[@]}" \
      </dev/null >"$work/dns.out" 2>&1 || { echo "floor.sh: tier $tier: dnsmasq update: $(cat "$work/dns.out")" >&2; exit 1; }
    calls=$((calls + 1))
  fi
  echo "tier $tier done"
done
echo "floor: ${#lines[@]} containers, $calls ssh calls"
