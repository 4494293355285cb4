#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) on the stable toolchain.
#   scripts/fuzz.sh TARGET SECONDS     one target (see fuzz/Cargo.toml)
#   scripts/fuzz.sh all SECONDS        every target in turn, SECONDS each
#   scripts/fuzz.sh list 0             the targets' names
# Each run starts from the seeds in fuzz/seeds/TARGET plus what earlier runs
# found (fuzz/corpus/TARGET, not committed). A crash stops the run, leaves its
# input in fuzz/artifacts/TARGET/ and exits non-zero: add that input to the
# target's regression test (fuzz/regressions/TARGET/, replayed by
# `scripts/fuzz.sh replay 0`, which CI runs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:?usage: scripts/fuzz.sh TARGET|all|replay SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET|all|replay SECONDS}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^caravel-fuzz$')
# Stable Rust: no sanitizer (-Zsanitizer is nightly-only); libFuzzer still
# gets SanitizerCoverage's edge counters. --release takes fuzz/Cargo.toml's
# profile: our debug assertions and overflow checks on, mail-parser's off.
run() {
  local t=$1; shift
  mkdir -p "corpus/$t" "regressions/$t"
  cargo fuzz run --release --sanitizer none "$t" "corpus/$t" "seeds/$t" "$@"
}
case "$target" in
  list) echo "$targets" ;;
  all) for t in $targets; do run "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10; done ;;
  replay)
    # Every saved crash input, run once through its target: they must pass.
    for t in $targets; do
      mkdir -p "regressions/$t"
      if compgen -G "regressions/$t/*" >/dev/null; then
        cargo fuzz run --release --sanitizer none "$t" regressions/"$t"/* -- -runs=1
      fi
    done ;;
  *) run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 ;;
esac
