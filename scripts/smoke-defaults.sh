#!/usr/bin/env bash
# Starts `caravel serve` with no configuration file in an empty directory (the
# README's quick start), checks that every standard port answers and
# /healthz says ok, then stops it with SIGTERM. The standard ports need root
# and must be free: elsewhere than CI the test is skipped when they are not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/debug/caravel"
[[ -x "$bin" ]] || cargo build -q -p caravel
ports=(25 587 465 143 993 110 995 8080 443)

skip() {
  if [[ "${CI:-}" == "true" ]]; then echo "smoke test cannot run in CI: $1"; exit 1; fi
  echo "smoke test skipped: $1"; exit 0
}
[[ $(id -u) -eq 0 ]] || skip "the standard ports need root"
for p in "${ports[@]}"; do
  if (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then skip "port $p is already in use"; fi
done

dir=$(mktemp -d)
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cd "$dir"
(umask 022; exec "$bin" serve 2>serve.log) &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
[[ "$(curl -fsS http://127.0.0.1:8080/healthz)" == "ok" ]] || { cat serve.log; echo "healthz failed"; exit 1; }
for p in "${ports[@]}"; do
  (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null || { cat serve.log; echo "port $p does not answer"; exit 1; }
done
[[ -f caravel-data/caravel.db && -f caravel-data/tls/cert.pem ]] || { echo "no data in ./caravel-data"; exit 1; }
# Mail, password hashes and keys are private under the usual umask (022).
for f in caravel-data caravel-data/blobs caravel-data/tls; do
  [[ "$(stat -c %a "$f")" == 700 ]] || { echo "$f is mode $(stat -c %a "$f"), not 700"; exit 1; }
done
for f in caravel-data/caravel.db caravel-data/caravel.db-wal caravel-data/tls/key.pem; do
  [[ "$(stat -c %a "$f")" == 600 ]] || { echo "$f is mode $(stat -c %a "$f"), not 600"; exit 1; }
done
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "still running 5 s after SIGTERM"; exit 1; fi
wait "$pid"
echo "smoke test passed: all standard ports answered, /healthz ok, private data files, SIGTERM stopped the server"
