"""Webmail reading over its JSON API, run by tests/webmail.rs: a message
in GBK with an RFC 2231-named attachment and hostile HTML arrives over
SMTP; the folder list, a page of the folder, the message decoded and made
safe, the attachment downloaded byte for byte, the message then seen over
IMAP, and paging through a larger folder. Ports from HTTP_PORT, SMTP_PORT,
IMAPS_PORT."""

import imaplib
import smtplib
import sys
import time
from email.header import Header
from email.message import EmailMessage

from api_scenarios import BOB, BOB_PASSWORD, Session
from common import HOST, PASSWORD, USER, ctx, expect, port

SMTP, IMAPS = port("SMTP_PORT"), port("IMAPS_PORT")
HOSTILE = ('<p>Dear buyer,</p><script>alert(1)</script><img src=x onerror="alert(2)">'
           '<a href="javascript:alert(3)">price</a><img src="https://tracker.partner.test/open.gif">'
           '<img src="cid:logo@partner.test"><a href="https://partner.test/order">order</a>')
LOGO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SHEET = bytes(range(256)) * 40


def send(msg, to=USER):
    with smtplib.SMTP(HOST, SMTP) as s:
        s.send_message(msg, from_addr="sales@partner.test", to_addrs=[to])


def gbk_message():
    m = EmailMessage()
    m["From"] = Header("王经理", "gbk").encode() + " <sales@partner.test>"
    m["To"] = USER
    m["Subject"] = Header("报价单：促销价格", "gbk").encode()
    m["Message-ID"] = "<quote-gbk@partner.test>"
    m.set_content("您好，附件是最新报价。".encode("gbk"), maintype="text", subtype="plain",
                  cte="base64", params={"charset": "gbk"})
    m.add_alternative(HOSTILE, subtype="html")
    m.get_payload()[1].add_related(LOGO, maintype="image", subtype="png", cid="<logo@partner.test>")
    m.add_attachment(SHEET, maintype="application", subtype="vnd.ms-excel", filename=("utf-8", "", "价格表.xls"))
    return m


def reading():
    send(gbk_message())
    time.sleep(0.3)
    a = Session(USER, PASSWORD)
    status, folders = a.call("GET", "/api/v1/mail/folders")
    expect(status == 200 and folders[0]["name"] == "INBOX" and folders[0]["unseen"] == 1, folders)
    status, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    expect(status == 200 and page["total"] == 1, page)
    item = page["messages"][0]
    expect(item["subject"] == "报价单：促销价格" and item["from"]["name"] == "王经理" and not item["seen"], item)
    status, m = a.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={item['uid']}")
    expect(status == 200 and "最新报价" in m["text"], m)
    html = m["html"].lower()
    for bad in ["<script", "onerror", "javascript:", "tracker.partner.test"]:
        expect(bad not in html, f"{bad} left in {html}")
    expect(m["remote_images_blocked"] and "/api/v1/mail/inline?" in html and 'rel="noopener noreferrer"' in html, html)
    expect([x["name"] for x in m["attachments"]] == ["价格表.xls"], m["attachments"])
    status, shown = a.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={item['uid']}&remote=true")
    expect("tracker.partner.test" in shown["html"] and not shown["remote_images_blocked"], "remote images on consent")
    # The attachment, byte for byte, as a download the browser never renders.
    c = __import__("http.client").client.HTTPConnection(HOST, port("HTTP_PORT"))
    c.request("GET", f"/api/v1/mail/attachment?folder=INBOX&uid={item['uid']}&index=0", headers={"Cookie": a.cookie})
    r = c.getresponse()
    body = r.read()
    expect(r.status == 200 and body == SHEET, f"{r.status} {len(body)}")
    expect(r.getheader("Content-Disposition").startswith("attachment;") and "%E4%BB%B7" in r.getheader("Content-Disposition")
           and r.getheader("X-Content-Type-Options") == "nosniff", dict(r.getheaders()))
    inline = m["html"].split('src="')[1].split('"')[0].replace("&amp;", "&")
    c.request("GET", inline, headers={"Cookie": a.cookie})
    r = c.getresponse()
    expect(r.status == 200 and r.read() == LOGO, f"the cid image: {r.status}")
    # Read in the browser: seen in IMAP too.
    i = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    i.login(USER, PASSWORD)
    i.select("INBOX", readonly=True)
    _, data = i.uid("FETCH", str(item["uid"]), "(FLAGS)")
    i.logout()
    expect(b"\\Seen" in data[0], data)
    # Another account reads only its own folders.
    b = Session(BOB, BOB_PASSWORD)
    status, theirs = b.call("GET", "/api/v1/mail/messages?folder=INBOX")
    expect(status == 200 and theirs["total"] == 0, theirs)
    status, _ = b.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={item['uid']}")
    expect(status == 404, "bob cannot open alice's message")
    status, _ = a.call("GET", "/api/v1/mail/messages?folder=Nowhere")
    expect(status == 404, "no such folder")


def paging():
    for n in range(120):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "sales@partner.test", USER, f"Order {n:03}"
        m["Date"] = f"Mon, 1 Jun 2026 {n // 60:02}:{n % 60:02}:00 +0000"
        m.set_content(f"order {n}")
        send(m)
    a = Session(USER, PASSWORD)
    status, first = a.call("GET", "/api/v1/mail/messages?folder=INBOX&limit=50")
    expect(status == 200 and first["total"] == 120 and len(first["messages"]) == 50, first)
    expect(first["messages"][0]["subject"] == "Order 119" and first["messages"][49]["subject"] == "Order 070",
           "newest first")
    status, last = a.call("GET", "/api/v1/mail/messages?folder=INBOX&offset=100&limit=50")
    expect(len(last["messages"]) == 20 and last["messages"][-1]["subject"] == "Order 000", "the last page")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
