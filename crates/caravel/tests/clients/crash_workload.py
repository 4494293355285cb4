"""The write paths under SIGKILL, run by tests/crash_cycles.rs (issue 12): one
pass of SMTP deliveries, IMAP APPEND, COPY, MOVE, STORE+EXPUNGE, CREATE,
RENAME and DELETE, and POP3 DELE+QUIT, against a server that the test kills
at a random moment. Every operation the server acknowledged is printed at
once, as a journal line, so the test knows what must have survived:

  DELIVER <id> <sha256>      250 after DATA: in INBOX (or where it was moved)
  APPEND <mailbox> <id> <sha256>
  COPY <id>                  OK: a copy of the Work message is in Copies
  MOVE <id>                  OK: the INBOX message is in Archive, not INBOX
  EXPUNGE <id>               OK: gone from Work (and from Copies)
  POPPED <id>                +OK to QUIT: gone from INBOX
  EXPUNGING <id> / POPPING <id> / RENAMING <from> <to> / DELETING <mailbox>:
                             about to change it (either outcome is right
                             until the acknowledgement follows)
  CREATE <mailbox> / RENAME <from> <to> / DELETE <mailbox>

Stops quietly when the server goes away. Usage: crash_workload.py TAG
(ports from SMTP_PORT, IMAPS_PORT, POP3S_PORT)."""

import hashlib
import imaplib
import poplib
import re
import smtplib
import sys

from common import HOST, PASSWORD, USER, ctx, port

TAG = sys.argv[1]
SMTP, IMAPS, POP3S = port("SMTP_PORT"), port("IMAPS_PORT"), port("POP3S_PORT")


def say(*words):
    sys.stdout.write(" ".join(words) + "\n")
    sys.stdout.flush()


def message(n, kind):
    mid = f"<{TAG}-{kind}-{n}@crash.test>"
    body = f"From: crash@remote.test\r\nTo: {USER}\r\nSubject: {TAG} {kind} {n}\r\nMessage-ID: {mid}\r\n\r\n"
    body += f"{kind} {n} of pass {TAG}\r\n" * (3 + (n * 211) % 4000)
    data = body.encode()
    return mid, data, hashlib.sha256(data).hexdigest()


def ok(typ, data, what):
    if typ != "OK":
        raise RuntimeError(f"{what}: {typ} {data}")


def uid_of(m, mid):
    typ, data = m.uid("SEARCH", None, "HEADER", "Message-ID", mid)
    ok(typ, data, "SEARCH")
    uids = data[0].split()
    return uids[0].decode() if uids else None


def run():
    smtp = smtplib.SMTP(HOST, SMTP, timeout=20)
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx(), timeout=20)
    m.login(USER, PASSWORD)
    for box in ["Work", "Copies", "Archive"]:
        m.create(box)  # NO when it exists already
    for n in range(6):
        mid, data, sha = message(n, "smtp")
        smtp.sendmail("crash@remote.test", [USER], data)
        say("DELIVER", mid, sha)

        mid2, data2, sha2 = message(n, "append")
        typ, resp = m.append("Work", None, None, data2)
        ok(typ, resp, "APPEND")
        say("APPEND", "Work", mid2, sha2)

        m.select("Work")
        uid = uid_of(m, mid2)
        if uid:
            ok(*m.uid("COPY", uid, "Copies"), "COPY")
            say("COPY", mid2)
        m.select("INBOX")
        uid = uid_of(m, mid)
        if uid and n % 2 == 0:
            ok(*m.uid("MOVE", uid, "Archive"), "MOVE")
            say("MOVE", mid)
        if n % 3 == 2:
            # Remove an appended message and its copy.
            say("EXPUNGING", mid2)
            for box in ["Work", "Copies"]:
                m.select(box)
                uid = uid_of(m, mid2)
                if uid:
                    ok(*m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)"), "STORE")
                    ok(*m.expunge(), "EXPUNGE")
            say("EXPUNGE", mid2)

        # Folder operations on a pass-private tree.
        base = f"T{TAG}-{n}"
        ok(*m.create(f"{base}/sub"), "CREATE")
        say("CREATE", f"{base}/sub")
        say("RENAMING", base, f"{base}-r")
        ok(*m.rename(base, f"{base}-r"), "RENAME")
        say("RENAME", base, f"{base}-r")
        say("DELETING", f"{base}-r/sub")
        ok(*m.delete(f"{base}-r/sub"), "DELETE")
        say("DELETE", f"{base}-r/sub")
    m.logout()
    smtp.quit()

    # POP3: delete the oldest message of this pass still in INBOX.
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx(), timeout=20)
    p.user(USER)
    p.pass_(PASSWORD)
    count = len(p.list()[1])
    for i in range(1, count + 1):
        head = b"\n".join(p.top(i, 0)[1])
        found = re.search(rb"Message-ID: (<[^>]+>)", head)
        if found and found.group(1).decode().startswith(f"<{TAG}-smtp-"):
            p.dele(i)
            say("POPPING", found.group(1).decode())
            p.quit()
            say("POPPED", found.group(1).decode())
            break
    else:
        p.quit()
    say("DONE")


if __name__ == "__main__":
    try:
        run()
    except Exception as e:  # the server was killed: the journal says what was acknowledged
        sys.stderr.write(f"stopped: {e!r}\n")
