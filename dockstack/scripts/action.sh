#!/bin/sh
# One container action on a Docker host, in one round trip: mode create, recreate, start, restart, resume or agent.
# Writes the env file, the secret files and the service files (standard input), runs docker run/start/restart,
# gives the container its eth0 on the bridge with the planned MAC, a static address or a DHCP lease (the host's
# udhcpc, with dhcp_hook.sh), runs the Puppet agent (agent.sh) when asked and records its catalog digest once it
# passed, then polls the readiness check. A create that fails before the container has an address removes it again.
# Mode agent takes the running container as it is (no start, no new eth0 or address): its agent, then the readiness
# check. Mode resume (a paused or stopped container's processes resumed, nothing else): only the readiness check.
# Called as (actions.ActionSpec.argv): sh -c "$ACTION_SCRIPT" sh KEY=VALUE... -- [DOCKER_RUN_ARG...], with the keys
# mode name mac cidr gateway subnet mtu bridge host_veth tmp_veth dhcp_timeout dhcp_hook dhcp_dir check
# check_timeout poll files folder files_script secrets secret_lines env_lines agent_server certname agent_script
# agent_ca digest digest_file hold (each once; an unknown key fails the action). hold: seconds the check must keep
# passing, at every look, before the container counts as ready (a resume: a service frozen past its peers' timeouts
# wakes up believing what it did, e.g. a Galera node still Synced in a cluster that evicted it, until it notices). digest: written into digest_file (a file
# of the container's host folder, which it cannot write) once the agent passed.
# Standard input: the CSR challenge (one line) when agent_server is set, then env_lines lines KEY=VALUE (create,
# recreate), then secret_lines lines NAME=VALUE (every mode but agent: its secret files), then the service files
# as tar.gz when files is 1, relative to folder (the container's service folder), where files_script
# (service_files.sh) installs them, never through a symlink the container planted there. secrets: the container's
# secrets folder (root's only, in /run, mounted read-only in the container, never in its service folder): its old
# files are deleted before the new ones are written.
# Prints `started`, `link ...`, `addr ...`, `took STEP MS`, the agent's `agent ...` lines, then `ready`; or
# `unready ...` or `failed STEP`, each with `said ...` lines (actions.parse_action). Exits 1 when a step failed.
set -u
mode='' name='' mac='' cidr='' gw='' subnet='' mtu='' br='' hv='' tmp='' dhcp_timeout='' dhcp_hook='' dhcp_dir=''
check='' check_timeout='' poll='' files=0 folder='' installer='' secrets='' nsecrets=0 envs=0 agent_server=''
certname='' agent='' agent_ca='' digest='' digest_file='' hold=0
while [ $# -gt 0 ]; do
  value=${1#*=}
  case $1 in
    --) shift; break ;;
    mode=*) mode=$value ;;
    name=*) name=$value ;;
    mac=*) mac=$value ;;
    cidr=*) cidr=$value ;;
    gateway=*) gw=$value ;;
    subnet=*) subnet=$value ;;
    mtu=*) mtu=$value ;;
    bridge=*) br=$value ;;
    host_veth=*) hv=$value ;;
    tmp_veth=*) tmp=$value ;;
    dhcp_timeout=*) dhcp_timeout=$value ;;
    dhcp_hook=*) dhcp_hook=$value ;;
    dhcp_dir=*) dhcp_dir=$value ;;
    check=*) check=$value ;;
    check_timeout=*) check_timeout=$value ;;
    poll=*) poll=$value ;;
    files=*) files=$value ;;
    folder=*) folder=$value ;;
    files_script=*) installer=$value ;;
    secrets=*) secrets=$value ;;
    secret_lines=*) nsecrets=$value ;;
    env_lines=*) envs=$value ;;
    agent_server=*) agent_server=$value ;;
    certname=*) certname=$value ;;
    agent_script=*) agent=$value ;;
    agent_ca=*) agent_ca=$value ;;
    digest=*) digest=$value ;;
    digest_file=*) digest_file=$value ;;
    hold=*) hold=$value ;;
    *) echo "failed spec"; echo "said unknown value ${1%%=*} (the action script and dockstack differ)"; exit 1 ;;
  esac
  shift
done
if [ -z "$mode" ] || [ -z "$name" ]; then echo "failed spec"; echo "said no mode or name"; exit 1; fi
fail() { echo "failed $1"; shift; printf '%s\n' "$@" | tail -n 5 | sed 's/^/said /'; exit 1; }
if [ -n "$digest" ]; then  # a sha256 in hex, and where it goes (else the action script and dockstack differ)
  case $digest in *[!0-9a-f]*) fail spec "the catalog digest is not hex" ;; esac
  if [ ${#digest} != 64 ] || [ -z "$digest_file" ]; then fail spec "a catalog digest of another length, or no file"; fi
fi
t0=$(date +%s%N)  # the action's steps report their durations (`took STEP MS`): the benchmark splits them
took() { echo "took $1 $(( ($(date +%s%N) - $2) / 1000000 ))"; }
cid=$(mktemp -u /tmp/dockstack-cid.XXXXXX)  # docker run writes the new container's ID here
envfile='' hook=''
trap 'rm -f "$cid" ${envfile:+"$envfile"} ${hook:+"$hook"}' EXIT
trap 'exit 129' HUP INT TERM PIPE  # a client that went away: the env file (secrets) goes all the same
undo() {  # remove what this run created, by ID: never a container of the same name made by someone else
  if [ -s "$cid" ]; then docker rm --force "$(cat "$cid")" >/dev/null 2>&1; fi
}
docker_run() {
  out=$(docker run --cidfile "$cid" ${envfile:+--env-file "$envfile"} "$@" 2>&1 >/dev/null) || {
    undo; fail "docker run" "$out"; }
  if [ -n "$envfile" ]; then rm -f "$envfile"; fi  # docker has read it: gone before the readiness wait
}
if [ -z "$cidr" ] && [ "$mode" != agent ]; then
  # the lease is asked for by the HOST's DHCP client: checked before anything changes
  udhcpc=$(command -v udhcpc) ||
    fail dhcp "udhcpc is not installed on this host: run \`apt-get install -y udhcpc\` (dockstack leases a \
container's address with the host's DHCP client, never with the container's own)"
  if [ -z "$dhcp_hook" ] || [ -z "$subnet" ] || [ -z "$dhcp_dir" ]; then
    fail spec "no dhcp_hook, dhcp_dir or subnet for a lease (the action script and dockstack differ)"
  fi
  # udhcpc's script, this run's own file in a folder of the host's root that no container mounts
  if [ -L "$dhcp_dir" ] || { [ ! -d "$dhcp_dir" ] && ! mkdir -m 0700 "$dhcp_dir"; }; then
    fail dhcp "$dhcp_dir is a symlink or cannot be made: it must be a folder of the host's root"
  fi
  hook=$(umask 077 && mktemp "$dhcp_dir/hook.XXXXXX") || fail dhcp "cannot make a file in $dhcp_dir"
  { printf '%s' "$dhcp_hook" > "$hook" && chmod 0700 "$hook"; } || fail dhcp "cannot write $hook"
fi
challenge=
if [ -n "$agent_server" ]; then
  # the CSR challenge for the agent's certificate request: one line, before the env (agent.sh checks it)
  IFS= read -r challenge || fail "agent challenge" "standard input ended before the challenge line"
fi
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
if [ -n "$secrets" ]; then
  # the secret files: a folder of the host's root that no container can write (it is mounted read-only), so no
  # link is followed here. A secret the container no longer gets is gone from it (the folder stays: a running
  # container's mount); then $nsecrets NAME=VALUE lines on standard input (after the env, before the files), each
  # value written by the shell's own printf (no command line shows it) into NAME, read-only for root.
  if [ -L "$secrets" ]; then
    fail "write secret files" "$secrets is a symlink: it must be a folder of the host's root"
  fi
  if [ -d "$secrets" ]; then
    out=$(find "$secrets" -mindepth 1 -maxdepth 1 -type f -delete 2>&1) || fail "write secret files" "$out"
  fi
  if [ "$nsecrets" -gt 0 ]; then
    if ! { [ -d "$secrets" ] || (umask 077 && mkdir -p "$secrets"); } || ! chmod 0700 "$secrets"; then
      fail "write secret files" "cannot make $secrets"
    fi
    i=0
    while [ "$i" -lt "$nsecrets" ]; do
      IFS= read -r line || fail "write secret files" "standard input ended after $i of $nsecrets secrets"
      key=${line%%=*}
      case $line in *=*) ;; *) key= ;; esac
      case $key in  # (never the line itself in a message: it holds the value)
        '' | [0-9]* | *[!A-Za-z0-9_]*) fail "write secret files" "secret $((i + 1)) is not NAME=VALUE" ;;
      esac
      (umask 0277 && printf '%s' "${line#*=}" > "$secrets/$key") || fail "write secret files" "cannot write $key"
      i=$((i + 1))
    done
  fi
fi
if [ "$files" = 1 ]; then
  out=$(sh -c "$installer" sh "$name" "$folder" "" 0 2>&1) ||
    fail "write service files" "$(printf '%s\n' "$out" | sed -n 's/^said //p')"
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
  resume)   # the smallest repair: a paused container unpaused, every stopped (SIGSTOP) process in it continued;
            # its eth0, address and files stay
            state=$(docker container inspect --format '{{.State.Running}} {{.State.Paused}}' "$name" 2>&1) ||
              fail "docker inspect" "$state"
            case $state in "true true") ;; "true false") ;; *) fail resume "not running ($state)" ;; esac
            resumed=''
            if [ "$state" = "true true" ]; then
              out=$(docker unpause "$name" 2>&1 >/dev/null) || fail "docker unpause" "$out"
              resumed=unpaused
            fi
            # the host's own view of each process (its state letter, after the last ')' of /proc/PID/stat: the
            # name before it is the container's to choose); nothing of the container's runs here
            for p in $(docker top "$name" -eo pid 2>/dev/null | tail -n +2); do
              st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)
              if [ "$st" = T ] && kill -CONT "$p" 2>/dev/null; then resumed="${resumed:+$resumed, }continued $p"; fi
            done
            # nothing to resume: its check asked once more (a member of a cluster whose others came back meanwhile
            # passes now), else a restart is next
            if [ -z "$resumed" ] && [ -n "$check" ] &&
               timeout -k 1 10 docker exec "$name" sh -c "$check" >/dev/null 2>&1 < /dev/null; then
              resumed="nothing: its check passes now"
            fi
            [ -n "$resumed" ] || fail resume "nothing in it was paused or stopped"
            echo "resumed $resumed" ;;
  agent)    state=$(docker container inspect --format '{{.State.Running}}' "$name" 2>&1) ||
              fail "docker inspect" "$state"
            [ "$state" = true ] || fail "docker inspect" "$name is not running: its agent runs where it runs" ;;
esac
echo started
pid=$(docker container inspect --format '{{.State.Pid}}' "$name" 2>/dev/null)
if [ -z "$pid" ] || [ "$pid" -le 0 ]; then
  logs=$(docker logs --tail 5 "$name" 2>&1); undo; fail "start" "the container exited: $logs"
fi
cn() { nsenter -t "$pid" -n "$@"; }
record_digest() {  # the catalog digest into $digest_file, root's, in a folder no container writes: renamed into
  # place (a symlink there is replaced, never followed)
  d=${digest_file%/*}
  if [ -L "$d" ] || { [ ! -d "$d" ] && ! mkdir -p "$d"; }; then echo "$d is a symlink or cannot be made"; return 1; fi
  new=$(mktemp "$d/.digest.XXXXXX") || { echo "cannot make a file in $d"; return 1; }
  if ! { printf '%s\n' "$digest" > "$new" && chmod 0644 "$new" && mv -fT "$new" "$digest_file"; }; then
    rm -f "$new"; echo "cannot write $digest_file"; return 1
  fi
}
plumb=1  # its eth0 and address (modes agent and resume: the running container keeps both as they are)
case $mode in agent|resume) plumb=0 ;; esac
lease() {  # the host's udhcpc in the container's network namespace; fails unless eth0 ends with an address
  ns=$(readlink "/proc/$pid/ns/net") || { echo "no network namespace for PID $pid"; return 1; }
  if [ "$ns" = "$(readlink /proc/self/ns/net)" ]; then echo "the container has the host's network"; return 1; fi
  # a dhclient an older dockstack started in the container with the host's privileges (it would run the
  # container's dhclient-script at each renewal): ended from here, by PID; nothing of the container's runs
  for p in $(pgrep -x dhclient 2>/dev/null); do
    if [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$ns" ]; then kill "$p" 2>/dev/null; fi
  done
  # a clean environment: the hook reads udhcpc's values and these three, nothing else of the caller's
  env -i PATH="$PATH" DOCKSTACK_NETNS="$ns" DOCKSTACK_SUBNET="$subnet" \
    DOCKSTACK_GATEWAY="$gw" timeout -k 2 "$dhcp_timeout" nsenter -t "$pid" -n "$udhcpc" -f -q -n -C -i eth0 \
    -s "$hook" -t "$dhcp_timeout" -T 1 -x "hostname:$name" || return 1
  cn ip -o -4 addr show dev eth0 | grep -q ' inet ' || { echo "eth0 has no address after the lease"; return 1; }
}
if [ "$plumb" = 1 ]; then
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
    # The lease: the HOST's udhcpc in the container's network namespace only (nsenter -n: the host's programs and
    # files, the container's eth0), with dockstack's hook (dhcp_hook.sh, written above) as its script, which
    # checks the lease and applies it with the host's `ip`. Nothing of the container's filesystem runs with the
    # host's privileges, and the container holds no NET_ADMIN. udhcpc exits once bound (-q): no process stays in
    # the container or holds its namespace; the address is the container's for good (dhcp_hook.sh says why).
    if ! out=$(lease 2>&1); then
      undo
      refused=$(printf '%s\n' "$out" | grep '^dhcp hook: ')
      if [ -n "$refused" ]; then fail dhcp "the lease was refused, eth0 has no address" "$refused"; fi
      fail dhcp "no lease from dnsmasq within ${dhcp_timeout}s (is a dnsmasq container running?)" \
        "$(printf '%s\n' "$out" | tail -n 2)"
    fi
  fi
fi
cn ip -o link show dev eth0 | sed 's/^/link /'
cn ip -o -4 addr show dev eth0 | sed 's/^/addr /'
took addressing "$t0"  # docker run or start, eth0, the address
if [ -n "$agent_server" ]; then
  # the Puppet agent applies the role's classes: the container has its address and DNS name now
  ta=$(date +%s%N)
  # its usual folder, the server's port, and up to 180 s for the server to accept connections: a server
  # container that runs but still starts (a deploy-all after a host restart) is waited for, not failed. The
  # challenge and the pinned CA go on the agent's standard input.
  out=$(printf '%s\n%s\n' "$challenge" "$agent_ca" |
        docker exec -i "$name" sh -c "$agent" sh "$agent_server" "$certname" /var/lib/dockstack-agent 8140 180 2>&1)
  printf '%s\n' "$out" | grep '^agent '
  echo "agent ms $(( ($(date +%s%N) - ta) / 1000000 ))"
  code=$(printf '%s\n' "$out" | sed -n 's/^agent exit //p')
  failed=$(printf '%s\n' "$out" |  # resources: failed: N of the last run summary
    sed -n '/^agent summary resources:/,/^agent summary [a-z]/s/^agent summary   failed: //p')
  why=
  if [ "$code" != 0 ] && [ "$code" != 2 ] || [ "${failed:-x}" != 0 ]; then
    said=$(printf '%s\n' "$out" | sed -n 's/^agent error //p')
    why="exit code ${code:-none}, ${failed:-unknown} failed resource(s)"
  elif [ -n "$digest" ] && ! said=$(record_digest 2>&1); then
    why="it passed, but its catalog digest could not be recorded in $digest_file"
  fi
  if [ -n "$why" ]; then
    # not left looking done: a created container goes (its address stays recorded), a started one stops,
    # so the next deploy-all brings it up again and the agent runs again; one that was running before (mode
    # agent) runs on with the settings it has (its digest unrecorded: the next deploy-all runs its agent again)
    if [ -s "$cid" ]; then undo; elif [ "$mode" != agent ]; then docker stop "$name" >/dev/null 2>&1; fi
    fail "puppet agent" "$said" "$why"
  fi
fi
tc=$(date +%s%N)
if [ -n "$check" ]; then
  start=$(date +%s) since=''
  # ready once it passes and has kept passing at every look for `hold` s (0: at its first pass)
  while :; do
    if out=$(docker exec "$name" sh -c "$check" 2>&1); then
      since=${since:-$(date +%s)}
      [ $(( $(date +%s) - since )) -ge "$hold" ] && break
    else
      since=''
    fi
    if [ $(( $(date +%s) - start )) -ge "$check_timeout" ]; then
      if [ "$hold" -gt 0 ]; then echo "unready not passing ${hold} s in a row after ${check_timeout}s"
      else echo "unready not passing after ${check_timeout}s"; fi
      printf '%s\n' "$out" | tail -n 1 | sed 's/^/said /'; exit 0
    fi
    sleep "$poll"  # interval between readiness probes, bounded by check_timeout
  done
  took check "$tc"
fi
echo ready
