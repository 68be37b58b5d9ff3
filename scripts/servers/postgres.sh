#!/usr/bin/env bash
# Real PostgreSQL server on 127.0.0.1:15432 (TCP only, trust auth, ssl=off)
# driven by psql and pgbench.
# Output: captures/servers/postgres.pcap, captures/servers/postgres.tshark.json
source "$(dirname "$0")/lib.sh"
fs_init postgres
PORT="${PG_PORT:-15432}"
fs_ensure_base postgresql postgresql-contrib
fs_port_free "$PORT"

PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
[[ -x "$PGBIN/postgres" ]] || fs_die "postgres binary not found"
PGDATA="$FS_TMP/data"
install -d -o postgres -g postgres -m 700 "$PGDATA"
# postgres refuses to run as root: run as the postgres system user. setpriv
# exec()s, so the tracked PID is the postmaster itself.
AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
(cd "$FS_TMP" && "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres \
    --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$FS_TMP/initdb.log" 2>&1) \
    || { cat "$FS_TMP/initdb.log" >&2; fs_die "initdb failed"; }
cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = ''
ssl = off
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
CONF
cat > "$PGDATA/pg_hba.conf" <<'HBA'
# TCP only, 127.0.0.1 only, no password
host all all 127.0.0.1/32 trust
HBA
chown postgres:postgres "$PGDATA/postgresql.conf" "$PGDATA/pg_hba.conf"

(cd "$FS_TMP" && exec "${AS_PG[@]}" "$PGBIN/postgres" -D "$PGDATA" >"$FS_TMP/postgres.log" 2>&1) &
PG_PID=$!
# SIGINT = "fast shutdown"
fs_track_pid "$PG_PID" postgres INT
fs_wait_port "$PORT" "$PG_PID"

CONN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres gssencmode=disable"
export PGAPPNAME=framescope PSQLRC=/dev/null
# Wait until it accepts connections (the port listens slightly before that);
# this happens before the capture starts.
for i in $(seq 1 100); do
    psql "$CONN sslmode=disable" -Atc 'select 1' >/dev/null 2>&1 && break
    sleep 0.2
done
# pgbench tables are created before the capture (its COPY of 100k rows would
# make the capture ~10 MB).
pgbench -i -q "$CONN sslmode=disable" >"$FS_TMP/pgbench-init.log" 2>&1

fs_capture_start "tcp port $PORT"

# 1. psql script: DDL, INSERT, a 5000-row SELECT, COPY in both directions, an error.
psql "$CONN sslmode=disable" -v ON_ERROR_STOP=0 -q -o /dev/null <<'SQL'
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[]);
INSERT INTO items SELECT g, 'item-' || g, g * 1.25, ARRAY['t' || (g % 7), 'x'] FROM generate_series(1, 5000) g;
INSERT INTO items VALUES (100001, 'single', 9.99, NULL) RETURNING id, name;
SELECT id, name, price, tags, repeat('p', 40) AS pad FROM items ORDER BY id;
SELECT count(*), sum(price) FROM items;
BEGIN;
UPDATE items SET price = price + 1 WHERE id % 100 = 0;
DELETE FROM items WHERE id > 4990 AND id < 100000;
COMMIT;
COPY items (id, name, price) FROM STDIN WITH (FORMAT csv);
200001,copied-1,1.00
200002,copied-2,2.00
200003,copied-3,3.00
\.
COPY (SELECT id, name FROM items WHERE id <= 2000 ORDER BY id) TO STDOUT;
SELECT * FROM no_such_table;
SELECT 1 AS a; SELECT 2 AS b; SELECT 3 AS c;
SQL

# 3. sslmode=prefer against ssl=off: SSLRequest, the server answers 'N', then
#    the normal startup on the same connection.
psql "$CONN sslmode=prefer" -Atc 'SHOW ssl' >/dev/null

# 4. Short pgbench runs: simple protocol and extended protocol.
pgbench -n -c 2 -t 20 -M simple "$CONN sslmode=disable" >"$FS_TMP/pgbench-simple.log" 2>&1
# (psql 15 has no \bind, so the extended protocol comes from pgbench.)
pgbench -n -c 1 -t 10 -M extended "$CONN sslmode=disable" >"$FS_TMP/pgbench-ext.log" 2>&1
pgbench -n -c 1 -t 10 -M prepared "$CONN sslmode=disable" >"$FS_TMP/pgbench-prep.log" 2>&1
grep -h '^tps\|transactions actually' "$FS_TMP"/pgbench-*.log >&2 || true

fs_capture_stop
fs_summarize --port "$PORT" --proto pgsql --decode-as "tcp.port==$PORT,pgsql" \
    --server-pkgs "$(fs_pkg_versions postgresql postgresql-15 postgresql-client-15)" \
    --traffic "psql script (CREATE, 5000-row INSERT..SELECT, 5000-row SELECT, COPY FROM STDIN, COPY TO STDOUT, error, multi-statement query); psql sslmode=prefer with ssl=off (SSLRequest answered 'N'); pgbench -c 2 -t 20 -M simple; pgbench -c 1 -t 10 -M extended; pgbench -c 1 -t 10 -M prepared (tables initialised before the capture)"
