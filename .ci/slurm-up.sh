#!/usr/bin/env bash
# Brings up a one-node Slurm cluster on this machine (Debian, run as root, no
# systemd) so that `sinklab sweep --backend slurm` and its test run for real:
# installs slurmctld, slurmd, the client tools and munge, writes a minimal
# slurm.conf (no accounting, node at 127.0.0.1 with this machine's CPUs and
# memory), starts munged as user munge, then slurmctld and slurmd, and waits
# until `sinfo` shows the node idle. Running it again when the node is already
# up does nothing.
#
#   sudo .ci/slurm-up.sh            # then: sinfo; sbatch --wait ...
#
# Stop it again with: kill $(cat /run/slurmd.pid) $(cat /run/slurmctld.pid) $(cat /run/munge/munged.pid)
set -euo pipefail

NODE=sinklab-node
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm

if [ "$(id -u)" != 0 ]; then
	echo "slurm-up: must run as root" >&2
	exit 1
fi

node_state() { sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true; }

if command -v sinfo >/dev/null; then
	case "$(node_state)" in
	idle | mix* | alloc* | comp*) echo "slurm-up: node $NODE already up"; exit 0 ;;
	esac
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# munge: a key (the package normally creates one) and its runtime folders.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
	if command -v mungekey >/dev/null; then
		runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
	else
		dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
	fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
	runuser -u munge -- /usr/sbin/munged
fi

# This machine's CPUs (as the scheduler of this container sees them) and
# memory in MiB, less 5% for the system (slurmd drains a node whose
# configured RealMemory exceeds what it finds).
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.95 }' /proc/meminfo)

install -d -m 0755 "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
cat >"$CONF_DIR/slurm.conf" <<CONF
# Written by .ci/slurm-up.sh: a one-node cluster for tests.
ClusterName=sinklab
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=256
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=10
Waittime=0
MaxArraySize=10001
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF

if ! pgrep -x slurmctld >/dev/null; then
	slurmctld -i
fi
if ! pgrep -x slurmd >/dev/null; then
	slurmd -N "$NODE"
fi

for i in $(seq 1 60); do
	state=$(node_state)
	case "$state" in
	idle) echo "slurm-up: node $NODE idle ($CPUS CPUs, $MEM_MB MiB)"; exit 0 ;;
	down* | drain* | fail*)
		scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
	esac
	sleep 1
done
echo "slurm-up: node $NODE not idle after 60 s (state: ${state:-unknown}); logs in $LOG_DIR" >&2
sinfo >&2 || true
tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
exit 1
