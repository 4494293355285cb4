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
OUT=$PB/results/ref-smtp bash "$B/peerbench.sh" bench "$mode" --sender loadgen@partner.test --steps smtp,mem-idle
bash "$B/peerbench.sh" stop

dir=$PB/caravel
source bench/caravel-lib.sh
start_caravel "$dir" 1 100 'smtp = ["127.0.0.1:3525"]'
# Caravel answers 250 only once a message is stored: count rows.
cat > "$dir/count.py" <<PY
import sqlite3
c = sqlite3.connect("file:$dir/data/caravel.db?mode=ro", uri=True)
print(c.execute("select count(*) from messages").fetchone()[0])
PY
python3 "$B/run_bench.py" "$mode" --label caravel --out "$PB/results/caravel-smtp" --smtp-port 3525 \
  --sender loadgen@partner.test --steps smtp,mem-idle --count-cmd "python3 $dir/count.py" --pid "caravel=$pid"
python3 "$B/compare.py" "$PB/results/ref-smtp" "$PB/results/caravel-smtp"
