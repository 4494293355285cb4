#!/usr/bin/env python3
"""SMTP acceptance and IMAP FETCH against one or more Caravel nodes (run by
bench/postgres-nodes.sh, once per store configuration).

  pg_nodes.py --label L --smtp 3525,4525 --imap 3143,4143 --count-cmd CMD

SMTP: ../shared/bench/smtpload.py, the connections split evenly over the
nodes, all at once; the rate is all accepted messages over the longest
run, then the time until every accepted message is stored (CMD prints the
stored count). IMAP: user100's INBOX is filled over the first node, then
one client per node (two on the first node when there is one) runs
connect, STARTTLS, LOGIN, SELECT and `FETCH 1:* (FLAGS ENVELOPE)` (one cold
round, then warm rounds), all clients at once."""

import argparse
import imaplib
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("B", os.path.join(HERE, "..", "..", "shared", "bench"))
PASSWORD = "Bench-Password-2026"


def stored(cmd):
    return int(subprocess.check_output(cmd, shell=True).strip() or 0)


def smtp_load(ports, conns, messages, size, rcpt, count_cmd, sender):
    before = stored(count_cmd)
    procs, outs = [], []
    for i, port in enumerate(ports):
        out = tempfile.mktemp(suffix=".json")
        outs.append(out)
        share = messages // len(ports) + (1 if i < messages % len(ports) else 0)
        args = [sys.executable, os.path.join(SHARED, "smtpload.py"), "--port", str(port),
                "--connections", str(max(1, conns // len(ports))), "--messages", str(share),
                "--size", size, "--from", sender, "--json", out]
        args += rcpt
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
    started = time.time()
    for p in procs:
        p.wait()
    results = [json.load(open(o)) for o in outs]
    accepted = sum(r["accepted"] for r in results)
    elapsed = max(r["elapsed_s"] for r in results)
    deadline = time.time() + 300
    while stored(count_cmd) < before + accepted and time.time() < deadline:
        time.sleep(0.05)
    landed = time.time() - started
    return {
        "accepted": accepted,
        "errors": sum(r["errors"] for r in results) + sum(r["rejected"] for r in results),
        "msgs_per_s": round(accepted / elapsed, 1),
        "landed_msgs_per_s": round(accepted / landed, 1),
        "lat_ms_p50": max(r["lat_ms_p50"] for r in results),
        "lat_ms_p99": max(r["lat_ms_p99"] for r in results),
    }


def fetch_client(port, rounds, out):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.time()
    m = imaplib.IMAP4("127.0.0.1", port)
    m.starttls(ssl_context=ctx)
    m.login("user100@example.test", PASSWORD)
    typ, data = m.select("INBOX", readonly=True)
    n = int(data[0])
    signed_in = time.time() - t0
    times = []
    for _ in range(rounds):
        t = time.time()
        typ, data = m.fetch("1:*", "(FLAGS ENVELOPE)")
        assert typ == "OK" and len([d for d in data if d]) >= n, "FETCH answered every message"
        times.append(time.time() - t)
    m.logout()
    out.append({"messages": n, "sign_in_select_ms": round(signed_in * 1000, 1),
                "cold_ms": round(times[0] * 1000, 1),
                "warm_ms": [round(x * 1000, 1) for x in times[1:]]})


def imap_fetch(ports, rounds):
    clients = ports if len(ports) > 1 else ports * 2
    out, threads = [], []
    started = time.time()
    for port in clients:
        th = threading.Thread(target=fetch_client, args=(port, rounds, out))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    wall = time.time() - started
    warm = [x for o in out for x in o["warm_ms"]]
    return {
        "clients": len(clients),
        "messages": out[0]["messages"] if out else 0,
        "cold_ms": max(o["cold_ms"] for o in out),
        "warm_ms_median": round(statistics.median(warm), 1),
        "fetches_per_s": round(len(clients) * rounds / wall, 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--smtp", required=True, help="comma-separated SMTP ports, one per node")
    ap.add_argument("--imap", required=True, help="comma-separated IMAP ports, one per node")
    ap.add_argument("--count-cmd", required=True)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--fill", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--sender", default="loadgen@partner.test")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    smtp_ports = [int(p) for p in a.smtp.split(",")]
    imap_ports = [int(p) for p in a.imap.split(",")]
    res = {"label": a.label, "nodes": len(smtp_ports)}
    res["smtp_1k"] = smtp_load(smtp_ports, a.connections, a.messages, "1K",
                               ["--rcpt-count", "99"], a.count_cmd, a.sender)
    fill = smtp_load(smtp_ports[:1], 10, a.fill, "1K",
                     ["--rcpt-start", "100", "--rcpt-count", "1"], a.count_cmd, a.sender)
    res["fill"] = fill
    res["imap_fetch"] = imap_fetch(imap_ports, a.rounds)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
