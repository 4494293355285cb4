"""Webmail writing over its JSON API, run by tests/webmail.rs: a reply to
mail from a buyer, with the user's signature, an uploaded attachment and
rich text, sent through the submission path; the local recipient reads it
over IMAP threaded under the original; the copy in Sent keeps the Bcc; the
remote recipients wait in the queue; drafts replace each other in Drafts;
refusals come back in plain words; forwards whole and inline. Ports from
HTTP_PORT, SMTP_PORT, IMAPS_PORT."""

import smtplib
import sys
import time
import urllib.parse
from email.message import EmailMessage

from api_scenarios import BOB, BOB_PASSWORD, Session
from common import HOST, PASSWORD, USER, caravel, expect, imap_messages, imap_session, port

SMTP = port("SMTP_PORT")
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20
SIGNATURE = "Alice Wong\nSales, Caravel Trading"


def deliver(msg, to=USER):
    with smtplib.SMTP(HOST, SMTP) as s:
        s.send_message(msg, from_addr="buyer@partner.test", to_addrs=[to])


def rfq():
    m = EmailMessage()
    m["From"] = "陈静 <buyer@partner.test>"
    m["To"] = USER
    m["Subject"] = "询价 RFQ 42"
    m["Message-ID"] = "<rfq-1@partner.test>"
    m["References"] = "<rfq-0@partner.test>"
    m.set_content("请报价 500 件。")
    m.add_attachment(b"spec sheet v2", maintype="text", subtype="plain", filename="spec.txt")
    return m


def text_of(m):
    part = m.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def html_of(m):
    part = m.get_body(preferencelist=("html",))
    return part.get_content() if part else ""


def upload(a, name, data, ctype="application/pdf"):
    path = f"/api/v1/mail/upload?name={urllib.parse.quote(name)}&type={urllib.parse.quote(ctype)}"
    return a.call("POST", path, data)


def writing():
    a = Session(USER, PASSWORD)
    status, _ = a.call("PUT", f"/api/v1/users/{USER}/signatures/work",
                       {"text": SIGNATURE, "when": "always", "domains": []})
    expect(status == 200, f"signature set: {status}")
    deliver(rfq())
    time.sleep(0.3)
    _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    original = page["messages"][0]["uid"]

    status, info = a.call("GET", "/api/v1/mail/compose")
    expect(status == 200 and info["identities"][0]["address"] == USER and info["can_send"], info)
    expect(info["drafts"] == "Drafts" and info["sent"] == "Sent" and info["max_message_size"] > 0, info)
    _, found = a.call("GET", "/api/v1/mail/contacts?q=buyer")
    expect([c["address"] for c in found["contacts"]] == ["buyer@partner.test"]
           and found["contacts"][0]["name"] == "陈静", found)
    _, found = a.call("GET", "/api/v1/mail/contacts?q=bob")
    expect(BOB in [c["address"] for c in found["contacts"]], f"the domain's users: {found}")
    status, sig = a.call("POST", "/api/v1/mail/signature", {"to": [BOB], "subject": "Re: x", "reply": True})
    expect(status == 200 and "Alice Wong" in sig["text"], sig)

    # Uploads: streamed, refused over the largest message.
    status, up = upload(a, "报价单.pdf", PDF)
    expect(status == 200 and up["size"] == len(PDF) and up["name"] == "报价单.pdf", up)
    status, big = upload(a, "huge.bin", b"\0" * (info["max_message_size"] + 1))
    expect(status == 413 and "larger than the largest message" in big["error"], f"{status} {big}")

    # Drafts replace each other.
    draft = {"to": [f"Bob <{BOB}>"], "cc": ["buyer@partner.test"], "subject": "Re: 询价 RFQ 42",
             "text": "draft one", "reply_to": {"folder": "INBOX", "uid": original}}
    status, d1 = a.call("POST", "/api/v1/mail/draft", draft)
    expect(status == 200 and d1["folder"] == "Drafts", d1)
    status, d2 = a.call("POST", "/api/v1/mail/draft", {**draft, "text": "draft two", "draft_uid": d1["uid"]})
    expect(status == 200 and d2["uid"] != d1["uid"], d2)
    drafts = imap_messages(USER, PASSWORD, "Drafts")
    expect(len(drafts) == 1 and "\\Draft" in drafts[0][0] and "draft two" in text_of(drafts[0][1]), f"Drafts: {drafts}")
    status, bcc_draft = a.call("POST", "/api/v1/mail/draft", {**draft, "bcc": ["boss@example.test"], "draft_uid": d2["uid"]})
    _, reopened = a.call("GET", f"/api/v1/mail/message?folder=Drafts&uid={bcc_draft['uid']}")
    expect([x["address"] for x in reopened["bcc"]] == ["boss@example.test"], f"a reopened draft keeps its Bcc: {reopened}")
    d2 = bcc_draft

    # The reply: through submission, threaded, signed off, attached.
    reply = {**draft, "from": USER, "bcc": ["hidden@partner.test"], "draft_uid": d2["uid"],
             "text": "您好，价格见附件。",
             "html": "<p>您好，<b>价格</b>见附件。</p><script>alert(1)</script><img src=x onerror=alert(2)>",
             "attachments": [{"upload": up["id"]}]}
    status, sent = a.call("POST", "/api/v1/mail/send", reply)
    expect(status == 200 and sent["sent"] and sent["sent_uid"] and sent["queue_id"], f"{status} {sent}")
    time.sleep(0.3)
    got = imap_messages(BOB, BOB_PASSWORD, "INBOX")
    expect(len(got) == 1, f"Bob's INBOX: {got}")
    m = got[0][1]
    expect(m["In-Reply-To"] == "<rfq-1@partner.test>"
           and m["References"].split() == ["<rfq-0@partner.test>", "<rfq-1@partner.test>"], dict(m))
    expect(str(m["Subject"]) == "Re: 询价 RFQ 42" and m["Bcc"] is None and m["Message-ID"] == sent["message_id"], dict(m))
    expect("您好，价格见附件。" in text_of(m) and "Alice Wong" in text_of(m), text_of(m))
    html = html_of(m)
    expect("<b>价格</b>" in html and "<script" not in html and "onerror" not in html, html)
    attached = [p for p in m.iter_attachments()]
    expect([p.get_filename() for p in attached] == ["报价单.pdf"] and attached[0].get_content() == PDF,
           [p.get_filename() for p in attached])
    expect("with ESMTPSA (webmail over HTTPS)" in " ".join(m.get_all("Received")), m.get_all("Received"))
    # Sent keeps the Bcc and the signature; the draft is gone; the original answered.
    sent_box = imap_messages(USER, PASSWORD, "Sent")
    expect(len(sent_box) == 1 and "hidden@partner.test" in str(sent_box[0][1]["Bcc"])
           and "Alice Wong" in text_of(sent_box[0][1]) and "\\Seen" in sent_box[0][0], f"Sent: {sent_box} {sent}")
    expect(imap_messages(USER, PASSWORD, "Drafts") == [], "the sent draft is removed")
    inbox = imap_messages(USER, PASSWORD, "INBOX")
    expect("\\Answered" in inbox[0][0], inbox[0][0])
    # The outside recipients were queued; the test's DNS knows no
    # partner.test, so the queue gives up at once and the report comes
    # back: the reader sees why, per recipient, in plain words.
    report = None
    for _ in range(50):
        _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
        report = next((x for x in page["messages"] if x["subject"].startswith("Undelivered mail: Re: 询价")), None)
        if report:
            break
        time.sleep(0.2)
    expect(report is not None, f"no delivery report: {page}")
    _, r = a.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={report['uid']}")
    fates = {x["address"]: x for x in r["bounce"]["recipients"]}
    expect(set(fates) == {"buyer@partner.test", "hidden@partner.test"}
           and all(x["failed"] and x["explanation"] for x in fates.values()), r["bounce"])
    # An upload is used once.
    status, again = a.call("POST", "/api/v1/mail/send", {**reply, "draft_uid": None})
    expect(status == 404 and "attach it again" in again["error"], again)

    # Refusals in plain words; nothing sent, nothing lost.
    status, no = a.call("POST", "/api/v1/mail/send", {"to": ["nobody@example.test"], "subject": "x", "text": "y"})
    expect(status == 422 and no["error"].startswith("Not sent: nobody@example.test does not exist")
           and no["reply"].startswith("550 5.1.1") and no["recipient"] == "nobody@example.test", f"to nobody: {no}")
    status, no = a.call("POST", "/api/v1/mail/send", {"from": BOB, "to": [BOB], "subject": "x", "text": "y"})
    expect(status == 422 and "you may not send from that address" in no["error"], f"as bob: {no}")
    status, no = a.call("POST", "/api/v1/mail/send", {"to": [], "subject": "x", "text": "y"})
    expect(status == 400 and "recipient" in no["error"], no)
    status, no = a.call("POST", "/api/v1/mail/send",
                        {"to": [f"{BOB}>\r\nRCPT TO:<evil@partner.test>"], "subject": "x", "text": "y"})
    expect(status == 400 and "is not an email address" in no["error"], no)
    status, _ = a.call("POST", "/api/v1/mail/send", {"to": [BOB], "subject": "x", "text": "y"}, csrf=False)
    expect(status == 403, "sending needs the anti-forgery token")
    expect(len(imap_messages(BOB, BOB_PASSWORD, "INBOX")) == 1, "nothing refused arrived")

    # Bytes that would end DATA early at the next hop (SMTP smuggling)
    # never leave: the text arrives with its line ends made whole.
    smuggle = "hi\r.\r\nMAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: forged\r\n\0\n.\n"
    status, _ = a.call("POST", "/api/v1/mail/send", {"to": [BOB], "subject": "smuggle", "text": smuggle})
    expect(status == 200, "sent, cleaned")
    time.sleep(0.3)
    i = imap_session(BOB, BOB_PASSWORD)
    i.select("INBOX", readonly=True)
    _, found = i.uid("SEARCH", None, "ALL")
    raws = [i.uid("FETCH", u, "(BODY.PEEK[])")[1][0][1] for u in found[0].split()]
    i.logout()
    expect(len(raws) == 2 and not any(b"forged" in r.split(b"\r\n\r\n")[0] for r in raws), "no second message")
    clean = raws[-1].replace(b"\r\n", b"")
    expect(b"\r" not in clean and b"\n" not in clean and b"\0" not in clean, raws[-1])
    # Limits of one message's attachments; the account's switch for sending.
    status, no = a.call("POST", "/api/v1/mail/draft",
                        {"attachments": [{"folder": "INBOX", "uid": original, "index": 0}] * 101})
    expect(status == 400 and "At most 100 attachments" in no["error"], no)
    caravel("user", "set", USER, "--smtp", "off")
    status, no = a.call("POST", "/api/v1/mail/send", {"to": [BOB], "subject": "x", "text": "y"})
    caravel("user", "set", USER, "--smtp", "on")
    expect(status == 403 and "turned off" in no["error"], no)

    # Forwarded whole, then inline with the original's attachment.
    status, _ = a.call("POST", "/api/v1/mail/send", {"to": [BOB], "subject": "Fwd: 询价 RFQ 42", "text": "FYI",
                                                     "forward": {"folder": "INBOX", "uid": original,
                                                                 "as_attachment": True}})
    expect(status == 200, "forwarded as attachment")
    status, _ = a.call("POST", "/api/v1/mail/send", {
        "to": [BOB], "subject": "Fwd: 询价 RFQ 42 (inline)", "text": "---------- Forwarded message ----------\n请报价",
        "attachments": [{"folder": "INBOX", "uid": original, "index": 0}],
        "forward": {"folder": "INBOX", "uid": original, "as_attachment": False}})
    expect(status == 200, "forwarded inline")
    time.sleep(0.3)
    got = imap_messages(BOB, BOB_PASSWORD, "INBOX")
    whole = next(m for _, m in got if str(m["Subject"]) == "Fwd: 询价 RFQ 42")
    inner = [p for p in whole.walk() if p.get_content_type() == "message/rfc822"]
    expect(len(inner) == 1 and "rfq-1@partner.test" in inner[0].as_string(), "the original inside, whole")
    inline = next(m for _, m in got if "(inline)" in str(m["Subject"]))
    expect([(p.get_filename(), p.get_content()) for p in inline.iter_attachments()] == [("spec.txt", "spec sheet v2")],
           "the original's attachment forwarded")
    i = imap_session(USER, PASSWORD)
    i.select("INBOX", readonly=True)
    _, flags = i.uid("FETCH", str(original), "(FLAGS)")
    i.logout()
    expect(b"$Forwarded" in flags[0], flags)

    # Files waiting to be sent: at most 50 per account.
    statuses = [upload(a, f"f{n}.txt", b"x", "text/plain")[0] for n in range(50)]
    expect(statuses.count(200) == 50, statuses)
    status, no = upload(a, "one-too-many.txt", b"x", "text/plain")
    expect(status == 413 and "Too many files" in no["error"], f"{status} {no}")


def bounce():
    """A delivery report opens with each recipient's fate in plain words."""
    report = (
        "From: MAILER-DAEMON@mx.partner.test\r\nTo: " + USER + "\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.partner.test\r\n\r\n"
        "Final-Recipient: rfc822; chen.jing@partner.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <chen.jing@partner.test>: Recipient address rejected\r\n\r\n"
        "--b1--\r\n")
    with smtplib.SMTP(HOST, SMTP) as s:
        s.sendmail("", [USER], report.encode())
    time.sleep(0.3)
    a = Session(USER, PASSWORD)
    _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    _, m = a.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={page['messages'][0]['uid']}")
    r = m["bounce"]["recipients"]
    expect(len(r) == 1 and r[0]["address"] == "chen.jing@partner.test" and r[0]["failed"]
           and "does not exist" in r[0]["explanation"], m["bounce"])


def reply_over_smtp():
    """tests/delivery.rs: the webmail of SENDER answers mail from BUYER on
    another server; the reply crosses SMTP (loopback, TLS, MX from DNS)
    and arrives at the buyer threaded under the question, with the
    signature, DKIM-signed and verified there."""
    import os
    sender, buyer = os.environ["SENDER"], os.environ["BUYER"]
    buyer_imaps = int(os.environ["BUYER_IMAPS_PORT"])
    a = Session(sender, PASSWORD)
    status, _ = a.call("PUT", f"/api/v1/users/{sender}/signatures/work",
                       {"text": SIGNATURE, "when": "always", "domains": []})
    expect(status == 200, "signature")
    _, page = a.call("GET", "/api/v1/mail/messages?folder=INBOX")
    rfq = next(m for m in page["messages"] if m["subject"] == "RFQ 42")
    _, original = a.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={rfq['uid']}")
    status, sent = a.call("POST", "/api/v1/mail/send", {
        "to": [buyer], "subject": "Re: RFQ 42", "text": "您好，报价见附件。\nBest regards",
        "reply_to": {"folder": "INBOX", "uid": rfq["uid"]}})
    expect(status == 200, f"{status} {sent}")
    got = None
    for _ in range(150):
        got = next((m for _, m in imap_messages(buyer, PASSWORD, "INBOX", buyer_imaps)
                    if str(m["Subject"]) == "Re: RFQ 42"), None)
        if got:
            break
        time.sleep(0.2)
    expect(got is not None, "the reply reached the buyer's server")
    question = f"<{original['message_id']}>"
    expect(got["In-Reply-To"] == question and question in got["References"].split(), dict(got))
    expect("Alice Wong" in text_of(got) and "您好，报价见附件。" in text_of(got), text_of(got))
    results = " ".join(got.get_all("Authentication-Results"))
    expect(all(x in results for x in ["dkim=pass", "dmarc=pass", "spf=pass"]), results)
    expect(any("with ESMTPS" in r for r in got.get_all("Received")), got.get_all("Received"))


if __name__ == "__main__":
    globals()[sys.argv[1]]()
