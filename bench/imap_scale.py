"""What grows with the mailbox: one user's INBOX filled over SMTP to each
size in --sizes (2 KB messages), then, warm, at each size:
  - UID FETCH of the last 50 bodies (BODY.PEEK[]);
  - SORT (DATE) of the whole mailbox, and SORT (REVERSE DATE);
  - FETCH 1:* (FLAGS ENVELOPE) of the whole mailbox (what a client's first
    look at a folder asks);
  - IDLE: from the SMTP 250 of a new message to the `* EXISTS` of a session
    idling on the INBOX;
and the server's peak memory over the whole run (fill included).

  imap_scale.py --smtp-port S --imap-port I --starttls --user U --password W \
      --pid NAME=PID [--sizes 10000,50000,100000] [--json OUT]

Needs the shared harness (smtpload.py, procmem.py; --harness)."""

import argparse
import imaplib
import json
import os
import smtplib
import ssl
import statistics
import subprocess
import sys
import time

a = argparse.ArgumentParser()
a.add_argument("--smtp-port", type=int, required=True)
a.add_argument("--imap-port", type=int, required=True)
a.add_argument("--starttls", action="store_true")
a.add_argument("--user", required=True, help="userN@example.test: smtpload's recipient pattern")
a.add_argument("--password", required=True)
a.add_argument("--sizes", default="10000,50000,100000")
a.add_argument("--pid", action="append", default=[])
a.add_argument("--label", default="server")
a.add_argument("--harness", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
a.add_argument("--json")
a.add_argument("--maildir", help="fill by writing the messages into this Maildir's new/ (owned by --maildir-owner) "
               "instead of over SMTP: LMTP into a Maildir of ~90,000 messages falls to a few messages a second")
a.add_argument("--maildir-owner", default="vmail")
args = a.parse_args()
sys.path.insert(0, args.harness)
import procmem  # noqa: E402

TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE
number = int(args.user.split("@")[0].removeprefix("user"))


def connect():
    m = imaplib.IMAP4("127.0.0.1", args.imap_port)
    if args.starttls:
        m.starttls(ssl_context=TLS)
    m.login(args.user, args.password)
    return m


def count():
    m = connect()
    n = int(m.status("INBOX", "(MESSAGES)")[1][0].split()[2].rstrip(b")"))
    m.logout()
    return n


def fill_maildir(count_to_add, first_seq):
    """The messages smtpload would send, as Postfix's LMTP would leave them
    in new/ (Dovecot moves them to cur/ and indexes them at the next look)."""
    import pwd
    import smtpload  # noqa: E402
    owner = pwd.getpwnam(args.maildir_owner)
    for sub in ("new", "cur", "tmp"):
        path = os.path.join(args.maildir, sub)
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o700)
            os.chown(path, owner.pw_uid, owner.pw_gid)
    new = os.path.join(args.maildir, "new")
    run_id = f"fill{int(time.time())}"
    for seq in range(first_seq, first_seq + count_to_add):
        raw = smtpload.build_message(2048, "loadgen@partner.test", args.user, seq, run_id)
        raw = f"Return-Path: <loadgen@partner.test>\r\nDelivered-To: {args.user}\r\n".encode() + raw
        lf = raw.replace(b"\r\n", b"\n")  # Maildir keeps LF line ends
        # S= the file's size, W= the size with CRLF (RFC822.SIZE), as LMTP names them.
        name = os.path.join(new, f"{int(time.time())}.M{seq}P{os.getpid()}.bench,S={len(lf)},W={len(raw)}")
        with open(name, "wb") as f:
            f.write(lf)
        os.chown(name, owner.pw_uid, owner.pw_gid)


def fill(target):
    have = count()
    if target > have and args.maildir:
        fill_maildir(target - have, have)
    elif target > have:
        subprocess.run(
            [sys.executable, os.path.join(args.harness, "smtpload.py"), "--port", str(args.smtp_port),
             "--connections", "10", "--messages", str(target - have), "--size", "2K",
             "--rcpt-start", str(number), "--rcpt-count", "1", "--from", "loadgen@partner.test"],
            check=True, stdout=subprocess.DEVNULL)
    while count() < target:  # a server that stores after its 250 (Postfix + Dovecot)
        time.sleep(1)


def median_ms(fn, rounds):
    fn()  # warm
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def idle_latency(rounds=5):
    times = []
    for i in range(rounds):
        m = connect()
        m.select("INBOX")
        m.send(b"i IDLE\r\n")
        while not m.readline().startswith(b"+"):
            pass
        s = smtplib.SMTP("127.0.0.1", args.smtp_port)
        s.sendmail("loadgen@partner.test", [args.user], f"Subject: idle {i}\r\n\r\nnew\r\n".encode())
        t = time.perf_counter()
        while b"EXISTS" not in m.readline():
            pass
        times.append((time.perf_counter() - t) * 1000)
        s.quit()
        m.send(b"DONE\r\n")
        while not m.readline().startswith(b"i "):
            pass
        m.logout()
    return round(statistics.median(times), 1)


sampler = procmem.Sampler(procmem.parse_roots(args.pid)) if args.pid else None
if sampler:
    sampler.start()
rows = []
for size in [int(s) for s in args.sizes.split(",")]:
    fill(size)
    m = connect()
    n = int(m.select("INBOX")[1][0])
    last = int(m.uid("SEARCH", "ALL")[1][0].split()[-1])
    row = {
        "messages": n,
        "uid_fetch_last_50_bodies_ms": median_ms(lambda: m.uid("FETCH", f"{last - 49}:{last}", "(BODY.PEEK[])"), 5),
        "sort_date_ms": median_ms(lambda: m.sort("(DATE)", "UTF-8", "ALL"), 3),
        "sort_reverse_date_ms": median_ms(lambda: m.sort("(REVERSE DATE)", "UTF-8", "ALL"), 3),
        "fetch_all_flags_envelope_ms": median_ms(lambda: m.fetch("1:*", "(FLAGS ENVELOPE)"), 3),
    }
    m.logout()
    row["idle_250_to_exists_ms"] = idle_latency()
    if sampler:
        peak = sum(max((x["rss_kb"] for x in ss), default=0) for ss in sampler.samples.values())
        peak_pss = sum(max((x["pss_kb"] for x in ss), default=0) for ss in sampler.samples.values())
        row["peak_rss_mib_so_far"] = round(peak / 1024)
        row["peak_pss_mib_so_far"] = round(peak_pss / 1024)
    print(f"{args.label} {row}", flush=True)
    rows.append(row)
result = {"label": args.label, "rows": rows}
if sampler:
    sampler.stop()
    result["memory"] = sampler.summary()
    print(f"{args.label} memory: {json.dumps(result['memory'])}")
if args.json:
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
