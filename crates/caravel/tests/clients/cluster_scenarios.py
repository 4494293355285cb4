"""Two Caravel nodes on one PostgreSQL store, with real clients:
cluster_scenarios.py SCENARIO. Node A's ports come as A_SMTP_PORT,
A_IMAPS_PORT; node B's as the usual IMAPS_PORT, POP3S_PORT. Each scenario
asserts and exits non-zero with a message if not."""

import imaplib
import poplib
import re
import smtplib
import sys
import time

from common import HOST, PASSWORD, USER, ctx, expect, imap_session, port

A_SMTP = port("A_SMTP_PORT")
A_IMAPS = port("A_IMAPS_PORT")
A_POP3S = port("A_POP3S_PORT")


def send_to_a(subject, to=USER):
    """Mail from outside, taken by node A's MX listener."""
    with smtplib.SMTP(HOST, A_SMTP) as s:
        s.sendmail("buyer@partner.test", [to],
                   f"From: buyer@partner.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nOrder 77.\r\n")


def mail_taken_by_a_is_pushed_and_fetched_on_b():
    b = imap_session(USER, PASSWORD)
    ok, data = b.select("INBOX")
    expect(ok == "OK", f"select on B: {data}")
    before = int(data[0])
    # B waits in IDLE; mail taken by A reaches it within a second (NOTIFY).
    tag = b._new_tag().decode()
    b.send(f"{tag} IDLE\r\n".encode())
    expect(b.readline().startswith(b"+"), "IDLE continuation")
    started = time.time()
    send_to_a("taken by node A")
    line = b.readline()
    waited = time.time() - started
    expect(re.match(rb"\* \d+ EXISTS", line) is not None, f"IDLE push on B: {line!r}")
    expect(waited < 1.0, f"pushed within a second ({waited:.2f}s)")
    b.send(b"DONE\r\n")
    while not b.readline().startswith(tag.encode()):
        pass
    n = before + 1
    ok, data = b.fetch(str(n), "(BODY.PEEK[])")
    expect(ok == "OK" and b"taken by node A" in data[0][1], f"fetched on B: {data!r}")
    # A flag set on B is seen by a session on A.
    a = imaplib.IMAP4_SSL(HOST, A_IMAPS, ssl_context=ctx())
    a.login(USER, PASSWORD)
    a.select("INBOX")
    ok, _ = b.store(str(n), "+FLAGS", "(\\Flagged)")
    expect(ok == "OK", "store on B")
    # Another node's change reaches A's session by NOTIFY, within a second.
    started = time.time()
    while True:
        ok, data = a.fetch(str(n), "(FLAGS)")
        if b"\\Flagged" in data[0]:
            break
        expect(time.time() - started < 1.0, f"flag seen on A within a second: {data!r}")
        time.sleep(0.05)
        a.noop()
    # POP3 on B sees it too.
    p = poplib.POP3_SSL(HOST, port("POP3S_PORT"), context=ctx())
    p.user(USER)
    p.pass_(PASSWORD)
    count, _ = p.stat()
    expect(count == n, f"POP3 on B counts {count}, IMAP {n}")
    p.quit()
    a.logout()
    b.logout()


def user_made_on_a_signs_in_on_b():
    carol = sys.argv[2]
    password = sys.argv[3]
    b = imap_session(carol, password)
    ok, data = b.select("INBOX")
    expect(ok == "OK" and data == [b"0"], f"carol's INBOX on B: {data}")
    b.logout()


def pop3(pop3s_port, user=USER, password=PASSWORD):
    p = poplib.POP3_SSL(HOST, pop3s_port, context=ctx())
    p.user(user)
    p.pass_(password)
    return p


def pop3_one_session_per_maildrop_across_nodes():
    a = pop3(A_POP3S)
    try:
        pop3(port("POP3S_PORT"))
        expect(False, "a second POP3 session on node B while A has the maildrop")
    except poplib.error_proto as e:
        expect(b"[IN-USE]" in e.args[0], f"refused as in use: {e}")
    a.quit()
    # The lease is given back when the session ends (shortly after QUIT).
    for _ in range(50):
        try:
            pop3(port("POP3S_PORT")).quit()
            return
        except poplib.error_proto:
            time.sleep(0.1)
    expect(False, "node B never got the maildrop after A's QUIT")


def imap_fails(imaps_port, user, password):
    i = imaplib.IMAP4_SSL(HOST, imaps_port, ssl_context=ctx())
    try:
        i.login(user, password)
        i.logout()
        return None
    except imaplib.IMAP4.error as e:
        return str(e)


def failures_on_both_nodes_ban_the_address_on_both():
    failures = int(sys.argv[2])
    for n in range(failures):
        node = A_IMAPS if n % 2 == 0 else port("IMAPS_PORT")
        err = imap_fails(node, f"nobody{n}@example.test", "wrong-password")
        expect(err is not None, f"failure {n} refused")
    for name, node in (("A", A_IMAPS), ("B", port("IMAPS_PORT"))):
        err = imap_fails(node, USER, PASSWORD)
        expect(err is not None and "UNAVAILABLE" in err, f"node {name} refuses the banned address: {err}")


def imap_while_the_store_is_down():
    """Signed in and selected, then (after "go" on stdin, once the test has
    stopped PostgreSQL) commands that need the store: a temporary NO."""
    m = imap_session(USER, PASSWORD)
    m.select("INBOX")
    print("ready", flush=True)
    sys.stdin.readline()
    typ, data = m.status("INBOX", "(MESSAGES)")
    expect(typ == "NO" and b"[UNAVAILABLE]" in data[0], f"STATUS while down: {typ} {data}")
    print("refused", flush=True)
    sys.stdin.readline()
    typ, data = m.status("INBOX", "(MESSAGES)")
    expect(typ == "OK", f"STATUS once it is back: {typ} {data}")
    m.logout()


if __name__ == "__main__":
    globals()[sys.argv[1]]()
