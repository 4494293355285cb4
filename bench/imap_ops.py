"""IMAP operations on a filled mailbox: UID SEARCH of a header and of body
text, and the APPEND rate. Usage: imap_ops.py --port P --user U --password W
[--starttls] [--appends 500]. Run after the shared harness filled INBOX."""

import argparse
import imaplib
import ssl
import statistics
import time

a = argparse.ArgumentParser()
a.add_argument("--port", type=int, required=True)
a.add_argument("--user", required=True)
a.add_argument("--password", required=True)
a.add_argument("--starttls", action="store_true")
a.add_argument("--appends", type=int, default=500)
args = a.parse_args()

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4("127.0.0.1", args.port)
if args.starttls:
    m.starttls(ssl_context=ctx)
m.login(args.user, args.password)
typ, data = m.select("INBOX")
print(f"INBOX: {data[0].decode()} messages")


def timed(label, fn, rounds=3):
    times = []
    result = None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    print(f"{label}: median {statistics.median(times):.1f} ms (rounds: {', '.join(f'{x:.0f}' for x in times)})")
    return result


# Quoted: imaplib sends arguments as they are, and an unquoted "smtpload 4242"
# would be HEADER Subject smtpload plus the sequence number 4242. The
# harness' subjects are "smtpload <time> #N": one message matches.
hits = timed("UID SEARCH HEADER Subject", lambda: m.uid("SEARCH", "HEADER", "Subject", '"#4242"'))
print("  hits:", len(hits[1][0].split()))
hits = timed("UID SEARCH BODY", lambda: m.uid("SEARCH", "BODY", '"zzzz-not-there"'))
print("  hits:", len(hits[1][0].split()))
try:
    m.create("BenchAppend")
except Exception:
    pass
msg = b"From: bench@remote.test\r\nSubject: append bench\r\n\r\n" + b"x" * 900 + b"\r\n"
t = time.perf_counter()
for _ in range(args.appends):
    m.append("BenchAppend", None, None, msg)
took = time.perf_counter() - t
print(f"APPEND: {args.appends} x 1 KB in {took:.2f}s = {args.appends / took:.0f} msgs/s")
m.delete("BenchAppend")
m.logout()
