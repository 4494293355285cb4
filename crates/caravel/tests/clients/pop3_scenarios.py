"""POP3 scenarios run by tests/pop3.rs with Python's poplib. Usage:
pop3_scenarios.py SCENARIO; ports from POP3_PORT and POP3S_PORT. Each
scenario asserts what the protocol must do and exits non-zero if not."""

import base64
import poplib
import socket
import sys

from common import HOST, PASSWORD, USER, ctx, expect, port

POP3 = port("POP3_PORT")
POP3S = port("POP3S_PORT")


def error_of(fn):
    try:
        fn()
    except poplib.error_proto as e:
        return e.args[0]
    return None


def every_command():
    p = poplib.POP3(HOST, POP3)
    expect(p.getwelcome().startswith(b"+OK"), "greeting")
    caps = p.capa()
    expect("STLS" in caps and "USER" not in caps, f"before TLS: {caps}")
    err = error_of(lambda: p.user(USER))
    expect(err is not None and err.startswith(b"-ERR [AUTH]"), f"USER before TLS: {err!r}")
    p.stls(context=ctx())
    caps = p.capa()
    expect(all(k in caps for k in ["USER", "SASL", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "UTF8"]), f"{caps}")
    expect("STLS" not in caps, "no STLS inside TLS")
    err = error_of(lambda: (p.user(USER), p.pass_("wrong password")))
    expect(err is not None and err.startswith(b"-ERR [AUTH]"), f"wrong password: {err!r}")
    p.user(USER)
    p.pass_(PASSWORD)
    count, size = p.stat()
    expect(count == 3, f"STAT count {count}")
    resp, listing, _ = p.list()
    sizes = [int(l.split()[1]) for l in listing]
    expect(sum(sizes) == size and len(sizes) == 3, f"LIST {listing}")
    expect(p.list(2).split()[2] == str(sizes[1]).encode(), "LIST 2")
    _, uidls, _ = p.uidl()
    expect(len(set(u.split()[1] for u in uidls)) == 3, f"UIDL {uidls}")
    expect(p.uidl(3).split()[2] == uidls[2].split()[1], "UIDL 3")
    _, lines, octets = p.retr(2)
    body = b"\r\n".join(lines) + b"\r\n"
    expect(b".starts with a dot" in body and b"..two dots" in body, f"RETR un-stuffed by poplib: {body!r}")
    expect(octets >= sizes[1] - 4, f"RETR octets {octets}")
    _, top, _ = p.top(2, 0)
    expect(top[-1] == b"" and any(l.startswith(b"Subject:") for l in top), f"TOP 2 0: {top}")
    p.dele(1)
    expect(error_of(lambda: p.retr(1)) is not None, "a deleted message is gone")
    expect(p.stat()[0] == 2, "STAT after DELE")
    p.rset()
    expect(p.stat()[0] == 3, "RSET restores")
    p.noop()
    p.dele(1)
    expect(p.quit().startswith(b"+OK"), "QUIT")


def sasl_plain_over_995():
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    token = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).decode()
    expect(p._shortcmd("AUTH PLAIN " + token).startswith(b"+OK"), "AUTH PLAIN with initial response")
    count, _ = p.stat()
    expect(count == 2, f"after the first session's QUIT: {count}")
    # A second session on the same maildrop is refused while this one is open.
    q = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    q.user(USER)
    err = error_of(lambda: q.pass_(PASSWORD))
    expect(err is not None and err.startswith(b"-ERR [IN-USE]"), f"second session: {err!r}")
    q.quit()
    p.quit()


def drop_after_dele():
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    p.user(USER)
    p.pass_(PASSWORD)
    n = p.stat()[0]
    for i in range(1, n + 1):
        p.dele(i)
    p.sock.close()  # no QUIT: nothing may be deleted
    print(n)


def fail_once():
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    p.user(USER)
    expect(error_of(lambda: p.pass_("Not-The-Password")) is not None, "wrong password refused")


def sign_in_once():
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    p.user(USER)
    p.pass_(PASSWORD)
    p.quit()


def idle_timeout():
    import time
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    started = time.time()
    line = p.file.readline()
    expect(line.startswith(b"-ERR") and b"inactivity" in line, f"idle client told why: {line!r}")
    expect(0.5 < time.time() - started < 5, "after the configured timeout")


def long_line():
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    err = error_of(lambda: p._shortcmd("NOOP " + "x" * 300))
    expect(err is not None and b"too long" in err.lower(), f"overlong line: {err!r}")
    expect(p.capa() is not None, "the session goes on")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
