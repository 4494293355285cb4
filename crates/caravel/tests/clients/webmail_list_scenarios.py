"""The webmail's message list sorted and threaded, and messages forwarded
whole shown nested, over the JSON API; run by tests/webmail.rs. The
threads are IMAP THREAD=REFERENCES' (the same code): checked against the
server's own IMAP answer. Ports from HTTP_PORT, SMTP_PORT, IMAPS_PORT."""

import smtplib
import sys
import time
from email.message import EmailMessage

from api_scenarios import BOB, BOB_PASSWORD, Session
from common import HOST, PASSWORD, USER, expect, imap_session, port

SMTP = port("SMTP_PORT")


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
    i = imap_session(USER, PASSWORD)
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
    the reader trusts, when this server proved the From address (DMARC
    passed here: tests/webmail.rs publishes SPF and DMARC for
    partner.test); never for an unproved one, nor for a sender whose
    envelope tries to write "dmarc=pass" into our results, nor for a
    message forwarded inside a trusted sender's mail."""
    tracker = '<p>catalogue</p><img src="https://tracker.partner.test/open.gif">'

    def arrive(subject, header_from, mail_from, inner=None):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = header_from, USER, subject
        m.set_content("catalogue")
        m.add_alternative(tracker, subtype="html")
        if inner is not None:
            m.add_attachment(inner)
        with smtplib.SMTP(HOST, SMTP) as s:
            s.send_message(m, from_addr=mail_from, to_addrs=[USER])

    newsletter = EmailMessage()
    newsletter["From"], newsletter["Subject"] = "news@unknown.test", "inner"
    newsletter.set_content("inner")
    newsletter.add_alternative(tracker, subtype="html")
    arrive("proved", "buyer@partner.test", "buyer@partner.test")
    arrive("unproved", "news@unknown.test", "news@unknown.test")
    arrive("envelope trick", "news@unknown.test", "dmarc=pass@attacker.test")
    arrive("forwarding", "buyer@partner.test", "buyer@partner.test", inner=newsletter)
    bob = Session(BOB, BOB_PASSWORD)
    status, _ = bob.call("POST", "/api/v1/mail/send", {"to": [USER], "subject": "from bob", "text": "catalogue",
                                                       "html": tracker})
    expect(status == 200, "bob sends")
    time.sleep(0.3)
    a = Session(USER, PASSWORD)
    _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    uid = {x["subject"]: x["uid"] for x in page["messages"]}

    def shown(subject, consent=False, nested=None):
        q = f"folder=INBOX&uid={uid[subject]}" + ("&remote=true" if consent else "")
        if nested is not None:
            _, page = a.call("GET", f"/api/v1/mail/render?{q}&nested={nested}")
            return b"tracker.partner.test" in page
        _, msg = a.call("GET", f"/api/v1/mail/message?{q}")
        status, page = a.call("GET", f"/api/v1/mail/render?{q}")
        in_page = b"tracker.partner.test" in page
        expect(in_page == ("tracker.partner.test" in msg["html"]) == msg["remote_images_shown"], (msg, page))
        return msg["remote_images_shown"], msg["sender_trusted_for_images"], msg["sender_proved"]

    expect(shown("proved") == (False, False, True), "blocked by default, though proved")
    expect(shown("unproved") == (False, False, False) and shown("from bob")[2] is False, "nothing else proves")
    expect(shown("unproved", consent=True)[0], "shown once on consent")
    for sender in ["buyer@partner.test", "news@unknown.test", BOB]:
        status, _ = a.call("POST", "/api/v1/mail/images/trust", {"address": sender, "trust": True})
        expect(status == 200, f"trust {sender}")
    expect(shown("proved") == (True, True, True), "a trusted, proved sender: always")
    for subject in ["unproved", "envelope trick", "from bob"]:
        expect(shown(subject)[:2] == (False, True), f"{subject}: trusted, but not proved: still blocked")
    expect(shown("forwarding")[0] and not shown("forwarding", nested=0), "a forwarded message needs its own consent")
    expect(shown("forwarding", consent=True, nested=0), "... which it gets")
    a.call("POST", "/api/v1/mail/images/trust", {"address": "buyer@partner.test", "trust": False})
    expect(shown("proved") == (False, False, True), "trust taken back")
    status, no = a.call("POST", "/api/v1/mail/images/trust", {"address": "not an address", "trust": True})
    expect(status == 400, no)


if __name__ == "__main__":
    globals()[sys.argv[1]]()
