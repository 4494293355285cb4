"""Antivirus and quarantine scenarios run by tests/antivirus.rs with real
clients (smtplib to send, imaplib to look). Usage: av_scenarios.py SCENARIO
[ARG]; ports come from the environment."""

import io
import imaplib
import smtplib
import sys
import time
import zipfile
from email.message import EmailMessage

from common import HOST, PASSWORD, USER, expect, port
from common import ctx as tls_context

SMTP = port("SMTP_PORT")
SUB = port("SUBMISSION_PORT")
IMAPS = port("IMAPS_PORT")

# The EICAR test file (eicar.org), built in two pieces so this script is not
# itself flagged by a scanner on the machine.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
# A harmless stand-in for a Windows program: the MZ header is what matters.
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"harmless test program"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def message(tag, attachment=None, name=None, sender="buyer@remote.test", to=USER):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = f"Order {tag}"
    m["Message-ID"] = f"<{tag}@remote.test>"
    m.set_content(f"Please find the order attached. {tag}\n")
    if attachment is not None:
        m.add_attachment(attachment, maintype="application", subtype="octet-stream", filename=name)
    return m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def zipped(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def send(raw, sender="buyer@remote.test", to=USER):
    with smtplib.SMTP(HOST, SMTP) as s:
        s.ehlo("mx.remote.test")
        s.sendmail(sender, [to], raw)


def refused(raw, code, words):
    try:
        send(raw)
    except smtplib.SMTPDataError as e:
        text = e.smtp_error.decode("utf-8", "replace")
        expect(e.smtp_code == code, f"expected {code}, got {e.smtp_code} {text}")
        expect(words.lower() in text.lower(), f"expected {words!r} in the reply: {text}")
        return text
    expect(False, f"the message was accepted; expected {code} ({words})")


def tags_in(folder, tag):
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=tls_context())
    m.login(USER, PASSWORD)
    m.select(folder, readonly=True)
    _, data = m.uid("SEARCH", None, "ALL")
    found = 0
    for uid in data[0].split():
        _, msg = m.uid("FETCH", uid, "(BODY.PEEK[])")
        if tag.encode() in msg[0][1]:
            found += 1
    m.logout()
    return found


def nowhere(tag):
    expect(tags_in("INBOX", tag) == 0 and tags_in("Junk", tag) == 0, f"{tag} must not be in a mailbox")


def eicar_refused():
    text = refused(message("eicar-1", EICAR, "eicar.com"), 554, "Eicar-Test-Signature")
    expect("virus" in text.lower(), text)
    refused(message("eicar-2", zipped("docs/eicar.txt", EICAR), "invoice.zip"), 554, "Eicar-Test-Signature")
    nowhere("eicar-1")
    nowhere("eicar-2")


def double_extension_held():
    send(message("pdfexe-1", PROGRAM, "invoice.pdf.exe"))
    time.sleep(0.5)
    nowhere("pdfexe-1")


def keyword_held():
    raw = message("spamheld-1").replace(b"Please find", b"Zircon bargain: please find")
    send(raw)
    time.sleep(0.5)
    nowhere("spamheld-1")


def program_to(to, tag):
    """A program sent to TO (an alias that forwards elsewhere) is accepted."""
    send(message(tag, PROGRAM, "invoice.pdf.exe", to=to), to=to)


def clean_pdf_delivered():
    send(message("cleanpdf-1", PDF, "price list.pdf"))
    expect(tags_in("INBOX", "cleanpdf-1") == 1, "the clean PDF is in the INBOX")


def digest_received(held_id):
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=tls_context())
    m.login(USER, PASSWORD)
    m.select("INBOX", readonly=True)
    _, data = m.uid("SEARCH", None, "SUBJECT", '"held for you"')
    uids = data[0].split()
    expect(len(uids) == 1, f"one quarantine notice, found {len(uids)}")
    _, msg = m.uid("FETCH", uids[0], "(BODY.PEEK[])")
    text = msg[0][1].decode("utf-8", "replace")
    m.logout()
    expect(f"#{held_id}" in text and "invoice.pdf.exe" in text and "Order pdfexe-1" in text, text)
    expect("eicar" not in text.lower(), "refused viruses are not announced to recipients")


def released(tag):
    expect(tags_in("INBOX", tag) == 1, f"{tag} is in the INBOX after its release")


def outbound_program_refused():
    raw = message("out-1", PROGRAM, "setup.exe", sender=USER, to="partner@remote.test")
    with smtplib.SMTP(HOST, SUB) as s:
        s.starttls(context=tls_context())
        s.login(USER, PASSWORD)
        try:
            s.sendmail(USER, ["partner@remote.test"], raw)
            expect(False, "a program was sent")
        except smtplib.SMTPDataError as e:
            text = e.smtp_error.decode()
            expect(e.smtp_code == 554 and "Not sent" in text and "setup.exe" in text, text)


def refused_once_loaded(data, signature):
    """A message with DATA attached is refused naming SIGNATURE: retried
    while the running server loads newly installed signatures."""
    deadline = time.time() + 30
    n = 0
    while True:
        n += 1
        try:
            send(message(f"loaded-{n}", data, "notes.txt"))
        except smtplib.SMTPDataError as e:
            text = e.smtp_error.decode()
            expect(e.smtp_code == 554 and signature in text, text)
            return
        expect(time.time() < deadline, f"{signature} was not used within 30 s")
        time.sleep(1)


def marker_refused(marker, signature):
    refused_once_loaded(marker.encode(), signature)


def file_refused(path, signature):
    """The file at PATH, attached as it is."""
    refused_once_loaded(open(path, "rb").read(), signature)


def clamd_finds(marker, signature):
    refused(message("clamd-1", marker.encode(), "notes.txt"), 554, signature)


def clamd_down():
    try:
        send(message("clamd-down-1", b"a harmless text", "notes.txt"))
    except smtplib.SMTPDataError as e:
        expect(e.smtp_code == 451, f"expected 451 with clamd down, got {e.smtp_code} {e.smtp_error}")
        nowhere("clamd-down-1")
        return
    expect(False, "a message was accepted while clamd was down")


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
