#!/usr/bin/env bash
# Outbound delivery, Caravel against Debian's Postfix as the SENDING MTA, in
# one run. Run from the repo root as root, on an idle machine:
#   CARGO_TARGET_DIR=/work/target-bench nice -n 10 cargo build --release -p caravel
#   CARAVEL=/work/target-bench/release/caravel bash bench/delivery-side-by-side.sh
# Knobs (environment): N messages per run (2000), CONNS injecting
# connections (8), W work folder (/var/tmp/delivery-bench), CARAVEL binary
# (target/release/caravel).
#
# What is measured: how fast each sender drains a full outbound queue, in
# messages/s DELIVERED to a local receiver, with the N messages (1 KB, one
# recipient each) addressed to 1 destination domain, then spread
# round-robin over 20 (d1.test .. d20.test).
#
# How:
# - The receiver is Postfix's smtp-sink (C, event-driven, answers 250 to
#   everything, stores nothing): one per destination domain, d<i>.test on
#   127.0.0.1:(2700+i), so that each domain is its own destination for both
#   senders (Postfix's concurrency limits are per next hop; with one shared
#   port all 20 domains would be a single destination). Each sink's -c
#   counter (on its stdout) is the number of messages received.
# - Both senders route every d<i>.test statically to its sink (Caravel:
#   [delivery.routes]; Postfix: transport_maps "d<i>.test smtp:[127.0.0.1]:port").
#   No DNS: Caravel asks only the bench dnsmasq (which knows no names),
#   Postfix has smtp_dns_support_level = disabled.
# - Fill: with every sink down, N messages are injected (Caravel: port 587,
#   STARTTLS + AUTH PLAIN as user<k>@example.test, the only way Caravel
#   accepts mail for remote recipients; Postfix: its smtpd, relaying for
#   127.0.0.0/8). Each sender tries, gets "connection refused" and defers
#   every message. Not timed.
# - Drain: the sinks start, the queue is released (Caravel: `caravel queue
#   retry --all`; Postfix: `postfix flush`), and a watcher polls the sink
#   counters every 5 ms. The rate is (N-1) / (time from the 1st to the
#   N-th received message): the steady drain rate. The time from the
#   release to the first message is shown apart ("start"): a running
#   Caravel learns of a `queue retry` from another process only at its
#   next look at the queue (at most 2 s later), Postfix's flush is a
#   direct request to its queue manager.
# - Same limits on both (printed): 10 connections per destination
#   (Caravel max_connections_per_domain, default 10; Postfix
#   default_destination_concurrency_limit, default 20, set to 10), 100 in
#   all (Caravel max_connections, default 100; Postfix default_process_limit,
#   default 100, caps the smtp client processes). Postfix keeps its slow start
#   (initial_destination_concurrency = 5) and its connection cache
#   (smtp_connection_cache_on_demand = yes) at their defaults.
# - No DKIM on either side: no key is created for Caravel (it signs only
#   when a domain has keys), Postfix has no milter. The sinks offer no
#   STARTTLS, so both send in clear text.
# - Each sender runs alone (Caravel is stopped before Postfix starts).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
CONNS=${CONNS:-8}
W=${W:-/var/tmp/delivery-bench}
CARAVEL=${CARAVEL:-target/release/caravel}
DOMAINS_LIST=(1 20)
MAXD=20
SINK_BASE=2700
PF_SMTPD=2625
[[ $(id -u) -eq 0 ]] || { echo "run as root (Postfix needs it)"; exit 1; }
[[ -x $CARAVEL ]] || { echo "build first: cargo build --release -p caravel (or set CARAVEL=)"; exit 1; }
for tool in postfix smtp-sink dnsmasq python3 curl; do
  command -v $tool >/dev/null || { echo "missing $tool (Debian packages postfix, dnsmasq-base, python3, curl)"; exit 1; }
done
rm -rf "$W" && mkdir -p "$W" && chmod 0755 "$W"

# ---------------------------------------------------------------- helpers
cat > "$W/inject.py" <<'PY'
"""Injects N 1 KB messages, one recipient each, rcpt<i>@d<(i % D) + 1>.test,
over CONNS parallel SMTP connections (each reused for its share).
--auth: STARTTLS + AUTH as user<k>@example.test (k = connection number)."""
import argparse, smtplib, ssl, sys, threading
p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--n", type=int, required=True)
p.add_argument("--domains", type=int, required=True)
p.add_argument("--conns", type=int, default=8)
p.add_argument("--tag", default="run")
p.add_argument("--auth", action="store_true")
a = p.parse_args()
pad = ("x" * 70 + "\r\n") * 11
errors = []

def worker(k):
    sender = f"user{k + 1}@example.test"
    try:
        s = smtplib.SMTP("127.0.0.1", a.port, local_hostname="loadgen.example.test", timeout=60)
        s.ehlo()
        if a.auth:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo()
            s.login(sender, "Bench-Password-2026")
        for i in range(k, a.n, a.conns):
            rcpt = f"rcpt{i}@d{i % a.domains + 1}.test"
            msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: delivery bench {a.tag} {i}\r\n"
                   f"Message-ID: <{a.tag}.{i}@example.test>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\n{pad}")
            refused = s.sendmail(sender, [rcpt], msg.encode())
            if refused:
                raise RuntimeError(f"refused: {refused}")
        s.quit()
    except Exception as e:  # reported below, the run fails
        errors.append(f"connection {k}: {e!r}")

threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.conns)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit("\n".join(errors))
PY
cat > "$W/watch.py" <<'PY'
"""Runs the release command, then polls the smtp-sink counters (their
stdout files) until they add up to N. Prints: start (s from the release
to the 1st message), drain (s from the 1st to the N-th), rate ((N-1)/drain)."""
import re, subprocess, sys, time
n, timeout, release, files = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
pat = re.compile(rb"mesg=(\d+)")

def received():
    total = 0
    for f in files:
        try:
            with open(f, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - 80))
                found = pat.findall(fh.read())
                total += int(found[-1]) if found else 0
        except FileNotFoundError:
            pass
    return total

t0 = time.monotonic()
subprocess.run(release, shell=True, check=True, stdout=subprocess.DEVNULL)
first = None
while True:
    got, now = received(), time.monotonic()
    if got >= 1 and first is None:
        first = now
    if got >= n:
        break
    if now - t0 > timeout:
        sys.exit(f"timeout: {got} of {n} received after {timeout:.0f} s")
    time.sleep(0.005)
drain = now - first
print(f"{first - t0:.2f} {drain:.2f} {(n - 1) / drain if drain > 0 else float('inf'):.0f}")
PY

sink_pids=()
start_sinks() {  # fresh counters, one sink per destination domain
  local i
  sink_pids=()
  for i in $(seq 1 $MAXD); do
    smtp-sink -u postfix -c "127.0.0.1:$((SINK_BASE + i))" 1000 > "$W/sink$i.out" 2> "$W/sink$i.err" &
    sink_pids+=($!)
  done
  for i in $(seq 1 $MAXD); do
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$((SINK_BASE + i))") 2>/dev/null && break; sleep 0.1; done
  done
  # (the readiness probes count as sessions, not as messages)
}
stop_sinks() {
  local p
  for p in "${sink_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${sink_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  sink_pids=()
}
sink_files() { local i; for i in $(seq 1 $MAXD); do printf '%s ' "$W/sink$i.out"; done; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < end)) || { echo "timeout waiting for $what"; exit 1; }
    sleep 0.2
  done
}
declare -A RATE START

# ---------------------------------------------------------------- Caravel
routes=""
for i in $(seq 1 $MAXD); do routes+="\"d$i.test\" = \"127.0.0.1:$((SINK_BASE + i))\""$'\n'; done
extra="[delivery]
retry = [\"1h\"]
max_connections = 100
max_connections_per_domain = 10
[delivery.routes]
$routes"
source bench/caravel-lib.sh
# start_caravel runs target/release/caravel: point it at $CARAVEL.
if [[ $CARAVEL != target/release/caravel ]]; then
  eval "$(declare -f start_caravel | sed "s#target/release/caravel#$CARAVEL#")"
fi
start_caravel "$W/caravel" 1 "$CONNS" 'smtp = ["127.0.0.1:3525"]
submission = ["127.0.0.1:3587"]' "$extra" >/dev/null
trap 'stop_sinks; kill $pid $dns_pid 2>/dev/null || true; [[ -f $W/postfix/conf/main.cf ]] && postfix -c $W/postfix/conf stop >/dev/null 2>&1 || true' EXIT
caravel_deferred() {  # all N queued, each tried once
  $C queue list --json | python3 -c "import json,sys; q=json.load(sys.stdin); \
sys.exit(0 if len(q) == $N and all(r['attempts'] >= 1 for m in q for r in m['recipients']) else 1)"
}
caravel_empty() { [[ $($C queue list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == 0 ]]; }
for d in "${DOMAINS_LIST[@]}"; do
  echo "== Caravel, $d destination domain(s): injecting $N messages over $CONNS connections (sinks down)"
  python3 "$W/inject.py" --port 3587 --auth --n "$N" --domains "$d" --conns "$CONNS" --tag "caravel$d"
  wait_for 300 "Caravel to defer all $N" caravel_deferred
  start_sinks
  read -r start drain rate < <(python3 "$W/watch.py" "$N" 600 "$C queue retry --all" $(sink_files))
  echo "   start ${start}s, drain ${drain}s, ${rate} msgs/s (load average now: $(cut -d" " -f1-3 /proc/loadavg))"
  RATE[caravel$d]=$rate; START[caravel$d]=$start
  wait_for 60 "Caravel's queue to empty" caravel_empty
  stop_sinks
done
kill "$pid" "$dns_pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true

# ---------------------------------------------------------------- Postfix
PF=$W/postfix
mkdir -p "$PF"/{conf,spool,data}
chown postfix "$PF/data"
for i in $(seq 1 $MAXD); do echo "d$i.test smtp:[127.0.0.1]:$((SINK_BASE + i))"; done > "$PF/conf/transport"
cat > "$PF/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF/postfix.log
maillog_file_prefixes = $PF
myhostname = mx.example.test
mydomain = example.test
myorigin = example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# every d<i>.test to its sink, nothing anywhere else, no DNS
transport_maps = texthash:$PF/conf/transport
default_transport = error:no other destinations in this benchmark
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = may
# the same limits as Caravel (see the top of this script)
default_destination_concurrency_limit = 10
default_process_limit = 100
EOF
cat > "$PF/conf/master.cf" <<EOF
127.0.0.1:$PF_SMTPD inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
postfix -c "$PF/conf" check
postfix -c "$PF/conf" start
wait_for 20 "Postfix to listen" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PF_SMTPD" 2>/dev/null
pf_count() { find "$PF/spool/$1" -type f 2>/dev/null | wc -l; }
postfix_deferred() { [[ $(pf_count deferred) -eq $N && $(($(pf_count incoming) + $(pf_count active) + $(pf_count maildrop))) -eq 0 ]]; }
postfix_empty() { [[ $(($(pf_count deferred) + $(pf_count incoming) + $(pf_count active))) -eq 0 ]]; }
for d in "${DOMAINS_LIST[@]}"; do
  echo "== Postfix, $d destination domain(s): injecting $N messages over $CONNS connections (sinks down)"
  python3 "$W/inject.py" --port "$PF_SMTPD" --n "$N" --domains "$d" --conns "$CONNS" --tag "postfix$d"
  wait_for 300 "Postfix to defer all $N" postfix_deferred
  start_sinks
  read -r start drain rate < <(python3 "$W/watch.py" "$N" 600 "postfix -c $PF/conf flush" $(sink_files))
  echo "   start ${start}s, drain ${drain}s, ${rate} msgs/s (load average now: $(cut -d" " -f1-3 /proc/loadavg))"
  RATE[postfix$d]=$rate; START[postfix$d]=$start
  wait_for 60 "Postfix's queue to empty" postfix_empty
  stop_sinks
done
postfix -c "$PF/conf" stop >/dev/null

# ---------------------------------------------------------------- table
echo
echo "Limits: per destination 10 connections (Caravel max_connections_per_domain = 10, default 10;"
echo "        Postfix default_destination_concurrency_limit = 10, default 20), in all 100"
echo "        (Caravel max_connections = 100, default; Postfix default_process_limit = 100, default)."
echo "Messages: $N x 1 KB, one recipient each, injected over $CONNS connections; no DKIM on either side."
echo "Rate: (N-1) / time from the 1st to the N-th message at the sinks; start: release to 1st message."
echo
printf '| %-12s | %-14s | %-14s | %-9s | %-13s | %-13s |\n' destinations "Caravel msgs/s" "Postfix msgs/s" ratio "Caravel start" "Postfix start"
printf '|%s|%s|%s|%s|%s|%s|\n' -------------- ---------------- ---------------- ----------- --------------- ---------------
for d in "${DOMAINS_LIST[@]}"; do
  c=${RATE[caravel$d]} p=${RATE[postfix$d]}
  printf '| %-12s | %14s | %14s | %9s | %12ss | %12ss |\n' "$d" "$c" "$p" "$(python3 -c "print(f'{$c / $p:.2f}')")" \
    "${START[caravel$d]}" "${START[postfix$d]}"
done
