#!/usr/bin/env bash
# SMTP acceptance, Caravel against Postfix + Dovecot from Debian, in one run,
# with the shared harness (../shared/bench). Run as root on an idle machine:
#   cargo build --release && bash bench/smtp-side-by-side.sh [--quick]
# Results: $PB/results/{ref,caravel}-smtp and a side-by-side table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-../shared/bench}
export PB=${PB:-/var/tmp/peerbench}
mode=${1:---quick}
[[ -x target/release/caravel ]] || { echo "build first: cargo build --release"; exit 1; }

bash "$B/peerbench.sh" install
bash "$B/peerbench.sh" wipe
bash "$B/peerbench.sh" setup
bash "$B/peerbench.sh" start
OUT=$PB/results/ref-smtp bash "$B/peerbench.sh" bench "$mode" --steps smtp,mem-idle
bash "$B/peerbench.sh" stop

dir=$PB/caravel
rm -rf "$dir" && mkdir -p "$dir"
cat > "$dir/caravel.toml" <<TOML
hostname = "mx.example.test"
data_dir = "$dir/data"
[listen]
smtp = ["127.0.0.1:3525"]
http = ["127.0.0.1:3080"]
TOML
C="target/release/caravel --config $dir/caravel.toml"
$C serve > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:3080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
$C domain add example.test
for i in $(seq 1 100); do echo "Bench-Password-2026" | $C user add "user$i@example.test" --password-stdin >/dev/null; done
# Caravel answers 250 only once a message is stored: count rows.
cat > "$dir/count.py" <<PY
import sqlite3
c = sqlite3.connect("file:$dir/data/caravel.db?mode=ro", uri=True)
print(c.execute("select count(*) from messages").fetchone()[0])
PY
python3 "$B/run_bench.py" "$mode" --label caravel --out "$PB/results/caravel-smtp" --smtp-port 3525 \
  --steps smtp,mem-idle --count-cmd "python3 $dir/count.py" --pid "caravel=$pid"
python3 "$B/compare.py" "$PB/results/ref-smtp" "$PB/results/caravel-smtp"
