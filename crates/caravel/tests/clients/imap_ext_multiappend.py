"""MULTIAPPEND (RFC 3502), against a running server: several messages in
one APPEND, each with its own flags and date, all or none."""

import re
import sys

from common import expect
from imap_raw import Imap


def main():
    c = Imap()
    expect(b"MULTIAPPEND" in c.ok("CAPABILITY").untagged[0], "announced")
    c.ok("CREATE Batch")
    one = b"From: a@far.test\r\nSubject: first\r\n\r\none\r\n"
    two = b"From: b@far.test\r\nSubject: second\r\n\r\ntwo\r\n"
    three = b"From: c@far.test\r\nSubject: third\r\n\r\nthree\r\n"
    r = c.ok('APPEND Batch (\\Seen) {} (\\Flagged $Urgent) "05-Nov-2024 10:00:00 +0100" {} {}', one, two, three)
    m = re.search(rb"\[APPENDUID (\d+) (\S+)\]", r.tagged)
    expect(m and m.group(2) == b"1:3", f"one APPENDUID with the UID set: {r}")
    c.select("Batch")
    r = c.ok("FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[])")
    lines = r.lines("FETCH")
    expect(len(lines) == 3, f"{r}")
    expect(b"\\Seen" in lines[0] and one in lines[0], f"{lines[0]!r}")
    expect(b"\\Flagged" in lines[1] and b"$Urgent" in lines[1] and b"05-Nov-2024 10:00:00 +0100" in lines[1] and two in lines[1], f"{lines[1]!r}")
    expect(b"\\Flagged" not in lines[2] and b"\\Seen" not in lines[2] and three in lines[2], f"{lines[2]!r}")
    # All or none: the last message is over the size limit, so none is stored.
    limit = int(re.search(rb"APPENDLIMIT=(\d+)", c.ok("CAPABILITY").untagged[0]).group(1))
    big = b"Subject: big\r\n\r\n" + b"x" * (limit + 1)
    tag = c.tag()
    c.send(f'{tag} APPEND Batch {{{len(one)}+}}\r\n'.encode() + one + f" {{{len(big)}+}}\r\n".encode() + big + b"\r\n")
    r = c.read_until(tag)
    expect(r.status() == "NO", f"refused: {r}")
    r = c.ok("NOOP")
    expect(not r.lines("EXISTS"), f"nothing appended: {r}")
    r = c.ok('STATUS Batch (MESSAGES)')
    expect(b"MESSAGES 3" in r.untagged[0], f"{r}")
    # A bad flag in the second message is a BAD, and nothing is stored.
    r = c.cmd("APPEND Batch {} (\\Recent) {}", one, two)
    expect(r.status() == "BAD", f"{r}")
    expect(b"MESSAGES 3" in c.ok('STATUS Batch (MESSAGES)').untagged[0], "still three")
    r = c.cmd("APPEND Nowhere {} {}", one, two)
    expect(b" NO [TRYCREATE]" in r.tagged, f"{r}")
    c.close()


if __name__ == "__main__":
    main()
