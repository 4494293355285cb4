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


if __name__ == "__main__":
    globals()[sys.argv[1]]()
