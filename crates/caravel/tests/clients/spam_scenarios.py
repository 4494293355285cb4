"""Spam filter scenarios run by tests/spam.rs with real clients (smtplib to
send, imaplib to look and to move mail into Junk). Usage:
spam_scenarios.py SCENARIO; ports come from the environment. The rules each
scenario relies on are added by the Rust test with `caravel filter ...`."""

import base64
import email
import email.policy
import imaplib
import os
import smtplib
import sys
import time

from common import HOST, PASSWORD, USER, expect, port
from common import ctx as tls_context

SMTP = port("SMTP_PORT")
SUB = port("SUBMISSION_PORT")
IMAPS = port("IMAPS_PORT")
BOB = ("bob@example.test", "Builder-Key-2026!")


def message(sender, to, subject_header, body, extra=""):
    return (f"From: <{sender}>\r\nTo: {', '.join(to)}\r\nSubject: {subject_header}\r\n"
            f"Message-ID: <{abs(hash(body))}@remote.test>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{extra}\r\n{body}\r\n").encode()


def send(sender, to, raw):
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("mx.remote.test")
        s.sendmail(sender, to, raw)


def folder(who, name):
    """The raw messages in WHO's folder NAME."""
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=tls_context())
    m.login(*who)
    m.select(name, readonly=True)
    _, data = m.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        _, msg = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
        out.append((msg[0][0].decode(), msg[0][1]))
    m.logout()
    return out


def only_in(who, name, needle):
    """The one message holding NEEDLE is in folder NAME of WHO, and not in the other one."""
    other = "INBOX" if name == "Junk" else "Junk"
    here = [(f, m) for f, m in folder(who, name) if needle in m]
    there = [m for _, m in folder(who, other) if needle in m]
    expect(len(here) == 1, f"{who[0]}: expected the message {needle!r} in {name}, found {len(here)}")
    expect(not there, f"{who[0]}: the message {needle!r} is also in {other}")
    return here[0]


def spam_status(raw):
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    return m.get_all("X-Spam-Status") or []


def gbk_keyword_junk():
    # Subject "本周促销" in GBK, as Chinese mail programs send it; a forged
    # X-Spam-Status from outside must not survive.
    subject = "=?GBK?B?" + base64.b64encode("本周促销 special".encode("gbk")).decode() + "?="
    raw = message("sales@remote.test", ["alice@example.test"], subject, "Catalogue attached. gbk-1",
                  extra="X-Spam-Status: No, score=-100 tests=FORGED\r\n")
    send("sales@remote.test", ["alice@example.test"], raw)
    flags, stored = only_in((USER, PASSWORD), "Junk", b"gbk-1")
    status = spam_status(stored)
    expect(len(status) == 1, f"one X-Spam-Status, ours: {status}")
    expect(status[0].startswith("Yes,") and "KEYWORD_" in status[0], f"X-Spam-Status: {status}")
    expect("FORGED" not in stored.decode("utf-8", "replace"), "the sender's X-Spam-Status was removed")
    expect("$Junk" in flags, f"Junk copies carry $Junk: {flags}")
    # The same subject in raw GBK bytes, not an encoded word, and a body
    # with no charset, as older Chinese mail programs send them (8BITMIME).
    raw = (b"From: <sales@remote.test>\r\nTo: alice@example.test\r\nSubject: " + "新品促销".encode("gbk")
           + b"\r\nMessage-ID: <gbk-2@remote.test>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
           + b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
           + "您好，附件是本季产品目录。".encode("gbk") + b" gbk-2\r\n")
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("mx.remote.test")
        s.sendmail("sales@remote.test", ["alice@example.test"], raw, mail_options=["BODY=8BITMIME"])
    _, stored = only_in((USER, PASSWORD), "Junk", b"gbk-2")
    status = spam_status(stored)
    expect(len(status) == 1 and status[0].startswith("Yes,") and "KEYWORD_" in status[0],
           f"a raw GBK subject is read: X-Spam-Status {status}")


def blocked_senders():
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("mx.bad.test")
        code, text = s.mail("spammer@bad.test")
        expect(code == 550 and b"5.7.1" in text and b"block list" in text, f"MAIL from a blocked sender: {code} {text}")
        s.rset()
        code, _ = s.mail("someone@evil.test")
        expect(code == 250, f"evil.test is blocked for bob only: MAIL {code}")
        code, text = s.rcpt("bob@example.test")
        expect(code == 550 and b"block list" in text, f"RCPT bob from his blocked domain: {code} {text}")
        code, _ = s.rcpt("alice@example.test")
        expect(code == 250, f"RCPT alice from evil.test: {code}")
        # team@ is alice and bob: bob's block drops his copy, not alice's.
        code, _ = s.rcpt("team@example.test")
        expect(code == 250, f"RCPT team@ (alice and bob) from evil.test: {code}")
        code, _ = s.data(message("someone@evil.test", ["team@example.test"], "Hello team", "Hi. team-1"))
        expect(code == 250, f"DATA: {code}")
    only_in((USER, PASSWORD), "INBOX", b"team-1")
    expect(not any(b"team-1" in m for box in ("INBOX", "Junk") for _, m in folder(BOB, box)), "bob has no copy")


def allowed_sender():
    # alice allows partner.test: its mail is not scored, even with a keyword
    # the server's rules send to Junk.
    subject = "=?UTF-8?B?" + base64.b64encode("促销 price list".encode()).decode() + "?="
    send("li@partner.test", ["alice@example.test"],
         message("li@partner.test", ["alice@example.test"], subject, "Our price list. allow-1"))
    _, stored = only_in((USER, PASSWORD), "INBOX", b"allow-1")
    status = spam_status(stored)
    expect(status and status[0].startswith("No,") and "ALLOWLIST" in status[0], f"X-Spam-Status: {status}")


def allowed_but_forged():
    # strict.test is on alice's allow list, but its SPF says this client
    # may not send for it: the entry does not apply.
    subject = "=?UTF-8?B?" + base64.b64encode("促销 forged".encode()).decode() + "?="
    send("boss@strict.test", ["alice@example.test"],
         message("boss@strict.test", ["alice@example.test"], subject, "Pay this invoice. forged-1"))
    inbox = [m for _, m in folder((USER, PASSWORD), "INBOX") if b"forged-1" in m]
    expect(not inbox, f"in INBOX: {inbox[:1]}")
    _, stored = only_in((USER, PASSWORD), "Junk", b"forged-1")
    status = " ".join(spam_status(stored))
    expect("ALLOWLIST_FORGED" in status and "ALLOWLIST," not in status, f"X-Spam-Status: {status}")
    # partner.test is allowed too, but this comes from another domain's
    # envelope sender: nothing says partner.test sent it.
    send("x@attacker.test", ["alice@example.test"],
         message("li@partner.test", ["alice@example.test"], subject, "Pay this invoice. forged-2"))
    _, stored = only_in((USER, PASSWORD), "Junk", b"forged-2")
    status = " ".join(spam_status(stored))
    expect("ALLOWLIST_FORGED" in status and "ALLOWLIST," not in status, f"X-Spam-Status: {status}")
    # The envelope sender is allowed (partner.test has no SPF to fail), but
    # the From: domain fails DMARC (p=none): the entry does not apply.
    send("li@partner.test", ["alice@example.test"],
         message("ceo@dmarc-fail.test", ["alice@example.test"], subject, "Pay this invoice. forged-3"))
    _, stored = only_in((USER, PASSWORD), "Junk", b"forged-3")
    status = " ".join(spam_status(stored))
    expect("ALLOWLIST_FORGED" in status and "ALLOWLIST," not in status, f"X-Spam-Status: {status}")


def two_recipients():
    # bob's own rule sends "zircon offer" to his Junk; alice has no such rule.
    raw = message("trader@remote.test", ["alice@example.test", "bob@example.test"], "Zircon Offer",
                  "Best zircon offer this year. two-1")
    send("trader@remote.test", ["alice@example.test", "bob@example.test"], raw)
    only_in((USER, PASSWORD), "INBOX", b"two-1")
    only_in(BOB, "Junk", b"two-1")
    # bob's pattern /\bскидка\b/ has Unicode word boundaries: the word
    # alone in Russian text is Junk for him, inside a longer word it is not.
    for n, text in ((2, "Большая скидка на лампы"), (3, "Со скидками на лампы")):
        body = f"{text}, до пятницы. two-{n}"
        send("trader@remote.test", ["alice@example.test", "bob@example.test"],
             message("trader@remote.test", ["alice@example.test", "bob@example.test"], "Лампы", body))
        only_in((USER, PASSWORD), "INBOX", f"two-{n}".encode())
        only_in(BOB, "Junk" if n == 2 else "INBOX", f"two-{n}".encode())


def forwarded_copies():
    """orders@ forwards to partner@elsewhere.test, team@ to alice and to
    partner2@elsewhere.test: their copies are filtered as the alias's."""
    send("a@remote.test", ["orders@example.test"],
         message("a@remote.test", ["orders@example.test"], "Deal", "A zircon bargain for you. fwd-held"))
    try:
        send("b@remote.test", ["orders@example.test"],
             message("b@remote.test", ["orders@example.test"], "Pay", "See the forged invoice. fwd-refused"))
        expect(False, "a message only a forwarding alias takes, refused by its rules, was accepted")
    except smtplib.SMTPDataError as e:
        expect(e.smtp_code == 550 and b"content rule" in e.smtp_error, f"DATA: {e.smtp_code} {e.smtp_error}")
    send("c@remote.test", ["orders@example.test"],
         message("c@remote.test", ["orders@example.test"], "Order 12", "Please confirm order 12. fwd-clean"))
    # alice allows the sender and takes the message; the alias's copy is
    # refused by the server's rule, overruled by alice, and held.
    send("d@remote.test", ["team@example.test"],
         message("d@remote.test", ["team@example.test"], "Pay", "The forged invoice again. fwd-team"))
    only_in((USER, PASSWORD), "INBOX", b"fwd-team")
    # bob's copy: the server's rule holds it, his own refuses it; alice
    # takes the message, so his refusal is overruled, and the hold stands.
    send("d@remote.test", ["alice@example.test", "bob@example.test"],
         message("d@remote.test", ["alice@example.test", "bob@example.test"], "Deal",
                 "A zircon bargain for two. held-bob"))
    only_in((USER, PASSWORD), "INBOX", b"held-bob")
    expect(not any(b"held-bob" in m for box in ("INBOX", "Junk") for _, m in folder(BOB, box)), "bob's copy is held")
    # orders@ and sales@other.test both forward to partner@: its copy is
    # held when either alias's rules hold it (other.test holds walnuts).
    send("d@remote.test", ["orders@example.test", "sales@other.test"],
         message("d@remote.test", ["orders@example.test", "sales@other.test"], "Crate",
                 "A walnut crate. fwd-two-aliases"))
    # team2@other.test is alice and partner3@: alice's own mail rule
    # refuses "unwanted", the alias's copy is held: accepted, not refused.
    send("d@remote.test", ["team2@other.test"],
         message("d@remote.test", ["team2@other.test"], "unwanted walnuts", "A walnut crate. fwd-rule-held"))
    # A refusal notice from alice's rule goes only to a sender SPF (spf.test
    # allows this client) or DKIM vouches for: to a forged one it is
    # backscatter.
    for sender in ("d@remote.test", "e@spf.test"):
        send(sender, ["team2@other.test"],
             message(sender, ["team2@other.test"], "unwanted offer", f"Plain words. notice-{sender}"))
    # A message from g@dkim.test that dkim.test signed (the Rust test signs
    # it; no SPF record): its signature vouches for its author, not for
    # another envelope sender, even of the same domain (a replay).
    with open(os.environ["SIGNED_MESSAGE"], "rb") as f:
        signed = f.read()
    for sender in ("g@dkim.test", "h@victim.test", "x@dkim.test"):
        send(sender, ["team2@other.test"], signed)
    # alice by her own address first, then through team@: one copy, whose
    # verdict both addresses' log events give.
    send("d@remote.test", ["alice@example.test", "team@example.test"],
         message("d@remote.test", ["alice@example.test", "team@example.test"], "Both ways",
                 "Plain words. both-ways"))
    # Held for alice and for team@'s outside member (one entry).
    send("f@remote.test", ["team@example.test"],
         message("f@remote.test", ["team@example.test"], "Deal for the team",
                 "A zircon bargain for the team. held-both"))
    # The alias's domain blocks blocked.test: refused at RCPT.
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("mx.blocked.test")
        code, _ = s.mail("x@blocked.test")
        expect(code == 250, f"MAIL: {code}")
        code, text = s.rcpt("orders@example.test")
        expect(code == 550 and b"block list" in text, f"RCPT orders@ from a blocked domain: {code} {text}")


def junk_move_learns():
    words = ("quixotic hydroponic lanterns wholesale glimmerstone brackets "
             "velvetine cargo manifests zephyrine tariffs ")
    send("promo@remote.test", ["alice@example.test"],
         message("promo@remote.test", ["alice@example.test"], "Lanterns", words * 3 + "learn-1"))
    only_in((USER, PASSWORD), "INBOX", b"learn-1")
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=tls_context())
    m.login(USER, PASSWORD)
    m.select("INBOX")
    _, data = m.uid("SEARCH", None, "BODY", "learn-1")
    uid = data[0].split()[0]
    typ, _ = m.uid("MOVE", uid, "Junk")
    expect(typ == "OK", "MOVE to Junk")
    m.logout()
    send("promo@remote.test", ["alice@example.test"],
         message("promo@remote.test", ["alice@example.test"], "Lanterns again", words * 3 + "learn-2"))
    _, stored = only_in((USER, PASSWORD), "Junk", b"learn-2")
    status = spam_status(stored)
    expect(status and "BAYES_" in status[0], f"the classifier decided: {status}")
    # bob never said so: his copy of the same words stays in his INBOX.
    send("promo@remote.test", ["bob@example.test"],
         message("promo@remote.test", ["bob@example.test"], "Lanterns", words * 3 + "learn-3"))
    only_in(BOB, "INBOX", b"learn-3")


def dnsbl_listed():
    # Listed client (3 points) and a listed link domain (3 more): Junk.
    send("news@remote.test", ["alice@example.test"],
         message("news@remote.test", ["alice@example.test"], "News",
                 "See http://www.badlinks.test/offer today. bl-1"))
    _, stored = only_in((USER, PASSWORD), "Junk", b"bl-1")
    status = " ".join(spam_status(stored))
    expect("DNSBL_BL_TEST" in status and "URIBL_URIBL_TEST" in status, f"X-Spam-Status: {status}")
    # Link domains the list refuses to answer for, and a link to an
    # address: only the DNSBL's points.
    send("news@remote.test", ["alice@example.test"],
         message("news@remote.test", ["alice@example.test"], "News 2",
                 "See http://refused.test/x, http://blocked.test/y and http://192.0.2.7/z today. bl-2"))
    _, stored = only_in((USER, PASSWORD), "INBOX", b"bl-2")
    status = " ".join(spam_status(stored))
    expect("DNSBL_BL_TEST" in status and "URIBL_" not in status, f"X-Spam-Status: {status}")


def greylisted():
    def attempt(sender="new@sender.test", to="alice@example.test", source="127.0.0.1"):
        # Each part from its own loopback address: a client's passes may
        # auto-allow it ([spam] greylist_auto_allow = 1 in the Rust test),
        # and the triples' network (127.0.0/24) is the same for all.
        with smtplib.SMTP(HOST, SMTP, source_address=(source, 0)) as s:
            s.ehlo("mx.remote.test")
            s.mail(sender)
            return s.rcpt(to)
    code, text = attempt()
    expect(code == 451 and b"4.7.1" in text and b"Greylisted" in text, f"first attempt: {code} {text}")
    code, _ = attempt()
    expect(code == 451, f"a retry before the delay: {code}")
    # A list's bounce address numbers each message (VERP), BATV tags it.
    code, _ = attempt("bounce-101-alice=example.test@list.test", source="127.0.0.2")
    expect(code == 451, f"a list's first message: {code}")
    code, _ = attempt("prvs=4a1b2c3d4e=sales@shop.test", source="127.0.0.3")
    expect(code == 451, f"a BATV-signed sender's first message: {code}")
    time.sleep(1.5)
    code, _ = attempt()
    expect(code == 250, f"a retry after the delay: {code}")
    code, _ = attempt("bounce-102-alice=example.test@list.test", source="127.0.0.2")
    expect(code == 250, f"the list's next message is the same sender: {code}")
    code, _ = attempt("prvs=9f9e9d9c9b=sales@shop.test", source="127.0.0.3")
    expect(code == 250, f"the BATV sender's next message, another tag: {code}")
    code, _ = attempt("bounce-103-bob=example.test@list.test", "bob@example.test", source="127.0.0.4")
    expect(code == 451, f"another recipient is another triple: {code}")
    # 127.0.0.1's triple passed: it has shown it retries, and a new triple
    # from it is let through; its neighbour 127.0.0.5 still waits.
    code, _ = attempt("someone@else.test", "bob@example.test")
    expect(code == 250, f"a new triple from a client that passed: {code}")
    code, _ = attempt("someone@else.test", "alice@example.test", source="127.0.0.5")
    expect(code == 451, f"a new triple from its neighbour: {code}")


def outbound_refused():
    raw = message(USER, ["buyer@customer.test"], "Invoices",
                  "We offer 发票代开 and cheap viagra, contact us today.")
    with smtplib.SMTP(HOST, SUB) as s:
        s.ehlo()
        s.starttls(context=tls_context())
        s.ehlo()
        s.login(USER, PASSWORD)
        try:
            s.sendmail(USER, ["buyer@customer.test"], raw)
            expect(False, "spam from a signed-in user was accepted")
        except smtplib.SMTPDataError as e:
            text = e.smtp_error.decode("utf-8", "replace")
            expect(e.smtp_code == 550 and "Not sent" in text and "发票代开" in text, f"refusal: {e.smtp_code} {text}")
        # An ordinary message still goes.
        s.sendmail(USER, ["bob@example.test"], message(USER, ["bob@example.test"], "Order 1183",
                                                         "Please confirm the shipment date. out-ok"))
    only_in(BOB, "INBOX", b"out-ok")


def submit(to, raw):
    """ALICE sends RAW to TO over submission (587, STARTTLS, signed in)."""
    with smtplib.SMTP(HOST, SUB) as s:
        s.ehlo()
        s.starttls(context=tls_context())
        s.ehlo()
        s.login(USER, PASSWORD)
        s.sendmail(USER, to, raw)


def correspondents():
    # "container clearance" scores 6 (a rule the Rust test adds): junk for
    # a stranger, not for someone the user wrote to.
    body = "Urgent container clearance fee, pay today. "
    send("buyer@customer.test", ["alice@example.test"],
         message("buyer@customer.test", ["alice@example.test"], "Clearance", body + "corr-1"))
    only_in((USER, PASSWORD), "Junk", b"corr-1")
    to = ["Buyer@Customer.test", "boss@strict.test", "sales@aligned.test", "sales@broken.test"]
    submit(to, message(USER, to, "Order 1183", "Please confirm. corr-out"))
    send("buyer@customer.test", ["alice@example.test", "bob@example.test"],
         message("buyer@customer.test", ["alice@example.test", "bob@example.test"], "Re: Order 1183",
                 body + "corr-2"))
    _, stored = only_in((USER, PASSWORD), "INBOX", b"corr-2")
    status = " ".join(spam_status(stored))
    expect("KNOWN_CORRESPONDENT" in status and "KEYWORD_" in status, f"X-Spam-Status: {status}")
    # bob never wrote to the buyer: his copy is junk.
    _, stored = only_in(BOB, "Junk", b"corr-2")
    expect("KNOWN_CORRESPONDENT" not in " ".join(spam_status(stored)), "bob's copy has no bonus")
    # strict.test's SPF refuses this client: a forger using an address
    # alice wrote to gets no bonus.
    send("boss@strict.test", ["alice@example.test"],
         message("boss@strict.test", ["alice@example.test"], "Re: Order 1183", body + "corr-3"))
    _, stored = only_in((USER, PASSWORD), "Junk", b"corr-3")
    expect("KNOWN_CORRESPONDENT" not in " ".join(spam_status(stored)), "no bonus for a forgery")
    # Nor when SPF passes for another envelope sender than the From: domain
    # (customer.test's SPF is not asked), or when From: names two addresses.
    send("x@attacker.test", ["alice@example.test"],
         message("buyer@customer.test", ["alice@example.test"], "Re: Order 1183", body + "corr-4"))
    send("buyer@customer.test", ["alice@example.test"],
         message("buyer@customer.test>, <x@evil.test", ["alice@example.test"], "Re: Order 1183", body + "corr-5"))
    # aligned.test asks for strict DMARC alignment (aspf=s) under p=none:
    # SPF passing for mail.aligned.test does not make From: its own.
    send("bounce@mail.aligned.test", ["alice@example.test"],
         message("sales@aligned.test", ["alice@example.test"], "Re: Order 1183", body + "corr-6"))
    # broken.test's DMARC record cannot be parsed (permerror): it might ask
    # for strict alignment, so SPF passing for a subdomain earns nothing.
    send("bounce@mail.broken.test", ["alice@example.test"],
         message("sales@broken.test", ["alice@example.test"], "Re: Order 1183", body + "corr-7"))
    for needle in (b"corr-4", b"corr-5", b"corr-6", b"corr-7"):
        _, stored = only_in((USER, PASSWORD), "Junk", needle)
        expect("KNOWN_CORRESPONDENT" not in " ".join(spam_status(stored)), f"no bonus for {needle}")


def bounce_helo_case():
    # A bounce (null reverse-path) is judged by its HELO name (RFC 7208
    # §2.3), which servers send in any case: DMARC aligns it with the
    # From: domain all the same (domain names compare case-insensitively,
    # RFC 4343), and bounce.test's p=reject does not refuse it.
    raw = message("MAILER-DAEMON@mail.bounce.test", ["alice@example.test"], "Undelivered Mail", "bounce-1")
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("Mail.Bounce.TEST")
        s.sendmail("", ["alice@example.test"], raw)
    _, stored = only_in((USER, PASSWORD), "INBOX", b"bounce-1")
    expect(b"dmarc=pass" in stored, "DMARC passes for the bounce")


def public_suffix_forgery():
    # evil.me.uk and acme.me.uk are strangers under the public suffix
    # me.uk: SPF passing for the first is not aligned with the second,
    # whose p=reject refuses the message.
    raw = message("buyer@acme.me.uk", ["alice@example.test"], "New bank account", "psl-1")
    try:
        send("x@evil.me.uk", ["alice@example.test"], raw)
        expect(False, "a forgery under a public suffix was accepted")
    except smtplib.SMTPDataError as e:
        text = e.smtp_error.decode()
        expect(e.smtp_code == 550 and "DMARC policy of acme.me.uk" in text, f"refusal: {e.smtp_code} {text}")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
