"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4), against a running server:
RETURN (UPDATE) keeps a result live; changes by this session or another
come as ADDTO and REMOVEFROM until CANCELUPDATE."""

import re

from common import expect
from imap_raw import Imap


def updates(r, tag):
    return [line.decode() for line in r.lines("ESEARCH") if f'(TAG "{tag}")' in line.decode()]


def main():
    c, other = Imap(), Imap()
    caps = c.ok("CAPABILITY").untagged[0]
    expect(b"CONTEXT=SEARCH" in caps and b"CONTEXT=SORT" in caps, f"{caps!r}")
    for n in range(6):
        c.append(f"From: a@far.test\nSubject: s{n}\n\nbody\n")
    c.select()
    other.select()

    tag = "live1"
    r = c.cmd("SEARCH RETURN (UPDATE) SEEN", tag=tag)
    expect(r.ok and updates(r, tag) == [f'* ESEARCH (TAG "{tag}")'], f"UPDATE alone: {r}")
    r = c.ok("STORE 1,2,5 +FLAGS (\\Seen)")
    expect(updates(r, tag) == [f'* ESEARCH (TAG "{tag}") ADDTO (0 1:2,5)'], f"{r}")
    r = c.ok("STORE 1,2 -FLAGS (\\Seen)")
    expect(updates(r, tag) == [f'* ESEARCH (TAG "{tag}") REMOVEFROM (0 1:2)'], f"{r}")
    # Another session's change comes with this session's next command.
    other.ok("STORE 3 +FLAGS.SILENT (\\Seen)")
    r = c.ok("NOOP")
    expect(updates(r, tag) == [f'* ESEARCH (TAG "{tag}") ADDTO (0 3)'], f"{r}")
    # Expunged messages leave the result before the EXPUNGEs renumber them.
    c.ok("STORE 3:6 +FLAGS.SILENT (\\Deleted)")
    r = c.ok("EXPUNGE")
    text = r.text()
    expect(f'* ESEARCH (TAG "{tag}") REMOVEFROM (0 3,5)' in text, f"{r}")
    expect(text.index("REMOVEFROM") < text.index("EXPUNGE\r\n"), f"before the EXPUNGEs: {r}")
    # A UID context, with initial results.
    utag = "live2"
    r = c.cmd("UID SEARCH RETURN (UPDATE ALL) OR SEEN SUBJECT s1", tag=utag)
    expect(updates(r, utag) == [f'* ESEARCH (TAG "{utag}") UID ALL 2'], f"{r}")
    uid = other.append("From: b@far.test\nSubject: s1 again\n\nbody\n")
    r = c.ok("NOOP")
    expect(f'* ESEARCH (TAG "{utag}") UID ADDTO (0 {uid})' in updates(r, utag), f"a new message: {r}")
    # CONTEXT=SORT: positions in the sorted result.
    stag = "live3"
    r = c.cmd("SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 ALL", tag=stag)
    expect(updates(r, stag) == [f'* ESEARCH (TAG "{stag}") ALL 3,2,1'], f"{r}")
    other.append("From: b@far.test\nSubject: s5\n\nbody\n")
    r = c.ok("NOOP")
    expect(f'* ESEARCH (TAG "{stag}") ADDTO (1 4)' in updates(r, stag), f"first in reverse subject order: {r}")
    # CANCELUPDATE stops it; an unknown tag is BAD.
    c.ok(f'CANCELUPDATE "{tag}" "{stag}"')
    r = c.ok("STORE 1 +FLAGS (\\Seen)")
    expect(updates(r, tag) == [] and updates(r, stag) == [], f"cancelled: {r}")
    expect(c.cmd('CANCELUPDATE "nothing-live"').status() == "BAD", "unknown tag")
    # A new SELECT ends every live result.
    c.select()
    r = c.ok("STORE 1 -FLAGS (\\Seen)")
    expect(not r.lines("ESEARCH"), f"{r}")
    c.close()
    other.close()


if __name__ == "__main__":
    main()
