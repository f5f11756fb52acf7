#!/usr/bin/env bash
# A real Slurm cluster on this machine, for mfile's end-to-end tests and for trying a compiled
# run directory before it goes to JUWELS. Two independent instances, which can run at once:
#
#   scripts/local-slurm.sh start [--nodes N]    install if missing, write slurm.conf, start
#                                               daemons, wait until every node is idle
#   scripts/local-slurm.sh stop [--nodes N]     stop only what this script started (pid files)
#   scripts/local-slurm.sh status [--nodes N]   exit 0 up, 3 not running, 4 "unavailable: <reason>"
#   scripts/local-slurm.sh restart [--nodes N]
#   scripts/local-slurm.sh restart-ctld [--nodes N]   only slurmctld, keeping its queued and running
#                                               jobs (what a site's controller restart does)
#   scripts/local-slurm.sh conf [--nodes N]     print the slurm.conf that start writes
#
# Without --nodes (or with --nodes 1): the single-node cluster `local`, conf in /etc/slurm (the
# default SLURM_CONF), default ports, the node is this host.
# With --nodes N (N >= 2): the cluster `localmulti` of N compute nodes mfnode1..mfnodeN, each
# slurmd in a network namespace of its own (named like the node) with its own hostname (a UTS
# namespace) and address (a veth pair to the bridge mfbr0, PREFIX.1 on the host side; node i is
# PREFIX.(10+i)); one slurmctld on the host, listening on the bridge; a munged of its own. Its
# conf is /etc/slurm-localmulti/slurm.conf: point clients at it with
#     export SLURM_CONF=/etc/slurm-localmulti/slurm.conf
# Node names resolve on the nodes through /etc/netns/<node>/hosts, mounted over /etc/hosts in
# each node's mount namespace (as `ip netns exec` does); the host's /etc/hosts is not touched.
# Run a command on a node: `ip netns exec mfnode1 CMD`. `stop --nodes N` (any N >= 2)
# removes the daemons, every process left in the namespaces, the namespaces, veths, bridge and
# those hosts files. Both clusters share the file system, as the nodes of JUWELS share GPFS.
#
# `start` also exits 4 with "unavailable: <reason>" when Slurm cannot run here at all (not
# Linux, not root and the packages missing, no network namespaces ...); the tests skip on
# exactly that (and fail in CI).
# The machine has no systemd and policy-rc.d forbids service starts, so the daemons are started
# directly (recipe: ../shared/notes/slurm.md). Environment knobs:
#   MFILE_SLURM_CPUS        CPUs each node advertises (default: max(real, 4)); more than the real
#                           cores lets `srun -n 4` and a few array elements run at once on 2 cores.
#   MFILE_SLURM_KEEP_STATE  1: a (re)started slurmctld keeps the jobs of the previous one; by default
#                           it starts empty, so old queued jobs never run again.
#   MFILE_SLURM_SUBNET      multi-node: the first three octets of the nodes' /24 (default 10.199.17)
#   MFILE_SLURM_PORT        multi-node: slurmctld's port; slurmd's is the next (default 6917, 6918)
set -euo pipefail

MARKER="# Written by mfile scripts/local-slurm.sh; rewritten on every start."
SBIN=${MFILE_SLURM_SBIN:-/usr/sbin}     # where the daemons are (tests point it elsewhere)
PACKAGES=(munge slurmctld slurmd slurm-client openmpi-bin libopenmpi-dev)
EXIT_DOWN=3
EXIT_UNAVAILABLE=4
MAX_NODES=16
SINGLE_STATE_DIR=/run/mfile-local-slurm
MULTI_STATE_DIR=/run/mfile-local-slurm-multi

say() { printf 'local-slurm: %s\n' "$*" >&2; }
unavailable() { printf 'unavailable: %s\n' "$*"; exit "$EXIT_UNAVAILABLE"; }
usage() {
    [[ -z ${1:-} ]] || echo "local-slurm: $1" >&2
    echo "usage: $0 start|stop|status|restart|restart-ctld|conf [--nodes N]   (N from 1 to $MAX_NODES; 1: the single-node cluster)" >&2
    exit 2
}

# ----------------------------------------------------------------------------- arguments, mode

COMMAND=${1:-}
[[ $# -gt 0 ]] && shift
NODES=1
while (($#)); do
    case $1 in
        --nodes)
            [[ $# -ge 2 ]] || usage "--nodes needs a number"
            NODES=$2
            shift 2
            ;;
        --nodes=*)
            NODES=${1#--nodes=}
            shift
            ;;
        *) usage "unknown argument '$1'" ;;
    esac
done
if ! [[ $NODES =~ ^[0-9]+$ ]] || ((10#$NODES < 1 || 10#$NODES > MAX_NODES)); then
    usage "--nodes wants a whole number from 1 to $MAX_NODES, not '$NODES'"
fi
NODES=$((10#$NODES))

if ((NODES == 1)); then
    MULTI=0
    CLUSTER=local
    CONF_DIR=/etc/slurm
    STATE_DIR=$SINGLE_STATE_DIR           # pid files of the daemons this script started
    OTHER_STATE_DIR=$MULTI_STATE_DIR
    LOG_DIR=/var/log/slurm
    SPOOL_CTLD=/var/spool/slurmctld
    SPOOL_D=/var/spool/slurmd
else
    MULTI=1
    CLUSTER=localmulti
    CONF_DIR=/etc/slurm-localmulti
    STATE_DIR=$MULTI_STATE_DIR
    OTHER_STATE_DIR=$SINGLE_STATE_DIR
    LOG_DIR=/var/log/slurm-localmulti
    SPOOL_CTLD=/var/spool/slurm-localmulti/slurmctld
    SPOOL_D=/var/spool/slurm-localmulti   # one directory per node below it
    MUNGE_DIR=$STATE_DIR/munge            # this cluster's own munged: socket, key, pid, seed
    MUNGE_SOCKET=$MUNGE_DIR/munge.socket
    BRIDGE=mfbr0
    SUBNET=${MFILE_SLURM_SUBNET:-10.199.17}
    CTLD_PORT=${MFILE_SLURM_PORT:-6917}
    if ! [[ $SUBNET =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] \
        || ((BASH_REMATCH[1] > 255 || BASH_REMATCH[2] > 255 || BASH_REMATCH[3] > 255)); then
        usage "MFILE_SLURM_SUBNET wants three octets such as 10.199.17, not '$SUBNET'"
    fi
    if ! [[ $CTLD_PORT =~ ^[0-9]+$ ]] || ((CTLD_PORT < 1024 || CTLD_PORT > 65534)); then
        usage "MFILE_SLURM_PORT wants a port from 1024 to 65534, not '$CTLD_PORT'"
    fi
    SLURMD_PORT=$((CTLD_PORT + 1))
    PACKAGES+=(iproute2)
fi
CONF=$CONF_DIR/slurm.conf
# Every client this script runs (and every daemon it starts) reads this cluster's conf.
export SLURM_CONF=$CONF

# Multi-node names: node i is mfnode<i> (also its network namespace and hostname); its veth
# on the host side is mfveth<i>.
node_name() { echo "mfnode$1"; }
node_addr() { echo "$SUBNET.$((10 + $1))"; }
node_names() {
    local i
    for ((i = 1; i <= NODES; i++)); do node_name "$i"; done
}

have_binaries() {
    [[ -x $SBIN/slurmctld && -x $SBIN/slurmd && -x $SBIN/munged ]] \
        && command -v sinfo >/dev/null && command -v sbatch >/dev/null \
        && { ((MULTI == 0)) || { command -v ip >/dev/null && command -v unshare >/dev/null; }; }
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
        if ((MULTI)); then
            echo "not root: this script creates network namespaces and starts munged, slurmctld" \
                "and slurmd as root (run: sudo $0 start --nodes $NODES)"
        else
            echo "not root: this script starts munged, slurmctld and slurmd as root (run: sudo $0 start)"
        fi
        return
    fi
    if ((MULTI)) && [[ ! -e /proc/self/ns/net || ! -e /proc/self/ns/uts ]]; then
        echo "this kernel has no network or UTS namespaces; the multi-node cluster needs both"
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
# a recycled pid. `label` names the pid file (the slurmd of several nodes share a command name).
our_pid() {
    local label=$1 comm=${2:-$1} file="$STATE_DIR/$1.pid" pid
    [[ -f $file ]] || return 0
    pid=$(head -n1 "$file" 2>/dev/null || true)
    if alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]]; then
        echo "$pid"
    fi
}

# Any live process of that name, ours or not (pgrep alone also lists zombies), except the daemons
# of this script's other cluster (the single-node and the multi-node cluster coexist).
any_running() {
    local pid other
    other=" $(cat "$OTHER_STATE_DIR"/*.pid 2>/dev/null | tr '\n' ' ') "
    for pid in $(pgrep -x "$1" 2>/dev/null); do
        [[ $other == *" $pid "* ]] && continue
        alive "$pid" && return 0
    done
    return 1
}

# TERM, up to 10 s, then KILL.
terminate() {
    local label=$1 pid=$2 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    say "$label ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
}

stop_daemon() {
    local label=$1 comm=${2:-$1} pid
    pid=$(our_pid "$label" "$comm")
    if [[ -z $pid ]]; then
        rm -f "$STATE_DIR/$label.pid"
        return 0
    fi
    terminate "$label" "$pid"
    rm -f "$STATE_DIR/$label.pid"
    say "stopped $label ($pid)"
}

# Wait for a daemon's own pid file, then record the pid as ours (under `label`).
adopt_pidfile() {
    local label=$1 pidfile=$2 log=$3 i pid
    for ((i = 0; i < 100; i++)); do
        pid=$(head -n1 "$pidfile" 2>/dev/null || true)
        if alive "$pid"; then
            echo "$pid" >"$STATE_DIR/$label.pid"
            return 0
        fi
        sleep 0.1
    done
    say "$label did not start; last lines of its log:"
    tail -n 20 "$log" >&2 2>/dev/null || true
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
# Multi-node: one line per node, each with the CPUs of the single node; they share the memory.
node_lines() {
    local host detected real_cpus cpus mem i
    host=$(host_short)
    detected=$(slurmd -C | head -n1)
    real_cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$detected")
    mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
    cpus=${MFILE_SLURM_CPUS:-$((real_cpus > 4 ? real_cpus : 4))}
    # Leave the OS a little memory so that `--mem` near the total is refused, as on a real node.
    mem=$((mem > 2048 ? mem - 512 : mem))
    if ((MULTI == 0)); then
        echo "NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1" \
            "CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN"
        return
    fi
    for ((i = 1; i <= NODES; i++)); do
        echo "NodeName=$(node_name "$i") NodeAddr=$(node_addr "$i") CPUs=$cpus Boards=1 SocketsPerBoard=1" \
            "CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$((mem / NODES)) State=UNKNOWN"
    done
}

render_conf() {
    local host
    host=$(host_short)
    if ((MULTI)); then
        cat <<EOF
$MARKER
# The multi-node test cluster: $NODES nodes, each slurmd in a network namespace of its own.
# Clients: export SLURM_CONF=$CONF
# Partitions are named like those of the \`local-multinode\` site profile.
ClusterName=$CLUSTER
SlurmctldHost=$host($SUBNET.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
# cred_expire: a requeued job waits this long before it starts again (default 120 s).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
StateSaveLocation=$SPOOL_CTLD
SlurmdSpoolDir=$SPOOL_D/%n
SlurmctldPidFile=$STATE_DIR/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/slurmd-%n.daemon.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
# The slurmstepd of each node make PMIx directories named by job and step under TmpFS: on one
# shared /tmp the second node would find the first one's ("File exists") and MPI would not start.
TmpFS=$SPOOL_D/%n/tmp
# A node that stops answering is DOWN (and its jobs requeued) within ~20 s, not 5 minutes:
# SlurmdTimeout, plus failed pings that each wait MessageTimeout.
SlurmdTimeout=10
MessageTimeout=5
EOF
    else
        # Byte for byte what earlier versions wrote: a start from any checkout must not restart a
        # running single-node cluster (and the jobs of whoever is using it) over a reordering.
        cat <<EOF
$MARKER
# Partitions are named like those of the \`local\` site profile (src/mfile/profiles/local.toml).
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL_CTLD
SlurmdSpoolDir=$SPOOL_D
SlurmctldPidFile=$STATE_DIR/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/slurmd.daemon.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
EOF
    fi
    cat <<EOF
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
$(node_lines)
PartitionName=batch Nodes=ALL Default=YES MaxTime=1-00:00:00 State=UP
PartitionName=devel Nodes=ALL Default=NO MaxTime=02:00:00 State=UP
EOF
}

# Write slurm.conf; prints "changed" when its content differs from what was there.
write_conf() {
    local new node
    if [[ -f $CONF ]] && ! grep -qxF "$MARKER" "$CONF"; then
        say "$CONF exists and was not written by this script; refusing to replace it"
        say "(move it away to use the local test cluster)"
        return 1
    fi
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$SPOOL_CTLD" "$SPOOL_D" "$STATE_DIR"
    if ((MULTI)); then
        for node in $(node_names); do mkdir -p "$SPOOL_D/$node/tmp"; done
    fi
    new=$(render_conf)
    if [[ -f $CONF ]] && [[ $new == "$(cat "$CONF")" ]]; then
        return 0
    fi
    printf '%s\n' "$new" >"$CONF.tmp.$$"
    mv -f "$CONF.tmp.$$" "$CONF"
    echo changed
}

# ----------------------------------------------------------------------------- daemons

munge_works() {
    if ((MULTI)); then
        munge -S "$MUNGE_SOCKET" -n 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1
    else
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1
    fi
}

wait_munge() {
    local i
    for ((i = 0; i < 50; i++)); do munge_works && return 0; sleep 0.1; done
    say "munged started but munge/unmunge fail"
    return 1
}

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
    wait_munge
}

# The multi-node cluster's own munged (socket, key, pid and seed under $MUNGE_DIR), shared by its
# nodes: the single-node cluster's munged is never touched, and stopping this one cannot break
# that cluster.
start_own_munged() {
    munge_works && return 0
    stop_daemon munged  # ours, but not answering
    mkdir -p "$MUNGE_DIR"
    chmod 0755 "$STATE_DIR"
    chown munge:munge "$MUNGE_DIR"
    chmod 0755 "$MUNGE_DIR"
    if [[ ! -s $MUNGE_DIR/munge.key ]]; then
        dd if=/dev/urandom bs=1 count=1024 of="$MUNGE_DIR/munge.key" status=none
        chown munge:munge "$MUNGE_DIR/munge.key"
        chmod 0400 "$MUNGE_DIR/munge.key"
    fi
    touch "$LOG_DIR/munged.log"
    chown munge:munge "$LOG_DIR/munged.log"
    runuser -u munge -- "$SBIN/munged" --force --socket="$MUNGE_SOCKET" --key-file="$MUNGE_DIR/munge.key" \
        --pid-file="$MUNGE_DIR/munged.pid" --seed-file="$MUNGE_DIR/munged.seed" \
        --log-file="$LOG_DIR/munged.log" 9>&-
    adopt_pidfile munged "$MUNGE_DIR/munged.pid" "$LOG_DIR/munged.log"
    wait_munge
}

clear_ctld_state() {
    # A fresh slurmctld forgets the jobs of an earlier cluster: jobs queued by a previous session
    # or test run would otherwise start again here, on the cores the tests need. (Emptying the
    # state directory is instant; `slurmctld -c` purges old jobs one by one, ~15 ms each.)
    if [[ ${MFILE_SLURM_KEEP_STATE:-0} != 1 ]]; then
        find "$SPOOL_CTLD" -mindepth 1 -delete
    fi
}

start_slurm_daemon() {
    local name=$1
    [[ -n $(our_pid "$name") ]] && return 0
    if any_running "$name"; then
        say "a $name this script did not start is running; leaving it alone"
        return 0
    fi
    rm -f "$STATE_DIR/$name.daemon.pid"
    [[ $name == slurmctld ]] && clear_ctld_state
    "$SBIN/$name" 9>&-  # the daemon must not inherit (and hold) the start lock
    adopt_pidfile "$name" "$STATE_DIR/$name.daemon.pid" "$LOG_DIR/$name.log"
}

# Multi-node: the one slurmctld, on the host. Another slurmctld running is no reason to refuse:
# that is the single-node cluster's (other conf, other port).
start_multi_ctld() {
    local node
    [[ -n $(our_pid slurmctld) ]] && return 0
    rm -f "$STATE_DIR/slurmctld.daemon.pid"
    clear_ctld_state
    if [[ ${MFILE_SLURM_KEEP_STATE:-0} != 1 ]]; then
        # Job ids start again at 1: what the nodes kept of earlier jobs (PMIx sockets named by
        # job and step) would collide with the new ones. No node runs yet, so nothing uses it.
        for node in $(node_names); do
            find "$SPOOL_D/$node" -mindepth 1 -delete
            mkdir -p "$SPOOL_D/$node/tmp"
        done
    fi
    "$SBIN/slurmctld" 9>&-
    adopt_pidfile slurmctld "$STATE_DIR/slurmctld.daemon.pid" "$LOG_DIR/slurmctld.log"
}

# Multi-node: the slurmd of node i, inside the node's network namespace, a UTS namespace with the
# node's hostname, and a mount namespace in which /etc/netns/<node>/hosts is /etc/hosts (what
# `ip netns exec` does, but without its remount of /sys, which hides /sys/fs/cgroup from slurmd).
# Mounts made on the host later still reach the node (slave propagation): one shared file system.
start_node_slurmd() {
    local node
    node=$(node_name "$1")
    [[ -n $(our_pid "slurmd-$node" slurmd) ]] && return 0
    rm -f "$STATE_DIR/slurmd-$node.daemon.pid"
    # shellcheck disable=SC2016  # $1 and $@ belong to the inner shell
    nsenter --net="/run/netns/$node" -- unshare --uts --mount --propagation slave -- /bin/sh -c \
        'mount --bind "/etc/netns/$1/hosts" /etc/hosts && hostname "$1" && shift && exec "$@"' \
        sh "$node" "$SBIN/slurmd" -N "$node" 9>&-
    adopt_pidfile "slurmd-$node" "$STATE_DIR/slurmd-$node.daemon.pid" "$LOG_DIR/slurmd-$node.log"
}

cluster_responds() {
    # Multi-node: without its bridge no client can reach slurmctld; asking would take seconds.
    if ((MULTI)) && ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        return 1
    fi
    timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'
}

# "<node> <state>" per node (sinfo lists a node once per partition).
node_states() { timeout 5 sinfo -h -N -o '%N %T' 2>/dev/null | sort -u; }

node_state() {
    local name=$1 node state
    while read -r node state; do
        if [[ $node == "$name" ]]; then
            echo "$state"
            return 0
        fi
    done < <(node_states)
}

# The nodes this cluster has.
expected_nodes() {
    if ((MULTI)); then node_names; else host_short; fi
}

all_nodes_up() {
    local node
    for node in $(expected_nodes); do
        [[ $(node_state "$node") =~ ^(idle|mixed|allocated|completing)$ ]] || return 1
    done
}

wait_idle() {
    local i node
    for ((i = 0; i < 600; i++)); do
        all_nodes_up && return 0
        for node in $(expected_nodes); do
            case $(node_state "$node" || true) in
                down* | drain*) scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
            esac
        done
        sleep 0.1
    done
    say "nodes did not become idle within 60 s ($(node_states | tr '\n' ' ')); last lines of the slurmd logs:"
    if ((MULTI)); then
        for node in $(expected_nodes); do tail -n 10 "$LOG_DIR/slurmd-$node.log" >&2 2>/dev/null || true; done
    else
        tail -n 20 "$LOG_DIR/slurmd.log" >&2 2>/dev/null || true
    fi
    return 1
}

summary() {
    local partitions
    partitions=$(sinfo -h -o %P | tr '\n' ' ' | sed 's/ $//')
    if ((MULTI)); then
        echo "up: cluster $CLUSTER, nodes $(node_states | tr '\n' ',' | sed 's/,$//; s/,/, /g')," \
            "partitions $partitions; clients need SLURM_CONF=$CONF"
    else
        echo "up: cluster $CLUSTER, node $(host_short) $(node_state "$(host_short)")," \
            "partitions $partitions"
    fi
}

# ----------------------------------------------------------------------------- network (multi-node)

# What this script's network set-up left on the machine, found by name (for status and stop):
# namespaces mfnode<i>, links mfveth<i> and the bridge, hosts files under /etc/netns.
net_leftovers() {
    local path link
    for path in /run/netns/mfnode* /etc/netns/mfnode*; do
        [[ -e $path && ${path##*/} =~ ^mfnode[0-9]+$ ]] || continue
        if [[ $path == /run/* ]]; then echo "netns ${path##*/}"; else echo "file $path"; fi
    done
    while read -r link; do
        [[ $link =~ ^(mfveth[0-9]+|mfbr0)$ ]] && echo "link $link"
    done < <(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
    return 0
}

# Daemons of the multi-node cluster still running, whoever started them ("comm(pid)"): found by
# the conf in their environment or this cluster's state directory in their command line, so a
# daemon whose pid file is gone is found too.
multi_daemons() {
    local dir pid comm
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        comm=$(cat "$dir/comm" 2>/dev/null) || continue
        [[ $comm =~ ^(slurmctld|slurmd|slurmstepd|munged)$ ]] || continue
        alive "$pid" || continue
        if tr '\0' '\n' <"$dir/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" \
            || tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -qF "$STATE_DIR/"; then
            echo "$comm($pid)"
        fi
    done
    return 0
}

# Refuse a subnet that this machine already uses elsewhere: the nodes' traffic would silently
# go to the wrong interface.
check_subnet_free() {
    local used
    used=$(ip -4 -o addr show 2>/dev/null | awk -v net="$SUBNET." -v br="$BRIDGE" \
        'index($4, net) == 1 && $2 != br { print $2 " " $4 }')
    if [[ -n $used ]]; then
        say "the nodes' subnet $SUBNET.0/24 is already in use here ($used);" \
            "pick another with MFILE_SLURM_SUBNET (for example MFILE_SLURM_SUBNET=10.198.17)"
        return 1
    fi
}

# `ip` failing here means the machine cannot do it at all (no CAP_NET_ADMIN, no veth or bridge
# support in the kernel): unavailable, in ip's own words.
net() {
    local out
    if ! out=$(ip "$@" 2>&1); then
        unavailable "cannot set up the nodes' network: 'ip $*' says: ${out//$'\n'/ }"
    fi
}

hosts_file() {
    local i
    echo "# Written by mfile scripts/local-slurm.sh (cluster $CLUSTER); removed by its stop."
    echo "127.0.0.1 localhost"
    echo "$SUBNET.1 $(host_short)"
    for ((i = 1; i <= NODES; i++)); do echo "$(node_addr "$i") $(node_name "$i")"; done
}

setup_network() {
    local i node veth
    check_subnet_free
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        net link add "$BRIDGE" type bridge
    fi
    net addr replace "$SUBNET.1/24" dev "$BRIDGE"
    net link set "$BRIDGE" up
    for ((i = 1; i <= NODES; i++)); do
        node=$(node_name "$i")
        veth=mfveth$i
        [[ -e /run/netns/$node ]] || net netns add "$node"
        if ! ip link show "$veth" >/dev/null 2>&1; then
            net link add "$veth" type veth peer name eth0 netns "$node"
        fi
        net link set "$veth" master "$BRIDGE"
        net link set "$veth" up
        net -n "$node" addr replace "$(node_addr "$i")/24" dev eth0
        net -n "$node" link set lo up
        net -n "$node" link set eth0 up
        mkdir -p "/etc/netns/$node"
        hosts_file >"/etc/netns/$node/hosts"
    done
}

# Every process still in a node's namespace (job steps, ranks that a dead slurmd left behind).
kill_namespace() {
    local node=$1 pids i
    [[ -e /run/netns/$node ]] || return 0
    pids=$(ip netns pids "$node" 2>/dev/null | tr '\n' ' ')
    [[ -n ${pids// /} ]] || return 0
    # shellcheck disable=SC2086  # a list of pids
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        pids=$(ip netns pids "$node" 2>/dev/null | tr '\n' ' ')
        [[ -n ${pids// /} ]] || return 0
        sleep 0.1
    done
    say "processes in $node ignored SIGTERM for 5 s ($pids); sending SIGKILL"
    # shellcheck disable=SC2086  # a list of pids
    kill -KILL $pids 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        [[ -z $(ip netns pids "$node" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
}

teardown_network() {
    local what name
    while read -r what name; do
        case $what in
            netns)
                kill_namespace "$name"
                ip netns del "$name" 2>/dev/null || say "could not delete network namespace $name"
                ;;
            link) ip link del "$name" 2>/dev/null || true ;;  # a veth may already have gone with its namespace
            file) rm -rf "$name" ;;
        esac
    done < <(net_leftovers)
    rmdir /etc/netns 2>/dev/null || true
}

# ----------------------------------------------------------------------------- commands

elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

cmd_start() {
    local reason changed t0 i
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
    if ((MULTI)); then
        if [[ $changed == changed ]] && [[ -n $(net_leftovers)$(our_pid slurmctld) ]]; then
            say "slurm.conf changed; stopping the running multi-node cluster first"
            stop_multi
            mkdir -p "$STATE_DIR"
        fi
        setup_network
        start_own_munged
        start_multi_ctld
        for ((i = 1; i <= NODES; i++)); do start_node_slurmd "$i"; done
    else
        if [[ $changed == changed ]] && [[ -n $(our_pid slurmctld)$(our_pid slurmd) ]]; then
            say "slurm.conf changed; restarting slurmctld and slurmd"
            stop_daemon slurmd
            stop_daemon slurmctld
        fi
        start_munged
        start_slurm_daemon slurmctld
        start_slurm_daemon slurmd
    fi
    wait_idle
    summary
    say "ready in $(elapsed_since "$t0") s"
}

# Everything of the multi-node cluster, in order: the nodes' slurmd and whatever still runs in
# their namespaces, the network, slurmctld, munged, the state directory (pid files, munge key).
stop_multi() {
    local pidfile label pid
    for pidfile in "$STATE_DIR"/slurmd-*.pid; do
        [[ -e $pidfile && $pidfile != *.daemon.pid ]] || continue
        label=${pidfile##*/}
        stop_daemon "${label%.pid}" slurmd
    done
    teardown_network
    stop_daemon slurmctld
    stop_daemon munged
    # Daemons of this cluster whose pid files were lost (a state directory removed by hand).
    for label in $(multi_daemons); do
        pid=${label#*(}
        terminate "$label" "${pid%)}"
        say "stopped $label (it had no pid file)"
    done
    rm -rf "$STATE_DIR"
}

cmd_stop() {
    local t0 left
    t0=$(date +%s.%N)
    if ((MULTI)); then
        if [[ ! -d $STATE_DIR && -z $(net_leftovers) ]]; then
            say "nothing to stop (no $STATE_DIR, no namespaces)"
            return 0
        fi
        if [[ $EUID -ne 0 ]]; then
            say "stopping the multi-node cluster needs root (run: sudo $0 stop --nodes $NODES)"
            return 1
        fi
        exec 9>"$STATE_DIR.lock"
        flock 9
        stop_multi
        left=$(net_leftovers; multi_daemons)
        if [[ -n $left ]]; then
            say "left behind: ${left//$'\n'/, }"
            return 1
        fi
        say "stopped in $(elapsed_since "$t0") s"
        return 0
    fi
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
    local reason count left
    if cluster_responds && all_nodes_up; then
        count=$(node_states | wc -l)
        if ((MULTI && count != NODES)); then
            echo "not running: cluster $CLUSTER has $count nodes, not $NODES (restart it with --nodes $NODES)"
            return "$EXIT_DOWN"
        fi
        summary
        return 0
    fi
    reason=$(unavailable_reason)
    [[ -z $reason ]] || unavailable "$reason"
    if cluster_responds; then
        if ((MULTI)); then
            echo "not running: slurmctld answers but the nodes are: $(node_states | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
        else
            echo "not running: slurmctld answers but node $(host_short) is '$(node_state "$(host_short)")'"
        fi
    elif ((MULTI)); then
        left=$(net_leftovers; multi_daemons)
        if [[ -n $left ]]; then
            echo "not running (left over: ${left//$'\n'/, }; clean up with: $0 stop --nodes $NODES)"
        else
            echo "not running"
        fi
    else
        echo "not running"
    fi
    return "$EXIT_DOWN"
}

# slurmctld alone, stopped (it saves its state) and started on that state: jobs queued, running
# and finished stay, the slurmd and the jobs' processes are not touched.
cmd_restart_ctld() {
    local t0 i
    t0=$(date +%s.%N)
    exec 9>"$STATE_DIR.lock"
    flock 9
    if [[ -z $(our_pid slurmctld) ]]; then
        echo "not running: no slurmctld of this script to restart (start it first)" >&2
        return "$EXIT_DOWN"
    fi
    stop_daemon slurmctld
    if ((MULTI)); then
        MFILE_SLURM_KEEP_STATE=1 start_multi_ctld
    else
        MFILE_SLURM_KEEP_STATE=1 start_slurm_daemon slurmctld
    fi
    for ((i = 0; i < 100; i++)); do
        cluster_responds && break
        sleep 0.2
    done
    cluster_responds || { say "slurmctld did not answer after its restart"; return 1; }
    say "slurmctld restarted in $(elapsed_since "$t0") s"
}

case $COMMAND in
    start) cmd_start ;;
    restart-ctld) cmd_restart_ctld ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop && cmd_start ;;
    conf) render_conf ;;
    *) usage ;;
esac
