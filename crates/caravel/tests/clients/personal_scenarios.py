"""Signatures, auto-replies and mail rules as a user meets them: set with
the caravel CLI (CARAVEL_BIN, CARAVEL_CONFIG), mail sent with smtplib over
submission, read back with imaplib. Usage: personal_scenarios.py NAME"""

import email
import email.policy
import imaplib
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage

from common import HOST, PASSWORD, USER, caravel, ctx, expect, port

IMAPS = port("IMAPS_PORT")
SUB = port("SUBMISSION_PORT")
BOB, BOB_PASSWORD = "bob@example.test", "Builder-Key-2026!"


def file_with(text):
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".txt", encoding="utf-8")
    f.write(text)
    f.close()
    return f.name


def send(msg, user=USER, password=PASSWORD, to=None):
    with smtplib.SMTP(HOST, SUB, timeout=30) as s:
        s.starttls(context=ctx())
        s.login(user, password)
        s.send_message(msg, to_addrs=to)


def mailbox(user, password, folder="INBOX", wait_for=1, timeout=15):
    """The messages of FOLDER (waiting until there are WAIT_FOR), parsed."""
    deadline = time.time() + timeout
    while True:
        with imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx()) as m:
            m.login(user, password)
            typ, _ = m.select(imap_utf7(folder), readonly=True)
            out = []
            if typ == "OK":
                _, data = m.search(None, "ALL")
                for num in data[0].split():
                    _, parts = m.fetch(num, "(FLAGS BODY.PEEK[])")
                    msg = email.message_from_bytes(parts[0][1], policy=email.policy.default)
                    msg.imap_flags = parts[0][0].decode()
                    out.append(msg)
        if len(out) >= wait_for or time.time() > deadline:
            return out
        time.sleep(0.2)


def imap_utf7(name):
    """RFC 3501 §5.1.3 modified UTF-7 for a folder name."""
    import base64
    out, pending = [], ""

    def flush():
        nonlocal pending
        if pending:
            b = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=").replace("/", ",")
            out.append("&" + b + "-")
            pending = ""
    for c in name:
        if 0x20 <= ord(c) <= 0x7e:
            flush()
            out.append("&-" if c == "&" else c)
        else:
            pending += c
    flush()
    return '"' + "".join(out) + '"'


def texts(msg):
    """(plain, html) of a message, decoded."""
    plain = html = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.is_attachment():
            plain += part.get_content().replace("\r\n", "\n")
        elif part.get_content_type() == "text/html":
            html += part.get_content().replace("\r\n", "\n")
    return plain, html


def signatures():
    caravel("user", "set", USER, "--name", "Li Na", "--title", "Sales Manager", "--phone", "+86 755 1234 5678")
    caravel("domain", "set", "example.test", "--company", "Example Export Co.", "--website", "www.example.test")
    new = file_with("{name}\n{title}, {company}\nTel {phone}\nMobile {mobile}\n{website}")
    new_html = file_with("<p><b>{name}</b><br>{title}, {company}<br>Tel {phone}</p>")
    reply = file_with("{name} | {company} (reply)")
    footer = file_with("Example Export Co. - this message is confidential.")
    caravel("signature", "set", USER, "--text-file", new, "--html-file", new_html, "--name", "new", "--when", "new")
    caravel("signature", "set", USER, "--text-file", reply, "--name", "reply", "--when", "reply")
    caravel("signature", "set", "example.test", "--text-file", footer)
    listed = caravel("signature", "list", USER).stdout
    expect("new" in listed and "reply" in listed, listed)

    # A new message from a mail program: text and HTML alternatives.
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = USER, BOB, "Quotation 2027"
    m.set_content("Dear Bob,\nplease find our prices.\n")
    m.add_alternative("<html><body><p>Dear Bob,</p><p>please find our prices.</p></body></html>", subtype="html")
    send(m, to=[BOB])
    got = mailbox(BOB, BOB_PASSWORD, wait_for=1)
    expect(len(got) == 1, f"one message, got {len(got)}")
    plain, html = texts(got[0])
    expect("-- \nLi Na\nSales Manager, Example Export Co.\nTel +86 755 1234 5678\nwww.example.test" in plain,
           "signature: " + repr(plain))
    expect("Mobile" not in plain, "a line with an empty variable is left out: " + plain)
    expect("<b>Li Na</b><br>Sales Manager, Example Export Co.<br>Tel +86 755 1234 5678" in html, html)
    expect(html.index("caravel-signature") < html.index("</body>"), "before </body>: " + html)
    for text in (plain, html):
        expect("this message is confidential" in text, "footer: " + text)
        expect(text.count("Li Na") == 1, "once: " + text)
    expect("(reply)" not in plain, plain)

    # A reply gets the reply template.
    r = EmailMessage()
    r["From"], r["To"], r["Subject"] = USER, BOB, "Re: Quotation 2027"
    r["In-Reply-To"] = got[0]["Message-ID"]
    r.set_content("Thanks, see below.\n")
    send(r, to=[BOB])
    got = mailbox(BOB, BOB_PASSWORD, wait_for=2)
    plain, _ = texts(got[1])
    expect("-- \nLi Na | Example Export Co. (reply)" in plain, plain)
    expect("Sales Manager" not in plain, plain)

    # A client that signs itself: not twice.
    s = EmailMessage()
    s["From"], s["To"], s["Subject"] = USER, BOB, "Samples"
    s.set_content("Samples sent.\n\n-- \nLi Na\nSales Manager, Example Export Co.\nTel +86 755 1234 5678\nwww.example.test\n")
    send(s, to=[BOB])
    got = mailbox(BOB, BOB_PASSWORD, wait_for=3)
    plain, _ = texts(got[2])
    expect(plain.count("Li Na") == 1, "not twice: " + plain)

    caravel("signature", "del", USER, "reply")
    expect("reply" not in caravel("signature", "list", USER).stdout, "deleted")
    expect(caravel("signature", "set", "nobody@example.test", "--text-file", new, check=False).returncode == 1,
           "only accounts")
    print("ok")


def autoreply():
    body = file_with("Dear {sender},\nI am away until Monday. {name}")
    caravel("user", "set", BOB, "--name", "Bob Builder")
    caravel("autoreply", "set", BOB, "--subject", "Out of office", "--body-file", body,
            "--from", "2020-01-01", "--until", "2099-12-31")
    expect("Out of office" in caravel("autoreply", "list", BOB).stdout, "listed")

    def message(subject, headers=(), to=BOB):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = USER, to, subject
        for k, v in headers:
            m[k] = v
        m.set_content("Please quote 500 units.\n")
        return m

    # Never to bulk, list or automatic mail, nor when Bob is only a Bcc.
    for subject, headers in [("bulk", [("Precedence", "bulk")]),
                             ("list", [("List-Id", "<offers.lists.test>")]),
                             ("auto", [("Auto-Submitted", "auto-generated")]),
                             ("junk", [("Precedence", "junk")])]:
        send(message(subject, headers), to=[BOB])
    send(message("bcc only", to="someone@example.test"), to=[BOB])
    bob = mailbox(BOB, BOB_PASSWORD, wait_for=5)
    expect(len(bob) == 5, f"Bob got the five: {len(bob)}")
    time.sleep(1)
    replies = [m for m in mailbox(USER, PASSWORD, wait_for=0, timeout=0) if m["Auto-Submitted"]]
    expect(not replies, f"no replies yet: {[r['Subject'] for r in replies]}")

    # Two messages from one sender: one reply.
    send(message("Inquiry 1"), to=[BOB])
    send(message("Inquiry 2"), to=[BOB])
    mailbox(BOB, BOB_PASSWORD, wait_for=7)
    deadline = time.time() + 15
    while time.time() < deadline:
        replies = [m for m in mailbox(USER, PASSWORD, wait_for=0, timeout=0) if m["Auto-Submitted"]]
        if replies:
            break
        time.sleep(0.2)
    time.sleep(1.5)
    replies = [m for m in mailbox(USER, PASSWORD, wait_for=0, timeout=0) if m["Auto-Submitted"]]
    expect(len(replies) == 1, f"one reply for two messages: {[r['Subject'] for r in replies]}")
    r = replies[0]
    expect(r["Auto-Submitted"] == "auto-replied", r["Auto-Submitted"])
    expect(r["Subject"] == "Out of office: Inquiry 1", r["Subject"])
    expect(r["In-Reply-To"] and r["In-Reply-To"] in (r["References"] or ""), "threaded")
    expect(BOB in r["From"] and "Bob Builder" in r["From"], r["From"])
    plain, _ = texts(r)
    expect(f"Dear {USER}," in plain and "Bob Builder" in plain, plain)

    # Each template keeps its own record (RFC 5230 §4.2): a new one answers
    # a sender the old one already answered.
    caravel("autoreply", "off", BOB)
    caravel("autoreply", "set", BOB, "--subject", "Travelling", "--body-file", body, "--name", "second")
    send(message("Inquiry 3"), to=[BOB])
    deadline = time.time() + 15
    while time.time() < deadline and len(replies) < 2:
        replies = [m for m in mailbox(USER, PASSWORD, wait_for=0, timeout=0) if m["Auto-Submitted"]]
        time.sleep(0.2)
    expect(len(replies) == 2 and replies[1]["Subject"] == "Travelling: Inquiry 3", f"{[r['Subject'] for r in replies]}")

    caravel("autoreply", "off", BOB)
    expect("off" in caravel("autoreply", "list", BOB).stdout, "turned off")
    print("ok")


def rules():
    caravel("rule", "add", BOB, "--from", USER, "--subject", "报价", "--move", "客户/报价")
    caravel("rule", "add", BOB, "--subject", "报价", "--forward", "alice@example.test", "--flag")
    caravel("rule", "add", BOB, "--subject", "newsletter", "--mark-read", "--move", "Newsletters", "--stop")
    caravel("rule", "add", BOB, "--subject", "newsletter", "--forward", "alice@example.test")
    caravel("rule", "add", BOB, "--subject", "unwanted", "--reject", "No thanks")
    listed = caravel("rule", "list", BOB, "--json").stdout
    import json
    expect(len(json.loads(listed)) == 5, listed)

    def message(subject):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = USER, BOB, subject
        m.set_content("Price list attached.\n")
        return m

    send(message("报价 2027"), to=[BOB])
    filed = mailbox(BOB, BOB_PASSWORD, folder="客户/报价", wait_for=1)
    expect(len(filed) == 1 and filed[0]["Subject"] == "报价 2027", f"filed: {len(filed)}")
    expect("\\Flagged" in filed[0].imap_flags, filed[0].imap_flags)
    expect(not mailbox(BOB, BOB_PASSWORD, wait_for=0, timeout=0), "not in INBOX")
    copies = mailbox(USER, PASSWORD, wait_for=1)
    expect(len(copies) == 1 and copies[0]["Subject"] == "报价 2027", "forwarded copy")
    expect(copies[0]["Delivered-To"] is not None, "marked as forwarded")

    send(message("newsletter 12"), to=[BOB])
    news = mailbox(BOB, BOB_PASSWORD, folder="Newsletters", wait_for=1)
    expect(len(news) == 1 and "\\Seen" in news[0].imap_flags, "filed and read")
    time.sleep(0.5)
    expect(len(mailbox(USER, PASSWORD, wait_for=0, timeout=0)) == 1, "stop: no forward")

    try:
        send(message("unwanted offer"), to=[BOB])
        expect(False, "refused")
    except smtplib.SMTPRecipientsRefused:
        expect(False, "refused after DATA, not at RCPT")
    except smtplib.SMTPDataError as e:
        expect(e.smtp_code == 550 and b"No thanks" in e.smtp_error, str(e))

    # Alice and Bob both get it; Bob's rule refuses his copy. Alice (the
    # sender) gets a non-delivery report, unless she asked for none.
    def reports():
        return [m for m in mailbox(USER, PASSWORD, wait_for=0, timeout=0) if m.get_content_type() == "multipart/report"]
    with smtplib.SMTP(HOST, SUB, timeout=30) as s:
        s.starttls(context=ctx())
        s.login(USER, PASSWORD)
        s.sendmail(USER, [BOB, USER], message("unwanted offer 2").as_bytes(policy=email.policy.SMTP), rcpt_options=["NOTIFY=NEVER"])
    mailbox(USER, PASSWORD, wait_for=2)
    time.sleep(1)
    expect(not reports(), "NOTIFY=NEVER: no report")
    send(message("unwanted offer 3"), to=[BOB, USER])
    deadline = time.time() + 15
    while time.time() < deadline and not reports():
        time.sleep(0.2)
    expect(len(reports()) == 1, "a report for the refused copy")

    # A bounce to the SRS address of the forwarded copy comes back to
    # Alice, one of ours, here.
    srs = copies[0]["Return-Path"].strip("<>")
    expect(srs.startswith("SRS0=") and srs.endswith("@example.test"), srs)
    before = len(mailbox(USER, PASSWORD, wait_for=0, timeout=0))
    bounce = EmailMessage()
    bounce["From"], bounce["To"], bounce["Subject"] = "MAILER-DAEMON@far.test", srs, "Undelivered: 报价 2027"
    bounce.set_content("The forwarded copy could not be delivered.\n")
    with smtplib.SMTP(HOST, port("SMTP_PORT"), timeout=30) as s:
        s.sendmail("", [srs], bounce.as_bytes(policy=email.policy.SMTP))
    back = mailbox(USER, PASSWORD, wait_for=before + 1)
    expect(any(m["Subject"] == "Undelivered: 报价 2027" for m in back), "the bounce reached Alice")

    caravel("rule", "del", BOB, "5")
    send(message("unwanted offer"), to=[BOB])
    expect(len(mailbox(BOB, BOB_PASSWORD, wait_for=1)) == 1, "delivered once the rule is gone")

    # A forward that cannot go (no such address) keeps the copy that
    # --no-keep would have dropped.
    caravel("rule", "add", BOB, "--subject", "keep me", "--forward", "ghost@example.test", "--no-keep")
    send(message("keep me safe"), to=[BOB])
    inbox = mailbox(BOB, BOB_PASSWORD, wait_for=2)
    expect(any(m["Subject"] == "keep me safe" for m in inbox), "kept after a failed forward")
    print("ok")


def shared():
    """sales@ goes to two people and acknowledges each new inquiry once."""
    caravel("alias", "add", "sales@example.test", USER, BOB)
    body = file_with("Thank you for your inquiry about {subject}. We answer within one working day.")
    caravel("autoreply", "set", "sales@example.test", "--subject", "Received: {subject}", "--body-file", body,
            "--scenario", "acknowledge")

    def inquiry(subject, reply_to=None):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = USER, "sales@example.test", subject
        if reply_to:
            m["In-Reply-To"] = reply_to
        m.set_content("Please quote 500 units.\n")
        send(m, to=["sales@example.test"])

    inquiry("LED lamps")
    mailbox(BOB, BOB_PASSWORD, wait_for=1)
    acks = []
    deadline = time.time() + 15
    while time.time() < deadline and not acks:
        acks = [m for m in mailbox(USER, PASSWORD, wait_for=0, timeout=0) if m["Auto-Submitted"]]
        time.sleep(0.2)
    expect(len(acks) == 1, f"one acknowledgement: {len(acks)}")
    a = acks[0]
    expect(a["From"].addresses[0].addr_spec == "sales@example.test", a["From"])
    expect(a["Subject"] == "Received: LED lamps", a["Subject"])
    plain, _ = texts(a)
    expect("inquiry about LED lamps" in plain, plain)
    # A reply in the thread is not a new inquiry; two members, one answer.
    inquiry("Re: LED lamps", reply_to="<x@example.test>")
    mailbox(BOB, BOB_PASSWORD, wait_for=2)
    time.sleep(1.5)
    acks = [m for m in mailbox(USER, PASSWORD, wait_for=0, timeout=0) if m["Auto-Submitted"]]
    expect(len(acks) == 1, f"still one: {len(acks)}")
    expect("acknowledge" in caravel("autoreply", "list", "sales@example.test").stdout, "listed for the alias")
    print("ok")


if __name__ == "__main__":
    {"signatures": signatures, "autoreply": autoreply, "rules": rules, "shared": shared}[sys.argv[1]]()
