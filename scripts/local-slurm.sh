#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for mfile's end-to-end tests and for
# trying a compiled run directory before it goes to JUWELS.
#
#   scripts/local-slurm.sh start     install if missing, write slurm.conf, start daemons, wait for idle
#   scripts/local-slurm.sh stop      stop only the daemons this script started (pid files)
#   scripts/local-slurm.sh status    exit 0 up, 3 not running, 4 "unavailable: <reason>"
#   scripts/local-slurm.sh restart
#
# `start` also exits 4 with "unavailable: <reason>" when Slurm cannot run here at all (not
# Linux, not root and the packages missing, ...); the tests skip on exactly that (and fail in CI).
# The machine has no systemd and policy-rc.d forbids service starts, so the daemons are started
# directly (recipe: ../shared/notes/slurm.md). Environment knobs:
#   MFILE_SLURM_CPUS        CPUs the node advertises (default: max(real, 4)); more than the real
#                           cores lets `srun -n 4` and a few array elements run at once on 2 cores.
#   MFILE_SLURM_KEEP_STATE  1: a (re)started slurmctld keeps the jobs of the previous one; by default
#                           it starts empty, so old queued jobs never run again.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARKER="# Written by mfile scripts/local-slurm.sh; rewritten on every start."
STATE_DIR=/run/mfile-local-slurm          # pid files of the daemons this script started
LOG_DIR=/var/log/slurm
SPOOL_CTLD=/var/spool/slurmctld
SPOOL_D=/var/spool/slurmd
SBIN=${MFILE_SLURM_SBIN:-/usr/sbin}     # where the daemons are (tests point it elsewhere)
PACKAGES=(munge slurmctld slurmd slurm-client openmpi-bin libopenmpi-dev)
EXIT_DOWN=3
EXIT_UNAVAILABLE=4

say() { printf 'local-slurm: %s\n' "$*" >&2; }
unavailable() { printf 'unavailable: %s\n' "$*"; exit "$EXIT_UNAVAILABLE"; }

have_binaries() {
    [[ -x $SBIN/slurmctld && -x $SBIN/slurmd && -x $SBIN/munged ]] \
        && command -v sinfo >/dev/null && command -v sbatch >/dev/null
}

# Why Slurm cannot run on this machine at all, or nothing when it can.
unavailable_reason() {
    if [[ $(uname -s) != Linux ]]; then
        echo "not Linux ($(uname -s)); Slurm daemons need Linux"; return
    fi
    if ! have_binaries; then
        if [[ $EUID -ne 0 ]]; then
            echo "Slurm is not installed and installing it needs root (run: sudo $0 start)"
        elif ! command -v apt-get >/dev/null; then
            echo "Slurm is not installed and there is no apt-get to install it"
        fi
        return
    fi
    if [[ $EUID -ne 0 ]] && ! cluster_responds; then
        echo "not root: this script starts munged, slurmctld and slurmd as root (run: sudo $0 start)"
    fi
}

# ----------------------------------------------------------------------------- processes

# A pid is alive when /proc has it in a state other than zombie/dead: killed daemons linger as
# zombies for a second or two and `kill -0` succeeds on them.
alive() {
    local pid=$1 stat state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]]
}

# Pid of a daemon this script started (empty if none is running). The command name guards against
# a recycled pid.
our_pid() {
    local name=$1 file="$STATE_DIR/$1.pid" pid
    [[ -f $file ]] || return 0
    pid=$(head -n1 "$file" 2>/dev/null || true)
    if alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
        echo "$pid"
    fi
}

# Any live process of that name, ours or not (pgrep alone also lists zombies).
any_running() {
    local pid
    for pid in $(pgrep -x "$1" 2>/dev/null); do
        alive "$pid" && return 0
    done
    return 1
}

stop_daemon() {
    local name=$1 pid i
    pid=$(our_pid "$name")
    if [[ -z $pid ]]; then
        rm -f "$STATE_DIR/$name.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        say "$name ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
    fi
    rm -f "$STATE_DIR/$name.pid"
    say "stopped $name ($pid)"
}

# Wait for a daemon's own pid file, then record the pid as ours.
adopt_pidfile() {
    local name=$1 pidfile=$2 i pid
    for ((i = 0; i < 100; i++)); do
        pid=$(head -n1 "$pidfile" 2>/dev/null || true)
        if alive "$pid"; then
            echo "$pid" >"$STATE_DIR/$name.pid"
            return 0
        fi
        sleep 0.1
    done
    say "$name did not start; last lines of its log:"
    tail -n 20 "$3" >&2 2>/dev/null || true
    return 1
}

# ----------------------------------------------------------------------------- install/config

install_packages() {
    have_binaries && dpkg -s libopenmpi-dev openmpi-bin >/dev/null 2>&1 && return 0
    say "installing ${PACKAGES[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

host_short() { hostname -s; }

# The node line: real topology from `slurmd -C`, but with more CPUs than cores when asked for
# (SlurmdParameters=config_overrides makes slurmd believe the config instead of the hardware).
node_line() {
    local host detected real_cpus cpus mem
    host=$(host_short)
    detected=$(slurmd -C | head -n1)
    real_cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$detected")
    mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
    cpus=${MFILE_SLURM_CPUS:-$((real_cpus > 4 ? real_cpus : 4))}
    # Leave the OS a little memory so that `--mem` near the total is refused, as on a real node.
    mem=$((mem > 2048 ? mem - 512 : mem))
    echo "NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1" \
        "CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN"
}

render_conf() {
    local host
    host=$(host_short)
    cat <<EOF
$MARKER
# Partitions are named like those of the \`local\` site profile (src/mfile/profiles/local.toml).
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL_CTLD
SlurmdSpoolDir=$SPOOL_D
SlurmctldPidFile=$STATE_DIR/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/slurmd.daemon.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# CR_Core, not CR_Core_Memory: without DefMemPerCPU that serialises all jobs.
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=pmix
# Scheduling as fast as Slurm allows: tests wait on dependency hops and array waves.
SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1,sched_min_interval=0
# Here and not in SchedulerParameters (silently ignored there in 22.05): a job whose afterok
# dependency failed is cancelled instead of pending forever.
DependencyParameters=kill_invalid_depend
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol for 10 minutes (there is no accounting database).
MinJobAge=600
KillWait=5
InactiveLimit=0
MaxArraySize=1001
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
$(node_line)
PartitionName=batch Nodes=ALL Default=YES MaxTime=1-00:00:00 State=UP
PartitionName=devel Nodes=ALL Default=NO MaxTime=02:00:00 State=UP
EOF
}

# Write slurm.conf; prints "changed" when its content differs from what was there.
write_conf() {
    local new
    if [[ -f $CONF ]] && ! grep -qxF "$MARKER" "$CONF"; then
        say "$CONF exists and was not written by this script; refusing to replace it"
        say "(move it away to use the local test cluster)"
        return 1
    fi
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$SPOOL_CTLD" "$SPOOL_D" "$STATE_DIR"
    new=$(render_conf)
    if [[ -f $CONF ]] && [[ $new == "$(cat "$CONF")" ]]; then
        return 0
    fi
    printf '%s\n' "$new" >"$CONF.tmp.$$"
    mv -f "$CONF.tmp.$$" "$CONF"
    echo changed
}

# ----------------------------------------------------------------------------- daemons

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munged() {
    munge_works && return 0
    if any_running munged; then
        say "a munged is running but does not answer; not touching a daemon this script did not start"
        return 1
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    runuser -u munge -- "$SBIN/munged" --force 9>&-
    adopt_pidfile munged /run/munge/munged.pid /var/log/munge/munged.log
    local i
    for ((i = 0; i < 50; i++)); do munge_works && return 0; sleep 0.1; done
    say "munged started but munge/unmunge fail"
    return 1
}

start_slurm_daemon() {
    local name=$1
    [[ -n $(our_pid "$name") ]] && return 0
    if any_running "$name"; then
        say "a $name this script did not start is running; leaving it alone"
        return 0
    fi
    rm -f "$STATE_DIR/$name.daemon.pid"
    # A fresh slurmctld forgets the jobs of an earlier cluster: jobs queued by a previous session
    # or test run would otherwise start again here, on the cores the tests need. (Emptying the
    # state directory is instant; `slurmctld -c` purges old jobs one by one, ~15 ms each.)
    if [[ $name == slurmctld && ${MFILE_SLURM_KEEP_STATE:-0} != 1 ]]; then
        find "$SPOOL_CTLD" -mindepth 1 -delete
    fi
    "$SBIN/$name" 9>&-  # the daemon must not inherit (and hold) the start lock
    adopt_pidfile "$name" "$STATE_DIR/$name.daemon.pid" "$LOG_DIR/$name.log"
}

cluster_responds() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_state() { timeout 5 sinfo -h -N -n "$(host_short)" -o %T 2>/dev/null | head -n1; }

wait_idle() {
    local i state=""
    for ((i = 0; i < 600; i++)); do
        state=$(node_state || true)
        case $state in
            idle | mixed | allocated | completing) return 0 ;;
            down* | drain*) scontrol update NodeName="$(host_short)" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.1
    done
    say "node did not become idle within 60 s (state: ${state:-unknown}); last lines of slurmd.log:"
    tail -n 20 "$LOG_DIR/slurmd.log" >&2 2>/dev/null || true
    return 1
}

summary() {
    echo "up: cluster local, node $(host_short) $(node_state)," \
        "partitions $(sinfo -h -o %P | tr '\n' ' ' | sed 's/ $//')"
}

# ----------------------------------------------------------------------------- commands

cmd_start() {
    local reason changed t0
    t0=$(date +%s.%N)
    reason=$(unavailable_reason)
    [[ -z $reason ]] || unavailable "$reason"
    if [[ $EUID -ne 0 ]]; then
        # Someone else's running cluster: usable as it is.
        summary
        return 0
    fi
    mkdir -p "$STATE_DIR"
    # One start at a time: several test sessions may call this at once.
    exec 9>"$STATE_DIR.lock"
    flock 9
    install_packages
    changed=$(write_conf)
    if [[ $changed == changed ]] && [[ -n $(our_pid slurmctld)$(our_pid slurmd) ]]; then
        say "slurm.conf changed; restarting slurmctld and slurmd"
        stop_daemon slurmd
        stop_daemon slurmctld
    fi
    start_munged
    start_slurm_daemon slurmctld
    start_slurm_daemon slurmd
    wait_idle
    summary
    say "ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

cmd_stop() {
    if [[ ! -d $STATE_DIR ]]; then
        say "nothing to stop (no $STATE_DIR)"
        return 0
    fi
    exec 9>"$STATE_DIR.lock"
    flock 9
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon munged
}

cmd_status() {
    local reason
    if cluster_responds && [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; then
        summary
        return 0
    fi
    reason=$(unavailable_reason)
    [[ -z $reason ]] || unavailable "$reason"
    if cluster_responds; then
        echo "not running: slurmctld answers but node $(host_short) is '$(node_state)'"
    else
        echo "not running"
    fi
    return "$EXIT_DOWN"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop && cmd_start ;;
    *)
        echo "usage: $0 start|stop|status|restart" >&2
        exit 2
        ;;
esac
