#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of `ringtrain launch slurm`: munge,
# slurmctld and slurmd from Debian's packages (slurmctld slurmd slurm-client munge), with a
# config written here. Run as root. Idempotent: a cluster already answering is left alone.
#   bash scripts/slurm-local.sh          start it (installs the packages when apt-get can)
#   bash scripts/slurm-local.sh --stop   stop the daemons
set -euo pipefail

conf=/etc/slurm/slurm.conf
state=/var/spool/slurm-local

if [ "${1:-}" = "--stop" ]; then
  pkill -x slurmd || true
  pkill -x slurmctld || true
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "slurm-local.sh: run as root (it starts munged, slurmctld and slurmd)" >&2
  exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  echo "slurm-local.sh: a cluster is already up"
  exit 0
fi

# munge: the key is made by the package; the daemon runs as its own user.
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge /etc/munge
install -d -o munge -g munge -m 0755 /run/munge
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

host=$(hostname -s)
# More CPUs than the machine has (config_overrides): a 2-task test job fits beside anything else.
mkdir -p "$state/ctld" "$state/d" /var/log/slurm
cat > "$conf" <<CONF
ClusterName=ringtrain-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=600
MpiDefault=none
NodeName=$host CPUs=8 RealMemory=4096 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 1 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm-local.sh: one-node cluster up ($host)"
    exit 0
  fi
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm-local.sh: the node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
sinfo >&2 || true
exit 1
