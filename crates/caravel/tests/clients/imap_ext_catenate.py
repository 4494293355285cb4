"""CATENATE (RFC 4469), against a running server: a message built from text
and URLs of messages and parts already on the server; a URL that names
nothing fails the APPEND with BADURL, and nothing is stored."""

import re
import sys

from common import expect
from imap_raw import Imap


def body(c, seq):
    r = c.ok(f"FETCH {seq} BODY.PEEK[]")
    line = r.lines("FETCH")[0]
    m = re.search(rb"\{(\d+)\}\r\n", line)
    return line[m.end():m.end() + int(m.group(1))]


def main():
    c = Imap()
    expect(b"CATENATE" in c.ok("CAPABILITY").untagged[0], "announced")
    c.ok("CREATE Source")
    c.ok("CREATE Built")
    first = b"From: ana@far.test\r\nSubject: quote\r\n\r\nPrice: 10 USD\r\n"
    second = (b"From: li@far.test\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              b"Content-Type: text/plain\r\n\r\nterms\r\n--b\r\nContent-Type: text/plain\r\n\r\nprices\r\n--b--\r\n")
    uid1 = c.append(first, "Source")
    uid2 = c.append(second, "Source")
    uidv = int(re.search(rb"UIDVALIDITY (\d+)", c.ok("STATUS Source (UIDVALIDITY)").untagged[0]).group(1))
    cases = [
        (f'CATENATE (URL "/Source/;UID={uid1}/;SECTION=HEADER" TEXT {{}})', [b"Reply body\r\n"],
         b"From: ana@far.test\r\nSubject: quote\r\n\r\nReply body\r\n"),
        (f'CATENATE (URL "/Source;UIDVALIDITY={uidv}/;UID={uid1}/;SECTION=TEXT" TEXT {{}})', [b"more\r\n"],
         b"Price: 10 USD\r\nmore\r\n"),
        (f'CATENATE (TEXT {{}} URL "/Source/;UID={uid2}/;SECTION=2" TEXT {{}})',
         [b"Subject: forwarded part\r\n\r\n", b"\r\n-- \r\nsignature\r\n"],
         b"Subject: forwarded part\r\n\r\nprices\r\n-- \r\nsignature\r\n"),
        (f'CATENATE (URL "/Source/;UID={uid1}")', [], first),
        (f'CATENATE (URL "/Source/;UID={uid1}/;PARTIAL=6.12" TEXT {{}})', [b"\r\n\r\nx\r\n"],
         b"ana@far.test\r\n\r\nx\r\n"),
        (f'CATENATE (URL "imap://alice%40example.test@mail.example.test/Source/;UID={uid2}/;SECTION=HEADER" TEXT {{}})',
         [b"--b--\r\n"], second[:second.index(b"\r\n\r\n") + 4] + b"--b--\r\n"),
    ]
    for n, (data, literals, want) in enumerate(cases, 1):
        r = c.ok(f"APPEND Built (\\Seen) {data}", *literals)
        expect(re.search(rb"APPENDUID \d+ %d\]" % n, r.tagged), f"{data}: {r}")
    c.select("Built")
    for n, (data, _, want) in enumerate(cases, 1):
        got = body(c, n)
        expect(got == want, f"{data}: {got!r}, want {want!r}")
    # MULTIAPPEND with CATENATE: each message built on its own.
    r = c.ok(f'APPEND Built CATENATE (URL "/Source/;UID={uid1}/;SECTION=HEADER" TEXT {{}}) {{}}',
             b"one\r\n", b"Subject: plain\r\n\r\ntwo\r\n")
    expect(re.search(rb"APPENDUID \d+ 7:8\]", r.tagged), f"{r}")
    # A URL naming nothing: BADURL, and nothing stored.
    for bad in [f"/Source;UIDVALIDITY={uidv + 1}/;UID={uid1}", f"/Source/;UID={uid2 + 10}", "/Nowhere/;UID=1",
                f"/Source/;UID={uid1}/;SECTION=9", "not a url",
                f"imap://someone.else%40example.test@mail.example.test/Source/;UID={uid1}"]:
        r = c.cmd(f'APPEND Built (\\Seen) CATENATE (TEXT {{}} URL "{bad}" TEXT {{}})', b"X: 1\r\n", b"\r\nbody\r\n")
        expect(r.status() == "NO" and b"[BADURL " in r.tagged, f"{bad}: {r}")
        r = c.cmd(f'APPEND Built {{}} CATENATE (URL "{bad}")', b"Subject: ok\r\n\r\nfine\r\n")
        expect(r.status() == "NO" and b"[BADURL " in r.tagged, f"MULTIAPPEND with a bad URL: {r}")
    r = c.ok("NOOP")
    expect(not r.lines("EXISTS"), f"nothing appended: {r}")
    r = c.cmd(f'APPEND Nowhere CATENATE (URL "/Source/;UID={uid1}")')
    expect(b"NO [TRYCREATE]" in r.tagged, f"{r}")
    c.close()


if __name__ == "__main__":
    main()
