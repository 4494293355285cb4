#!/usr/bin/env bash
# Disk taken by the store against the bytes of the messages it holds
# (bench/disk_report.py), on two sets, each in a fresh data directory:
#  1. synthetic: N 2 KB messages (../shared/bench/smtpload.py) to one INBOX
#     over SMTP (N=100000 by default);
#  2. real mail: the SpamAssassin ham corpus (../shared/corpus/ham, ~3.4 KB
#     a message) COPIES times over, each copy made distinct by an X-Copy
#     header (no deduplication), in one mbox, through `caravel import`, whose
#     time and peak RSS are printed (COPIES=75 makes the mbox about 1 GB).
#   cargo build --release && bash bench/disk-usage.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-../shared/bench}
CORPUS=${CORPUS:-../shared/corpus/ham}
PB=${PB:-/var/tmp/peerbench}
N=${N:-100000}
COPIES=${COPIES:-10}
[[ -x target/release/caravel ]] || { echo "build first: cargo build --release"; exit 1; }
source bench/caravel-lib.sh
mkdir -p "$PB"

if [[ $N -gt 0 ]]; then
  dir=$PB/caravel-disk-synthetic
  start_caravel "$dir" 100 100 'smtp = ["127.0.0.1:3525"]'
  echo "== synthetic: $N messages of 2 KB over SMTP"
  python3 "$B/smtpload.py" --port 3525 --connections 10 --messages "$N" --size 2K \
    --rcpt-start 100 --rcpt-count 1 --from loadgen@partner.test > /dev/null
  kill "$pid" "$dns_pid"; wait "$pid" "$dns_pid" || true
  python3 bench/disk_report.py "$dir/data" --json "$PB/disk-synthetic.json"
fi

if [[ $COPIES -gt 0 ]]; then
  dir=$PB/caravel-disk-corpus
  start_caravel "$dir" 101 101 'smtp = ["127.0.0.1:3525"]'
  kill "$pid" "$dns_pid"; wait "$pid" "$dns_pid" || true
  mbox=$PB/corpus.mbox
  python3 - "$CORPUS" "$COPIES" "$mbox" <<'PY'
import os, sys
corpus, copies, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names = sorted(os.listdir(corpus))
with open(out, "wb") as f:
    for copy in range(copies):
        for name in names:
            raw = open(os.path.join(corpus, name), "rb").read()
            if raw.startswith(b"From "):
                raw = raw.split(b"\n", 1)[1]
            # mboxrd: quote body lines that look like separators.
            lines = [b">" + l if l.lstrip(b">").startswith(b"From ") else l for l in raw.split(b"\n")]
            f.write(b"From import@example.test Thu Jan  1 00:00:00 2026\n")
            f.write(b"X-Copy: %d\n" % copy + b"\n".join(lines).rstrip(b"\n") + b"\n\n")
PY
  echo "== real mail: $(ls "$CORPUS" | wc -l) ham messages x $COPIES ($(du -m "$mbox" | cut -f1) MB mbox) by caravel import"
  /usr/bin/time -f "import: %e s, peak RSS %M KiB" $C import user101@example.test "$mbox" > /dev/null
  python3 bench/disk_report.py "$dir/data" --json "$PB/disk-corpus.json"
  rm -f "$mbox"
fi
