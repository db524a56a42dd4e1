#!/usr/bin/env bash
# Several "hosts" on one machine, for trying `--distributed` over TCP between machines without having them
# (and for test/distributed.multihost*.test.ts). Needs root, iproute2 (`ip netns`) and util-linux (`unshare`).
#
#   sudo scripts/multihost/cluster.sh up 3            # prints the cluster's name, e.g. anmh-12345
#   sudo scripts/multihost/cluster.sh mpirun anmh-12345 --allow-run-as-root -np 3 \
#        node dist/src/cli/main.js train --distributed --variant 28
#   sudo node dist/src/cli/main.js launch --mpirun /run/alexnet-multihost/anmh-12345/mpirun \
#        --allow-run-as-root -np 3 -- train --variant 28   # the same through `alexnet launch`
#   sudo scripts/multihost/cluster.sh cut anmh-12345 h2     # the link of host h2 goes down (a lost host)
#   sudo scripts/multihost/cluster.sh down anmh-12345
#
# A cluster NAME is made of network namespaces, all named NAME-*: NAME-sw holds the bridge (the switch),
# NAME-l the launcher (where mpirun runs, no ranks) and NAME-h1..NAME-hN the hosts, each joined to the
# bridge by a veth pair, with the addresses 10.231.0.1 (launcher) and 10.231.0.(10+i) (host hi). Nothing of
# it is in the machine's own network namespace, and the namespaces have no route out, so no traffic leaves
# them. mpirun starts its daemons through `NAME rsh agent`, which enters the host's namespace in a new UTS
# (its own hostname, hi) and pid namespace (`unshare --uts --pid --fork --mount-proc`): ranks on different
# hosts cannot see each other's processes, as on separate machines. `mpirun` forces the TCP transport
# (pml ob1, btl self,tcp), keeps Open MPI's out-of-band and MPI traffic on the bridge's subnet, and passes
# Open MPI's keepalive for the collective timeout (what ends a job that lost a host: README, More machines).
#
# Teardown always: `down` kills every process in the cluster's namespaces (mpirun, the daemons, the ranks)
# and deletes the namespaces, which removes the veth pairs and the bridge with them. Each cluster has an
# owner process (`up --owner PID`, default the calling shell, also through sudo) and a watcher that runs
# `down` as soon as the owner is gone (also when it was SIGKILLed); `sweep` removes every cluster whose
# owner is gone, and namespaces named anmh-* left by a teardown that was itself interrupted. The tests
# sweep at start and exit.
set -euo pipefail

PREFIX=anmh
STATE_ROOT=${ALEXNET_MH_STATE:-/run/alexnet-multihost}
SUBNET=10.231.0
SELF=$(readlink -f "${BASH_SOURCE[0]}")

die() { echo "cluster.sh: $*" >&2; exit 1; }

# "pid starttime" of a live process, or nothing: a pid reused by another process does not count as the owner.
identity() { local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; stat=${stat##*) }; set -- $stat; echo "${20}"; }
owner_alive() { # state dir
  local pid start
  read -r pid start < "$1/owner" 2>/dev/null || return 1
  [ -n "$pid" ] && [ "$(identity "$pid")" = "$start" ]
}

namespaces_of() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-(sw|l|h[0-9]+)$" || true; }

# Every process whose network namespace is one of the given namespaces (by inode: their pid namespaces hide
# their pids from each other, not from here).
pids_in() {
  local expr=() ns ino
  for ns in "$@"; do
    ino=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) || continue
    [ ${#expr[@]} -eq 0 ] || expr+=(-o)
    expr+=(-lname "net:\\[$ino\\]")
  done
  [ ${#expr[@]} -gt 0 ] || return 0
  find /proc/[0-9]*/ns/net -maxdepth 0 \( "${expr[@]}" \) 2>/dev/null | cut -d/ -f3 || true
}

cmd_down() {
  local name=$1 state="$STATE_ROOT/$1" nss round pids w
  [[ $name =~ ^$PREFIX-[0-9]+(-[a-z0-9]+)?$ ]] || die "not a cluster name: $name"
  if [ -f "$state/watcher" ]; then
    read -r w < "$state/watcher" || true
    [ -n "${w:-}" ] && [ "$w" != "${ALEXNET_MH_WATCHER:-}" ] && kill -9 "$w" 2>/dev/null || true
  fi
  mapfile -t nss < <(namespaces_of "$name")
  # Processes fork while they are killed (a daemon starting a rank): until none is left.
  for round in $(seq 1 50); do
    mapfile -t pids < <(pids_in "${nss[@]}")
    [ ${#pids[@]} -eq 0 ] && break
    kill -9 "${pids[@]}" 2>/dev/null || true
    sleep 0.1
  done
  for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$state"
}

cmd_sweep() {
  local d name ns owner
  for d in "$STATE_ROOT"/$PREFIX-*; do
    [ -d "$d" ] || continue
    owner_alive "$d" || cmd_down "$(basename "$d")"
  done
  # Namespaces without a state directory (an `up` or `down` that was itself killed): the owner's pid is in the name.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-[0-9]+" || true); do
    name=${ns%-*}
    [ -d "$STATE_ROOT/$name" ] && continue
    owner=${name#"$PREFIX"-}; owner=${owner%%-*}
    [ -d "/proc/$owner" ] || cmd_down "$name"
  done
}

cmd_up() {
  local hosts=2 owner=$PPID name="" tag=""
  # Started through sudo: the owner is the shell that ran sudo.
  while [ "$(cat "/proc/$owner/comm" 2>/dev/null)" = sudo ]; do owner=$(awk '{print $4}' "/proc/$owner/stat"); done
  while [ $# -gt 0 ]; do
    case $1 in
      --owner) owner=$2; shift 2 ;;
      --tag) tag=$2; shift 2 ;;
      [0-9]*) hosts=$1; shift ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
  [ "$hosts" -ge 1 ] && [ "$hosts" -le 50 ] || die "up: 1 to 50 hosts"
  local start; start=$(identity "$owner"); [ -n "$start" ] || die "up: no process $owner to own the cluster"
  name="$PREFIX-$owner${tag:+-$tag}"
  [[ $name =~ ^$PREFIX-[0-9]+(-[a-z0-9]+)?$ ]] || die "up: --tag must be lower-case letters and digits"
  cmd_sweep
  [ -z "$(namespaces_of "$name")" ] || die "up: cluster $name exists (cluster.sh down $name)"
  local state="$STATE_ROOT/$name"
  mkdir -p "$state"
  echo "$owner $start" > "$state/owner"
  # The watcher first: from here on, a killed owner (or a failing `up`) leaves nothing behind.
  ALEXNET_MH_STATE=$STATE_ROOT setsid bash -c '
    while [ "$(cat /proc/'"$owner"'/stat 2>/dev/null | sed "s/.*) //" | cut -d" " -f20)" = "'"$start"'" ]; do sleep 0.5; done
    ALEXNET_MH_WATCHER=$$ exec "$0" down "$1"' "$SELF" "$name" </dev/null >/dev/null 2>&1 &
  echo $! > "$state/watcher"
  trap 'cmd_down "$name"' ERR
  local sw="$name-sw"
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  join() { # namespace, port name on the bridge, address
    ip netns add "$1"
    ip -n "$1" link set lo up
    ip -n "$sw" link add "$2" type veth peer name eth0 netns "$1"
    ip -n "$sw" link set "$2" master br0 up
    ip -n "$1" addr add "$3/24" dev eth0
    ip -n "$1" link set eth0 up
  }
  join "$name-l" pl "$SUBNET.1"
  : > "$state/hostfile"
  local i
  for i in $(seq 1 "$hosts"); do
    join "$name-h$i" "p$i" "$SUBNET.$((10 + i))"
    echo "h$i slots=1" >> "$state/hostfile"
  done
  printf '#!/bin/sh\nexec %q agent %q "$@"\n' "$SELF" "$name" > "$state/rsh"
  chmod +x "$state/rsh"
  # This cluster's mpirun as one program, for `alexnet launch --mpirun $STATE_ROOT/NAME/mpirun`.
  printf '#!/bin/sh\nexec %q mpirun %q "$@"\n' "$SELF" "$name" > "$state/mpirun"
  chmod +x "$state/mpirun"
  trap - ERR
  echo "$name"
}

# mpirun's rsh agent: `agent NAME HOST COMMAND...`, as `ssh HOST COMMAND...`: the words are one shell
# command line, run on the host (its network namespace, a new UTS namespace named after it, a new pid
# namespace whose first process waits for the command: when the daemon dies, the host's pid namespace ends
# and every process on the host with it, as when a machine goes down).
cmd_agent() {
  local name=$1 host=$2; shift 2
  [ -e "/run/netns/$name-$host" ] || die "agent: no host $host in cluster $name"
  exec ip netns exec "$name-$host" unshare --uts --pid --fork --mount-proc \
    sh -c 'echo "$1" > /proc/sys/kernel/hostname && shift && { bash -c "$*" & wait $! 2>/dev/null; }' sh "$host" "$@"
}

# Open MPI's keepalive for a collective timeout of T seconds (the same rule as keepaliveFor in
# src/distributed/keepalive.ts): a lost host ends the job after the ranks named it and within 2 T.
keepalive_for() {
  local t=$1 intvl probes time
  [ "$t" -ge 8 ] || t=8
  intvl=$(( t / 8 > 1 ? t / 8 : 1 ))
  probes=$(( (t + 2 + intvl - 1) / intvl ))
  time=$(( 2 * t - 5 - probes * intvl ))
  [ "$time" -le $(( t / 3 )) ] || time=$(( t / 3 ))
  [ "$time" -ge 1 ] || time=1
  echo "--mca oob_tcp_keepalive_time $time --mca oob_tcp_keepalive_intvl $intvl --mca oob_tcp_keepalive_probes $probes"
}

# mpirun in the launcher's namespace (hostname "launcher"), on the cluster's hosts, over TCP on the bridge,
# with the keepalive for the collective timeout in the arguments (--collective-timeout S), else
# $ALEXNET_MPI_TIMEOUT, else 30 s, unless the arguments set oob_tcp_keepalive_* themselves.
cmd_mpirun() {
  local name=$1; shift
  local state="$STATE_ROOT/$name" t=${ALEXNET_MPI_TIMEOUT:-30} prev="" a keepalive
  [ -f "$state/hostfile" ] || die "mpirun: no cluster $name (cluster.sh up)"
  for a in "$@"; do
    [ "$prev" = "--collective-timeout" ] && t=$a
    prev=$a
  done
  t=${t%%.*}
  case " $* " in *oob_tcp_keepalive*) keepalive="" ;; *) keepalive=$(keepalive_for "$t") ;; esac
  # shellcheck disable=SC2086
  exec ip netns exec "$name-l" unshare --uts sh -c 'echo launcher > /proc/sys/kernel/hostname && exec "$@"' sh \
    mpirun --hostfile "$state/hostfile" --mca plm_rsh_agent "$state/rsh" \
    --mca pml ob1 --mca btl self,tcp --mca btl_tcp_if_include "$SUBNET.0/24" --mca oob_tcp_if_include "$SUBNET.0/24" \
    $keepalive --bind-to none "$@"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) [ $# -eq 2 ] || die "usage: cluster.sh down NAME"; cmd_down "$2" ;;
  sweep) cmd_sweep ;;
  mpirun) [ $# -ge 2 ] || die "usage: cluster.sh mpirun NAME [mpirun arguments]"; shift; cmd_mpirun "$@" ;;
  agent) shift; cmd_agent "$@" ;;
  exec) [ $# -ge 4 ] || die "usage: cluster.sh exec NAME HOST|l COMMAND..."; n=$2 h=$3; shift 3; exec ip netns exec "$n-$h" "$@" ;;
  cut) [ $# -eq 3 ] || die "usage: cluster.sh cut NAME HOST"; ip -n "$2-$3" link set eth0 down ;;
  mend) [ $# -eq 3 ] || die "usage: cluster.sh mend NAME HOST"; ip -n "$2-$3" link set eth0 up ;;
  keepalive) [ $# -eq 2 ] || die "usage: cluster.sh keepalive SECONDS"; keepalive_for "${2%%.*}" ;;
  pids) [ $# -ge 2 ] || die "usage: cluster.sh pids NAME [HOST]"; if [ $# -eq 3 ]; then pids_in "$2-$3"; else mapfile -t n < <(namespaces_of "$2"); pids_in "${n[@]}"; fi ;;
  list) for d in "$STATE_ROOT"/$PREFIX-*; do [ -d "$d" ] && echo "$(basename "$d") $(grep -c . "$d/hostfile" 2>/dev/null) hosts, owner $(cut -d' ' -f1 "$d/owner")"; done; true ;;
  *) sed -n '2,11p' "$SELF" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
