"""POP3 RETR benchmark: fills one mailbox over SMTP, then downloads every
message over POP3S several times and reports messages/s (median round).
Usage: pop3_retr.py --smtp-port P --pop3s-port Q --user U --password W
       [--count 1000] [--size 51200] [--rounds 3] [--skip-fill]"""

import argparse
import poplib
import smtplib
import ssl
import statistics
import time

a = argparse.ArgumentParser()
a.add_argument("--smtp-port", type=int, required=True)
a.add_argument("--pop3s-port", type=int, required=True)
a.add_argument("--user", required=True)
a.add_argument("--password", required=True)
a.add_argument("--count", type=int, default=1000)
a.add_argument("--size", type=int, default=51200)
a.add_argument("--rounds", type=int, default=3)
a.add_argument("--skip-fill", action="store_true")
args = a.parse_args()

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def pop():
    p = poplib.POP3_SSL("127.0.0.1", args.pop3s_port, context=ctx)
    p.user(args.user)
    p.pass_(args.password)
    return p


if not args.skip_fill:
    line = b"x" * 76 + b"\r\n"
    with smtplib.SMTP("127.0.0.1", args.smtp_port) as s:
        for i in range(args.count):
            head = f"From: bench@remote.test\r\nTo: {args.user}\r\nSubject: pop3 bench {i}\r\n\r\n".encode()
            body = line * ((args.size - len(head)) // len(line))
            s.sendmail("bench@remote.test", [args.user], head + body)
    deadline = time.time() + 120
    while True:
        p = pop()
        n = p.stat()[0]
        p.quit()
        if n >= args.count or time.time() > deadline:
            break
        time.sleep(0.5)

rates = []
for r in range(args.rounds):
    started = time.perf_counter()
    p = pop()
    n, total = p.stat()
    for i in range(1, n + 1):
        p.retr(i)
    p.quit()
    took = time.perf_counter() - started
    rates.append(n / took)
    print(f"round {r + 1}: {n} messages, {total / 1e6:.1f} MB in {took:.2f}s = {n / took:.0f} msgs/s")
print(f"median: {statistics.median(rates):.0f} msgs/s")
