#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the tests of the SLURM profile.
#
#   bash tests/slurm_cluster.sh start    install (if missing), configure, start, wait until idle
#   bash tests/slurm_cluster.sh status   print the daemons and the node; exit 0 only if usable
#   bash tests/slurm_cluster.sh stop     cancel jobs, stop the daemons this script started, clean up
#   bash tests/slurm_cluster.sh packages print the Debian packages `start` installs (for make)
#
# Needs root on Debian 12 (SLURM 22.05). See docs/cluster.md. Every step is
# idempotent: `start` on a running cluster only checks it, `stop` on a stopped one does nothing.
# The config must live at /etc/slurm/slurm.conf: `srun` inside a batch job ignores SLURM_CONF.
# One fake GPU (GRES gpu:1 backed by /dev/null) lets rules with `resources: gpu=1` be submitted as
# `--gpus=1` exactly as on a real GPU cluster, and serialises them the same way.
#
# Environment: CAMROBUST_SLURM_DIR (state, spool, pid and log files; default
# /var/tmp/camrobust-slurm), CAMROBUST_SLURM_WAIT (seconds to wait for the node; default 60).
set -euo pipefail

STATE_DIR="${CAMROBUST_SLURM_DIR:-/var/tmp/camrobust-slurm}"
WAIT_S="${CAMROBUST_SLURM_WAIT:-60}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
GRES_CONF="$CONF_DIR/gres.conf"
MARKER="# managed by camrobust tests/slurm_cluster.sh"
MUNGE_KEY=/etc/munge/munge.key
MUNGE_PID=/run/munge/munged.pid
PACKAGES=(slurmctld slurmd slurm-client munge)
NODE=localhost
PARTITION=debug

log() { echo "slurm_cluster: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# A pid file's process, if it is still alive.
live_pid() {
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

munge_works() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh image may have no package lists, an old one stale lists (the download fails):
    # update only then.
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq
    fi
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        log "install failed; updating the package lists and trying again"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            die "apt-get install ${missing[*]} failed"
    fi
}

write_config() {
    local cpus mem_mb margin_mb
    # nproc counts the usable cores but also obeys OMP_NUM_THREADS, which test shells often set
    # to 1: a one-CPU node could never run a group job that asks for two.
    cpus="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"
    mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
    # Leave room for the OS so slurmd never finds less memory than configured (it would drain).
    margin_mb=$((mem_mb / 10 > 1024 ? mem_mb / 10 : 1024))
    ((mem_mb > margin_mb + 512)) || die "only ${mem_mb} MB of memory: too little for a cluster"
    if [[ -e "$CONF" ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; refusing to overwrite it"
    fi
    mkdir -p "$CONF_DIR" "$STATE_DIR"/{ctld,spool,log}
    cat >"$CONF.tmp" <<EOF
$MARKER
# Single-node test cluster: root daemons, no cgroups, no accounting (use squeue for status).
ClusterName=camrobust
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# Finished jobs stay visible to squeue for 10 minutes: the executor polls squeue for status.
MinJobAge=600
InactiveLimit=0
KillWait=5
SchedulerType=sched/backfill
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
GresTypes=gpu
NodeName=$NODE CPUs=$cpus RealMemory=$((mem_mb - margin_mb)) Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    printf '%s\n%s\n' "$MARKER" "NodeName=$NODE Name=gpu Count=1 File=/dev/null" >"$GRES_CONF"
}

start_munge() {
    if munge_works; then
        return 0
    fi
    if [[ ! -s "$MUNGE_KEY" ]]; then
        mkdir -p /etc/munge
        mungekey -c -k "$MUNGE_KEY"
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 400 "$MUNGE_KEY"
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    runuser -u munge -- munged 9>&-
    live_pid "$MUNGE_PID" >"$STATE_DIR/munged.started" || die "munged did not start"
    munge_works || die "munged runs but munge -n | unmunge fails"
}

# Start one SLURM daemon unless the one from our pid file is alive; refuse to run beside a
# daemon that this script did not start.
start_daemon() {
    local name="$1"
    shift
    live_pid "$STATE_DIR/$name.pid" >/dev/null && return 0
    local other
    if other="$(pgrep -x "$name")"; then
        die "a $name this script did not start is running (pid ${other//$'\n'/ }); stop it first"
    fi
    # 9>&-: the daemon must not inherit (and so hold forever) the lock of this script.
    "$name" "$@" 9>&- || die "$name failed to start; see $STATE_DIR/log/$name.log"
}

wait_idle() {
    local deadline=$((SECONDS + WAIT_S)) state=""
    while ((SECONDS < deadline)); do
        state="$(node_state)"
        case "$state" in
        idle | mixed | allocated | completing) return 0 ;;
        # A rejected registration (bad CPUs, memory or GRES) never recovers by itself.
        inval | drain* | fail*) break ;;
        esac
        sleep 0.5
    done
    log "node $NODE not idle after ${WAIT_S}s (state: '${state:-unknown}'); log tails:"
    tail -n 15 "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log" >&2 || true
    scontrol show node "$NODE" >&2 || true
    exit 1
}

cmd_start() {
    local t0=$SECONDS
    install_packages
    write_config
    start_munge
    start_daemon slurmctld
    start_daemon slurmd -N "$NODE"
    wait_idle
    log "cluster up: node $NODE $(node_state), partition $PARTITION ($((SECONDS - t0)) s)"
}

# Stop the daemon of a pid file: TERM, a bounded wait, then KILL.
stop_pid_file() {
    local pid i
    pid="$(live_pid "$1")" || {
        rm -f "$1"
        return 0
    }
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    rm -f "$1"
}

cmd_stop() {
    if live_pid "$STATE_DIR/slurmctld.pid" >/dev/null; then
        scancel --full --quiet --user=root 2>/dev/null || true
    fi
    stop_pid_file "$STATE_DIR/slurmd.pid"
    stop_pid_file "$STATE_DIR/slurmctld.pid"
    # Only a munged this script started is stopped; one that was already running stays.
    if [[ -s "$STATE_DIR/munged.started" ]]; then
        stop_pid_file "$STATE_DIR/munged.started"
    fi
    rm -rf "$STATE_DIR"
    for f in "$CONF" "$GRES_CONF"; do
        if [[ -e "$f" ]] && grep -qF "$MARKER" "$f"; then rm -f "$f"; fi
    done
    log "cluster stopped"
}

cmd_status() {
    local ok=0 d
    for d in slurmctld slurmd; do
        if live_pid "$STATE_DIR/$d.pid" >/dev/null; then
            echo "$d: running (pid $(cat "$STATE_DIR/$d.pid"))"
        else
            echo "$d: stopped"
            ok=1
        fi
    done
    if munge_works; then echo "munge: working"; else
        echo "munge: not working"
        ok=1
    fi
    if ((ok == 0)); then
        sinfo
        case "$(node_state)" in idle | mixed | allocated | completing) ;; *) ok=1 ;; esac
    fi
    return "$ok"
}

# Serialise concurrent calls (CI's start and a test fixture, or parallel test workers).
lock() {
    [[ $EUID -eq 0 ]] || die "must run as root (installs packages, starts and stops daemons)"
    mkdir -p "$(dirname "$STATE_DIR")"
    exec 9>"$STATE_DIR.lock"
    flock -w 300 9 || die "another slurm_cluster.sh call holds $STATE_DIR.lock"
}

case "${1:-}" in
start) lock && cmd_start ;;
stop) lock && cmd_stop ;;
status) cmd_status ;;
packages) echo "${PACKAGES[*]}" ;;
*)
    echo "usage: $0 start|stop|status|packages" >&2
    exit 2
    ;;
esac
