"""Hostile input end to end, run by tests/hostile_input.rs (issue 12): deeply
nested MIME messages sent to port 25 and to submission, and APPENDed; the
pause before a failed sign-in, measured on fresh connections. Usage:
hostile_scenarios.py SCENARIO; ports from SMTP_PORT, SUBMISSIONS_PORT,
IMAPS_PORT, POP3S_PORT; message files from MESSAGES (separated by ':'); the
configured pause from PAUSE_MS."""

import imaplib
import os
import poplib
import smtplib
import sys
import time

from common import HOST, PASSWORD, USER, ctx, expect, port

SMTP = port("SMTP_PORT")
SUBMISSIONS = port("SUBMISSIONS_PORT")
IMAPS = port("IMAPS_PORT")
POP3S = port("POP3S_PORT")
BOB = "bob@example.test"
HEALTHY = b"From: <partner@remote.test>\r\nTo: <alice@example.test>\r\nSubject: healthy\r\n\r\nhello\r\n"


def messages():
    return [open(p, "rb").read() for p in os.environ["MESSAGES"].split(":")]


def refused_with_560(send, what):
    try:
        send()
    except smtplib.SMTPDataError as e:
        expect(e.smtp_code == 554 and b"5.6.0" in e.smtp_error, f"{what}: {e}")
        return
    expect(False, f"{what}: accepted")


def still_serving():
    s = smtplib.SMTP(HOST, SMTP)
    s.sendmail("partner@remote.test", [USER], HEALTHY)
    s.quit()
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    m.login(USER, PASSWORD)
    m.logout()


def deep_mx():
    for i, msg in enumerate(messages()):
        s = smtplib.SMTP(HOST, SMTP)
        refused_with_560(lambda: s.sendmail("partner@remote.test", [USER], msg), f"port 25, message {i}")
        # The session goes on after the refusal.
        s.sendmail("partner@remote.test", [USER], HEALTHY)
        s.quit()
    still_serving()


def deep_submission():
    for i, msg in enumerate(messages()):
        s = smtplib.SMTP_SSL(HOST, SUBMISSIONS, context=ctx())
        s.login(USER, PASSWORD)
        body = msg.replace(b"<a@x.test>", USER.encode(), 1)
        refused_with_560(lambda: s.sendmail(USER, [BOB], body), f"submission, message {i}")
        s.quit()
    still_serving()


def deep_append_then_fetch_range():
    """A deep message between healthy ones: the range FETCH answers for all
    three, and the deep one reads back byte for byte."""
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    m.login(USER, PASSWORD)
    deep = messages()
    for msg in [HEALTHY, *deep, HEALTHY]:
        typ, data = m.append("INBOX", None, None, msg)
        expect(typ == "OK", f"APPEND: {typ} {data}")
    m.select("INBOX")
    total = 2 + len(deep)
    typ, data = m.fetch(f"1:*", "(UID FLAGS BODYSTRUCTURE)")
    expect(typ == "OK", f"FETCH 1:*: {typ} {data}")
    answered = [d for d in data if isinstance(d, bytes) and b"BODYSTRUCTURE" in d]
    expect(len(answered) == total, f"{len(answered)} of {total} messages answered: {data!r:.300}")
    for i, msg in enumerate(deep):
        typ, data = m.fetch(str(i + 2), "(BODY.PEEK[])")
        expect(typ == "OK" and data[0][1] == msg, f"BODY.PEEK[] of deep message {i}: {typ}")
        typ, data = m.fetch(str(i + 2), "(BODY.PEEK[1.MIME])")
        expect(typ == "OK", f"BODY[1.MIME] of deep message {i}: {typ} {data}")
    m.logout()
    still_serving()


def disk_full():
    """PHASE=full: the disk is full; a large message is refused with 452 4.3.1
    and APPEND with NO [OVERQUOTA], and the session goes on. PHASE=freed:
    both are accepted again."""
    big = HEALTHY + (b"x" * 78 + b"\r\n") * 5000
    phase = os.environ["PHASE"]
    s = smtplib.SMTP(HOST, SMTP)
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    m.login(USER, PASSWORD)
    if phase == "full":
        try:
            s.sendmail("partner@remote.test", [USER], big)
            expect(False, "accepted on a full disk")
        except smtplib.SMTPDataError as e:
            expect(e.smtp_code == 452 and b"4.3.1" in e.smtp_error, f"full disk: {e}")
        typ, data = m.append("INBOX", None, None, big)
        expect(typ == "NO" and b"[OVERQUOTA]" in data[0], f"APPEND on a full disk: {typ} {data}")
        s.noop()
    else:
        s.sendmail("partner@remote.test", [USER], big)
        typ, data = m.append("INBOX", None, None, big)
        expect(typ == "OK", f"APPEND after space returned: {typ} {data}")
    m.logout()
    s.quit()


def rename_onto_a_left_child():
    """Issue 12: DELETE r leaves r/q; RENAME p r must then be refused as
    ALREADYEXISTS, with no store text (SQL) in the reply."""
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    m.login(USER, PASSWORD)
    for step in [("create", "p/q"), ("rename", "p", "r"), ("delete", "r"), ("create", "p/q")]:
        typ, data = getattr(m, step[0])(*step[1:])
        expect(typ == "OK", f"{step}: {typ} {data}")
    typ, data = m.rename("p", "r")
    text = data[0].decode()
    expect(typ == "NO" and text.startswith("[ALREADYEXISTS]") and "UNIQUE" not in text, f"RENAME p r: {typ} {text}")
    m.logout()


def tls_client_stops_reading():
    """Over implicit TLS, a client that sends and never reads is dropped:
    the server's writes, and then its TLS close, give up after the timeout."""
    import socket
    import ssl
    for what, p, command in [("imaps", IMAPS, b"a CAPABILITY\r\n"), ("pop3s", POP3S, b"CAPA\r\n"),
                             ("submissions", SUBMISSIONS, b"EHLO client.test\r\n")]:
        raw = socket.create_connection((HOST, p))
        tls = ctx().wrap_socket(raw, server_hostname="mail.example.test")
        tls.settimeout(20)
        start = time.monotonic()
        try:
            while True:
                tls.sendall(command * 1000)
        except socket.timeout:
            expect(False, f"{what}: still connected after {time.monotonic() - start:.1f}s without reading")
        except (OSError, ssl.SSLError):
            pass
        took = time.monotonic() - start
        expect(took < 15, f"{what}: dropped only after {took:.1f}s")
        tls.close()


def timed(what, fail):
    """Seconds from sending the failing sign-in to its answer."""
    start = time.monotonic()
    try:
        fail()
    except (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException):
        return time.monotonic() - start
    expect(False, f"{what}: the wrong password was accepted")


def pause_before_the_reply():
    """Each try on a fresh connection, as a guesser would: the refusal itself
    comes only after the pause."""
    pause = int(os.environ["PAUSE_MS"]) / 1000
    wrong = "not-the-password"
    for what in ["imap", "pop3", "smtp"]:
        if what == "imap":
            m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
            took = timed(what, lambda: m.login(USER, wrong))
        elif what == "pop3":
            p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
            p.user(USER)
            took = timed(what, lambda: p.pass_(wrong))
        else:
            s = smtplib.SMTP_SSL(HOST, SUBMISSIONS, context=ctx())
            s.ehlo()
            took = timed(what, lambda: s.auth("PLAIN", lambda challenge=None: f"\0{USER}\0{wrong}"))
        expect(took >= pause * 0.9, f"{what}: refused after {took:.3f}s, the pause is {pause:.3f}s")
    print("pause ok")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
