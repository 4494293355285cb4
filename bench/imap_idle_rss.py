"""Memory per idle IMAP connection: opens N signed-in IMAPS sessions (INBOX
selected) after a warm-up, and reports the server's RSS growth per session.
Usage: imap_idle_rss.py --port P --user U --password W --pid PID [--count 1000]
(with [imap] max_sessions_per_user raised above the count)."""

import argparse
import imaplib
import ssl
import time

a = argparse.ArgumentParser()
a.add_argument("--port", type=int, required=True)
a.add_argument("--user", required=True)
a.add_argument("--password", required=True)
a.add_argument("--pid", required=True)
a.add_argument("--count", type=int, default=1000)
a.add_argument("--warmup", type=int, default=100)
args = a.parse_args()

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def rss_kb():
    total = 0
    import os
    pids = [args.pid] + [p for p in os.listdir("/proc") if p.isdigit() and open(f"/proc/{p}/stat").read().split()[3] == args.pid]
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def session():
    m = imaplib.IMAP4_SSL("127.0.0.1", args.port, ssl_context=ctx)
    m.login(args.user, args.password)
    m.select("INBOX")
    return m


held = [session() for _ in range(args.warmup)]
time.sleep(1)
before = rss_kb()
held += [session() for _ in range(args.count)]
time.sleep(2)
after = rss_kb()
print(f"{args.count} idle sessions: RSS {before} KB -> {after} KB = {(after - before) / args.count:.1f} KB per session")
for m in held:
    try:
        m.logout()
    except Exception:
        pass
