#!/usr/bin/env bash
# The virus scanner side by side with clamd (Debian's clamav-daemon), the
# same signature files loaded by both: 100,000 generated signatures (half
# .ndb body patterns with wildcards and gaps, half .hdb hashes), a 10 MiB
# file of text, random bytes and zeros, scanned three times (each copy one
# byte different: clamd caches clean results by hash).
#
#   bash bench/av-side-by-side.sh [SIGNATURES]
#
# Prints the figures and a results.json entry (id "antivirus") for
# bench/results/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
command -v clamdscan >/dev/null && [[ -x /usr/sbin/clamd ]] || { echo "apt-get install clamav-daemon" >&2; exit 1; }
cargo build --release -q -p caravel-antivirus --example av_bench
bin=target/release/examples/av_bench
work=$(mktemp -d)
trap 'kill $(cat "$work"/clamd.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
$bin generate "$work/sigs" "$n"
$bin sample "$work/sample.bin" 10
for i in 1 2 3; do
  cp "$work/sample.bin" "$work/s$i.bin"
  printf '%s' "$i" | dd of="$work/s$i.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
done
mkdir "$work/one"
echo "Caravel.Bench.One:0:*:0102030405060708090a" > "$work/one/one.ndb"

ours=$($bin scan "$work/sigs" "$work/sample.bin" 3)

rss() { awk '/VmRSS/ {print $2}' "/proc/$(cat "$work/clamd.pid")/status"; }
start_clamd() { # DBDIR -> seconds to load
  rm -f "$work/clamd.sock" "$work/clamd.pid"
  cat > "$work/clamd.conf" <<CONF
LocalSocket $work/clamd.sock
DatabaseDirectory $1
Foreground yes
LogFile $work/clamd.log
PidFile $work/clamd.pid
TemporaryDirectory $work
StreamMaxLength 100M
MaxScanSize 400M
MaxFileSize 100M
CONF
  local t0; t0=$(date +%s.%N)
  /usr/sbin/clamd --config-file="$work/clamd.conf" >/dev/null 2>&1 &
  while [[ ! -S $work/clamd.sock || ! -s $work/clamd.pid ]]; do sleep 0.05; done
  echo "$(date +%s.%N) - $t0" | bc
}
stop_clamd() { kill "$(cat "$work/clamd.pid")"; while [[ -S $work/clamd.sock ]]; do sleep 0.05; done; }
scan_ms() { # best of the three copies, milliseconds
  local best=999999 t0 t1 ms
  for i in 1 2 3; do
    t0=$(date +%s%N)
    clamdscan --no-summary --stream -c "$work/clamd.conf" "$work/s$i.bin" >/dev/null
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    (( ms < best )) && best=$ms
  done
  echo "$best"
}
start_clamd "$work/one" >/dev/null
base_rss=$(rss); base_ms=$(scan_ms)
stop_clamd
load_s=$(start_clamd "$work/sigs")
full_rss=$(rss); full_ms=$(scan_ms)
stop_clamd
clam_version=$(clamd --version | cut -d/ -f1)

python3 - "$ours" "$n" "$load_s" "$base_rss" "$full_rss" "$base_ms" "$full_ms" "$clam_version" <<'PY'
import json, subprocess, sys, datetime
ours = json.loads(sys.argv[1])
n, load_s, base_rss, full_rss, base_ms, full_ms, version = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
clam_mib_s = 10 / (full_ms / 1000)
clam_db_mib = (full_rss - base_rss) / 1024
rows = [
    ("signatures loaded", n, ours["signatures"] - 2, "same"),
    ("load time (s)", round(load_s, 2), round(ours["load_s"], 2), "lower"),
    ("memory for the signatures (MiB)", round(clam_db_mib, 1), round(ours["db_rss_mib"], 1), "lower"),
    ("10 MiB file against the signatures (ms)", full_ms, round(ours["scan_ms"], 1), "lower"),
    ("scan speed (MiB/s)", round(clam_mib_s, 1), round(ours["mib_per_s"], 1), "higher"),
]
print(f"| metric ({version} clamd : Caravel built-in) | clamd | Caravel |")
print("|---|---:|---:|")
for name, a, b, _ in rows:
    print(f"| {name} | {a} | {b} |")
print(f"\nclamd with one signature: {base_rss/1024:.1f} MiB resident, {base_ms} ms for the same file (its own work without the signatures).")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
entry = {
    "id": "antivirus",
    "title": f"Virus scanner, {n:,} generated ClamAV signatures, 10 MiB file",
    "date": datetime.date.today().isoformat(),
    "commit": commit,
    "command": "bash bench/av-side-by-side.sh",
    "reference": f"{version} clamd (Debian), same signature files, clamdscan --stream",
    "metrics": [[name, a, b, better] for name, a, b, better in rows if better != "same"],
}
print("\nresults.json entry:\n" + json.dumps(entry, indent=1))
PY
