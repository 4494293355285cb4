"""The troubleshooter against real failures, run by tests/troubleshooting.rs:
each scenario makes one thing go wrong with real clients (imaplib, poplib,
smtplib), then asks `caravel doctor ADDRESS --json` and `caravel trace
--json` and checks the explanation in plain words.
Ports from SMTP_PORT, SUBMISSION_PORT, IMAPS_PORT, POP3S_PORT."""

import imaplib
import json
import poplib
import smtplib
import sys
import time

from common import HOST, USER, PASSWORD, caravel, ctx, expect, port

SMTP, SUBMISSION, IMAPS, POP3S = port("SMTP_PORT"), port("SUBMISSION_PORT"), port("IMAPS_PORT"), port("POP3S_PORT")
BOB, BOB_PASSWORD = "bob@example.test", "Builder-Key-2026!"


def doctor(address):
    p = caravel("doctor", address, "--json", check=False)
    checks = json.loads(p.stdout)
    return {c["name"]: c for c in checks}, p.returncode


def trace(*args):
    return json.loads(caravel("trace", *args, "--json").stdout)


def imap_login(user, password):
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    try:
        m.login(user, password)
        m.logout()
        return True, ""
    except imaplib.IMAP4.error as e:
        return False, str(e)


def pop3_login(user, password):
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    try:
        p.user(user)
        p.pass_(password)
        p.quit()
        return True, ""
    except poplib.error_proto as e:
        return False, str(e)


def mail(to, subject, body="Please quote 500 units.", sender="buyer@partner.test"):
    """A message to port 25; the refused recipients (smtplib's dict) or the
    exception for a refusal of the whole message."""
    msg = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@partner.test>\r\n\r\n{body}\r\n"
    s = smtplib.SMTP(HOST, SMTP)
    try:
        return s.sendmail(sender, [to], msg.encode())
    except smtplib.SMTPException as e:
        return e
    finally:
        s.quit()


def locked_account():
    for _ in range(5):
        expect(not imap_login(BOB, "Old-Password-2025")[0], "wrong password refused")
    checks, code = doctor(BOB)
    expect(code == 1, "a failed check exits 1")
    lock = checks["sign-in"]
    expect(lock["status"] == "fail" and "locked until" in lock["verdict"] and "5 failed attempts" in lock["verdict"]
           and "a wrong password over IMAP from 127.0.0.1" in lock["verdict"], lock)
    expect("caravel user unlock" in lock["fix"], lock)
    caravel("user", "unlock", BOB)
    checks, _ = doctor(BOB)
    expect(checks["sign-in"]["status"] == "ok", checks["sign-in"])
    print("locked ok")


def old_phone():
    # A phone still set up with last year's password, polling POP3.
    for _ in range(2):
        expect(not pop3_login(BOB, "Old-Password-2025")[0], "wrong password refused")
    checks, _ = doctor(BOB)
    f = checks["sign-in failures"]
    expect(f["status"] == "warn" and "2x a wrong password over POP3 from 127.0.0.1" in f["verdict"], f)
    expect("old password" in f["fix"], f)
    expect(checks["sign-in"]["status"] == "ok", "not locked yet")
    print("old phone ok")


def protocol_off():
    caravel("user", "set", BOB, "--imap", "off")
    ok, text = imap_login(BOB, BOB_PASSWORD)
    expect(not ok and "turned off" in text, text)
    checks, _ = doctor(BOB)
    p = checks["protocols"]
    expect(p["status"] == "warn" and "IMAP" in p["verdict"] and f"caravel user set {BOB} --imap on" in p["fix"], p)
    f = checks["sign-in failures"]
    expect("IMAP is turned off for the account" in f["verdict"] and "--imap" in f["fix"], f)
    print("protocol off ok")


def full_quota():
    expect(mail(BOB, "first order") == {}, "the first message arrives")
    caravel("user", "set", BOB, "--quota", "100")
    refused = mail(BOB, "second order")
    expect(isinstance(refused, smtplib.SMTPException) or refused, f"over quota: {refused}")
    checks, code = doctor(BOB)
    q = checks["quota"]
    expect(q["status"] == "fail" and "the mailbox is full" in q["verdict"], q)
    r = checks["mail refused"]
    expect(r["status"] == "warn" and "the mailbox was full" in r["verdict"] and "buyer@partner.test" in r["verdict"], r)
    expect(code == 1, "exit 1")
    print("quota ok")


def too_large():
    # A sender that does not declare the size: refused after the data,
    # which names the recipients.
    s = smtplib.SMTP(HOST, SMTP)
    s.ehlo("partner.test")
    s.mail("buyer@partner.test")
    s.rcpt(BOB)
    code, text = s.data(b"Subject: catalogue\r\n\r\n" + (b"x" * 70 + b"\r\n") * 600)
    s.quit()
    expect(code == 552, f"refused at DATA: {code} {text}")
    # One that declares it (SIZE=): refused at MAIL FROM, before any recipient.
    refused = mail(BOB, "catalogue", body=("x" * 70 + "\r\n") * 600)
    expect(isinstance(refused, smtplib.SMTPException), f"refused at MAIL: {refused}")
    (t,) = trace("--from", "buyer@partner.test", "--last", "1")
    expect("5.3.4" in t["steps"][-1]["detail"] and t["steps"][-1]["event"] == "rejected", t)
    checks, _ = doctor(BOB)
    r = checks["mail refused"]
    expect("the message was larger than allowed" in r["verdict"] and "5.3.4" in r["verdict"], r)
    (t,) = trace("--to", BOB, "--last", "1")
    expect(t["message_id"] is None and "rejected" in [s["event"] for s in t["steps"]], t)
    expect("refused for bob@example.test" in t["steps"][0]["what"] and "5.3.4" in t["steps"][0]["detail"], t)
    print("too large ok")


def spam_verdict():
    caravel("filter", "keyword", "add", "cheap-pills-offer", "--action", "junk", "--user", BOB)
    expect(mail(BOB, "special", body="Buy now: cheap-pills-offer inside.") == {}, "accepted")
    checks, _ = doctor(BOB)
    s = checks["spam"]
    expect(s["status"] == "warn" and "filed in Junk" in s["verdict"] and "buyer@partner.test" in s["verdict"], s)
    expect("cheap-pills-offer" in s["verdict"], f"the reason is named: {s}")
    (t,) = trace("--message-id", "special@partner.test")
    events = [s["event"] for s in t["steps"]]
    expect(events == ["received", "delivered"], t)
    expect("spam junk" in t["steps"][0]["detail"] and "port smtp" in t["steps"][0]["detail"], t)
    expect("stored in Junk" in t["steps"][1]["detail"], t)
    print("spam ok")


def unknown_remote_user():
    """Alice writes to an address her buyer's server does not have."""
    s = smtplib.SMTP(HOST, SUBMISSION)
    s.starttls(context=ctx())
    s.login(USER, PASSWORD)
    msg = (f"From: {USER}\r\nTo: nobody@partner.test\r\nSubject: quotation\r\n"
           "Message-ID: <quotation-9@example.test>\r\n\r\nOur prices.\r\n")
    s.sendmail(USER, ["nobody@partner.test"], msg.encode())
    s.quit()
    deadline = time.time() + 30
    while time.time() < deadline:
        checks, _ = doctor(USER)
        if checks["sending"]["status"] != "ok":
            break
        time.sleep(0.3)
    send = checks["sending"]
    expect(send["status"] == "fail" and "to nobody@partner.test: not delivered" in send["verdict"]
           and "the receiving server says this mailbox does not exist" in send["verdict"]
           and "5.1.1" in send["verdict"], send)
    (t,) = trace("--from", USER, "--last", "1")
    events = [s["event"] for s in t["steps"]]
    expect(events[:2] == ["received", "queued"] and events[-1] == "bounced", t)
    expect("signed in as alice@example.test" in t["steps"][0]["detail"] and "port submission" in t["steps"][0]["detail"], t)
    expect("given up for nobody@partner.test: the receiving server says this mailbox does not exist" in t["steps"][-1]["what"], t)
    print("unknown remote user ok")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
