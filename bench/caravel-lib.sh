# Shared by the side-by-side scripts (source it): starts the release build of
# Caravel for a benchmark, with the harness' users.
#   start_caravel DIR FIRST LAST LISTEN_LINES [EXTRA_TOML]
# writes DIR/caravel.toml (data in DIR/data, /healthz on 127.0.0.1:3080),
# starts `caravel serve` (stopped when the script exits), waits until it
# answers, adds example.test and userFIRST..userLAST@example.test with the
# password Bench-Password-2026. Sets `pid` and `C` (the CLI with its config).
# DNS (SPF, DKIM, DMARC of every inbound message; MX of outbound mail) goes
# to dnsmasq on 127.0.0.1:15353, which knows no names (--local=/#/) unless
# DNSMASQ_RECORDS adds some, never to the machine's resolver. It is
# authoritative for .test (the harness' domains), so that "no such name"
# carries the zone's SOA and its negative TTL as a real resolver's answer
# does (RFC 2308 §5): Caravel caches it, as it would in production, instead
# of asking again for every message. NO_SOA=1 leaves that out.
start_dnsmasq() {
  local zone="--auth-server=ns.test,lo --auth-zone=test --auth-soa=1,hostmaster.test,1200,120,604800"
  [[ -n ${NO_SOA:-} ]] && zone=""
  # shellcheck disable=SC2086
  dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port=15353 --pid-file= --local=/#/ $zone ${DNSMASQ_RECORDS:-} &
  dns_pid=$!
  sleep 0.3
}
start_caravel() {
  local dir=$1 first=$2 last=$3 listen=$4 extra=${5:-}
  rm -rf "$dir" && mkdir -p "$dir"
  start_dnsmasq
  printf 'hostname = "mx.example.test"\ndata_dir = "%s/data"\ndns.resolvers = ["127.0.0.1:15353"]\n[listen]\n%s\nhttp = ["127.0.0.1:3080"]\n%s\n' \
    "$dir" "$listen" "$extra" > "$dir/caravel.toml"
  C="target/release/caravel --config $dir/caravel.toml"
  $C serve > "$dir/serve.log" 2>&1 &
  pid=$!
  trap 'kill $pid $dns_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:3080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
  $C domain add example.test
  for i in $(seq "$first" "$last"); do
    echo "Bench-Password-2026" | $C user add "user$i@example.test" --password-stdin >/dev/null
  done
}
