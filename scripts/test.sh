#!/usr/bin/env bash
# Installs what the tests need (Debian packages, if missing) and runs every
# test: formatting, lints, unit and end-to-end tests, and a smoke test of the
# server on its built-in defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/test-packages.txt
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  # postfix asks how to configure the system MTA: "No configuration" (no
  # /etc/postfix/main.cf, no system instance on port 25); the tests run
  # their own instances with their own directories and ports.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
passed=$(awk '/^test result:/ {s += $4} END {print s + 0}' "$log")
failed=$(awk '/^test result:/ {s += $6} END {print s + 0}' "$log")
echo "== fuzz: saved crash inputs, then every target ${FUZZ_SECONDS:=30} s (scripts/fuzz.sh)"
flog=$(mktemp)
trap 'rm -f "$log" "$flog"' EXIT
if bash scripts/fuzz.sh replay 0 >"$flog" 2>&1; then echo "fuzz regressions: replayed"; else
  tail -60 "$flog"; failed=$((failed + 1)); fi
for t in $(bash scripts/fuzz.sh list 0); do
  if bash scripts/fuzz.sh "$t" "$FUZZ_SECONDS" >"$flog" 2>&1; then
    passed=$((passed + 1))
    echo "fuzz $t: $(grep -h '^Done' "$flog" | tail -1)"
  else
    tail -60 "$flog"
    echo "fuzz $t: FAILED (the input is in fuzz/artifacts/$t/)"
    failed=$((failed + 1))
  fi
done
echo "== docs/PERFORMANCE.md is what scripts/perf-report.py makes of bench/results"
python3 scripts/perf-report.py
git diff --exit-code -- docs/ >/dev/null || { git diff --stat -- docs/; echo "run python3 scripts/perf-report.py and commit docs/"; exit 1; }
echo "== smoke test: caravel serve on built-in defaults"
skipped=0
smoke=$(bash scripts/smoke-defaults.sh) || { echo "$smoke"; exit 1; }
echo "$smoke"
# A skip (ports taken, not root) is not a pass.
if [[ "$smoke" == *"smoke test passed"* ]]; then passed=$((passed + 1)); else skipped=$((skipped + 1)); fi
echo "total: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
