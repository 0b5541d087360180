#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine for as long as one command runs:
#   workflow/slurm/local_cluster.sh COMMAND [ARGS...]
# Installs Debian's slurm-wlm, slurmdbd, munge and mariadb-server with apt when missing
# (needs root), writes the configuration for this machine's cores and memory (`slurmd -C`)
# into a fresh temporary directory (nothing under /etc is changed; munged uses its default
# socket in /run/munge unless one is already running, slurmd links /run/slurm/conf to its
# copy of the config), starts munged, mariadbd, slurmdbd, slurmctld and configless slurmd
# on 127.0.0.1, waits until the node is idle, runs COMMAND with SLURM_CONF exported, and
# stops every job and daemon it started when it exits, whatever happens.
# slurmdbd + a private mariadb give `sacct` real job records (without slurmdbd, sacct of
# Slurm 22.05 has no data at all: accounting_storage/none disables it).
# Where apt or the daemons cannot start, it prints one line "slurm rehearsal skipped: ..."
# and exits 0 without running COMMAND. Ports: TCCLIP_SLURM_PORT_BASE (default 16817) .. +3.
set -euo pipefail
# Debian installs the daemons and mungekey in /usr/sbin, which a non-login shell (a CI runner,
# `env -i`) may not have on PATH: without it the cluster was reinstalled and then skipped.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

PORT_BASE=${TCCLIP_SLURM_PORT_BASE:-16817}
CTLD_PORT=$PORT_BASE SLURMD_PORT=$((PORT_BASE + 1)) DBD_PORT=$((PORT_BASE + 2)) DB_PORT=$((PORT_BASE + 3))
DIR=$(mktemp -d /tmp/tcclip-slurm.XXXXXX)
PIDS=()   # daemons started here, in start order; stopped in reverse order

skip() { echo "slurm rehearsal skipped: $*" >&2; exit 0; }

stop_all() {
    trap '' INT TERM   # a second signal must not cut the clean-up short
    local i pid
    if [[ -n ${CTLD_UP:-} ]]; then   # end every job first: slurmd's exit would not end them
        timeout 10 scancel --full --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 60); do [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null) ]] && break; sleep 0.5; done
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    done
    [[ $(readlink /run/slurm/conf 2>/dev/null) == "$DIR"/* ]] && rm -f /run/slurm/conf
    rmdir /run/slurm /run/munge 2>/dev/null || true
    [[ -n ${TCCLIP_SLURM_KEEP:-} ]] || rm -rf "$DIR"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v munged >/dev/null || missing+=(munge)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || skip "needs root to install ${missing[*]}"
    command -v apt-get >/dev/null || skip "no apt-get to install ${missing[*]}"
    echo "installing ${missing[*]} with apt" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"; } >"$DIR/apt.log" 2>&1 || skip "apt-get install ${missing[*]} failed (see its log above)"
}

# start NAME CMD...: a daemon in the foreground of a background job, so that its pid is ours
start() {
    local name=$1; shift
    "$@" >"$DIR/$name.out" 2>&1 &
    PIDS+=($!)
}

wait_for() {  # wait_for SECONDS WHAT CMD...: poll CMD until it succeeds
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    tail -n 5 "$DIR"/*.out >&2 2>/dev/null || true
    skip "$what did not come up within ${seconds}s"
}

start_munge() {   # on munge's default socket: configless slurmd asks for its config before it has one
    if munge --no-input >/dev/null 2>&1; then return 0; fi   # this machine's munged: use it
    mkdir -p /run/munge
    mungekey --create --keyfile="$DIR/munge.key" >/dev/null 2>&1 || skip "mungekey failed"
    start munged munged --foreground --force --key-file="$DIR/munge.key" \
        --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munged.seed"
    wait_for 10 munged munge --no-input
}

start_database() {
    mariadb-install-db --no-defaults --datadir="$DIR/db" --user="$(id -un)" --skip-test-db \
        --auth-root-authentication-method=normal >"$DIR/db-install.log" 2>&1 || skip "mariadb-install-db failed"
    start mariadbd mariadbd --no-defaults --datadir="$DIR/db" --socket="$DIR/db.sock" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --user="$(id -un)" --log-error="$DIR/mariadbd.log" \
        --innodb-buffer-pool-size=64M --pid-file="$DIR/mariadbd.pid"
    wait_for 30 mariadbd mariadb --no-defaults --socket="$DIR/db.sock" -u root -e "select 1"
    mariadb --no-defaults --socket="$DIR/db.sock" -u root -e \
        "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'rehearsal';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

write_configs() {
    local node
    node=$(slurmd -C | head -n 1)   # NodeName=<host> CPUs=... RealMemory=...: this machine
    NODE_NAME=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$node")
    mkdir -p "$DIR/state" "$DIR/spool"
    sed "s#@DIR@#$DIR#g; s#@NODE@#$node#; s#@NODE_NAME@#$NODE_NAME#g; s#@CTLD_PORT@#$CTLD_PORT#;
         s#@SLURMD_PORT@#$SLURMD_PORT#; s#@DBD_PORT@#$DBD_PORT#; s#@USER@#$(id -un)#g" \
        "$(dirname "$0")/slurm.conf.in" >"$DIR/slurm.conf"
    cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=$(id -un)
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=rehearsal
StorageLoc=slurm_acct_db
LogFile=$DIR/slurmdbd.log
PidFile=$DIR/slurmdbd.pid
EOF
    chmod 600 "$DIR/slurmdbd.conf"
    export SLURM_CONF=$DIR/slurm.conf
}

start_slurm() {
    start slurmdbd slurmdbd -D
    wait_for 30 slurmdbd timeout 5 sacctmgr --immediate list cluster
    sacctmgr --immediate add cluster tcclip-rehearsal >/dev/null
    start slurmctld slurmctld -D -i
    wait_for 30 slurmctld scontrol ping
    CTLD_UP=1
    start slurmd env -u SLURM_CONF slurmd -D -N "$NODE_NAME" --conf-server "127.0.0.1:$CTLD_PORT"
    wait_for 60 "node $NODE_NAME (idle)" bash -c "[[ \$(sinfo -h -n $NODE_NAME -o %t) == idle ]]"
}

main() {
    [[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
    [[ $(uname -s) == Linux ]] || skip "not Linux"
    install_packages
    local t0=$SECONDS
    start_munge
    start_database
    write_configs
    start_slurm
    echo "slurm $(sinfo -V | cut -d' ' -f2) up in $((SECONDS - t0))s: $(sinfo -h -N -o '%N %c CPUs %m MB %P %t' | tr '\n' ';')" >&2
    "$@"
}

main "$@"
