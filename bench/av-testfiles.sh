#!/usr/bin/env bash
# ClamAV's harmless test program in every container of Debian's
# clamav-testfiles, scanned by Caravel's built-in scanner and by clamscan
# with the same one-line body signature
# (crates/antivirus/tests/data/clam-testprog.ndb). Prints a Markdown table:
# which of the two finds it in each file.
#
#   bash bench/av-testfiles.sh            (needs clamav, clamav-testfiles)
set -euo pipefail
cd "$(dirname "$0")/.."
files=/usr/share/clamav-testfiles
[[ -d $files ]] || { echo "apt-get install clamav-testfiles clamav" >&2; exit 1; }
cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/sigs"
cp crates/antivirus/tests/data/clam-testprog.ndb "$work/sigs/"
printf 'data_dir = "%s/data"\n[antivirus]\nsignatures = "%s/sigs"\n' "$work" "$work" > "$work/caravel.toml"
ours=0; theirs=0; total=0
echo "| file | Caravel (built-in) | clamscan $(clamscan --version | cut -d/ -f1 | awk '{print $2}') |"
echo "|---|---|---|"
for f in "$files"/*; do
  name=$(basename "$f")
  total=$((total + 1))
  c=$(target/release/caravel --config "$work/caravel.toml" av scan "$f" 2>/dev/null || true)
  k=$(clamscan --no-summary -d "$work/sigs/clam-testprog.ndb" "$f" 2>/dev/null || true)
  if grep -q "Caravel.Test.ClamTestProgram" <<<"$c"; then a="found"; ours=$((ours + 1));
  elif grep -q SUSPICIOUS <<<"$c"; then a="not found ($(grep -o 'SUSPICIOUS [A-Za-z.]*' <<<"$c" | head -1 | cut -d' ' -f2))";
  else a="not found"; fi
  if grep -q "ClamTestProgram" <<<"$k"; then b="found"; theirs=$((theirs + 1)); else b="not found"; fi
  echo "| $name | $a | $b |"
done
echo "| **total** | **$ours / $total** | **$theirs / $total** |"
