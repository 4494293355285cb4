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
source bench/caravel-lib.sh
start_caravel "$dir" 100 100 'smtp = ["127.0.0.1:3525"]
pop3s = ["127.0.0.1:3995"]'
echo "== Caravel"
python3 bench/pop3_retr.py --smtp-port 3525 --pop3s-port 3995 --user user100@example.test --password Bench-Password-2026
