#!/usr/bin/env bash
# Make real PostgreSQL and MariaDB servers available to the test suite (and install
# Prometheus, which a system test runs against the example service, wrk and Chromium).
#
# Installs the Debian packages when missing, starts a server only when none answers,
# and creates the test databases and user. It never stops anything: a server it did
# not start is not its to stop, and one it did start stays up for the next run.
set -euo pipefail

TEST_USER=${FBB_TEST_DB_USER:-fbb}
TEST_PASSWORD=${FBB_TEST_DB_PASSWORD:-fbb}
TEST_DATABASES=(fbb_test fbb_bench fbb_newcomer fbb_analytics)  # fbb_newcomer: a new service's own, empty; fbb_analytics: the example's second database

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

wait_for() {  # wait_for NAME COMMAND...: poll until COMMAND succeeds, at most 60 s
  local name=$1; shift
  for _ in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "ensure.sh: $name did not come up" >&2
  return 1
}

install_packages() {
  local missing=()
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
  [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
  # Prometheus is not started here: a system test runs it against the example service.
  command -v prometheus >/dev/null || missing+=(prometheus)
  # wrk loads the HTTP benchmark (the bench's smoke test runs it): a Python client
  # tops out near 200 requests/s here, below either server.
  command -v wrk >/dev/null || missing+=(wrk)
  # Headless Chromium renders /docs with no network beyond 127.0.0.1 (a system test).
  command -v chromium >/dev/null || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    if [[ " ${missing[*]} " == *" mariadb-server "* ]]; then
      # Before the package: should its installation start the server, it starts with
      # the binary log the replicas need (ensure.sh passes the same flags itself).
      as_root mkdir -p /etc/mysql/mariadb.conf.d
      as_root sh -c 'printf "[mariadbd]\nserver-id = 1\nlog-bin = fbb-bin\nbinlog-format = ROW\n" \
        > /etc/mysql/mariadb.conf.d/60-fbb-replication.cnf'
    fi
    echo "ensure.sh: installing ${missing[*]}"
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

start_postgresql() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_lsclusters -h | grep -q "^$version main" || as_root pg_createcluster "$version" main >/dev/null
    echo "ensure.sh: starting PostgreSQL $version"
    as_root pg_ctlcluster "$version" main start
    wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432
  fi
  local psql=(as_root su postgres -c)
  "${psql[@]}" "psql -v ON_ERROR_STOP=1 -q" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_USER') THEN
    CREATE ROLE $TEST_USER LOGIN PASSWORD '$TEST_PASSWORD';
  END IF;
END \$\$;
SQL
  for db in "${TEST_DATABASES[@]}"; do
    if ! "${psql[@]}" "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '$db'\"" | grep -q 1; then
      "${psql[@]}" "createdb -O $TEST_USER -E UTF8 -T template0 --lc-collate=C --lc-ctype=C $db"
    fi
    # The replica tests hold the replica behind the primary (the grant reaches it by WAL).
    "${psql[@]}" "psql -q -d $db -c 'GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO $TEST_USER'"
  done
}

start_mariadb() {
  if ! as_root mariadb -e 'SELECT 1' >/dev/null 2>&1; then
    as_root mkdir -p /run/mysqld
    as_root chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || as_root mariadb-install-db --user=mysql >/dev/null
    echo "ensure.sh: starting MariaDB"
    # A binary log with GTIDs: the replicas below replicate from it.
    as_root sh -c 'nohup /usr/sbin/mariadbd --user=mysql --server-id=1 --log-bin=fbb-bin \
      --binlog-format=ROW >/var/log/fbb-mariadb.log 2>&1 &'
    wait_for MariaDB as_root mariadb -e 'SELECT 1'
  fi
  if [ "$(as_root mariadb -N -e 'SELECT @@log_bin')" != 1 ]; then
    echo "ensure.sh: the MariaDB on port 3306 runs without a binary log, so it cannot have" \
      "replicas: restart it with --server-id=1 --log-bin" >&2
    return 1
  fi
  local statements=""
  for host in 127.0.0.1 localhost; do
    statements+="CREATE USER IF NOT EXISTS '$TEST_USER'@'$host' IDENTIFIED BY '$TEST_PASSWORD';"
    for db in "${TEST_DATABASES[@]}"; do
      statements+="GRANT ALL PRIVILEGES ON $db.* TO '$TEST_USER'@'$host';"
    done
    # The replica tests read a replica's lag (SHOW REPLICA STATUS) and hold a replica
    # behind (STOP REPLICA SQL_THREAD) as the test user; the grants reach the replicas.
    statements+="GRANT SLAVE MONITOR, REPLICATION SLAVE ADMIN ON *.* TO '$TEST_USER'@'$host';"
  done
  # The tests create triggers as the test user (a key release the database refuses, in
  # tests/service/test_idempotency_keys.py); with the binary log on, MariaDB lets only
  # SUPER do that unless it trusts the creators of triggers and functions.
  statements+="SET GLOBAL log_bin_trust_function_creators = 1;"
  statements+="CREATE USER IF NOT EXISTS 'fbb_replication'@'127.0.0.1' IDENTIFIED BY 'fbb_replication';"
  statements+="GRANT REPLICATION SLAVE ON *.* TO 'fbb_replication'@'127.0.0.1';"
  for db in "${TEST_DATABASES[@]}"; do
    statements+="CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
  done
  as_root mariadb -e "$statements"
}

start_mariadb_replica() {  # start_mariadb_replica PORT SERVER_ID DELAY_SECONDS
  # A second mariadbd with a data directory of its own, replicating from the test server
  # by GTID, read-only to the test user (its grants come with the dump); DELAY_SECONDS > 0 makes one that lags on purpose
  # (MASTER_DELAY). Seeded once from a consistent dump that carries its GTID position.
  local port=$1 server_id=$2 delay=$3
  local data=/var/lib/fbb-mariadb-replica-$port socket=/run/mysqld/fbb-replica-$port.sock
  as_root mariadb -S "$socket" -e 'SELECT 1' >/dev/null 2>&1 && return 0
  local seed=0
  if [ ! -d "$data/mysql" ]; then
    as_root rm -rf "$data"
    as_root mariadb-install-db --user=mysql --datadir="$data" >/dev/null
    seed=1
  fi
  echo "ensure.sh: starting the MariaDB replica on port $port"
  as_root sh -c "nohup /usr/sbin/mariadbd --user=mysql --datadir=$data --port=$port \
    --bind-address=127.0.0.1 --socket=$socket --pid-file=$data/mariadbd.pid \
    --server-id=$server_id --read-only --relay-log=fbb-relay \
    >/var/log/fbb-mariadb-replica-$port.log 2>&1 &"
  wait_for "MariaDB replica $port" as_root mariadb -S "$socket" -e 'SELECT 1'
  if [ "$seed" = 1 ]; then
    as_root mariadb-dump --all-databases --single-transaction --gtid --master-data=1 \
      | as_root mariadb -S "$socket"
    as_root mariadb -S "$socket" -e "CHANGE MASTER TO MASTER_HOST='127.0.0.1',
      MASTER_PORT=3306, MASTER_USER='fbb_replication', MASTER_PASSWORD='fbb_replication',
      MASTER_USE_GTID=slave_pos, MASTER_DELAY=$delay; START SLAVE; FLUSH PRIVILEGES;"
  fi
}

start_postgresql_replica() {  # start_postgresql_replica PORT APPLY_DELAY
  # A streaming replica of the test server, for the read-replica tests: a base backup of
  # the primary (which already ships WAL to standbys: Debian's defaults), started as a
  # hot standby; APPLY_DELAY (e.g. 2s) makes one that lags on purpose
  # (recovery_min_apply_delay). Made once; started again when it is not answering.
  local port=$1 delay=$2
  pg_isready -q -h 127.0.0.1 -p "$port" && return 0
  local version replica
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  replica=/var/lib/postgresql/$version/fbb-replica-$port
  if [ ! -f "$replica/standby.signal" ]; then
    as_root rm -rf "$replica"
    # A replication slot keeps the WAL the replica has not received, so a replica that
    # was stopped catches up when started again, however much was written meanwhile.
    local slot=fbb_replica_$port
    as_root su postgres -c "psql -qAt -c \"SELECT pg_drop_replication_slot(slot_name)
      FROM pg_replication_slots WHERE slot_name = '$slot'\"" >/dev/null
    as_root su postgres -c "pg_basebackup -D $replica -R -X stream -c fast -C -S $slot"
    as_root su postgres -c "cat > $replica/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
hot_standby = on
recovery_min_apply_delay = '$delay'
CONF
    as_root su postgres -c "cp /etc/postgresql/$version/main/pg_hba.conf $replica/pg_hba.conf"
  fi
  echo "ensure.sh: starting the PostgreSQL replica on port $port"
  as_root su postgres -c "/usr/lib/postgresql/$version/bin/pg_ctl -D $replica -l $replica/server.log -w start" >/dev/null
  wait_for "PostgreSQL replica $port" pg_isready -h 127.0.0.1 -p "$port"
}

install_packages
start_postgresql
start_postgresql_replica 5433 0
start_postgresql_replica 5434 2s
start_mariadb
start_mariadb_replica 3307 2 0
start_mariadb_replica 3308 3 2
echo "ensure.sh: PostgreSQL and MariaDB are ready, each with a replica and a delayed replica"
