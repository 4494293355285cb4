"""IMAP scenarios run by tests/imap.rs with Python's imaplib. Usage:
imap_scenarios.py SCENARIO; ports from IMAP_PORT, IMAPS_PORT, SMTP_PORT,
POP3S_PORT. Each scenario asserts and exits non-zero with a message if not."""

import imaplib
import poplib
import re
import smtplib
import socket
import sys
import time
import zlib

from common import HOST, PASSWORD, USER, ctx, expect, port

IMAP = port("IMAP_PORT")
IMAPS = port("IMAPS_PORT")
SMTP = port("SMTP_PORT")
POP3S = port("POP3S_PORT")


def ok(result, what):
    typ, data = result
    expect(typ == "OK", f"{what}: {typ} {data}")
    return data


def send(subject, body="hello", to=USER):
    msg = f"From: Li Wei <li@far.test>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{time.time_ns()}@far.test>\r\n\r\n{body}\r\n"
    with smtplib.SMTP(HOST, SMTP) as s:
        s.sendmail("li@far.test", [to], msg.encode())


def login():
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    ok(m.login(USER, PASSWORD), "login")
    return m


def every_family():
    # Sign-in: nothing before TLS.
    m = imaplib.IMAP4(HOST, IMAP)
    expect("LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities, f"{m.capabilities}")
    try:
        m.login(USER, PASSWORD)
        expect(False, "LOGIN accepted before STARTTLS")
    except imaplib.IMAP4.error as e:
        expect("PRIVACYREQUIRED" in str(e), f"{e}")
    m.starttls(ssl_context=ctx())
    expect("AUTH=PLAIN" in m.capabilities and "LOGINDISABLED" not in m.capabilities, f"{m.capabilities}")
    try:
        m.login(USER, "wrong")
        expect(False, "wrong password accepted")
    except imaplib.IMAP4.error as e:
        expect("AUTHENTICATIONFAILED" in str(e), f"{e}")
    ok(m.login(USER, PASSWORD), "login after STARTTLS")
    m.logout()

    send("=?UTF-8?B?5oql5Lu35Y2V?=", "您好，附件是报价单。")
    send("second", "plain text")
    m = login()
    # Mailboxes, with a Chinese name in modified UTF-7.
    ok(m.create("&W6JiNw-/&YqVO9w-"), "CREATE 客户/报价")
    names = b" ".join(ok(m.list(), "LIST"))
    expect(b'"&W6JiNw-/&YqVO9w-"' in names and b"\\Sent" in names and b"\\HasChildren" in names, f"{names}")
    ok(m.rename("&W6JiNw-/&YqVO9w-", "&W6JiNw-/Quotes"), "RENAME")
    ok(m.subscribe("&W6JiNw-/Quotes"), "SUBSCRIBE")
    expect(any(b"Quotes" in l for l in ok(m.lsub(), "LSUB")), "LSUB shows it")
    status = ok(m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"), "STATUS")[0]
    expect(b"MESSAGES 2" in status and b"UNSEEN 2" in status, f"{status}")
    # SELECT and FETCH.
    data = ok(m.select("INBOX"), "SELECT")
    expect(data == [b"2"], f"EXISTS {data}")
    env = ok(m.fetch("1", "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE INTERNALDATE)"), "FETCH")[0]
    expect(b'"=?UTF-8?B?5oql5Lu35Y2V?="' in env and b'("Li Wei" NIL "li" "far.test")' in env, f"{env}")
    expect(b'BODYSTRUCTURE ("text" "plain"' in env, f"{env}")
    peek = ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH PEEK")
    expect(b"Subject: =?UTF-8?B?5oql5Lu35Y2V?=" in peek[0][1], f"{peek}")
    flags = ok(m.fetch("1", "FLAGS"), "FLAGS")[0]
    expect(b"\\Seen" not in flags, "PEEK does not set \\Seen")
    body = ok(m.fetch("1", "(BODY[TEXT])"), "FETCH BODY[TEXT]")
    expect("报价单".encode() in body[0][1], f"{body}")
    expect(b"\\Seen" in ok(m.fetch("1", "FLAGS"), "FLAGS")[0], "BODY[] sets \\Seen")
    part = ok(m.fetch("2", "(BODY.PEEK[1]<0.5>)"), "partial")
    expect(b'BODY[1]<0> "plain"' in part[0], f"partial fetch {part}")
    # SEARCH, decoded: the subject is base64 UTF-8, the body 8-bit.
    expect(ok(m.search("UTF-8", "SUBJECT", "报价".encode()), "SEARCH subject") == [b"1"], "subject search")
    expect(ok(m.search("UTF-8", "BODY", "附件".encode()), "SEARCH body") == [b"1"], "body search")
    expect(ok(m.search(None, "UNSEEN"), "SEARCH UNSEEN") == [b"2"], "unseen")
    expect(ok(m.uid("SEARCH", "ALL"), "UID SEARCH") == [b"1 2"], "uid search")
    # STORE, COPY, MOVE, EXPUNGE.
    stored = ok(m.store("2", "+FLAGS", "(\\Flagged $Quote)"), "STORE")[0]
    expect(b"\\Flagged" in stored and b"$Quote" in stored, f"{stored}")
    copied = ok(m.copy("1:2", "&W6JiNw-/Quotes"), "COPY")
    expect(b"COPYUID" in copied[0], f"{copied}")
    typ, data = m.uid("MOVE", "1", "Archive")
    expect(typ == "OK", f"MOVE {data}")
    expect(ok(m.select("INBOX"), "SELECT again") == [b"1"], "moved out")
    ok(m.store("1", "+FLAGS", "\\Deleted"), "mark deleted")
    expunged = ok(m.expunge(), "EXPUNGE")
    expect(expunged[-1] == b"1", f"{expunged}")
    # APPEND with APPENDUID.
    appended = ok(m.append("INBOX", "(\\Seen)", None, b"Subject: draft\r\n\r\nbody\r\n"), "APPEND")
    expect(b"APPENDUID" in appended[0], f"{appended}")
    ok(m.noop(), "NOOP")
    expect(ok(m.select("&W6JiNw-/Quotes"), "SELECT child") == [b"2"], "two copies")
    quota = m.getquotaroot("INBOX")
    expect(quota[0] == "OK", f"{quota}")
    m.close()
    ok(m.delete("&W6JiNw-/Quotes"), "DELETE")
    m.logout()


def two_sessions():
    a, b = login(), login()
    ok(a.select("INBOX"), "A select")
    ok(b.select("INBOX"), "B select")
    # B waits in IDLE; a delivery reaches it within a second.
    tag = b._new_tag().decode()
    b.send(f"{tag} IDLE\r\n".encode())
    expect(b.readline().startswith(b"+"), "IDLE continuation")
    started = time.time()
    send("pushed")
    line = b.readline()
    expect(re.match(rb"\* \d+ EXISTS", line) is not None, f"IDLE push: {line!r}")
    expect(time.time() - started < 1.0, f"pushed within a second ({time.time() - started:.2f}s)")
    b.send(b"DONE\r\n")
    while not b.readline().startswith(tag.encode()):
        pass
    # A changes flags; B sees them at its next NOOP.
    ok(a.noop(), "A noop")
    ok(a.store("1", "+FLAGS", "(\\Flagged)"), "A store")
    b.noop()
    fetches = b.untagged_responses.pop("FETCH", [])
    expect(any(b"\\Flagged" in f for f in fetches), f"flag propagation: {fetches}")
    # A expunges; B is told at its next NOOP.
    ok(a.store("1", "+FLAGS", "(\\Deleted)"), "A delete")
    ok(a.expunge(), "A expunge")
    b.noop()
    expunges = b.untagged_responses.pop("EXPUNGE", [])
    expect(expunges == [b"1"], f"expunge propagation: {expunges}")
    a.logout()
    b.logout()


def pop3_dele_seen_by_imap():
    send("for pop3")
    m = login()
    expect(ok(m.select("INBOX"), "SELECT") == [b"1"], "one message")
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    p.user(USER)
    p.pass_(PASSWORD)
    p.dele(1)
    p.quit()
    m.noop()
    expunges = m.untagged_responses.pop("EXPUNGE", [])
    expect(expunges == [b"1"], f"IMAP sees the POP3 deletion: {expunges}")
    m.logout()


def limits():
    s = socket.create_connection((HOST, IMAP))
    s.recv(4096)
    # Repeated BAD closes the session.
    for i in range(5):
        s.sendall(b"x%d FROBNICATE\r\n" % i)
    data = b""
    s.settimeout(5)
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    expect(data.count(b" BAD ") == 5 and b"* BYE" in data, f"{data!r}")
    # A literal over APPENDLIMIT is refused before it is sent.
    m = login()
    tag = m._new_tag().decode()
    m.send(f"{tag} APPEND INBOX {{999999999}}\r\n".encode())
    line = m.readline()
    expect(line.startswith(tag.encode() + b" NO [TOOBIG]"), f"{line!r}")
    m.logout()


def compress():
    """COMPRESS=DEFLATE (RFC 4978) over implicit TLS, the way clients use it:
    raw DEFLATE both ways, every server burst decodable at once."""
    big = "".join(f"line {i} of a long quotation, price list and terms\r\n" for i in range(20000))
    send("compressed", big)
    raw = ctx().wrap_socket(socket.create_connection((HOST, IMAPS)), server_hostname=HOST)
    raw.settimeout(10)
    buf = b""

    def line_plain():
        nonlocal buf
        while b"\r\n" not in buf:
            buf += raw.recv(65536)
        head, _, buf = buf.partition(b"\r\n")
        return head

    expect(b"COMPRESS=DEFLATE" in line_plain(), "capability in greeting")
    raw.sendall(b"c0 COMPRESS DEFLATE\r\n")
    r = line_plain()
    expect(r.startswith(b"c0 BAD"), f"COMPRESS before sign-in: {r!r}")
    raw.sendall(f'a1 LOGIN "{USER}" "{PASSWORD}"\r\n'.encode())
    while not line_plain().startswith(b"a1 OK"):
        pass
    raw.sendall(b"a2 COMPRESS DEFLATE\r\n")
    r = line_plain()
    expect(r == b"a2 OK DEFLATE active", f"{r!r}")
    expect(buf == b"", "nothing uncompressed after the OK")
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    decomp = zlib.decompressobj(-15)
    plain = b""

    def send_c(data):
        raw.sendall(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))

    def until(tag):
        nonlocal plain
        while tag + b" " not in plain:
            chunk = raw.recv(65536)
            expect(chunk, "connection closed")
            plain += decomp.decompress(chunk)
        out, plain = plain, b""
        return out

    send_c(b"a3 SELECT INBOX\r\na4 UID SEARCH SUBJECT compressed\r\n")
    out = until(b"a4")
    expect(b"a3 OK" in out and b"a4 OK" in out, f"{out!r}")
    uid = re.search(rb"\* SEARCH (\d+)", out).group(1)
    send_c(b"a5 UID FETCH " + uid + b" BODY.PEEK[TEXT]\r\n")
    out = until(b"a5")
    expect(big.encode() in out, "a large FETCH arrives whole through DEFLATE")
    send_c(b"a6 COMPRESS DEFLATE\r\n")
    out = until(b"a6")
    expect(b"a6 BAD [COMPRESSIONACTIVE]" in out, f"{out!r}")
    # A literal through the compressed stream: APPEND with a continuation.
    msg = b"From: x@far.test\r\nSubject: appended compressed\r\n\r\nhi\r\n"
    send_c(b"a7 APPEND INBOX {%d}\r\n" % len(msg))
    out = until(b"+")
    send_c(msg + b"\r\n")
    out = until(b"a7")
    expect(b"a7 OK [APPENDUID" in out, f"{out!r}")
    send_c(b"a8 LOGOUT\r\n")
    out = until(b"a8")
    expect(b"* BYE" in out, f"{out!r}")
    raw.close()


if __name__ == "__main__":
    globals()[sys.argv[1]]()
