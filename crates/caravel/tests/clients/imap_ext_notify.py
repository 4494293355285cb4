"""NOTIFY (RFC 5465), against a running server: the client names mailboxes
and events once, and hears of them as they happen, between commands and not
only in IDLE; another session makes the changes."""

import re
import socket

from common import expect
from imap_raw import Imap


def wait_lines(c, want, timeout=10):
    """Unsolicited lines, read without sending a command, until one holds
    each of WANT."""
    c.sock.settimeout(timeout)
    got = []
    try:
        while not all(any(w in line for line in got) for w in want):
            got.append(c.line())
    except socket.timeout:
        pass
    c.sock.settimeout(20)
    expect(all(any(w in line for line in got) for w in want), f"waited for {want}, got {got}")
    return got


def quiet(c, seconds=1.0):
    """Nothing unsolicited arrives for a while."""
    c.sock.settimeout(seconds)
    try:
        line = c.line()
        expect(False, f"nothing expected, got {line!r}")
    except socket.timeout:
        pass
    c.sock.settimeout(20)


def main():
    c, other = Imap(), Imap()
    expect(b" NOTIFY" in c.ok("CAPABILITY").untagged[0], "announced")
    c.ok("CREATE Orders")
    c.ok("CREATE Orders/2026")
    other.append("From: a@far.test\nSubject: first order\n\nbody\n", "Orders")
    # STATUS gives the starting point of every mailbox a message group covers.
    r = c.ok("NOTIFY SET STATUS (MAILBOXES Orders (MessageNew MessageExpunge))")
    st = [line for line in r.lines("STATUS")]
    expect(len(st) == 1 and re.match(rb'\* STATUS "Orders" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)$', st[0]), f"{r}")
    r = c.ok("NOTIFY SET STATUS (SUBTREE Orders (MessageNew MessageExpunge FlagChange))")
    st = r.lines("STATUS")
    expect(len(st) == 2 and all(b"HIGHESTMODSEQ" in x for x in st), f"FlagChange adds HIGHESTMODSEQ: {r}")
    r = c.ok("NOTIFY SET (MAILBOXES Orders (MessageNew MessageExpunge))")
    expect(not r.lines("STATUS"), f"no STATUS without the STATUS option: {r}")
    # New mail in a watched mailbox: STATUS arrives with no command sent.
    other.append("From: b@far.test\nSubject: second order\n\nbody\n", "Orders")
    got = wait_lines(c, [b'* STATUS "Orders" (MESSAGES 2 UIDNEXT 3 '])
    other.ok("SELECT Orders")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    wait_lines(c, [b'* STATUS "Orders" (MESSAGES 1 UIDNEXT 3 '])
    # A mailbox no group covers says nothing.
    other.append("From: c@far.test\nSubject: elsewhere\n\nbody\n", "INBOX")
    quiet(c)
    # Mailbox names and subscriptions: LIST responses.
    c.ok("NOTIFY SET (PERSONAL (MessageNew MessageExpunge MailboxName SubscriptionChange))")
    other.ok("UNSELECT")
    other.ok("CREATE Invoices")
    wait_lines(c, [b'* LIST () "/" "Invoices"'])
    other.ok("RENAME Invoices Bills")
    wait_lines(c, [b'* LIST () "/" "Bills" ("OLDNAME" ("Invoices"))'])
    other.ok("SUBSCRIBE Bills")
    wait_lines(c, [b'* LIST (\\Subscribed) "/" "Bills"'])
    other.ok("DELETE Bills")
    wait_lines(c, [b'* LIST (\\NonExistent) "/" "Bills"'])
    # The selected mailbox with SELECTED: EXISTS and FETCH, between commands.
    c.select("Orders")
    c.ok("NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge))")
    other.append("From: d@far.test\nSubject: third order\n\nbody\n", "Orders")
    wait_lines(c, [b"* 2 EXISTS"])
    other.ok("SELECT Orders")
    other.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    wait_lines(c, [b"* 1 FETCH (UID 2 FLAGS (\\Flagged"])
    # SELECTED NONE: nothing unasked about the selected mailbox.
    c.ok("NOTIFY SET (SELECTED NONE) (PERSONAL (MessageNew MessageExpunge))")
    other.append("From: d@far.test\nSubject: quiet order\n\nbody\n", "Orders")
    quiet(c)
    r = c.ok("NOOP")
    expect(r.lines("EXISTS"), f"reported at the next command: {r}")
    c.ok("NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge))")
    # Events in IDLE too, for other mailboxes.
    tag = c.tag()
    c.send(f"{tag} IDLE\r\n".encode())
    expect(c.line().startswith(b"+ "), "idling")
    other.append("From: e@far.test\nSubject: news\n\nbody\n", "INBOX")
    wait_lines(c, [b'* STATUS "INBOX" (MESSAGES '])
    c.send(b"DONE\r\n")
    expect(c.read_until(tag).ok, "IDLE done")
    # Errors: unsupported events are NO [BADEVENT], malformed sets BAD.
    r = c.cmd("NOTIFY SET (PERSONAL (MessageNew MessageExpunge AnnotationChange))")
    expect(r.status() == "NO" and b"[BADEVENT (" in r.tagged, f"{r}")
    expect(c.cmd("NOTIFY SET (PERSONAL (MessageNew))").status() == "BAD", "MessageNew without MessageExpunge")
    expect(c.cmd("NOTIFY SET (PERSONAL (FlagChange))").status() == "BAD", "FlagChange alone")
    expect(c.cmd("NOTIFY SET (NOWHERE (MessageNew MessageExpunge))").status() == "BAD", "unknown filter")
    # NOTIFY NONE: quiet again.
    c.ok("NOTIFY NONE")
    other.append("From: f@far.test\nSubject: unheard\n\nbody\n", "INBOX")
    quiet(c)
    c.close()
    other.close()


if __name__ == "__main__":
    main()
