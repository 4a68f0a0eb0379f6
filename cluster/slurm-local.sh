#!/usr/bin/env bash
# A one-node SLURM on localhost, for trying the slurm profile and for the tests.
#
#   cluster/slurm-local.sh up       write the config, start munged, slurmctld and slurmd
#   cluster/slurm-local.sh down     stop the three daemons by the PIDs recorded at `up`
#   cluster/slurm-local.sh status   exit 0 if the node answers, else 1
#
# Needs Debian's slurm-wlm and munge (`apt-get install -y slurm-wlm munge`) and root, as on a
# fresh CI machine. Its state (munge key and socket, spool, logs, PIDs) lives in one folder,
# $DLREPRO_SLURM_DIR (default /tmp/dlrepro-slurm); the config goes to SLURM's default path,
# /etc/slurm/slurm.conf, because the SLURM executor's job step drops SLURM_CONF from the
# environment of its inner `srun`, which then finds no config anywhere else. The script
# refuses to run where a slurm.conf it did not write exists (that machine has its own
# SLURM: use it), and `down` removes the file it wrote.
# No accounting daemon runs, so `sacct` fails: give Snakemake `slurm-status-command: squeue`
# (profiles/slurm does).
set -euo pipefail

DIR="${DLREPRO_SLURM_DIR:-/tmp/dlrepro-slurm}"
CONF=/etc/slurm/slurm.conf
MARK="# Written by cluster/slurm-local.sh"
SOCKET="$DIR/munge/munge.socket"
DAEMONS=(slurmd slurmctld munged) # stop order: the reverse of start order

die() {
  echo "slurm-local: $*" >&2
  exit 1
}

need_tools() {
  local t
  for t in munged munge slurmctld slurmd sinfo sbatch squeue; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found; install it with: apt-get install -y slurm-wlm munge"
  done
  [ "$(id -u)" = 0 ] || die "must run as root (slurmd starts jobs as their users)"
}

pid_alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

write_conf() {
  # The node's real CPUs and memory, as slurmd itself detects them.
  local node name
  node="$(slurmd -C | head -1)"
  name="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$node")"
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script: this machine has its own SLURM; use it"
  fi
  mkdir -p "$(dirname "$CONF")"
  cat >"$CONF" <<EOF
$MARK: a one-node cluster on localhost, no accounting (state: $DIR).
ClusterName=dlrepro
SlurmctldHost=$name(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
SlurmctldPort=${DLREPRO_SLURMCTLD_PORT:-6817}
SlurmdPort=${DLREPRO_SLURMD_PORT:-6818}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=10
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
  # slurmd -C prints the node's uptime on the same line; it is not a node parameter.
  sed -i -E 's/ UpTime=[^ ]+//' "$CONF"
}

start_munge() {
  mkdir -p "$DIR/munge"
  chmod 700 "$DIR/munge"
  # A key of our own, readable by root only, so the system's munge (if any) is untouched.
  [ -f "$DIR/munge/munge.key" ] || {
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
  }
  munged --force --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed"
  wait_for "munged" munge --socket="$SOCKET" -n
}

wait_for() {
  # wait_for NAME CMD...: retry CMD for up to 30 s.
  local what="$1" i
  shift
  for i in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what did not come up; see the logs in $DIR/log/"
}

up() {
  need_tools
  if pid_alive slurmctld && SLURM_CONF="$CONF" sinfo >/dev/null 2>&1; then
    echo "slurm-local: already up ($CONF)"
    return 0
  fi
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  write_conf
  start_munge
  # -D keeps each daemon in the foreground of its own background process, so $! is the PID
  # that `down` stops; setsid detaches it from this shell's session and signals.
  setsid slurmctld -D -f "$CONF" -i >>"$DIR/log/slurmctld.out" 2>&1 </dev/null &
  echo $! >"$DIR/slurmctld.pid"
  setsid slurmd -D -f "$CONF" >>"$DIR/log/slurmd.out" 2>&1 </dev/null &
  echo $! >"$DIR/slurmd.pid"
  wait_for "slurmctld" env SLURM_CONF="$CONF" sinfo
  # The node registers a moment after slurmctld answers; wait until it can take a job.
  local i state=""
  for i in $(seq 1 60); do
    state="$(SLURM_CONF="$CONF" sinfo -h -N -o %T 2>/dev/null | head -1)"
    case "$state" in idle | mixed | allocated) break ;; esac
    sleep 0.5
  done
  case "$state" in
    idle | mixed | allocated) ;;
    *) die "the node is '$state', not idle; see $DIR/log/slurmd.log and slurmctld.log" ;;
  esac
  echo "slurm-local: up (node $state; $CONF)"
}

down() {
  local d pid i
  for d in "${DAEMONS[@]}"; do
    [ -f "$DIR/$d.pid" ] || continue
    pid="$(cat "$DIR/$d.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for i in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$DIR/$d.pid"
  done
  if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF"; then rm -f "$CONF"; fi
  echo "slurm-local: down"
}

status() {
  pid_alive slurmctld && pid_alive slurmd && SLURM_CONF="$CONF" sinfo -h >/dev/null 2>&1
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
