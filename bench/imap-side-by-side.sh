#!/usr/bin/env bash
# IMAP, Caravel against Dovecot (fed by Postfix over LMTP, from ../shared/bench),
# one after the other in one run, over TLS on both sides:
#  - the harness' imap step: 10,000 1 KB messages in user100's INBOX, then
#    LOGIN, SELECT, FETCH 1:* (FLAGS ENVELOPE), and POP3 on the same mailbox;
#  - bench/imap_ops.py: UID SEARCH of a header and of body text, APPEND rate;
#  - bench/imap_idle_rss.py: memory per idle IMAPS session (1,000 of them),
#    then the memory left once they are closed. Dovecot is measured without
#    TLS: over TLS each session keeps an imap-login proxy process, and the
#    default limit of 100 such processes refuses the rest;
#  - bench/imap_stress.py: 10 and 90 clients at once over 20 users, STARTTLS,
#    30 s each, signed in throughout (a mix of SELECT, FETCH, STORE, EXPUNGE,
#    APPEND, STATUS, LIST, NOOP), and 10 clients signing in for every five
#    commands: commands/s, CPU per command, threads, peak and after-load RSS.
#   cargo build --release && bash bench/imap-side-by-side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-../shared/bench}
export PB=${PB:-/var/tmp/peerbench}
# 50 warm-up sessions, then 950 measured: 1,000 in all, 10 per user, which
# is Dovecot's default limit per user and address.
SESSIONS=${SESSIONS:-950}
[[ -x target/release/caravel ]] || { echo "build first: cargo build --release"; exit 1; }

bash "$B/peerbench.sh" install
rm -rf "$PB/results/ref-imap" "$PB/results/caravel-imap"
bash "$B/peerbench.sh" wipe
PB_TLS=yes bash "$B/peerbench.sh" setup
bash "$B/peerbench.sh" start
OUT=$PB/results/ref-imap bash "$B/peerbench.sh" bench --quick --steps mem-idle,imap --tls starttls --sender loadgen@partner.test
echo "== Dovecot: search and append"
python3 bench/imap_ops.py --port 1143 --starttls --user user100@example.test --password pass
echo "== Dovecot: idle sessions"
python3 bench/imap_idle_rss.py --port 1143 --plain --user 'user{n}@example.test' --password pass \
  --pid "$(cat "$PB/run/dovecot/master.pid")" --count "$SESSIONS" --warmup 50 || echo "Dovecot idle sessions: failed"
echo "== Dovecot: many clients"
stress() {
  for mode in "--clients 10" "--clients 90" "--clients 10 --sign-in-per-session"; do
    # shellcheck disable=SC2086
    python3 bench/imap_stress.py --starttls --users 20 --seconds 30 $mode "$@"
  done
}
stress --port 1143 --password pass --label Dovecot --pid "dovecot=$(cat "$PB/run/dovecot/master.pid")"
bash "$B/peerbench.sh" stop

dir=$PB/caravel-imap
source bench/caravel-lib.sh
start_caravel "$dir" 1 100 'smtp = ["127.0.0.1:3525"]
imap = ["127.0.0.1:3143"]
imaps = ["127.0.0.1:3993"]
pop3 = ["127.0.0.1:3110"]' '[limits]
max_connections_per_ip = 5000'
python3 "$B/run_bench.py" --quick --label caravel --out "$PB/results/caravel-imap" --smtp-port 3525 --sender loadgen@partner.test \
  --imap-port 3143 --pop-port 3110 --tls starttls --password Bench-Password-2026 \
  --steps mem-idle,imap --count-imap --pid "caravel=$pid"
echo "== Caravel: search and append"
python3 bench/imap_ops.py --port 3143 --starttls --user user100@example.test --password Bench-Password-2026
echo "== Caravel: idle sessions"
python3 bench/imap_idle_rss.py --port 3993 --user 'user{n}@example.test' --password Bench-Password-2026 \
  --pid "$pid" --count "$SESSIONS" --warmup 50
echo "== Caravel: many clients"
stress --port 3143 --password Bench-Password-2026 --label Caravel --pid "caravel=$pid"
python3 "$B/compare.py" "$PB/results/ref-imap" "$PB/results/caravel-imap"
