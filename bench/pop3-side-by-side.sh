#!/usr/bin/env bash
# POP3 RETR of 1,000 messages of 50 KB over POP3S: Dovecot (fed by Postfix over
# LMTP, from ../shared/bench) against Caravel, one after the other.
#   cargo build --release && bash bench/pop3-side-by-side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-../shared/bench}
export PB=${PB:-/var/tmp/peerbench}
[[ -x target/release/caravel ]] || { echo "build first: cargo build --release"; exit 1; }

bash "$B/peerbench.sh" install
bash "$B/peerbench.sh" wipe
PB_TLS=yes bash "$B/peerbench.sh" setup
bash "$B/peerbench.sh" start
echo "== Dovecot"
python3 bench/pop3_retr.py --smtp-port 2525 --pop3s-port 1995 --user user100@example.test --password pass
bash "$B/peerbench.sh" stop

dir=$PB/caravel-pop
rm -rf "$dir" && mkdir -p "$dir"
cat > "$dir/caravel.toml" <<TOML
hostname = "mx.example.test"
data_dir = "$dir/data"
[listen]
smtp  = ["127.0.0.1:3525"]
pop3s = ["127.0.0.1:3995"]
http  = ["127.0.0.1:3080"]
TOML
C="target/release/caravel --config $dir/caravel.toml"
$C serve > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:3080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
$C domain add example.test
echo "Bench-Password-2026" | $C user add user100@example.test --password-stdin
echo "== Caravel"
python3 bench/pop3_retr.py --smtp-port 3525 --pop3s-port 3995 --user user100@example.test --password Bench-Password-2026
