"""Memory per idle IMAP connection: opens N signed-in IMAPS sessions (INBOX
selected) after a warm-up, and reports the server's RSS growth per session.
Usage: imap_idle_rss.py --port P --user U --password W --pid PID [--count 1000]
A user of the form user{n}@example.test spreads the sessions over user1..user100
(Dovecot allows 10 per user and address by default); with one user, raise
Caravel's [imap] max_sessions_per_user above the count. Also reports the
memory (RSS and PSS over the process tree) once every session is closed."""

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
a.add_argument("--plain", action="store_true", help="IMAP without TLS (Dovecot proxies each TLS session through\n"
               "an imap-login process, 100 at most by default)")
args = a.parse_args()

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def tree():
    import os
    pids = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/stat").read().split(") ")[1].split()[1] == args.pid:
                pids.append(p)
        except OSError:
            pass
    return [args.pid] + pids


def rss_kb():
    total = 0
    for p in tree():
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def pss_kb():
    total = 0
    for p in tree():
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


opened = 0


def session():
    global opened
    opened += 1
    if args.plain:
        m = imaplib.IMAP4("127.0.0.1", args.port)
    else:
        m = imaplib.IMAP4_SSL("127.0.0.1", args.port, ssl_context=ctx)
    m.login(args.user.replace("{n}", str(opened % 100 + 1)), args.password)
    m.select("INBOX")
    return m


held = [session() for _ in range(args.warmup)]
time.sleep(1)
before = rss_kb()
before_pss = pss_kb()
held += [session() for _ in range(args.count)]
time.sleep(2)
after = rss_kb()
after_pss = pss_kb()
print(f"{args.count} idle sessions: RSS {before} KB -> {after} KB = {(after - before) / args.count:.1f} KB per session")
print(f"  PSS {before_pss} KB -> {after_pss} KB = {(after_pss - before_pss) / args.count:.1f} KB per session"
      " (shared pages counted once: the fair figure for a process per session)")
for m in held:
    try:
        m.logout()
    except Exception:
        pass
time.sleep(5)
print(f"after closing every session: RSS {rss_kb()} KB, PSS {pss_kb()} KB")
