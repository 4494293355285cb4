"""SMTP scenarios run by tests/smtp.rs with real clients (Python's smtplib and
raw sockets). Usage: smtp_scenarios.py SCENARIO; ports come from the
environment (SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT). Each scenario
asserts what the protocol must do and exits non-zero with a message if not."""

import os
import smtplib
import socket
import sys
import time

from common import HOST, PASSWORD, USER, expect, port
from common import ctx as tls_context

SMTP = port("SMTP_PORT")
SUB = port("SUBMISSION_PORT")
SUBS = port("SUBMISSIONS_PORT")
ALICE = (USER, PASSWORD)


def refused(fn, code, enhanced=None):
    try:
        fn()
    except smtplib.SMTPResponseException as e:
        expect(e.smtp_code == code, f"expected {code}, got {e.smtp_code} {e.smtp_error!r}")
        if enhanced:
            expect(e.smtp_error.decode().startswith(enhanced), f"expected {enhanced}, got {e.smtp_error!r}")
        return
    except smtplib.SMTPRecipientsRefused as e:
        (c, text), = e.recipients.values()
        expect(c == code, f"expected {code}, got {c} {text!r}")
        if enhanced:
            expect(text.decode().startswith(enhanced), f"expected {enhanced}, got {text!r}")
        return
    except smtplib.SMTPSenderRefused as e:
        expect(e.smtp_code == code, f"expected {code}, got {e.smtp_code} {e.smtp_error!r}")
        return
    expect(False, f"expected a {code} refusal, but it was accepted")


class Raw:
    """A line-level SMTP client on a plain socket."""

    def __init__(self, port, tls=False):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One whole (multi-line) reply: (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return (None, b"".join(lines))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line[4:])
            if line[3:4] != b"-":
                return (int(line[:3]), b"\n".join(lines))

    def cmd(self, line):
        self.send(line + b"\r\n")
        return self.reply()


def deliver_exact():
    body = ("From: Li Wei <li@remote.test>\r\nTo: alice@example.test\r\n"
            "Subject: =?UTF-8?B?5oql5Lu35Y2V?=\r\nMessage-ID: <exact-1@remote.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "您好，这是报价单。\r\n.one leading dot\r\n..two leading dots\r\n.\r\nend\r\n").encode()
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("client.remote.test")
        expect(s.has_extn("8bitmime") and s.has_extn("smtputf8") and s.has_extn("pipelining"), "extensions")
        expect(not s.has_extn("auth"), "no AUTH on port 25")
        s.sendmail("li@remote.test", ["alice@example.test"], body, mail_options=["BODY=8BITMIME"])
    sys.stdout.buffer.write(body)


def submission_rules():
    ctx = tls_context()
    with smtplib.SMTP(HOST, SUB) as s:
        s.ehlo()
        expect(not s.has_extn("auth"), "AUTH advertised before STARTTLS")
        code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABXb25kZXJsYW5kLUtleS0yMDI2")
        expect(code == 538, f"AUTH before TLS must be refused with 538, got {code}")
        code, _ = s.docmd("MAIL", "FROM:<alice@example.test>")
        expect(code == 530, f"MAIL before STARTTLS: expected 530, got {code}")
        s.starttls(context=ctx)
        s.ehlo()
        expect("PLAIN" in s.esmtp_features.get("auth", "").upper(), "AUTH PLAIN offered after STARTTLS")
        code, _ = s.docmd("MAIL", "FROM:<alice@example.test>")
        expect(code == 530, f"MAIL before AUTH: expected 530, got {code}")
        refused(lambda: s.login(ALICE[0], "Not-The-Password-1"), 535, "5.7.8")
        code, _ = s.login(*ALICE)
        expect(code == 235, f"login: {code}")
        refused(lambda: s.sendmail("boss@example.test", ["partner@far.test"], b"Subject: x\r\n\r\nx\r\n"), 553, "5.7.1")
        s.sendmail(ALICE[0], ["partner@far.test", "bob@example.test"], b"Subject: to a partner\r\n\r\nhello\r\n")
    with smtplib.SMTP(HOST, SMTP) as s:
        refused(lambda: s.sendmail("spam@bad.test", ["victim@far.test"], b"Subject: relay\r\n\r\nx\r\n"), 554, "5.7.1")
    with smtplib.SMTP(HOST, SUB) as s:
        s.starttls(context=ctx)
        refused(lambda: s.sendmail("spam@bad.test", ["victim@far.test"], b"Subject: relay\r\n\r\nx\r\n"), 530, "5.7.0")


def implicit_tls():
    with smtplib.SMTP_SSL(HOST, SUBS, context=tls_context()) as s:
        s.ehlo()
        expect(not s.has_extn("starttls"), "no STARTTLS inside TLS")
        s.login(*ALICE)
        s.sendmail(ALICE[0], [ALICE[0]], b"Subject: over 465\r\n\r\nhi\r\n")


def unknown_and_alias():
    with smtplib.SMTP(HOST, SMTP) as s:
        refused(lambda: s.sendmail("x@remote.test", ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n"), 550, "5.1.1")
        s.sendmail("x@remote.test", ["sales@example.test", "alice+orders@example.test"], b"Subject: alias\r\n\r\nx\r\n")


def oversize():
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 80  # about 80 KB; the limit is 64K
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo()
        expect(s.esmtp_features.get("size") == "65536", f"SIZE advertised: {s.esmtp_features.get('size')}")
        code, _ = s.docmd("MAIL", "FROM:<x@remote.test> SIZE=100000")
        expect(code == 552, f"SIZE over the limit at MAIL: expected 552, got {code}")
    r = Raw(SMTP)
    r.reply()
    r.cmd(b"EHLO client")
    expect(r.cmd(b"MAIL FROM:<x@remote.test>")[0] == 250, "MAIL")
    expect(r.cmd(b"RCPT TO:<alice@example.test>")[0] == 250, "RCPT")
    expect(r.cmd(b"DATA")[0] == 354, "DATA")
    r.send(big + b".\r\n")
    code, text = r.reply()
    expect(code == 552 and text.startswith(b"5.3.4"), f"over-size DATA: {code} {text!r}")
    expect(r.cmd(b"NOOP")[0] == 250, "session still usable")


SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r", b"\n.\r", b"\r.\n", b"\r\n.\r\r\n"]


def smuggling():
    for fake in SMUGGLE:
        r = Raw(SMTP)
        r.reply()
        r.cmd(b"EHLO attacker")
        r.cmd(b"MAIL FROM:<attacker@remote.test>")
        r.cmd(b"RCPT TO:<alice@example.test>")
        expect(r.cmd(b"DATA")[0] == 354, "DATA")
        r.send(b"Subject: first\r\n\r\nfirst message" + fake +
               b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
               b"Subject: SMUGGLED\r\n\r\nsmuggled\r\n.\r\n")
        code, text = r.reply()
        expect(code == 554 and b"bare" in text, f"{fake!r}: expected 554 bare CR/LF, got {code} {text!r}")
        # Nothing the attacker sent is taken as a command: the next reply is to NOOP.
        code, text = r.cmd(b"NOOP")
        expect(code == 250 and text.startswith(b"2.0.0"), f"{fake!r}: after the data {code} {text!r}")


def starttls_injection():
    r = Raw(SUB)
    r.reply()
    r.cmd(b"EHLO client")
    r.send(b"STARTTLS\r\nRSET\r\n")
    code, _ = r.reply()
    expect(code == 220, f"STARTTLS: {code}")
    r.sock = tls_context().wrap_socket(r.sock)
    r.buf = b""
    code, text = r.cmd(b"EHLO client")
    expect(code == 250 and b"AUTH" in text, f"first reply after TLS must answer EHLO: {code} {text!r}")
    code, text = r.cmd(b"NOOP")
    expect(code == 250 and text.startswith(b"2.0.0"), f"then NOOP: {code} {text!r}")


def chunking():
    r = Raw(SMTP)
    r.reply()
    _, caps = r.cmd(b"EHLO client")
    expect(b"CHUNKING" in caps, "CHUNKING advertised")
    r.cmd(b"MAIL FROM:<x@remote.test>")
    r.cmd(b"RCPT TO:<alice@example.test>")
    part1 = b"Subject: chunked\r\nMessage-ID: <bdat-1@remote.test>\r\n\r\nfirst part, "
    part2 = b"second part\r\n.this line starts with a dot\r\n"
    r.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, _ = r.reply()
    expect(code == 250, f"BDAT 1: {code}")
    r.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, text = r.reply()
    expect(code == 250 and b"queued as" in text, f"BDAT LAST: {code} {text!r}")


def limits():
    r = Raw(SMTP)
    r.reply()
    r.cmd(b"EHLO client")
    code, text = r.cmd(b"NOOP " + b"x" * 600)
    expect(code == 500 and text.startswith(b"5.5.2"), f"overlong command line: {code} {text!r}")
    r.cmd(b"MAIL FROM:<x@remote.test>")
    for i in range(3):
        expect(r.cmd(b"RCPT TO:<alice@example.test>")[0] == 250, "rcpt within the limit")
    code, text = r.cmd(b"RCPT TO:<alice@example.test>")
    expect(code == 452 and text.startswith(b"4.5.3"), f"too many recipients: {code} {text!r}")
    expect(r.cmd(b"DATA")[0] == 354, "DATA")
    r.send(b"Subject: long line\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n")
    code, text = r.reply()
    expect(code == 500 and text.startswith(b"5.5.2"), f"overlong text line: {code} {text!r}")
    # Errors: this session has had 2; the limit is 5.
    for _ in range(2):
        expect(r.cmd(b"FROB")[0] == 500, "unknown command")
    code, _ = r.cmd(b"FROB")
    expect(code == 500, "fifth error still answered")
    code, text = r.reply()
    expect(code == 421, f"too many errors closes with 421, got {code} {text!r}")
    # HTTP on the SMTP port: closed without a word.
    h = Raw(SMTP)
    h.reply()
    h.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(h.reply()[0] is None, "HTTP request answered by a close")


def idle_timeout():
    r = Raw(SMTP)
    r.reply()
    started = time.time()
    code, text = r.reply()
    took = time.time() - started
    expect(code == 421 and text.startswith(b"4.4.2"), f"idle client gets 421 4.4.2: {code} {text!r}")
    expect(0.5 < took < 5, f"after the configured timeout, took {took:.1f}s")


def many_connections():
    n = int(os.environ.get("CONNECTIONS", "1000"))
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, SMTP), timeout=30)
        socks.append(s)
    greeted = 0
    for s in socks:
        if s.recv(1024).startswith(b"220 "):
            greeted += 1
    expect(greeted == n, f"{greeted} of {n} connections greeted")
    # Meanwhile the server still answers a new client promptly.
    started = time.time()
    with smtplib.SMTP(HOST, SMTP, timeout=10) as s:
        expect(s.noop()[0] == 250, "NOOP while 1000 are open")
    expect(time.time() - started < 5, "responsive under load")
    for s in socks:
        s.close()


def over_quota():
    want = os.environ["WANT"].encode()
    r = Raw(SMTP)
    r.reply()
    r.cmd(b"EHLO client")
    # bob's quota is 100 bytes: a 500-byte message does not fit.
    r.cmd(b"MAIL FROM:<x@remote.test> SIZE=500")
    code, text = r.cmd(b"RCPT TO:<bob@example.test>")
    expect(b"%d %s" % (code, text[:5]) == want, f"over quota: expected {want!r}, got {code} {text!r}")
    expect(r.cmd(b"RCPT TO:<alice@example.test>")[0] == 250, "others still accepted")


def data_timeout():
    r = Raw(SMTP)
    r.reply()
    r.cmd(b"EHLO client")
    r.cmd(b"MAIL FROM:<x@remote.test>")
    r.cmd(b"RCPT TO:<alice@example.test>")
    expect(r.cmd(b"DATA")[0] == 354, "DATA")
    r.send(b"Subject: stalled\r\n\r\nhalf a message")
    started = time.time()
    code, text = r.reply()
    expect(code == 421 and text.startswith(b"4.4.2"), f"stalled DATA gets 421 4.4.2: {code} {text!r}")
    expect(0.5 < time.time() - started < 5, "after the data timeout")


def auth_delay():
    with smtplib.SMTP_SSL(HOST, SUBS, context=tls_context()) as s:
        started = time.time()
        refused(lambda: s.login(ALICE[0], "Wrong-Password-99"), 535, "5.7.8")
        took = time.time() - started
        expect(took >= 1.0, f"a failed sign-in is answered after the delay, took {took:.2f}s")
        s.login(*ALICE)


def fail_once():
    import base64
    with smtplib.SMTP_SSL(HOST, SUBS, context=tls_context()) as s:
        s.ehlo()
        token = base64.b64encode(b"\0" + ALICE[0].encode() + b"\0Not-The-Password").decode()
        code, _ = s.docmd("AUTH", "PLAIN " + token)
        expect(code == 535, f"one wrong AUTH PLAIN: {code}")


def catch_all():
    with smtplib.SMTP(HOST, SMTP) as s:
        s.sendmail("x@remote.test", ["anything-at-all@example.test"], b"Subject: catch-all\r\n\r\nx\r\n")
        refused(lambda: s.sendmail("x@remote.test", ["someone@other.test"], b"Subject: x\r\n\r\nx\r\n"), 554, "5.7.1")



def size_and_send_limits():
    # alice's own limit is 8K (the server's is larger); bob has none.
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("mx.remote.test")
        code, _ = s.mail("li@remote.test", ["SIZE=20000"])
        expect(code == 250, f"MAIL SIZE=20000 under the server's limit: {code}")
        code, text = s.rcpt("alice@example.test")
        expect(code == 552 and b"5.3.4" in text and b"the limit for mail to alice@example.test is 8K" in text,
               f"RCPT alice with SIZE over her limit: {code} {text}")
        code, _ = s.rcpt("bob@example.test")
        expect(code == 250, f"RCPT bob: {code}")
    with smtplib.SMTP(HOST, SUB) as s:
        s.ehlo()
        s.starttls(context=tls_context())
        s.ehlo()
        s.login(*ALICE)
        code, text = s.mail(USER, ["SIZE=20000"])
        expect(code == 552 and b"the limit for mail from alice@example.test is 8K" in text, f"MAIL: {code} {text}")
        s.rset()
        # Three recipients an hour: the fourth is refused in words.
        code, _ = s.mail(USER)
        expect(code == 250, f"MAIL: {code}")
        for n in range(3):
            code, _ = s.rcpt(f"buyer{n}@customer.test")
            expect(code == 250, f"RCPT {n}: {code}")
        code, text = s.rcpt("buyer3@customer.test")
        expect(code == 550 and b"5.4.5" in text and b"Sending limit reached" in text, f"4th RCPT: {code} {text}")

if __name__ == "__main__":
    globals()[sys.argv[1]]()
