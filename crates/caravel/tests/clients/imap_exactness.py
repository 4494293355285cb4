"""IMAP exactness, one scenario per RFC corner (run by tests/imap_exactness.rs):
raw command lines and byte-exact responses, against a running server.
Usage: imap_exactness.py SCENARIO."""

import re
import sys

from common import expect
from imap_raw import Imap, search_numbers


def uidvalidity(r):
    return int(re.search(rb"UIDVALIDITY (\d+)", r.text().encode()).group(1))


def delete_then_create():
    """RFC 3501 §2.3.1.1: a mailbox created with a deleted one's name has a
    new, larger UIDVALIDITY, and nothing of the old one shows through: not
    its messages, not its cached headers."""
    c = Imap()
    c.ok('CREATE "Deals"')
    c.append("From: Old Sender <old@far.test>\nSubject: old secret offer\n\nold body\n", "Deals")
    r = c.select("Deals")
    before = uidvalidity(r)
    expect(search_numbers(c.ok("SEARCH SUBJECT secret")) == [1], "the old message is found first")
    c.ok("UNSELECT")
    c.ok('DELETE "Deals"')
    c.ok('CREATE "Deals"')
    status = c.ok('STATUS "Deals" (MESSAGES UIDVALIDITY)')
    expect(b"MESSAGES 0" in status.untagged[0], f"empty: {status}")
    expect(uidvalidity(status) > before, f"UIDVALIDITY {uidvalidity(status)} > {before}")
    c.append("From: New Sender <new@far.test>\nSubject: new terms\n\nnew body\n", "Deals")
    r = c.select("Deals")
    expect(uidvalidity(r) > before, f"SELECT: {r}")
    for key in ["SUBJECT secret", "SUBJECT old", "FROM old@far.test", 'HEADER Subject "secret"', "TEXT secret"]:
        expect(search_numbers(c.ok(f"SEARCH {key}")) == [], f"SEARCH {key} sees the deleted mailbox")
    expect(search_numbers(c.ok("SEARCH SUBJECT new")) == [1], "the new message")
    expect(search_numbers(c.ok("SEARCH FROM new@far.test")) == [1], "the new sender")
    fetched = c.ok("FETCH 1 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])").text()
    expect("secret" not in fetched and "new terms" in fetched, fetched)
    c.close()


def fetch_body(c, seq, section):
    """The bytes of BODY[SECTION] of message SEQ (None when absent)."""
    r = c.ok(f"FETCH {seq} BODY.PEEK[{section}]")
    line = r.lines("FETCH")[0]
    m = re.search(rb"BODY\[[^\]]*\] (?:~?\{(\d+)\}\r\n|\"((?:[^\"\\\\]|\\\\.)*)\"|NIL)", line, re.S)
    expect(m, f"BODY[{section}]: {line!r}")
    if m.group(1) is not None:
        start = m.end()
        return line[start:start + int(m.group(1))]
    if m.group(2) is not None:
        return re.sub(rb"\\\\(.)", rb"\1", m.group(2))
    return None


def crlf(s):
    return s.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def search_header_semantics():
    """RFC 3501 §6.4.4: HEADER with an empty string matches the messages
    that have the field, and only those; address keys match the display
    name, the mailbox and the domain of every address, and a group's name."""
    c = Imap()
    c.append("From: \"Ana Lopez\" <ana@far.test>\nTo: purchasing:;\nSubject: offer\n\nbody\n")
    c.append("From: li@east.test\nTo: Bob Stone <bob@corp.test>, carol@corp.test\nCc: team: (nobody) ;\n\nno subject\n")
    c.append("From: x@far.test\nTo: dan@y.test\nSubject:\n\nempty subject\n")
    c.select()
    cases = {
        'HEADER Subject ""': [1, 3],
        'SUBJECT ""': [1, 3],
        'HEADER To ""': [1, 2, 3],
        'HEADER Cc ""': [2],
        'HEADER X-Missing ""': [],
        "TO purchasing": [1],
        'TO "purchasing"': [1],
        "CC team": [2],
        "CC nobody": [],
        "FROM ana": [1],
        "FROM lopez": [1],
        'FROM "Ana Lopez"': [1],
        "FROM far.test": [1, 3],
        "FROM ana@far.test": [1],
        "TO bob": [2],
        "TO stone": [2],
        "TO corp.test": [2],
        "TO carol": [2],
        "NOT HEADER Subject \"\"": [2],
    }
    for key, want in cases.items():
        got = search_numbers(c.ok(f"SEARCH {key}"))
        expect(got == want, f"SEARCH {key}: {got}, want {want}")
    env = c.ok("FETCH 1 ENVELOPE").text()
    expect('((NIL NIL "purchasing" NIL)(NIL NIL NIL NIL))' in env, f"group markers: {env}")
    env = c.ok("FETCH 2 ENVELOPE").text()
    expect('((NIL NIL "team" NIL)(NIL NIL NIL NIL))' in env, f"a comment is no member: {env}")
    c.close()


NESTED = """From: outer@far.test
Date: Mon, 2 Dec 2024 10:00:00 +0000
MIME-Version: 1.0
Content-Type: message/rfc822

From: middle@far.test
Subject: middle
MIME-Version: 1.0
Content-Type: message/rfc822

From: inner@far.test
Subject: inner

inner text
"""

DIGEST = """From: outer@far.test
MIME-Version: 1.0
Content-Type: message/rfc822

From: list@far.test
Subject: digest
Content-Type: multipart/digest; boundary="d"

preamble
--d

From: one@far.test
Subject: one

first body
--d
X-Part: second

From: two@far.test
Subject: two

second body
--d--
"""

FORWARD = """From: fw@far.test
Subject: Fwd: quote
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain

see below
--m
Content-Type: message/rfc822

From: orig@far.test
Subject: quote
Content-Type: multipart/alternative; boundary="a"

--a
Content-Type: text/plain

plain quote
--a
Content-Type: text/html

<p>html quote</p>
--a--
--m--
"""


def message_rfc822_sections():
    """RFC 3501 §6.4.5: for a message whose own type is message/rfc822,
    part 1 is the whole enclosed message, 1.HEADER and 1.TEXT its header and
    text, 1.1 its first part; and so on one level down."""
    c = Imap()
    for m in (NESTED, DIGEST, FORWARD):
        c.append(m)
    c.select()
    middle = "From: middle@far.test\nSubject: middle\nMIME-Version: 1.0\nContent-Type: message/rfc822\n\n"
    inner = "From: inner@far.test\nSubject: inner\n\ninner text\n"
    want = {
        (1, "1"): middle + inner,
        (1, "1.HEADER"): middle,
        (1, "1.TEXT"): inner,
        (1, "1.1"): inner,
        (1, "1.1.HEADER"): "From: inner@far.test\nSubject: inner\n\n",
        (1, "1.1.TEXT"): "inner text\n",
        (1, "1.1.1"): "inner text\n",
        (1, "TEXT"): middle + inner,
        (2, "1.HEADER"): 'From: list@far.test\nSubject: digest\nContent-Type: multipart/digest; boundary="d"\n\n',
        (2, "1.1"): "From: one@far.test\nSubject: one\n\nfirst body",
        (2, "1.1.MIME"): "\n",
        (2, "1.1.HEADER"): "From: one@far.test\nSubject: one\n\n",
        (2, "1.1.TEXT"): "first body",
        (2, "1.2.MIME"): "X-Part: second\n\n",
        (2, "1.2.TEXT"): "second body",
        (3, "1"): "see below",
        (3, "2.HEADER"): 'From: orig@far.test\nSubject: quote\nContent-Type: multipart/alternative; boundary="a"\n\n',
        (3, "2.1"): "plain quote",
        (3, "2.2"): "<p>html quote</p>",
        (3, "2.2.MIME"): "Content-Type: text/html\n\n",
    }
    for (seq, section), text in want.items():
        got = fetch_body(c, seq, section)
        expect(got == crlf(text), f"{seq} BODY[{section}]: {got!r}, want {crlf(text)!r}")
    for seq, section in [(1, "2"), (1, "1.1.1.1"), (3, "1.1"), (3, "3")]:
        got = fetch_body(c, seq, section)
        expect(not got, f"{seq} BODY[{section}] does not exist: {got!r}")
    c.close()


def literal8(r, item):
    line = b"".join(r.lines("FETCH"))
    m = re.search(re.escape(item.encode()) + rb" (~?)\{(\d+)\}\r\n", line)
    expect(m, f"{item} as a literal: {line!r}")
    start = m.end()
    return m.group(1) == b"~", line[start:start + int(m.group(2))]


def binary_exact():
    """RFC 3516 and RFC 2045 §6.7: BINARY decodes quoted-printable with
    transport padding dropped and soft breaks joined; BINARY.SIZE is the
    size of what BINARY returns; content with NUL goes only in a literal8,
    and what was appended as binary keeps its exact bytes and size."""
    c = Imap()
    qp_body = "price  \t\r\nlist=  \r\ntotal=3D 5=\r\n0 USD =\t\r\nend\t"
    msg = ("From: a@far.test\r\nSubject: qp\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
           "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           + qp_body + "\r\n--b\r\nContent-Type: application/octet-stream\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b--\r\n")
    c.append(msg.encode())
    c.select()
    decoded = b"price\r\nlisttotal= 50 USD end"
    _, data = literal8(c.ok("FETCH 1 BINARY.PEEK[1]"), "BINARY[1]")
    expect(data == decoded, f"BINARY[1]: {data!r}")
    size = c.ok("FETCH 1 BINARY.SIZE[1]").text()
    expect(f"BINARY.SIZE[1] {len(decoded)}" in size, f"{size} (want {len(decoded)})")
    tilde, data = literal8(c.ok("FETCH 1 BINARY.PEEK[2]"), "BINARY[2]")
    expect(tilde and data == b"\x00\x01\x02\x03", f"NUL bytes in a literal8: {data!r}")
    expect("BINARY.SIZE[2] 4" in c.ok("FETCH 1 BINARY.SIZE[2]").text(), "size of the decoded part")
    # Sections that are not a part's content come as they are, and their
    # BINARY.SIZE is their size (as Dovecot gives them).
    for section in ["HEADER", "TEXT", "1.MIME", "2.MIME", "HEADER.FIELDS (Subject)"]:
        want = fetch_body(c, 1, section)
        r = c.ok(f"FETCH 1 (BINARY.PEEK[{section}] BINARY.SIZE[{section}])")
        _, data = literal8(r, f"BINARY[{section}]")
        expect(data == want, f"BINARY[{section}]: {data!r}, want {want!r}")
        expect(f"BINARY.SIZE[{section}] {len(want)}" in r.text(), f"{r}")
    # Base64 as MIME has it: stray characters ignored, missing padding allowed.
    loose = ("From: a@far.test\r\nSubject: b64\r\nContent-Type: text/plain\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n  aGVs  \r\n bG8g*d29y\t\r\nbGQ\r\n")
    c.append(loose.encode())
    _, data = literal8(c.ok("FETCH 2 BINARY.PEEK[1]"), "BINARY[1]")
    expect(data == b"hello world", f"lenient base64: {data!r}")
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    # Appended as binary: NUL and a bare LF, kept byte for byte.
    raw = b"From: b@far.test\r\nSubject: bin\r\n\r\nab\x00cd\nend\r\n"
    tag = c.tag()
    c.send(f"{tag} APPEND INBOX ~{{{len(raw)}+}}\r\n".encode() + raw + b"\r\n")
    r = c.read_until(tag)
    expect(r.ok, f"APPEND of a literal8: {r}")
    r = c.ok("FETCH 2 (RFC822.SIZE BINARY.SIZE[] BODY.PEEK[])")
    text = r.text()
    expect(f"RFC822.SIZE {len(raw)}" in text and f"BINARY.SIZE[] {len(raw)}" in text, text)
    tilde, data = literal8(r, "BODY[]")
    expect(tilde and data == raw, f"BODY[] with NUL only as a literal8: {data!r}")
    tilde, data = literal8(c.ok("FETCH 2 BINARY.PEEK[]"), "BINARY[]")
    expect(tilde and data == raw, "BINARY[]")
    tilde, data = literal8(c.ok("FETCH 2 BINARY.PEEK[1]"), "BINARY[1]")
    expect(tilde and data == b"ab\x00cd\nend\r\n", f"BINARY[1]: {data!r}")
    c.close()


def sequence_set_numbers():
    """RFC 9051 §9: 4294967295 is a number; only `*` is the last message."""
    c = Imap()
    for n in range(3):
        c.append(f"From: a@far.test\nSubject: n{n}\n\nbody\n")
    c.select()
    expect(search_numbers(c.ok("UID SEARCH UID 5:4294967295")) == [], "beyond the last UID: empty")
    expect(search_numbers(c.ok("UID SEARCH UID 5:*")) == [3], "n:* still has the last message")
    expect(search_numbers(c.ok("UID SEARCH UID 2:4294967295")) == [2, 3], "a range to the largest number")
    expect(search_numbers(c.ok("UID SEARCH UID 4294967295")) == [], "the number alone")
    expect(search_numbers(c.ok("SEARCH 4294967295:*")) == [3], "as a sequence range")
    r = c.ok("UID FETCH 4294967295 UID")
    expect(not r.lines("FETCH"), f"no such UID: {r}")
    r = c.ok("UID FETCH 3:4294967295 UID")
    expect(len(r.lines("FETCH")) == 1, f"{r}")
    c.close()


def condstore_enabling():
    """RFC 7162 §3.1: FETCH MODSEQ, SEARCH MODSEQ, STORE UNCHANGEDSINCE and
    STATUS HIGHESTMODSEQ turn CONDSTORE on: `OK [HIGHESTMODSEQ]` once, and
    from then on MODSEQ in the FETCH replies flag changes cause; before,
    none."""
    a, b = Imap(), Imap()
    for n in range(2):
        a.append(f"From: a@far.test\nSubject: m{n}\n\nbody\n")
    a.select()
    b.select()
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    r = a.ok("NOOP")
    expect(r.lines("FETCH") and b"MODSEQ" not in r.lines("FETCH")[0], f"no MODSEQ before CONDSTORE: {r}")
    r = a.ok("STORE 2 +FLAGS (\\Seen)")
    expect(b"MODSEQ" not in r.text().encode(), f"STORE before CONDSTORE: {r}")
    r = a.ok("FETCH 1 (FLAGS MODSEQ)")
    expect(r.text().count("[HIGHESTMODSEQ ") == 1 and r.untagged[0].startswith(b"* OK [HIGHESTMODSEQ "), f"{r}")
    expect(re.search(rb"MODSEQ \(\d+\)", r.lines("FETCH")[0]), f"{r}")
    r = a.ok("FETCH 1 (MODSEQ)")
    expect("HIGHESTMODSEQ" not in r.text(), f"announced once: {r}")
    b.ok("STORE 2 -FLAGS.SILENT (\\Seen)")
    r = a.ok("NOOP")
    expect(r.lines("FETCH") and re.search(rb"MODSEQ \(\d+\)", r.lines("FETCH")[0]), f"unsolicited after: {r}")
    r = a.ok("STORE 1 +FLAGS (\\Answered)")
    expect(re.search(rb"UID 1 .*MODSEQ \(\d+\)", r.lines("FETCH")[0]), f"STORE after: {r}")

    c = Imap()
    c.select()
    r = c.ok('SEARCH MODSEQ "/flags/\\\\flagged" all 1')
    expect(r.untagged[0].startswith(b"* OK [HIGHESTMODSEQ "), f"SEARCH MODSEQ enables: {r}")
    expect(re.search(rb"^\* SEARCH 1 2 \(MODSEQ \d+\)$", r.lines("SEARCH")[0]), f"{r}")
    r = c.ok("SEARCH MODSEQ 999999999")
    expect(r.lines("SEARCH")[0] == b"* SEARCH", f"nothing found, no MODSEQ: {r}")
    r = c.ok("SEARCH RETURN (COUNT) MODSEQ 1")
    expect(re.search(rb"COUNT 2 MODSEQ \d+", r.lines("ESEARCH")[0]), f"{r}")
    # MIN or MAX alone: the mod-sequence of just the message returned.
    modseqs = {int(m.group(1)): int(m.group(2)) for m in
               re.finditer(rb"\* (\d+) FETCH \(MODSEQ \((\d+)\)\)", c.ok("FETCH 1:2 (MODSEQ)").text().encode())}
    for opt, seq in [("MIN", 1), ("MAX", 2)]:
        r = c.ok(f"SEARCH RETURN ({opt}) MODSEQ 1")
        line = r.lines("ESEARCH")[0].decode()
        expect(line.endswith(f" {opt} {seq} MODSEQ {modseqs[seq]}"), f"{line} (modseqs {modseqs})")
    r = c.cmd('SEARCH MODSEQ "/flags/\\\\seen" sometimes 1')
    expect(r.status() == "BAD", f"a parse error is BAD: {r}")
    c.ok("NOOP")

    d = Imap()
    d.select()
    r = d.ok("STORE 1 (UNCHANGEDSINCE 999999999) +FLAGS (\\Draft)")
    expect(r.untagged[0].startswith(b"* OK [HIGHESTMODSEQ ") and b"MODSEQ (" in r.lines("FETCH")[0], f"{r}")
    e = Imap()
    e.select()
    r = e.ok("STATUS INBOX (HIGHESTMODSEQ)")
    expect(r.untagged[0].startswith(b"* OK [HIGHESTMODSEQ "), f"STATUS enables: {r}")
    b.ok("STORE 1 -FLAGS.SILENT (\\Draft)")
    r = e.ok("NOOP")
    expect(re.search(rb"MODSEQ \(\d+\)", r.lines("FETCH")[0]), f"{r}")
    for x in (a, b, c, d, e):
        x.close()


def flags_announced():
    """RFC 3501 §7.2.6: a keyword new to the mailbox is announced in FLAGS
    (and PERMANENTFLAGS) before any FETCH reply uses it, whoever set it."""
    a, b = Imap(), Imap()
    a.append("From: a@far.test\nSubject: one\n\nbody\n")
    r = a.select()
    expect(b"$Urgent" not in r.lines("FLAGS")[0], f"{r}")
    b.select()

    def announced_first(r, keyword):
        lines = r.untagged
        flags = [i for i, x in enumerate(lines) if x.startswith(b"* FLAGS ") and keyword in x]
        perm = [i for i, x in enumerate(lines) if b"[PERMANENTFLAGS " in x and keyword in x]
        fetch = [i for i, x in enumerate(lines) if b" FETCH " in x and keyword in x]
        expect(flags and perm and fetch and flags[0] < fetch[0], f"FLAGS naming {keyword} before FETCH: {r}")

    announced_first(a.ok("STORE 1 +FLAGS ($Urgent)"), b"$Urgent")
    b.ok("STORE 1 +FLAGS.SILENT ($Other)")
    announced_first(a.ok("NOOP"), b"$Other")
    b.ok("UNSELECT")
    b.append("From: b@far.test\nSubject: two\n\nbody\n", flags="$Fresh")
    r = a.ok("NOOP")
    expect(any(x.startswith(b"* FLAGS ") and b"$Fresh" in x for x in r.untagged), f"APPEND's keyword: {r}")
    r = a.ok("FETCH 2 FLAGS")
    expect(b"$Fresh" in r.lines("FETCH")[0] and not r.lines("FLAGS"), f"known now: {r}")
    r = a.ok("STORE 1 +FLAGS ($urgent)")
    expect(not r.lines("FLAGS"), f"keywords compare without case: {r}")
    a.close()
    b.close()


def subscriptions():
    """RFC 5258 §3 and RFC 3501 §6.3.9: CREATE subscribes nothing;
    RETURN (SUBSCRIBED) marks only subscribed names; RECURSIVEMATCH gives
    CHILDINFO for a parent whose subscribed child the pattern does not reach;
    LSUB shows such a parent as \\Noselect, and an unsubscribed name is
    gone from LSUB even when its children are subscribed."""
    c = Imap()

    def listed(r, kind="LIST"):
        out = {}
        for line in r.lines(kind):
            m = re.match(rb'\* (?:LIST|LSUB) \(([^)]*)\) "/" "?([^" ]+)"?( .*)?$', line)
            expect(m, f"{line!r}")
            out[m.group(2).decode()] = (m.group(1).decode(), (m.group(3) or b"").decode().strip())
        return out

    for name in ["Sales/", "Sales/Asia", "Sales/Europe/", "Sales/Europe/Germany", "Sales/Africa/Kenya", "Sales/Gone"]:
        c.ok(f"CREATE {name}")
    expect(listed(c.ok('LIST (SUBSCRIBED) "" "Sales*"')) == {}, "CREATE subscribes nothing")
    for name in ["Sales/Asia", "Sales/Europe/Germany", "Sales/Africa/Kenya", "Sales/Gone"]:
        c.ok(f"SUBSCRIBE {name}")
    c.ok("DELETE Sales/Gone")
    got = listed(c.ok('LIST "" "Sales/%" RETURN (SUBSCRIBED CHILDREN)'))
    expect(got.get("Sales/Asia", ("",))[0] == "\\HasNoChildren \\Subscribed", f"{got}")
    expect(got.get("Sales/Europe", ("",))[0] == "\\HasChildren", f"not subscribed: {got}")
    expect(got.get("Sales/Africa", ("",))[0] == "\\HasChildren", f"{got}")
    expect("Sales/Gone" not in got, f"a deleted mailbox is not listed without SUBSCRIBED: {got}")
    got = listed(c.ok('LIST (SUBSCRIBED) "" "Sales/*"'))
    expect(set(got) == {"Sales/Asia", "Sales/Europe/Germany", "Sales/Africa/Kenya", "Sales/Gone"}, f"{got}")
    expect(got["Sales/Gone"][0] == "\\NonExistent \\Subscribed", f"{got}")
    got = listed(c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Sales/%"'))
    expect(got.get("Sales/Europe", ("", ""))[1].upper() == '("CHILDINFO" ("SUBSCRIBED"))', f"{got}")
    expect("\\Subscribed" not in got["Sales/Europe"][0], f"{got}")
    expect(got["Sales/Asia"] == ("\\HasNoChildren \\Subscribed", ""), f"{got}")
    got = listed(c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "*Germany"'))
    expect(list(got) == ["Sales/Europe/Germany"], f"the child matched itself: no CHILDINFO parent: {got}")
    got = listed(c.ok('LSUB "" "Sales/%"'), "LSUB")
    expect(got.get("Sales/Asia") == ("", ""), f"{got}")
    expect(got.get("Sales/Europe") == ("\\Noselect", "") and got.get("Sales/Africa") == ("\\Noselect", ""), f"{got}")
    got = listed(c.ok('LSUB "" "Sales/*"'), "LSUB")
    expect("Sales/Europe" not in got and "Sales/Europe/Germany" in got, f"children listed themselves: {got}")
    c.ok("SUBSCRIBE Sales/Europe")
    expect(listed(c.ok('LSUB "" "Sales/%"'), "LSUB")["Sales/Europe"] == ("", ""), "subscribed now")
    c.ok("UNSUBSCRIBE Sales/Europe")
    c.ok("UNSUBSCRIBE Sales/Europe/Germany")
    got = listed(c.ok('LSUB "" "Sales/*"'), "LSUB")
    expect("Sales/Europe" not in got and "Sales/Europe/Germany" not in got, f"{got}")
    c.close()


def sort_and_thread():
    """RFC 5256: base subjects (Re:, Fwd:, [blob], (fwd)), SORT by the first
    address's mailbox and DISPLAYFROM by the display name,
    THREAD=ORDEREDSUBJECT, and THREAD=REFERENCES with a reply that has no
    References grouped under its subject, a dummy parent kept for two
    siblings, and a reference loop broken."""
    c = Imap()
    msgs = [
        ("Zed <bob@x.test>", "Re: [sales] Price list", "Mon, 1 Jan 2024 10:00:00 +0000", "<a1@x.test>", None),
        ("Ann <zack@x.test>", "Price list", "Sun, 31 Dec 2023 10:00:00 +0000", "<a0@x.test>", None),
        ("carl@x.test", "Fwd: price LIST (fwd)", "Tue, 2 Jan 2024 10:00:00 +0000", "<a2@x.test>", "<a0@x.test>"),
        ("dan@x.test", "Offer", "Wed, 3 Jan 2024 10:00:00 +0000", "<b1@x.test>", "<missing@x.test>"),
        ("dan@x.test", "RE: offer", "Thu, 4 Jan 2024 10:00:00 +0000", "<b2@x.test>", "<missing@x.test>"),
        ("dan@x.test", "loop", "Fri, 5 Jan 2024 10:00:00 +0000", "<c1@x.test>", "<c2@x.test>"),
        ("dan@x.test", "loop", "Sat, 6 Jan 2024 10:00:00 +0000", "<c2@x.test>", "<c1@x.test>"),
    ]
    for frm, subject, date, mid, refs in msgs:
        refs = f"References: {refs}\n" if refs else ""
        c.append(f"From: {frm}\nSubject: {subject}\nDate: {date}\nMessage-ID: {mid}\n{refs}\nbody\n")
    c.select()
    want = {
        "SORT (SUBJECT) UTF-8 ALL": "* SORT 6 7 4 5 1 2 3",
        "SORT (FROM) UTF-8 ALL": "* SORT 1 3 4 5 6 7 2",
        "SORT (DISPLAYFROM) UTF-8 ALL": "* SORT 2 3 4 5 6 7 1",
        "SORT (REVERSE DATE) UTF-8 ALL": "* SORT 7 6 5 4 3 1 2",
        "SORT (SUBJECT REVERSE DATE) UTF-8 ALL": "* SORT 7 6 5 4 3 1 2",
        "THREAD ORDEREDSUBJECT UTF-8 ALL": "* THREAD (2 (1)(3))(4 5)(6 7)",
        "THREAD REFERENCES UTF-8 ALL": "* THREAD (2 (1)(3))((4)(5))(7 6)",
    }
    for command, line in want.items():
        r = c.ok(command)
        got = (r.lines("SORT") or r.lines("THREAD"))[0].decode()
        expect(got == line, f"{command}: {got!r}, want {line!r}")
    c.close()


def flags_stress():
    """RFC 3501 §7.2.6 under load: four sessions set new keywords, append
    and fetch at once for a few seconds; each checks that every keyword a
    FETCH shows was in the last FLAGS it was sent."""
    import random
    import threading
    import time

    setup = Imap()
    for n in range(5):
        setup.append(f"From: a@far.test\nSubject: m{n}\n\nbody\n")
    setup.close()
    failures = []

    def worker(seed):
        rnd = random.Random(seed)
        c = Imap()
        known = set()

        def check(r):
            for line in r.untagged:
                if line.startswith(b"* FLAGS ("):
                    known.clear()
                    known.update(x.lower() for x in line[9:line.index(b")")].split())
                elif b" FETCH (" in line and b"FLAGS (" in line:
                    flags = line[line.index(b"FLAGS (") + 7:]
                    for f in flags[:flags.index(b")")].split():
                        if not f.startswith(b"\\") and f.lower() not in known:
                            failures.append(f"{f!r} used before FLAGS named it: {line!r}")

        check(c.select())
        deadline = time.time() + 4
        while time.time() < deadline and not failures:
            kw = f"$k{rnd.randrange(60)}"
            action = rnd.randrange(4)
            if action == 0:
                check(c.ok(f"STORE {rnd.randrange(1, 6)} +FLAGS ({kw})"))
            elif action == 1:
                check(c.ok("FETCH 1:* FLAGS"))
            elif action == 2:
                check(c.ok("NOOP"))
            else:
                check(c.ok(f"APPEND INBOX ({kw}) {{}}", b"Subject: x\r\n\r\nbody\r\n"))
        c.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(not failures, "; ".join(failures[:3]))


def envelope_corners():
    """RFC 3501 §7.4.2: group syntax as start and end markers, two groups in
    one field, no invented address for a comment, Sender and Reply-To taken
    from From when absent or empty, a name from an old-style comment, and
    a source route as the address's adl."""
    c = Imap()
    c.append("Date: Sat, 01 Feb 2025 01:02:03 +0200\nFrom: ana@far.test (Ana Lopez)\n"
             "To: buyers: li@east.test, bo@east.test;, sellers: cy@west.test;\nCc: nobody: (not a member) ;\n"
             "Sender: \nReply-To:\n\nbody\n")
    c.append("Date: Sat, 01 Feb 2025 01:02:03 +0200\nFrom: <@relay.test:dan@far.test>\nTo: undisclosed-recipients:;\n\nbody\n")
    c.select()
    env = c.ok("FETCH 1 ENVELOPE").lines("FETCH")[0].decode()
    ana = '(("Ana Lopez" NIL "ana" "far.test"))'
    expect(env.count(ana) == 3, f"Sender and Reply-To empty: From's value: {env}")
    groups = ('((NIL NIL "buyers" NIL)(NIL NIL "li" "east.test")(NIL NIL "bo" "east.test")(NIL NIL NIL NIL)'
              '(NIL NIL "sellers" NIL)(NIL NIL "cy" "west.test")(NIL NIL NIL NIL))')
    expect(groups in env, f"two groups: {env}")
    expect('((NIL NIL "nobody" NIL)(NIL NIL NIL NIL))' in env, f"a comment is no member: {env}")
    env = c.ok("FETCH 2 ENVELOPE").lines("FETCH")[0].decode()
    expect('((NIL "@relay.test" "dan" "far.test"))' in env, f"the source route: {env}")
    expect('((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))' in env, f"{env}")
    c.close()


if __name__ == "__main__":
    globals()[sys.argv[1]]()
