#!/usr/bin/env bash
# Webmail at scale: user100's INBOX filled with 10,000 messages of ~2 KB
# (by `caravel import`), then over the JSON API on loopback: the time to
# the first message list (folders + the newest 50) and to open a message,
# cold (first request) and warm (median of 20), and the server's memory
# per signed-in web session (RSS growth over 200 sign-ins, divided).
#   cargo build --release && bash bench/webmail.sh
# MESSAGES=100000 for a larger folder.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-10000}
[[ -x target/release/caravel ]] || { echo "build first: cargo build --release"; exit 1; }
dir=${PB:-/var/tmp/peerbench}/caravel-webmail
source bench/caravel-lib.sh
start_caravel "$dir" 100 100 'imap = ["127.0.0.1:3143"]' $'[limits]\nmax_connections_per_ip = 1000'
python3 - "$dir/inbox.mbox" "$MESSAGES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(f"From buyer{i % 97}@partner.test Mon Jun  1 00:00:00 2026\n")
        f.write(f"From: Buyer {i % 97} <buyer{i % 97}@partner.test>\nTo: user100@example.test\n")
        f.write(f"Subject: Inquiry {i:06} for 500 units\nDate: Mon, 1 Jun 2026 {i // 3600 % 24:02}:{i // 60 % 60:02}:{i % 60:02} +0000\n")
        f.write(f"Message-ID: <inq{i}@partner.test>\n\n")
        f.write(("Please quote your best price for 500 units, FOB Shanghai.\n" * 30) + "\n")
PY
$C import user100@example.test "$dir/inbox.mbox" > /dev/null
python3 bench/webmail_bench.py --port 3080 --user user100@example.test --password Bench-Password-2026 \
  --pid "$pid" --messages "$MESSAGES"
