"""Webmail reading over its JSON API, run by tests/webmail.rs: a message
in GBK with an RFC 2231-named attachment and hostile HTML arrives over
SMTP; the folder list, a page of the folder, the message decoded and made
safe, the attachment downloaded byte for byte, the message then seen over
IMAP, and paging through a larger folder. Ports from HTTP_PORT, SMTP_PORT,
IMAPS_PORT."""

import smtplib
import sys
import time
from email.header import Header
from email.message import EmailMessage

from api_scenarios import BOB, BOB_PASSWORD, Session
from common import HOST, PASSWORD, USER, expect, imap_messages, imap_session, imap_subjects, port

SMTP = port("SMTP_PORT")
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
    i = imap_session(USER, PASSWORD)
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


def actions_and_search():
    """Flags, moves, spam and not spam, deletes, folders and search, each
    seen over IMAP or in the classifier's queue as it happened."""
    send(gbk_message())
    for n, (subject, body) in enumerate([("Order 7", "please confirm 促销 terms"), ("Invoice", "net 30"),
                                         ("Weekly news", "nothing")]):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "sales@partner.test", USER, subject
        m.set_content(body)
        send(m)
    a = Session(USER, PASSWORD)
    _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    uid = {m["subject"]: m["uid"] for m in page["messages"]}
    # Search: a Chinese word in the text, in the subject, filters.
    _, found = a.call("GET", "/api/v1/mail/search?folder=INBOX&q=%E4%BF%83%E9%94%80")
    expect(sorted(m["subject"] for m in found["messages"]) == ["Order 7", "报价单：促销价格"], found)
    _, found = a.call("GET", "/api/v1/mail/search?folder=INBOX&subject=%E6%8A%A5%E4%BB%B7")
    expect([m["subject"] for m in found["messages"]] == ["报价单：促销价格"], found)
    _, found = a.call("GET", "/api/v1/mail/search?folder=INBOX&attachment=true")
    expect([m["subject"] for m in found["messages"]] == ["报价单：促销价格"], found)
    _, found = a.call("GET", "/api/v1/mail/search?folder=INBOX&q=invoice%20net")
    expect([m["subject"] for m in found["messages"]] == ["Invoice"], found)
    # Flags, seen over IMAP.
    status, _ = a.call("POST", "/api/v1/mail/flags", {"folder": "INBOX", "uids": [uid["Invoice"]], "seen": True, "flagged": True})
    expect(status == 200, "flags")
    i = imap_session(USER, PASSWORD)
    i.select("INBOX", readonly=True)
    _, data = i.uid("FETCH", str(uid["Invoice"]), "(FLAGS)")
    i.logout()
    expect(b"\\Seen" in data[0] and b"\\Flagged" in data[0], data)
    # Folders: create (nested, Chinese), move into it, rename, refuse the standard ones.
    status, body = a.call("POST", "/api/v1/mail/folders/create", {"name": "客户/报价"})
    expect(status == 200 and body["created"] == "客户/报价", body)
    status, _ = a.call("POST", "/api/v1/mail/move", {"folder": "INBOX", "uids": [uid["Order 7"]], "to": "客户/报价"})
    expect(status == 200 and "Order 7" in " ".join(imap_subjects(USER, PASSWORD, "&W6JiNw-/&YqVO9w-")), "moved, seen over IMAP")
    status, body = a.call("POST", "/api/v1/mail/folders/rename", {"from": "客户/报价", "to": "客户/询价"})
    expect(status == 200, body)
    status, body = a.call("POST", "/api/v1/mail/folders/rename", {"from": "INBOX", "to": "x"})
    expect(status == 400 and "standard" in body["error"], body)
    status, body = a.call("POST", "/api/v1/mail/folders/create", {"name": "a//b"})
    expect(status == 400, body)
    # Spam and not spam: into Junk and back, each queued for learning.
    status, _ = a.call("POST", "/api/v1/mail/move", {"folder": "INBOX", "uids": [uid["Weekly news"]], "to": "Junk"})
    expect(status == 200 and any("Weekly news" in x for x in imap_subjects(USER, PASSWORD, "Junk")), "in Junk")
    # Delete to Trash, then for good, then empty.
    status, body = a.call("POST", "/api/v1/mail/delete", {"folder": "INBOX", "uids": [uid["Invoice"]]})
    expect(status == 200 and body["to"] == "Trash" and any("Invoice" in x for x in imap_subjects(USER, PASSWORD, "Trash")), body)
    _, trash = a.call("GET", "/api/v1/mail/messages?folder=Trash")
    status, body = a.call("POST", "/api/v1/mail/delete", {"folder": "Trash", "uids": [trash["messages"][0]["uid"]]})
    expect(status == 200 and body["deleted"] == 1 and imap_subjects(USER, PASSWORD, "Trash") == [], body)
    status, body = a.call("POST", "/api/v1/mail/empty", {"name": "Junk"})
    expect(status == 200 and body["deleted"] == 1, body)
    status, body = a.call("POST", "/api/v1/mail/empty", {"name": "INBOX"})
    expect(status == 400, body)
    status, body = a.call("POST", "/api/v1/mail/folders/delete", {"name": "客户/询价"})
    expect(status == 200, body)
    # Changes need the page's token.
    status, body = a.call("POST", "/api/v1/mail/flags", {"folder": "INBOX", "uids": [1], "seen": False}, csrf=False)
    expect(status == 403, body)


EVIL_HITS = []


def evil_server():
    """A web server on loopback standing in for the attacker's: every
    request a payload manages to make lands here."""
    import http.server
    import threading

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            EVIL_HITS.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer((HOST, 0), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def xss_payloads(evil):
    """Markup that runs script or reaches the network if anything lets it
    through: each would set top.__xss, open an alert, or call EVIL."""
    e = f"http://{HOST}:{evil}"
    return [
        "<script>top.__xss=1</script>",
        "<img src=x onerror=\"top.__xss=2\">",
        f"<img src=\"{e}/img-remote\">",
        "<svg onload=\"top.__xss=3\"></svg>",
        "<svg><script>top.__xss=4</script></svg>",
        "<a href=\"javascript:top.__xss=5\" id=js>js link</a>",
        "<iframe src=\"javascript:top.__xss=6\"></iframe>",
        f"<iframe src=\"{e}/iframe\"></iframe>",
        "<body onload=\"top.__xss=7\">",
        "<details open ontoggle=\"top.__xss=8\"><summary>x</summary></details>",
        "<video><source onerror=\"top.__xss=9\"></video>",
        f"<object data=\"{e}/object\"></object>",
        f"<embed src=\"{e}/embed\">",
        f"<base href=\"{e}/base/\"><img src=\"relative.gif\">",
        f"<meta http-equiv=\"refresh\" content=\"0;url={e}/refresh\">",
        f"<link rel=stylesheet href=\"{e}/css\">",
        f"<style>@import '{e}/import.css'; body{{background:url({e}/bg)}}</style>",
        f"<div style=\"background:url({e}/style-bg)\">styled</div>",
        "<div style=\"width:expression(top.__xss=10)\">ie</div>",
        f"<form action=\"{e}/form\"><button id=submit>send</button></form>",
        "<math><mtext><table><mglyph><style><img src=x onerror=\"top.__xss=11\">",
        "<noscript><p title=\"</noscript><img src=x onerror=top.__xss=12>\">",
        "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIj48L3N2Zz4=\">",
        "<a href=\"data:text/html,<script>top.__xss=13</script>\">data link</a>",
        f"<img srcset=\"{e}/srcset 1x\">",
        f"<picture><source srcset=\"{e}/picture\"><img src=x></picture>",
        f"<audio src=\"{e}/audio\" autoplay></audio>",
        f"<input type=image src=\"{e}/input\">",
        f"<table background=\"{e}/table-bg\"><tr><td>t</td></tr></table>",
        "<isindex type=image src=1 onerror=\"top.__xss=14\">",
        "<xss onafterscriptexecute=\"top.__xss=15\"><script>1</script>",
        "<a href=\"vbscript:msgbox(1)\">vb</a>",
        "<img src=x oNeRrOr=\"top.__xss=16\">",
        "<img src=`x` onerror=top.__xss=17>",
        "<svg><a xlink:href=\"javascript:top.__xss=18\"><text y=20>svg link</text></a></svg>",
    ]


def read_in_the_browser():
    """Signed in with two-factor, alice opens the GBK message from the
    mail page, downloads its attachment, and a message full of XSS payloads
    shows without running anything or reaching the network; its pictures
    load only when she allows them."""
    import os
    import tempfile
    from browser_scenarios import BASE, browser, enroll_by_cli, shot, sign_in
    from common import totp
    evil = evil_server()
    send(gbk_message())
    hostile = EmailMessage()
    # Payloads in the subject, the sender's name and an attachment's name
    # and content too (an SVG with script: a download, never a page).
    hostile["From"] = '"<img src=x onerror=top.__xss=21>" <sales@partner.test>'
    hostile["To"] = USER
    hostile["Subject"] = "Hostile HTML <img src=x onerror=top.__xss=20><script>top.__xss=22</script>"
    hostile.set_content("text version <script>top.__xss=23</script>")
    hostile.add_alternative("<p>Dear buyer</p>" + "\n".join(xss_payloads(evil)), subtype="html")
    hostile.add_attachment(b'<svg xmlns="http://www.w3.org/2000/svg" onload="top.__xss=24"><script>top.__xss=25</script></svg>',
                           maintype="image", subtype="svg+xml", filename="<img src=x onerror=top.__xss=26>.svg")
    send(hostile)
    uri = enroll_by_cli(USER)
    downloads = tempfile.mkdtemp(prefix="caravel-downloads-")
    with browser(downloads=downloads) as b:
        sign_in(b, USER, PASSWORD)
        b.find('input[name="code"]').type(totp(uri, time.time() + 30))
        b.find('[data-test="verify"]').click()
        b.page("home")
        # The webmail's own address (INTERFACE.md: /mail) opens on it.
        b.get(BASE + "mail")
        b.page("mail")
        rows = b.find('[data-test="messages"]')
        expect("报价单：促销价格" in rows.text and "王经理" in rows.text, f"the list decodes GBK: {rows.text}")
        shot(b, "mail-list")
        b.again("open 报价单", lambda: [a for a in b.find_all('[data-test="open"]') if "报价单" in a.text][0].click())
        b.page("mail")
        expect(b.find('[data-test="message-subject"]').text == "报价单：促销价格", "the subject")
        link = b.find('[data-test="attachment"]')
        expect(link.text == "价格表.xls", link.text)
        shot(b, "mail-message")
        # Opening it marked it read; that change comes back and may redraw.
        b.again("download the attachment", lambda: b.find('[data-test="attachment"]').click())
        path = os.path.join(downloads, "价格表.xls")
        b.wait("the download", lambda: os.path.exists(path) and os.path.getsize(path) == len(SHEET))
        expect(open(path, "rb").read() == SHEET, "downloaded byte for byte")
        # The hostile one.
        b.get(BASE + "#/mail?folder=INBOX")
        b.page("mail")
        b.again("open Hostile", lambda: [a for a in b.find_all('[data-test="open"]') if "Hostile" in a.text][0].click())
        b.page("mail")
        frame = b.find('[data-test="message-html"]')
        b.wait("the frame", lambda: b.run("const f=document.querySelector('[data-test=message-html]');"
                                          "return !!(f && f.contentWindow && f.contentWindow.length >= 0)"))
        time.sleep(1.5)
        expect(b.alert_text() is None, "no dialog opened")
        expect(b.run("return window.__xss === undefined"), "no payload ran in the page")
        b.find('[data-test="images-blocked"]')
        shot(b, "mail-hostile")
        expect(EVIL_HITS == [], f"nothing reached the network: {EVIL_HITS}")
        # Pictures on request: the remote image loads, scripts still do not.
        b.find('[data-test="show-images"]').click()
        b.page("mail")
        b.wait("the remote picture", lambda: "/img-remote" in EVIL_HITS, timeout=10)
        time.sleep(1)
        expect(b.run("return window.__xss === undefined") and b.alert_text() is None, "still nothing ran")
        others = [h for h in EVIL_HITS if h != "/img-remote"]
        expect(others == [], f"only the picture was fetched: {EVIL_HITS}")
        expect(frame is not None, "the frame")
        # Answering and forwarding it puts its subject, names and text in
        # the composer: as text, still nothing runs.
        b.get(BASE + "#/mail?folder=INBOX")
        b.page("mail")
        b.again("open Hostile", lambda: [a for a in b.find_all('[data-test="open"]') if "Hostile" in a.text][0].click())
        b.page("mail")
        for action in ["reply-all", "forward"]:
            b.again(action, lambda: b.find(f'#{action}').click())
            b.find('.composer')
            time.sleep(0.5)
            expect(b.run("return window.__xss === undefined") and b.alert_text() is None, f"{action}: nothing ran")
            b.again("close", lambda: b.find('[data-test="compose-close"]').click())
            b.page("mail")
            b.again("open Hostile", lambda: [a for a in b.find_all('[data-test="open"]') if "Hostile" in a.text][0].click())
            b.page("mail")
        shot(b, "mail-hostile-names")
        expect(EVIL_HITS.count("/img-remote") == 1 and len(EVIL_HITS) == 1, EVIL_HITS)
        # "Always from this sender" is not offered: nobody proved this From
        # address (it came from outside without DMARC).
        expect(b.find_all('[data-test="images-blocked"]') and not b.find_all('[data-test="trust-images"]'),
               "no trust for an unproved sender")


def act_in_the_browser():
    """From the mail page: search for a Chinese word, move a message into
    a new folder (seen there over IMAP), mark one as spam (in Junk over
    IMAP), in Chinese."""
    from browser_scenarios import browser, shot, sign_in
    send(gbk_message())
    for subject in ["Order 7", "Weekly news"]:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "sales@partner.test", USER, subject
        m.set_content("please confirm 促销 terms" if subject == "Order 7" else "nothing")
        send(m)
    Session(USER, PASSWORD).call("POST", "/api/v1/mail/folders/create", {"name": "客户"})
    with browser() as b:
        sign_in(b, USER, PASSWORD)
        b.page("home")
        b.find('[data-test="lang"]').click()
        b.find('[data-test="nav-mail"]').click()
        b.page("mail")
        b.find('[data-test="search-form"] input[name="q"]').type("促销")
        b.find('[data-test="search"]').click()
        b.page("mail")
        found = b.find('[data-test="messages"]').text
        expect("Order 7" in found and "报价单" in found and "Weekly" not in found, f"found: {found}")
        expect("找到 2 封" in b.find('[data-test="found"]').text, "counted, in Chinese")
        shot(b, "mail-search-zh")
        b.find('[data-test="clear-search"]').click()
        b.page("mail")
        def tick(subject):
            # The list may be redrawn by a live update at any moment: tick
            # until the box in the list on screen is ticked.
            def ticked():
                time.sleep(0.4)
                rows = [r for r in b.find_all('[data-test="messages"] tr[data-uid]') if subject in r.text]
                if not rows:
                    return False
                box = rows[0].find('[data-test="select"]')
                if not box.prop("checked"):
                    box.click()
                return b.run("return [...document.querySelectorAll('[data-test=messages] tr[data-uid]')]"
                             ".some(r => r.textContent.includes(arguments[0]) && r.querySelector('input').checked)",
                             subject)
            b.wait(f"{subject} ticked", ticked)
        tick("Order 7")
        b.run("const s=document.querySelector('[data-test=mail-actions] select[name=to]'); s.value='客户';")
        b.find('[data-test="move"]').click()
        b.page("mail")
        b.wait("moved over IMAP", lambda: any("Order 7" in x for x in imap_subjects(USER, PASSWORD, "&W6JiNw-")))
        tick("Weekly news")
        b.find('[data-test="spam"]').click()
        b.page("mail")
        b.wait("in Junk over IMAP", lambda: any("Weekly news" in x for x in imap_subjects(USER, PASSWORD, "Junk")))
        left = b.find('[data-test="messages"]').text
        expect("Order 7" not in left and "Weekly news" not in left and "报价单" in left, left)
        shot(b, "mail-after-actions")
        # Live: new mail and an IMAP client's \Seen show without a reload.
        marker = b.run("window.__same_page = 1; return 1")
        late = EmailMessage()
        late["From"], late["To"], late["Subject"] = "sales@partner.test", USER, "Arrived while open"
        late.set_content("hello")
        send(late)
        b.wait("the new message listed", lambda: "Arrived while open" in b.find('[data-test="messages"]').text)
        i = imap_session(USER, PASSWORD)
        i.select("INBOX")
        i.search(None, "ALL")
        i.store("1:*", "+FLAGS", "(\\Seen)")
        i.logout()
        b.wait("seen everywhere", lambda: not b.find_all('[data-test="messages"] tr.unseen'))
        expect(b.run("return window.__same_page") == marker, "no reload of the page: the same document")


RFQ_SUBJECT, RFQ_ID = "询价 RFQ 42", "<rfq-1@partner.test>"
SIGNATURE = "Li Wei\nCaravel Trading"
CHEN, CHEN_PASSWORD = "chen@example.test", "Jasmine-Quay-2026"
REPLY_TEXT = "您好，报价单见附件，请查收。"
QUOTE_NAME, QUOTE_PDF = "报价单-RFQ42.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8
DRAFT_SUBJECT = "样品 Samples 7"


def imap_find(user, password, folder, subject, timeout=30):
    """The first message in FOLDER whose subject SUBJECT (a string, or a
    test of one) takes, waiting for it: (flags, message)."""
    matches = subject if callable(subject) else (lambda s: s == subject)
    deadline = time.time() + timeout
    while True:
        found = [(f, m) for f, m in imap_messages(user, password, folder) if matches(str(m["subject"] or ""))]
        if found:
            return found[0]
        if time.time() > deadline:
            expect(False, f"{subject!r} in {user}'s {folder}")
        time.sleep(0.3)


def texts(m):
    """Every text part of M (not attachments), decoded, one after another."""
    return "\n".join(p.get_content() for p in m.walk()
                     if p.get_content_maintype() == "text" and not p.is_attachment())


def queued_for(admin, address):
    """The outbound queue holds a copy for ADDRESS, or held one: a message
    for a domain that does not resolve bounces as soon as it is tried, so
    the mail log's "queued" event counts too."""
    import urllib.parse
    status, queue = admin.call("GET", "/api/v1/queue")
    expect(status == 200, queue)
    if any(r["address"] == address for m in queue for r in m["recipients"]):
        return True
    status, events = admin.call("GET", f"/api/v1/log?kind=queued&q={urllib.parse.quote(address)}")
    return status == 200 and any(e.get("recipient") == address for e in events)


def write_in_the_browser():
    """Li Wei (alice) answers a request for quotation from the mail page:
    Reply all first fills in the others (without her own address), then
    Reply, a Chinese sentence, a colleague added in Cc from the address
    suggestions, a PDF attached; sent with her signature. Her colleague's
    IMAP inbox gets it with In-Reply-To, References, the signature and the
    PDF; her Sent folder keeps it; the request is \\Answered; the copy for
    the buyer goes to the outbound queue, and its failure report shows as
    one in the reader. Then a message to an address that does not exist:
    saved as a draft (seen in Drafts over IMAP), opened again from Drafts,
    refused with the server's words in the composer, discarded."""
    import os
    import tempfile
    import urllib.parse
    from api_scenarios import q
    from browser_scenarios import BASE, browser, error_text, shot, sign_in
    from common import caravel
    # Set-up through the console's API: her signature, her colleague.
    caravel("user", "set", USER, "--role", "admin")
    a = Session(USER, PASSWORD)
    status, body = a.call("PUT", f"/api/v1/users/{q(USER)}/signatures/default", {"when": "always", "text": SIGNATURE})
    expect(status == 200, f"the signature: {status} {body}")
    status, body = a.call("POST", "/api/v1/users", {"address": CHEN, "name": "Chen Jing", "password": CHEN_PASSWORD})
    expect(status == 200, f"the colleague: {status} {body}")
    status, folders = a.call("GET", "/api/v1/mail/compose")
    expect(status == 200 and folders["drafts"] and folders["sent"], folders)
    drafts, sent = folders["drafts"], folders["sent"]
    # The request, from outside, over port 25.
    rfq = EmailMessage()
    rfq["From"] = "Zhang Wei <buyer@partner.test>"
    rfq["To"] = "Li Wei <Alice@Example.test>"
    rfq["Cc"] = f"Chen Jing <{CHEN}>"
    rfq["Subject"] = RFQ_SUBJECT
    rfq["Message-ID"] = RFQ_ID
    rfq.set_content("请报 500 件的价格。\nPlease quote 500 units, delivery to Hamburg.\n")
    send(rfq)
    imap_find(USER, PASSWORD, "INBOX", RFQ_SUBJECT)
    pdf = os.path.join(tempfile.mkdtemp(prefix="caravel-attach-"), QUOTE_NAME)
    with open(pdf, "wb") as f:
        f.write(QUOTE_PDF)

    with browser() as b:
        def value(name):
            return b.find(f'.composer [name="{name}"]').prop("value")

        def open_message(matches, shows='[data-test="message-subject"]'):
            # The list may be redrawn by a live update: click until it takes.
            def click():
                links = [x for x in b.find_all('[data-test="open"]') if matches(x.text.strip())]
                return bool(links) and links[0].click()
            b.wait("the message in the list", click)
            b.find(shows)
            b.page("mail")

        def discard():
            b.press("#discard")
            if b.alert_text() is not None:
                b.cmd("POST", "/alert/accept", {})
            b.wait("the composer closed", lambda: not b.find_all(".composer"))
            b.page("mail")

        sign_in(b, USER, PASSWORD)
        b.page("home")
        b.get(BASE + "#/mail?folder=INBOX")
        b.page("mail")
        open_message(lambda s: s == RFQ_SUBJECT)
        # Reply all: the buyer in To, the colleague in Cc, her own address
        # (in another case) in neither.
        b.press("#reply-all")
        b.find(".composer")
        b.page("mail")
        to, cc = value("to"), value("cc")
        expect("buyer@partner.test" in to and CHEN in cc and "alice@" not in (to + cc).lower(), f"reply all: {to} / {cc}")
        expect(value("subject") == "Re: " + RFQ_SUBJECT, value("subject"))
        discard()
        # Reply: only the buyer; the quote below; the signature shown.
        open_message(lambda s: s == RFQ_SUBJECT)
        b.press("#reply")
        b.find(".composer")
        b.page("mail")
        expect(value("to") == "Zhang Wei <buyer@partner.test>" and not value("cc"), f"reply: {value('to')} / {value('cc')}")
        expect("Please quote 500 units" in b.find(".composer .editor blockquote").text, "the quote")
        b.wait("the signature preview", lambda: "Caravel Trading" in b.find(".composer .signature-preview").text)
        b.find(".composer .editor").type(REPLY_TEXT, clear=False)
        # The colleague in Cc, from the suggestions.
        b.press('.composer [data-test="show-cc"]')
        b.fill('.composer input[name="cc"]', "Chen")
        def suggested():
            found = [li for li in b.find_all(".composer .suggestions li") if CHEN in li.text]
            return bool(found) and found[0].click()
        b.wait("the suggestion", suggested)
        expect(f"<{CHEN}>, " in value("cc"), f"completed as Name <address>: {value('cc')!r}")
        b.find("#attach-input").type(pdf, clear=False)
        chip = b.find('.composer .chip[data-state="ready"]')
        expect(QUOTE_NAME in chip.text and "KB" in chip.text, f"the attachment: {chip.text}")
        expect(REPLY_TEXT in b.find(".composer .editor").text, "the reply's text")
        shot(b, "compose-reply")
        b.press("#send")
        b.wait("sent", lambda: "sent" in b.find('[data-test="notice"]').text.lower())
        b.page("mail")
        expect(not b.find_all(".composer"), "back to the folder")

        # What the mail protocols see.
        _, got = imap_find(CHEN, CHEN_PASSWORD, "INBOX", "Re: " + RFQ_SUBJECT)
        expect(str(got["In-Reply-To"]).strip() == RFQ_ID, f"In-Reply-To: {got['In-Reply-To']}")
        expect(RFQ_ID in str(got["References"] or ""), f"References: {got['References']}")
        expect("buyer@partner.test" in str(got["To"]) and CHEN in str(got["Cc"]), f"{got['To']} / {got['Cc']}")
        body = texts(got)
        expect(REPLY_TEXT in body and "Caravel Trading" in body and "Please quote 500 units" in body, body)
        files = {p.get_filename(): p.get_payload(decode=True) for p in got.walk() if p.get_filename()}
        expect(files.get(QUOTE_NAME) == QUOTE_PDF, f"the PDF byte for byte: {list(files)}")
        _, copy = imap_find(USER, PASSWORD, sent, "Re: " + RFQ_SUBJECT)
        expect(str(copy["In-Reply-To"]).strip() == RFQ_ID, "the copy in Sent")
        b.wait("the request answered", lambda: "\\Answered" in imap_find(USER, PASSWORD, "INBOX", RFQ_SUBJECT)[0])
        b.wait("the buyer's copy queued", lambda: queued_for(a, "buyer@partner.test"))
        # partner.test does not resolve here: the report comes back, and
        # the reader says what it is.
        imap_find(USER, PASSWORD, "INBOX", lambda s: s.startswith("Undelivered"), timeout=60)
        b.get(BASE + "#/mail?folder=INBOX")
        b.page("mail")
        open_message(lambda s: s.startswith("Undelivered"))
        report = b.find('[data-test="bounce"]').text
        expect("delivery failure" in report and "buyer@partner.test" in report, f"the report: {report}")
        shot(b, "mail-bounce")

        # A draft: saved a moment after typing stops.
        b.get(BASE + "#/mail?folder=INBOX")
        b.page("mail")
        b.press("#compose")
        b.find(".composer")
        b.page("mail")
        b.fill('.composer input[name="to"]', "nobody@example.test")
        b.fill('.composer input[name="subject"]', DRAFT_SUBJECT)
        b.find(".composer .editor").type("请寄三个样品。Please send three samples.", clear=False)
        b.press("#plain-toggle")
        expect("请寄三个样品" in b.find('.composer textarea[name="body"]').prop("value"), "as plain text")
        b.press("#plain-toggle")
        b.wait("the draft saved", lambda: "saved" in b.find(".composer .draft-status").text.lower(), timeout=20)
        flags, draft = imap_find(USER, PASSWORD, drafts, DRAFT_SUBJECT)
        expect("\\Draft" in flags and "nobody@example.test" in str(draft["To"]), f"in {drafts}: {flags}")
        # Opened again from Drafts, it is written on; the refusal stays in it.
        b.get(BASE + "#/mail?folder=" + urllib.parse.quote(drafts))
        b.page("mail")
        open_message(lambda s: s == DRAFT_SUBJECT, shows=".composer")
        expect(value("subject") == DRAFT_SUBJECT and "nobody@example.test" in value("to"), "the draft restored")
        expect("三个样品" in b.find(".composer .editor").text, "its text restored")
        b.press("#send")
        refusal = b.wait("the refusal", lambda: b.find(".composer .compose-error").text)
        expect("nobody@example.test" in refusal and b.find(".compose-error").attr("role") == "alert", refusal)
        expect(value("subject") == DRAFT_SUBJECT and "nobody@example.test" in value("to"), "kept as it was")
        expect(not error_text(b), f"the refusal is in the composer only: {error_text(b)}")
        shot(b, "compose-refused")
        # On a phone: no sideways scrolling.
        b.set_size(390, 844)
        wide = b.run("return document.documentElement.scrollWidth - window.innerWidth")
        expect(wide <= 1, f"the composer fits a phone's width (over by {wide}px)")
        shot(b, "compose-phone")
        b.set_size(1280, 900)
        discard()
        b.wait("the draft deleted", lambda: not [m for _, m in imap_messages(USER, PASSWORD, drafts)
                                                  if str(m["subject"]) == DRAFT_SUBJECT])
        # In Chinese.
        b.find('[data-test="lang"]').click()
        b.wait("Chinese", lambda: b.find("#compose").text == "写邮件")
        b.press("#compose")
        composer = b.find(".composer")
        b.page("mail")
        expect(all(w in composer.text for w in ["收件人", "主题", "发送", "存草稿", "放弃", "添加附件"]), composer.text)
        shot(b, "compose-zh")


def sort_thread_nested_in_the_browser():
    """The list sorted by date (the default), by subject, reversed, and as
    conversations: a three-message conversation (REFERENCES) on rows one
    after another, each reply further in, its first row counting 3; the
    choice kept over a reload. A message forwarded whole shown in a box of
    its own below the one that carries it; a message with HTML and text
    read as text at the press of a button; the settings menu leading to
    the Signatures page; all of it on a phone's width too."""
    from browser_scenarios import BASE, browser, shot, sign_in

    def mail(subject, date, text, msgid=None, refs=None, html=None):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Date"] = "sales@partner.test", USER, subject, date
        if msgid:
            m["Message-ID"] = msgid
        if refs:
            m["In-Reply-To"], m["References"] = refs.split()[-1], refs
        m.set_content(text)
        if html:
            m.add_alternative(html, subtype="html")
        return m

    # Delivered out of Date order, so that arrival and Date differ.
    send(mail("Zebra catalogue", "Mon, 1 Jun 2026 10:00:00 +0000", "zebra stripes, every size\n" * 250))
    send(mail("Moon launch plan", "Mon, 1 Jun 2026 09:00:00 +0000", "the plan", "<t1@partner.test>"))
    send(mail("Apple invoice", "Mon, 1 Jun 2026 12:00:00 +0000", "Apple plain words, net 30",
              html="<p><b>Apple</b> formatted words</p><table><tr><td>net 30</td></tr></table>"))
    send(mail("Re: Moon launch plan", "Mon, 1 Jun 2026 11:00:00 +0000", "agreed", "<t2@partner.test>",
              "<t1@partner.test>"))
    inner = EmailMessage()
    inner["From"], inner["To"], inner["Subject"] = "陈静 <chen@partner.test>", USER, "Inner 报价 subject"
    inner["Date"] = "Sun, 31 May 2026 16:00:00 +0000"
    inner.set_content("inner text 内文")
    outer = mail("Fwd: Karst quarry quote", "Mon, 1 Jun 2026 08:00:00 +0000", "see the quote below")
    outer.add_attachment(inner)  # message/rfc822: forwarded whole
    send(outer)
    send(mail("Re: Moon launch plan", "Mon, 1 Jun 2026 13:00:00 +0000", "launch at dawn", "<t3@partner.test>",
              "<t1@partner.test> <t2@partner.test>"))
    by_date = ["Re: Moon launch plan", "Apple invoice", "Re: Moon launch plan", "Zebra catalogue",
               "Moon launch plan", "Fwd: Karst quarry quote"]
    # RFC 5256 base subjects ("Re:", "Fwd:" set aside); equal ones in
    # arrival order, either way.
    by_subject = ["Apple invoice", "Fwd: Karst quarry quote", "Moon launch plan", "Re: Moon launch plan",
                  "Re: Moon launch plan", "Zebra catalogue"]
    by_subject_back = ["Zebra catalogue", "Moon launch plan", "Re: Moon launch plan", "Re: Moon launch plan",
                       "Fwd: Karst quarry quote", "Apple invoice"]
    a = Session(USER, PASSWORD)

    with browser() as b:
        def subjects():
            return b.run("return [...document.querySelectorAll('[data-test=messages] tbody td.cell-subject "
                         "[data-test=open]')].map(a => a.textContent)")

        def listed(what, expected):
            # A live update may redraw the list at any moment: read it until
            # it says what is expected.
            b.wait(what, lambda: subjects() == expected)
            b.page("mail")

        def open_message(subject, shows):
            def click():
                links = [x for x in b.find_all('[data-test="open"]') if x.text.strip() == subject]
                return bool(links) and links[0].click()
            b.wait(f"{subject} opened", click)
            b.find(shows)
            b.page("mail")

        def tick(subject):
            # Until the box in the list on screen is ticked (a redraw may
            # come between; once ticked, the page holds live redraws back).
            def ticked():
                rows = [r for r in b.find_all('[data-test="messages"] tbody tr') if subject in r.text]
                if rows and not rows[0].find('[data-test="select"]').prop("checked"):
                    rows[0].find('[data-test="select"]').click()
                return b.run("return [...document.querySelectorAll('[data-test=messages] tbody tr')]"
                             ".some(r => r.textContent.includes(arguments[0]) && r.querySelector('input').checked)",
                             subject)
            b.wait(f"{subject} ticked", ticked)

        b.wait("six messages delivered",
               lambda: a.call("GET", "/api/v1/mail/messages?folder=INBOX")[1].get("total") == 6)
        sign_in(b, USER, PASSWORD)
        b.page("home")
        b.get(BASE + "#/mail?folder=INBOX")
        b.page("mail")
        # The Date field's order, newest first.
        listed("newest Date first", by_date)
        expect(b.find("#sort-direction").attr("title") == "Newest first", "the direction says so")
        # By subject: A to Z; the direction turned: Z to A.
        b.again("sort", lambda: b.run("const s = document.querySelector('#sort'); s.value = 'subject';"
                                      "s.dispatchEvent(new Event('change', {bubbles: true}))"))
        listed("by subject", by_subject)
        expect(b.find("#sort-direction").attr("title") == "A→Z", "A→Z")
        b.press("#sort-direction")
        listed("by subject, reversed", by_subject_back)
        expect(b.find("#sort-direction").attr("title") == "Z→A", "Z→A")
        # Kept in the browser: the same after a reload.
        b.run("window.__before_reload = 1; location.reload()")
        b.wait("reloaded", lambda: b.run("return !window.__before_reload"))
        b.page("mail")
        listed("the choice kept", by_subject_back)
        expect(b.find('select[name="sort"]').prop("value") == "subject", "the sort kept")

        # Conversations: the newest activity first; the conversation's
        # three messages on consecutive rows, each reply further in.
        b.press('input[name="threads"]')
        listed("as conversations", ["Moon launch plan", "Re: Moon launch plan", "Re: Moon launch plan",
                                    "Apple invoice", "Zebra catalogue", "Fwd: Karst quarry quote"])
        rows = b.run("return [...document.querySelectorAll('[data-test=messages] tbody tr')].map(r => ({"
                     "thread: r.dataset.thread, depth: r.dataset.depth,"
                     "indent: parseFloat(getComputedStyle(r.querySelector('td.cell-subject')).paddingLeft),"
                     "badge: (r.querySelector('.thread-count') || {}).textContent || ''}))")
        moon = rows[:3]
        expect(len({r["thread"] for r in moon}) == 1 and moon[0]["thread"] != rows[3]["thread"],
               f"one conversation, consecutive: {rows}")
        expect([r["depth"] for r in moon] == ["0", "1", "2"] and moon[0]["indent"] < moon[1]["indent"] < moon[2]["indent"],
               f"each reply further in: {moon}")
        expect(moon[0]["badge"] == "3" and [r["badge"] for r in rows[1:]] == [""] * 5, f"the count: {rows}")
        expect(b.find('input[name="threads"]').prop("checked") and b.find("#sort").prop("disabled"),
               "the switch on; conversations have their own order")
        expect("of 4 conversations" in b.find('[data-test="range"]').text, b.find('[data-test="range"]').text)
        # The list's actions work on conversations' rows too.
        tick("Zebra catalogue")
        b.press('[data-test="flag"]')
        b.wait("flagged", lambda: "★ Zebra catalogue" in subjects())
        b.page("mail")
        shot(b, "mail-threads")

        # The forwarded message, nested below the one that carries it.
        open_message("Fwd: Karst quarry quote", '[data-test="nested-message"]')
        box = b.find('[data-test="nested-message"]').text
        expect("Forwarded message" in box and "Inner 报价 subject" in box and "inner text 内文" in box
               and "陈静" in box, f"the nested box: {box}")
        expect("see the quote below" in b.find('[data-test="message-text"]').text, "the outer text")
        into_view = "document.querySelector('[data-test=nested-message]').scrollIntoView({block: 'center'})"
        b.run(into_view)
        shot(b, "mail-nested")
        # On a phone: conversations and the nested box, no sideways scrolling.
        b.set_size(390, 844)
        wide = b.run("return document.documentElement.scrollWidth - window.innerWidth")
        expect(wide <= 1, f"the page fits a phone's width (over by {wide}px)")
        b.run(into_view)
        shot(b, "mail-nested-phone")
        b.set_size(1280, 900)

        # HTML and text: formatted first, plain text at the press of a button.
        open_message("Apple invoice", '[data-test="message-html"]')
        b.press("#view-toggle")
        b.wait("the plain text", lambda: "Apple plain words" in b.find('[data-test="message-text"]').text)
        expect(not b.find_all('[data-test="message-html"]'), "the frame gone")
        expect(b.find("#view-toggle").text == "Formatted", b.find("#view-toggle").text)

        # The settings menu: the account's mail pages. Opened (again, if a
        # live update redrew the page meanwhile) until its link is followed.
        def to_signatures():
            menu = b.find('[data-test="mail-settings-menu"]')
            if menu.prop("hidden"):
                b.press("#mail-settings")
                return False
            words = ["Signatures", "Auto-replies", "Mail rules", "Security", "Allow & block lists"]
            expect(all(w in menu.text for w in words), f"the menu: {menu.text}")
            link = menu.find('[data-test="settings-signatures"]')
            expect(link.attr("href") == "#/signatures", link.attr("href"))
            shot(b, "mail-settings")
            link.click()
            return True
        b.wait("the Signatures link followed", to_signatures)
        b.page("signatures")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
