"""The webmail's message list sorted and threaded, and messages forwarded
whole shown nested, over the JSON API; run by tests/webmail.rs. The
threads are IMAP THREAD=REFERENCES' (the same code): checked against the
server's own IMAP answer. Ports from HTTP_PORT, SMTP_PORT, IMAPS_PORT."""

import imaplib
import smtplib
import sys
import time
from email.message import EmailMessage

from api_scenarios import BOB, BOB_PASSWORD, Session
from common import HOST, PASSWORD, USER, ctx, expect, port

SMTP, IMAPS = port("SMTP_PORT"), port("IMAPS_PORT")


def deliver(subject, date, body, msgid, refs=None, sender="buyer@partner.test"):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Date"], m["Message-ID"] = sender, USER, subject, date, msgid
    if refs:
        m["In-Reply-To"], m["References"] = refs.split()[-1], refs
    m.set_content(body)
    with smtplib.SMTP(HOST, SMTP) as s:
        s.send_message(m, from_addr=sender, to_addrs=[USER])


def subjects(a, query):
    status, page = a.call("GET", f"/api/v1/mail/messages?folder=INBOX&{query}")
    expect(status == 200, f"{query}: {status} {page}")
    return page, [m["subject"] for m in page["messages"]]


def listing():
    deliver("Bravo order", "Mon, 1 Jun 2026 10:00:00 +0000", "b" * 10, "<t1@partner.test>")
    deliver("Alpha note", "Mon, 1 Jun 2026 11:00:00 +0000", "a" * 3000, "<n1@partner.test>")
    deliver("Re: Bravo order", "Mon, 1 Jun 2026 12:00:00 +0000", "r1", "<t2@partner.test>", "<t1@partner.test>")
    deliver("Charlie", "Mon, 1 Jun 2026 09:00:00 +0000", "c" * 500, "<c1@partner.test>")
    deliver("Re: Re: Bravo order", "Mon, 1 Jun 2026 13:00:00 +0000", "r2", "<t3@partner.test>",
            "<t1@partner.test> <t2@partner.test>")
    time.sleep(0.3)
    a = Session(USER, PASSWORD)
    _, by_date = subjects(a, "")
    expect(by_date == ["Re: Re: Bravo order", "Re: Bravo order", "Alpha note", "Bravo order", "Charlie"], by_date)
    _, by_subject = subjects(a, "sort=subject")
    # RFC 5256 base subjects: "Re:" set aside, then arrival breaks ties.
    expect(by_subject == ["Alpha note", "Bravo order", "Re: Bravo order", "Re: Re: Bravo order", "Charlie"], by_subject)
    _, back = subjects(a, "sort=subject&reverse=true")
    expect(back[0] == "Charlie", back)
    _, by_size = subjects(a, "sort=size")
    expect(by_size[0] == "Alpha note", by_size)
    _, by_arrival = subjects(a, "sort=arrival&reverse=false")
    expect(by_arrival[0] == "Bravo order" and by_arrival[-1] == "Re: Re: Bravo order", by_arrival)
    status, bad = a.call("GET", "/api/v1/mail/messages?folder=INBOX&sort=colour")
    expect(status == 400 and "Sort by" in bad["error"], bad)

    page, threaded = subjects(a, "thread=true")
    expect(page["threaded"] and page["total"] == 3, page)
    # The conversation with the newest message first, in tree order.
    expect(threaded == ["Bravo order", "Re: Bravo order", "Re: Re: Bravo order", "Alpha note", "Charlie"], threaded)
    rows = page["messages"]
    expect([r["depth"] for r in rows] == [0, 1, 2, 0, 0] and rows[0]["thread_size"] == 3
           and [r["thread"] for r in rows] == [0, 0, 0, 1, 2], rows)
    page, second = subjects(a, "thread=true&offset=1&limit=1")
    expect(second == ["Alpha note"] and page["total"] == 3, second)
    # The same threads as IMAP THREAD=REFERENCES answers.
    i = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    i.login(USER, PASSWORD)
    i.select("INBOX", readonly=True)
    _, data = i.uid("THREAD", "REFERENCES", "UTF-8", "ALL")
    i.logout()
    uid_of = {m["subject"]: m["uid"] for m in rows}
    chain = f"({uid_of['Bravo order']} {uid_of['Re: Bravo order']} {uid_of['Re: Re: Bravo order']})"
    expect(chain.encode() in data[0], f"{chain} in {data}")


def nested():
    inner = EmailMessage()
    inner["From"], inner["To"], inner["Subject"] = "陈静 <chen@partner.test>", USER, "Inner 报价 subject"
    inner.set_content("inner text 内文")
    inner.add_alternative("<p>inner <b>html</b><script>alert(1)</script></p>", subtype="html")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "boss@partner.test", USER, "Fwd: quote"
    outer.set_content("see below")
    outer.add_attachment(inner)
    with smtplib.SMTP(HOST, SMTP) as s:
        s.send_message(outer, from_addr="boss@partner.test", to_addrs=[USER])
    time.sleep(0.3)
    a = Session(USER, PASSWORD)
    _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    uid = page["messages"][0]["uid"]
    _, m = a.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={uid}")
    n = m["nested"]
    expect(len(n) == 1 and n[0]["subject"] == "Inner 报价 subject" and "inner text 内文" in n[0]["text"]
           and n[0]["from"][0]["name"] == "陈静" and n[0]["has_html"], n)
    status, html = a.call("GET", f"/api/v1/mail/render?folder=INBOX&uid={uid}&nested=0")
    html = html.decode()
    expect(status == 200 and "<b>html</b>" in html and "<script" not in html, html)


def pictures():
    """Remote pictures: blocked; shown once on consent; always for a sender
    the reader trusts, when the From address is proved (mail from a hosted
    user, or DMARC passed here), never for a sender whose From nobody
    proved."""
    tracker = '<p>catalogue</p><img src="https://tracker.partner.test/open.gif">'
    bob = Session(BOB, BOB_PASSWORD)
    status, _ = bob.call("POST", "/api/v1/mail/send", {"to": [USER], "subject": "from bob", "text": "catalogue",
                                                       "html": tracker})
    expect(status == 200, "bob sends")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "buyer@partner.test", USER, "from outside"
    m.set_content("catalogue")
    m.add_alternative(tracker, subtype="html")
    with smtplib.SMTP(HOST, SMTP) as s:
        s.send_message(m, from_addr="buyer@partner.test", to_addrs=[USER])
    time.sleep(0.3)
    a = Session(USER, PASSWORD)
    _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    uid = {x["subject"]: x["uid"] for x in page["messages"]}

    def shown(subject, consent=False):
        q = f"folder=INBOX&uid={uid[subject]}" + ("&remote=true" if consent else "")
        _, msg = a.call("GET", f"/api/v1/mail/message?{q}")
        _, page = a.call("GET", f"/api/v1/mail/render?{q}")
        in_page = b"tracker.partner.test" in page
        expect(in_page == ("tracker.partner.test" in msg["html"]) == msg["remote_images_shown"], (msg, page))
        return msg["remote_images_shown"], msg["sender_trusted_for_images"]

    expect(shown("from bob") == (False, False) and shown("from outside") == (False, False), "blocked by default")
    expect(shown("from bob", consent=True)[0], "shown once on consent")
    for sender in [BOB, "buyer@partner.test"]:
        status, _ = a.call("POST", "/api/v1/mail/images/trust", {"address": sender, "trust": True})
        expect(status == 200, f"trust {sender}")
    expect(shown("from bob") == (True, True), "a trusted, proved sender: always")
    expect(shown("from outside") == (False, True), "trusted, but nobody proved that From: still blocked")
    a.call("POST", "/api/v1/mail/images/trust", {"address": BOB, "trust": False})
    expect(shown("from bob") == (False, False), "trust taken back")
    status, no = a.call("POST", "/api/v1/mail/images/trust", {"address": "not an address", "trust": True})
    expect(status == 400, no)


if __name__ == "__main__":
    globals()[sys.argv[1]]()
