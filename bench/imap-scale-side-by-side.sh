#!/usr/bin/env bash
# What grows with the mailbox, Caravel against Dovecot (fed by Postfix over
# LMTP, from ../shared/bench), one after the other in one run, STARTTLS on
# both sides: user100's INBOX filled to 10,000, 50,000 and 100,000 messages
# of 2 KB (over SMTP for Caravel; written into the Maildir for Dovecot,
# whose LMTP into a Maildir that large falls to a few messages a second);
# at each size UID FETCH of the last 50 bodies, SORT (DATE), SORT (REVERSE
# DATE), and IDLE (SMTP 250 to `* EXISTS`), warm; and each server's peak
# memory over the run (bench/imap_scale.py).
#   cargo build --release && bash bench/imap-scale-side-by-side.sh
# SIZES=10000,50000 for a shorter run.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-../shared/bench}
export PB=${PB:-/var/tmp/peerbench}
SIZES=${SIZES:-10000,50000,100000}
[[ -x target/release/caravel ]] || { echo "build first: cargo build --release"; exit 1; }

bash "$B/peerbench.sh" install
bash "$B/peerbench.sh" wipe
PB_TLS=yes bash "$B/peerbench.sh" setup
bash "$B/peerbench.sh" start > "$PB/start.log" 2>&1
echo "== Dovecot"
python3 bench/imap_scale.py --smtp-port 2525 --imap-port 1143 --starttls --user user100@example.test --password pass \
  --sizes "$SIZES" --label Dovecot --pid "dovecot=$(cat "$PB/run/dovecot/master.pid")" \
  --maildir "$PB/mail/example.test/user100/Maildir" \
  --json "$PB/results/scale-dovecot.json"
bash "$B/peerbench.sh" stop

dir=$PB/caravel-scale
source bench/caravel-lib.sh
start_caravel "$dir" 100 100 'smtp = ["127.0.0.1:3525"]
imap = ["127.0.0.1:3143"]'
echo "== Caravel"
python3 bench/imap_scale.py --smtp-port 3525 --imap-port 3143 --starttls --user user100@example.test \
  --password Bench-Password-2026 --sizes "$SIZES" --label Caravel --pid "caravel=$pid" \
  --json "$PB/results/scale-caravel.json"
echo "== Disk: Caravel's data directory against the bytes of the messages it holds"
du -sb "$dir/data" | awk '{printf "data dir %.1f MiB\n", $1 / 1048576}'
