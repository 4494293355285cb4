#!/usr/bin/env bash
# SMTP acceptance and IMAP FETCH in one run: the embedded store (one node),
# then one and two Caravel nodes on one PostgreSQL (Debian's, fsync on, on
# loopback, started here as the postgres user in a temporary directory).
#   cargo build --release && bash bench/postgres-nodes.sh
# MESSAGES (5000), CONNECTIONS (20), FILL (10000) tune the load. Results in
# $W/*.json and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
export B=${B:-../shared/bench}
W=${W:-/var/tmp/caravel-pg-bench}
MESSAGES=${MESSAGES:-5000} CONNECTIONS=${CONNECTIONS:-20} FILL=${FILL:-10000}
[[ -x target/release/caravel ]] || { echo "build first: cargo build --release"; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
rm -rf "$W" && mkdir -p "$W/pg" && chown postgres: "$W/pg"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
runuser -u postgres -- "$PGBIN/postgres" -D "$W/pg/data" -p 55432 -k "$W/pg" -c listen_addresses=127.0.0.1 \
  -c max_connections=300 -c shared_buffers=512MB > "$W/pg/log" 2>&1 &
pids+=($!)
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p 55432; do sleep 0.1; done
psql() { "$PGBIN/psql" -h 127.0.0.1 -p 55432 -U postgres -XAtq "$@"; }

dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.1 --port=15353 --pid-file= --local=/#/ &
pids+=($!)

# node DIR N STORE_TOML: starts node N (ports 3525+1000*N ...) with its config.
node() {
  local dir=$1 n=$2 store=$3
  mkdir -p "$dir"
  printf 'hostname = "mx%s.example.test"\ndata_dir = "%s/data"\ndns.resolvers = ["127.0.0.1:15353"]\n%s\n[listen]\nsmtp = ["127.0.0.1:%s"]\nimap = ["127.0.0.1:%s"]\nhttp = ["127.0.0.1:%s"]\n' \
    "$n" "$dir" "$store" $((3525 + 1000 * n)) $((3143 + 1000 * n)) $((3080 + 1000 * n)) > "$dir/caravel.toml"
  target/release/caravel --config "$dir/caravel.toml" serve > "$dir/serve.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$((3080 + 1000 * n))/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "node $n did not start:"; cat "$dir/serve.log"; exit 1
}
users() {
  local C="target/release/caravel --config $1/caravel.toml"
  $C domain add example.test 2>/dev/null
  for i in $(seq 1 100); do echo "Bench-Password-2026" | $C user add "user$i@example.test" --password-stdin >/dev/null 2>&1; done
}
stop_nodes() { for p in "${node_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done; }
# CPU seconds (user + system) used so far by processes named $1.
cpu() {
  ps -C "$1" -o times= | awk '{s += $1} END {print s + 0}'
}
run() {
  local pg0 cv0
  pg0=$(cpu postgres) cv0=$(cpu caravel)
  python3 bench/pg_nodes.py --label "$1" --smtp "$2" --imap "$3" --count-cmd "$4" --messages "$MESSAGES" \
    --connections "$CONNECTIONS" --fill "$FILL" --out "$W/$1.json"
  echo "$1: CPU seconds over the run: caravel $(( $(cpu caravel) - cv0 )), postgres $(( $(cpu postgres) - pg0 ))" | tee -a "$W/cpu.txt"
}

# 1. The embedded store, one node.
before=${#pids[@]}
node "$W/sqlite" 0 ""
node_pids=("${pids[@]:$before}")
users "$W/sqlite"
run sqlite-1node 3525 3143 "sqlite3 -readonly $W/sqlite/data/caravel.db 'select count(*) from messages'"
stop_nodes

# 2. One node on PostgreSQL.
psql -c "CREATE DATABASE one"
store1='[store]
backend = "postgres"
url = "postgres://postgres@127.0.0.1:55432/one"'
before=${#pids[@]}
node "$W/pg1" 0 "$store1"
node_pids=("${pids[@]:$before}")
users "$W/pg1"
run postgres-1node 3525 3143 "$PGBIN/psql -h 127.0.0.1 -p 55432 -U postgres -XAtq -d one -c 'select count(*) from messages'"
stop_nodes

# 3. Two nodes on one PostgreSQL database.
psql -c "CREATE DATABASE two"
store2=${store1/\/one/\/two}
before=${#pids[@]}
node "$W/pg2a" 0 "$store2"
node "$W/pg2b" 1 "$store2"
node_pids=("${pids[@]:$before}")
users "$W/pg2a"
run postgres-2nodes 3525,4525 3143,4143 "$PGBIN/psql -h 127.0.0.1 -p 55432 -U postgres -XAtq -d two -c 'select count(*) from messages'"
stop_nodes

python3 - "$W" <<'PY'
import json, sys
rows = [json.load(open(f"{sys.argv[1]}/{n}.json")) for n in ("sqlite-1node", "postgres-1node", "postgres-2nodes")]
base = rows[0]
print(f"{'store':18} {'SMTP 1KB msg/s':>15} {'landed/s':>9} {'p99 ms':>7} {'FETCH warm ms':>14} {'FETCH/s':>8} {'ratio SMTP':>10} {'ratio FETCH/s':>13}")
for r in rows:
    s, f = r["smtp_1k"], r["imap_fetch"]
    print(f"{r['label']:18} {s['msgs_per_s']:>15} {s['landed_msgs_per_s']:>9} {s['lat_ms_p99']:>7} {f['warm_ms_median']:>14} {f['fetches_per_s']:>8} "
          f"{s['msgs_per_s'] / base['smtp_1k']['msgs_per_s']:>10.2f} {f['fetches_per_s'] / base['imap_fetch']['fetches_per_s']:>13.2f}")
PY
