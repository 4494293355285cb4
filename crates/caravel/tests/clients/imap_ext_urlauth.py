"""URLAUTH (RFC 4467) and URLAUTH=BINARY (RFC 5524), against a running
server: GENURLAUTH signs a URL, URLFETCH returns what it names to whom its
access allows, RESETKEY invalidates every URL made before."""

import re
import sys

from common import USER, expect
from imap_raw import Imap


def genurl(c, url):
    r = c.ok(f'GENURLAUTH "{url}" INTERNAL')
    m = re.match(rb'\* GENURLAUTH "([^"]+)"$', r.lines("GENURLAUTH")[0])
    expect(m, f"{r}")
    signed = m.group(1).decode()
    expect(signed.startswith(url + ":INTERNAL:") and len(signed) > len(url) + 40, signed)
    return signed


def fetched(c, arg):
    r = c.ok(f"URLFETCH {arg}")
    lines = r.lines("URLFETCH")
    expect(len(lines) == 1, f"{r}")
    return lines[0]


def literal(line):
    m = re.search(rb"~?\{(\d+)\}\r\n", line)
    expect(m, f"{line!r}")
    return line[m.end():m.end() + int(m.group(1))]


def main():
    c = Imap()
    caps = c.ok("CAPABILITY").untagged[0]
    expect(b" URLAUTH " in caps and b"URLAUTH=BINARY" in caps, f"{caps!r}")
    c.ok("CREATE Shared")
    msg = (b"From: ana@far.test\r\nSubject: drawing\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\nsee the drawing\r\n--b\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b--\r\n")
    uid = c.append(msg, "Shared")
    base = f"imap://{USER.replace('@', '%40')}@mail.example.test/Shared/;UID={uid}"
    whole = genurl(c, base + ";URLAUTH=user+" + USER)
    part2 = genurl(c, base + "/;SECTION=2;URLAUTH=anonymous")
    text1 = genurl(c, base + "/;SECTION=1;URLAUTH=authuser")
    got = literal(fetched(c, f'"{whole}"'))
    expect(got == msg, f"the whole message: {got!r}")
    line = fetched(c, f'"{text1}"')
    expect(line.endswith(b' "see the drawing"'), f"{line!r}")
    # URLAUTH=BINARY: decoded content in a literal8, and the part's structure.
    line = fetched(c, f'("{part2}" BINARY BODYPARTSTRUCTURE)')
    expect(b'(BODYPARTSTRUCTURE ("application" "octet-stream" NIL NIL NIL "base64" 8 ' in line, f"{line!r}")
    expect(b"(BINARY ~{4}\r\n\x00\x01\x02\x03)" in line, f"{line!r}")
    line = fetched(c, f'("{part2}" BODY)')
    expect(line.endswith(b'(BODY "AAECAw==")'), f"{line!r}")
    # Nothing added after the token is covered by it: such a URL is NIL, it
    # cannot reach another part or message with a valid token.
    for tail in [";UID=1", "/;SECTION=1", ";PARTIAL=0.10", f";UIDVALIDITY=1"]:
        expect(fetched(c, f'"{part2}{tail}"').endswith(b" NIL"), f"a parameter after the token: {tail}")
    r = c.cmd(f'GENURLAUTH "{base};URLAUTH=anonymous;UID=1" INTERNAL')
    expect(r.status() == "NO", f"GENURLAUTH with a parameter after URLAUTH: {r}")
    # A token changed, or no token: NIL.
    forged = whole[:-4] + ("0000" if not whole.endswith("0000") else "1111")
    expect(fetched(c, f'"{forged}"').endswith(b" NIL"), "a forged token")
    expect(fetched(c, f'"{base};URLAUTH=anonymous"').endswith(b" NIL"), "not authorized")
    # The access identifier: user+ is for that user only; submit+ is not for IMAP.
    other = genurl(c, base + ";URLAUTH=user+someone.else@example.test")
    expect(fetched(c, f'"{other}"').endswith(b" NIL"), "user+ of another user")
    submit = genurl(c, base + ";URLAUTH=submit+" + USER)
    expect(fetched(c, f'"{submit}"').endswith(b" NIL"), "submit+ is for a submission server")
    expired = genurl(c, base + ";EXPIRE=2020-01-01T00:00:00Z;URLAUTH=anonymous")
    expect(fetched(c, f'"{expired}"').endswith(b" NIL"), "expired")
    # GENURLAUTH refuses what it cannot sign.
    for bad in [base, f"/Shared/;UID={uid};URLAUTH=anonymous", base.replace("Shared", "Nowhere") + ";URLAUTH=anonymous",
                base.replace(USER.replace('@', '%40'), "mallory%40example.test") + ";URLAUTH=anonymous"]:
        r = c.cmd(f'GENURLAUTH "{bad}" INTERNAL')
        expect(r.status() == "NO", f"{bad}: {r}")
    expect(c.cmd(f'GENURLAUTH "{base};URLAUTH=anonymous" XSHA1').status() == "NO", "unknown mechanism")
    # CATENATE takes an authorized URL too.
    c.ok("CREATE Out")
    r = c.ok(f'APPEND Out CATENATE (TEXT {{}} URL "{text1}")', b"Subject: quoted\r\n\r\n")
    # RESETKEY: every URL made before stops working.
    c.ok("RESETKEY Shared")
    for url in (whole, part2, text1):
        expect(fetched(c, f'"{url}"').endswith(b" NIL"), f"after RESETKEY: {url}")
    again = genurl(c, base + ";URLAUTH=anonymous")
    expect(literal(fetched(c, f'"{again}"')) == msg, "a new key works")
    c.ok("RESETKEY")
    expect(fetched(c, f'"{again}"').endswith(b" NIL"), "RESETKEY of every mailbox")
    expect(c.cmd("RESETKEY Nowhere").status() == "NO", "no such mailbox")
    c.close()


if __name__ == "__main__":
    main()
