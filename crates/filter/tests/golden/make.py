#!/usr/bin/env python3
"""Regenerate the golden spam-filter fixtures in this directory.

Run:  python3 crates/filter/tests/golden/make.py
Writes the *.eml files next to this script (raw RFC 5322, CRLF line endings),
then re-parses every file with Python's email package (policy=default) and
checks the decoded subject, body text and attachment names against the
EXPECTED table (from which README.md is also written) and prints them. Output is deterministic: fixed dates, Message-IDs and
MIME boundaries, so regenerating gives byte-identical files.

Standard library only. Encoded-words, base64 and quoted-printable are built by
hand (base64 + codecs) so that the exact bytes on the wire are under control;
email.header / email.policy are used only to check the result.
"""

import base64
import codecs
import email
import email.header
import email.policy
import email.utils
import html.parser
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = b"\r\n"
TO = "alice@example.test"


# ---------------------------------------------------------------- encoders

def enc(text, charset):
    """Encode text in charset, failing loudly if the charset cannot hold it."""
    codecs.lookup(charset)
    return text.encode(charset, errors="strict")


def ew_b(text, charset):
    """One RFC 2047 encoded-word, B encoding."""
    word = "=?%s?B?%s?=" % (charset, base64.b64encode(enc(text, charset)).decode("ascii"))
    assert len(word) <= 75, word
    return word


def ew_q(text, charset):
    """One RFC 2047 encoded-word, Q encoding (space as '_')."""
    out = []
    for b in enc(text, charset):
        c = chr(b)
        if b == 0x20:
            out.append("_")
        elif c.isascii() and (c.isalnum() or c in "!*+-/"):
            out.append(c)
        else:
            out.append("=%02X" % b)
    word = "=?%s?Q?%s?=" % (charset, "".join(out))
    assert len(word) <= 75, word
    return word


def b64_body(data):
    s = base64.b64encode(data).decode("ascii")
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76)).encode("ascii") + CRLF


def qp_body(data):
    """Quoted-printable (RFC 2045 6.7) for a body that has no line breaks of its own
    except CRLF; soft line breaks keep every line at most 76 characters."""
    lines_out = []
    for line in data.split(b"\r\n"):
        tokens = []
        for i, b in enumerate(line):
            last = i == len(line) - 1
            if (33 <= b <= 126 and b != 0x3D) or (b in (0x20, 0x09) and not last):
                tokens.append(chr(b))
            else:
                tokens.append("=%02X" % b)
        cur = ""
        for t in tokens:
            if len(cur) + len(t) > 75:  # leave room for the soft-break '='
                lines_out.append(cur + "=")
                cur = ""
            cur += t
        lines_out.append(cur)
    return "\r\n".join(lines_out).encode("ascii") + CRLF


def headers(subject, msgid, date, frm='"Sales Team" <sales@promo.example>', extra=()):
    h = [
        ("From", frm),
        ("To", TO),
        ("Subject", subject),
        ("Date", date),
        ("Message-ID", "<%s@golden.caravel.test>" % msgid),
        ("MIME-Version", "1.0"),
    ]
    h.extend(extra)
    return b"".join(("%s: %s" % kv).encode("ascii") + CRLF for kv in h)


def simple(subject, msgid, date, ctype, cte, body, frm=None):
    kw = {} if frm is None else {"frm": frm}
    return (headers(subject, msgid, date,
                    extra=[("Content-Type", ctype), ("Content-Transfer-Encoding", cte)], **kw)
            + CRLF + body)


def eight_bit(text, charset):
    return enc(text, charset) + CRLF


# ---------------------------------------------------------------- fixtures

FILES = {}

FILES["gbk-subject.eml"] = simple(
    ew_b("本周促销：全场五折", "GBK"), "gbk-subject", "Mon, 01 Dec 2025 09:00:00 +0800",
    "text/plain; charset=GBK", "base64",
    b64_body(enc("尊敬的客户，本周促销活动开始了，加微信了解详情。", "gbk") + CRLF))

FILES["big5-subject.eml"] = simple(
    ew_b("代開發票 優惠", "Big5"), "big5-subject", "Mon, 01 Dec 2025 09:05:00 +0800",
    "text/plain; charset=big5", "quoted-printable",
    qp_body(enc("本公司代開發票，價格優惠。", "big5")))

FILES["gb2312-body.eml"] = simple(
    "Invoice service", "gb2312-body", "Mon, 01 Dec 2025 09:10:00 +0800",
    "text/plain; charset=gb2312", "8bit",
    eight_bit("发票代开，联系我们。", "gb2312"))

FILES["iso2022jp-subject.eml"] = simple(
    ew_b("【広告】特別セール", "ISO-2022-JP"), "iso2022jp-subject",
    "Mon, 01 Dec 2025 10:00:00 +0900",
    "text/plain; charset=ISO-2022-JP", "7bit",
    eight_bit("特別セールのご案内です。", "iso2022_jp"))

FILES["shiftjis-body.eml"] = simple(
    "Sale", "shiftjis-body", "Mon, 01 Dec 2025 10:05:00 +0900",
    "text/plain; charset=Shift_JIS", "base64",
    b64_body(enc("ｾｰﾙ開催中\r\nＦＲＥＥ　ＭＯＮＥＹ\r\n", "shift_jis")))

FILES["euckr-body.eml"] = simple(
    "Hello", "euckr-body", "Mon, 01 Dec 2025 10:10:00 +0900",
    "text/plain; charset=euc-kr", "base64",
    b64_body(enc("무료 광고 상품\r\n", "euc_kr")))

# The Q-encoded subject is 72 characters as one encoded-word, too long for one
# 78-character header line, so it is split into two adjacent encoded-words on a
# folded line. The space between the words belongs to the first word ("_"), the
# folding whitespace between encoded-words must be dropped by the decoder.
_koi = "Скидки только сегодня"
FILES["koi8r-subject.eml"] = simple(
    ew_q(_koi[:14], "KOI8-R") + "\r\n " + ew_q(_koi[14:], "KOI8-R"),
    "koi8r-subject", "Mon, 01 Dec 2025 11:00:00 +0300",
    "text/plain; charset=us-ascii", "7bit",
    b"Only today, see our catalogue.\r\n")

FILES["win1251-body.eml"] = simple(
    "Newsletter", "win1251-body", "Mon, 01 Dec 2025 11:05:00 +0300",
    "text/plain; charset=windows-1251", "8bit",
    eight_bit("Бесплатная рассылка", "cp1251"))

HTML_ONLY = ('<html><head><style>.x{color:red}</style><script>var casino=1</script></head>'
             '<body><p>Click <a href="http://cheap-pills.example/buy?id=1">here</a> for '
             '<b>VIAGRA</b> &amp; more &#20419;&#38144;</p></body></html>')
FILES["html-only.eml"] = simple(
    "Your order", "html-only", "Mon, 01 Dec 2025 12:00:00 +0000",
    "text/html; charset=utf-8", "quoted-printable",
    qp_body(HTML_ONLY.encode("utf-8")))

PDF = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
       b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
B1 = "----=_Part_golden_rfc2231"
FILES["rfc2231-attachment.eml"] = (
    headers("Order", "rfc2231-attachment", "Mon, 01 Dec 2025 12:05:00 +0800",
            extra=[("Content-Type", 'multipart/mixed;\r\n boundary="%s"' % B1)])
    + CRLF
    + b"This is a multi-part message in MIME format.\r\n"
    + ("--%s\r\n" % B1).encode()
    + b"Content-Type: text/plain; charset=us-ascii\r\n"
    + b"Content-Transfer-Encoding: 7bit\r\n\r\n"
    + b"Please see the attached order.\r\n"
    + ("--%s\r\n" % B1).encode()
    + b"Content-Type: application/octet-stream;\r\n"
    + b" name*=UTF-8''%E5%8F%91%E7%A5%A8%E4%BB%A3%E5%BC%80.pdf\r\n"
    + b"Content-Transfer-Encoding: base64\r\n"
    + b"Content-Disposition: attachment; filename*0*=UTF-8''%E5%8F%91%E7%A5%A8;\r\n"
    + b" filename*1*=%E4%BB%A3%E5%BC%80.pdf\r\n\r\n"
    + b64_body(PDF)
    + ("--%s--\r\n" % B1).encode())

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"golden fixture, not a program\r\n"
B2 = "----=_NextPart_000_0001_01DC62A1.00000000"
_gbname = ew_b("报价单_invoice.exe", "GB18030")
FILES["encoded-attachment-name.eml"] = (
    headers("Quotation", "encoded-attachment-name", "Mon, 01 Dec 2025 12:10:00 +0800",
            extra=[("Content-Type", 'multipart/mixed;\r\n\tboundary="%s"' % B2)])
    + CRLF
    + b"This is a multi-part message in MIME format.\r\n\r\n"
    + ("--%s\r\n" % B2).encode()
    + b"Content-Type: text/plain; charset=us-ascii\r\n"
    + b"Content-Transfer-Encoding: 7bit\r\n\r\n"
    + b"Please find our quotation attached.\r\n\r\n"
    + ("--%s\r\n" % B2).encode()
    + ('Content-Type: application/octet-stream;\r\n\tname="%s"\r\n' % _gbname).encode()
    + b"Content-Transfer-Encoding: base64\r\n"
    + ('Content-Disposition: attachment;\r\n\tfilename="%s"\r\n\r\n' % _gbname).encode()
    + b64_body(EXE)
    + ("\r\n--%s--\r\n" % B2).encode())

HAM = """Dear Mr. Chen,

We are a lighting distributor based in Rotterdam and would like to request a
quotation for 500 units of your 600x600 mm LED panel (40 W, 4000 K, model
LP-6060-40).

Please quote FOB Shanghai and include:
- unit cost and any quantity breaks,
- production lead time for 500 units,
- packing details (units per carton, carton size and weight),
- certificates available (CE, RoHS).

If samples are possible, we would need two pieces before placing the order.

Kind regards,
Maria de Vries
Purchasing, Noordlicht B.V.
"""
FILES["plain-ham.eml"] = simple(
    "Quotation request: 500 x LED panel 600x600", "plain-ham",
    "Mon, 01 Dec 2025 08:30:00 +0100",
    "text/plain; charset=us-ascii", "7bit",
    HAM.replace("\n", "\r\n").encode("ascii"),
    frm='"Maria de Vries" <m.devries@noordlicht.example>')

B3 = "alt-golden-boundary-0001"
FILES["multipart-alternative.eml"] = (
    headers("Limited offer", "multipart-alternative", "Mon, 01 Dec 2025 13:00:00 +0000",
            frm='"PayPal" <service@paypa1-secure.example>',
            extra=[("Content-Type", 'multipart/alternative; boundary="%s"' % B3)])
    + CRLF
    + ("--%s\r\n" % B3).encode()
    + b"Content-Type: text/plain; charset=utf-8\r\n"
    + b"Content-Transfer-Encoding: 7bit\r\n\r\n"
    + b"Limited offer\r\n"
    + ("--%s\r\n" % B3).encode()
    + b"Content-Type: text/html; charset=utf-8\r\n"
    + b"Content-Transfer-Encoding: 7bit\r\n\r\n"
    + b"<p>Limited <i>offer</i> just for you</p>\r\n"
    + ("--%s--\r\n" % B3).encode())


COMPAT_BODY = "ﾊﾟｽﾎﾟｰﾄ ①号 ﬁnance™ don´t"
FILES["compat-forms.eml"] = simple(
    ew_b("𝐅𝐑𝐄𝐄 𝐆𝐈𝐅𝐓 ㈱", "utf-8"), "compat-forms",
    "Mon, 01 Dec 2025 14:00:00 +0900",
    "text/plain; charset=utf-8", "base64",
    b64_body(COMPAT_BODY.encode("utf-8")))


# ---------------------------------------------------------------- expectations
# What a correct decoder extracts. README.md is generated from this table and the
# files are checked against it after writing. Body texts: charset-decoded,
# transfer-decoded, CRLF shown as "\n", trailing line break dropped; for text/html
# the visible text only (no <script>/<style>, entities decoded, whitespace runs
# collapsed to one space).

EXPECTED = {
    "gbk-subject.eml": dict(
        subject="本周促销：全场五折",
        parts=[("text/plain", "尊敬的客户，本周促销活动开始了，加微信了解详情。")],
        note="Subject: one B encoded-word, charset GBK; body GBK, base64."),
    "big5-subject.eml": dict(
        subject="代開發票 優惠",
        parts=[("text/plain", "本公司代開發票，價格優惠。")],
        note="Subject: one B encoded-word, charset Big5; body Big5, quoted-printable "
             "(several Big5 trail bytes are printable ASCII, e.g. `q`, `}`, and stay literal)."),
    "gb2312-body.eml": dict(
        subject="Invoice service",
        parts=[("text/plain", "发票代开，联系我们。")],
        note="Body raw GB2312 bytes, Content-Transfer-Encoding 8bit."),
    "iso2022jp-subject.eml": dict(
        subject="【広告】特別セール",
        parts=[("text/plain", "特別セールのご案内です。")],
        note="Subject: one B encoded-word, charset ISO-2022-JP (escape sequences inside); "
             "body ISO-2022-JP, 7bit."),
    "shiftjis-body.eml": dict(
        subject="Sale",
        parts=[("text/plain", "ｾｰﾙ開催中\nＦＲＥＥ\u3000ＭＯＮＥＹ")],
        note="Body Shift_JIS, base64: half-width katakana (U+FF7E U+FF70 U+FF99) and "
             "full-width Latin; the gap in the second line is U+3000 IDEOGRAPHIC SPACE. "
             "No NFKC folding is implied here."),
    "euckr-body.eml": dict(
        subject="Hello",
        parts=[("text/plain", "무료 광고 상품")],
        note="Body EUC-KR, base64."),
    "koi8r-subject.eml": dict(
        subject="Скидки только сегодня",
        parts=[("text/plain", "Only today, see our catalogue.")],
        note="Subject: two adjacent Q encoded-words, charset KOI8-R, on a folded line; the "
             "space before `сегодня` is the `_` at the end of the first word and the folding "
             "whitespace between the words must be dropped (RFC 2047 6.2)."),
    "win1251-body.eml": dict(
        subject="Newsletter",
        parts=[("text/plain", "Бесплатная рассылка")],
        note="Body windows-1251, 8bit."),
    "html-only.eml": dict(
        subject="Your order",
        parts=[("text/html", "Click here for VIAGRA & more 促销")],
        note="Single text/html part, UTF-8, quoted-printable with soft breaks inside tags. "
             "`casino` (in `<script>`) and `.x`/`color:red` (in `<style>`) must not appear in "
             "the text; `&amp;` -> `&`, `&#20419;&#38144;` -> `促销`; link URL "
             "`http://cheap-pills.example/buy?id=1`."),
    "rfc2231-attachment.eml": dict(
        subject="Order",
        parts=[("text/plain", "Please see the attached order."),
               ("attachment", "发票代开.pdf")],
        note="multipart/mixed. Content-Disposition filename in RFC 2231 continuations "
             "(`filename*0*`, `filename*1*`, UTF-8, percent-encoded); Content-Type has the "
             "same name as a single `name*=` parameter. Attachment is a 142-byte stub PDF."),
    "encoded-attachment-name.eml": dict(
        subject="Quotation",
        parts=[("text/plain", "Please find our quotation attached."),
               ("attachment", "报价单_invoice.exe")],
        note="multipart/mixed. `name=` and `filename=` are quoted strings holding an RFC 2047 "
             "B encoded-word in GB18030 (Outlook/Foxmail style, not standard but common). "
             "Attachment is a 47-byte stub starting with `MZ`."),
    "plain-ham.eml": dict(
        subject="Quotation request: 500 x LED panel 600x600",
        parts=[("text/plain", HAM.rstrip("\n"))],
        note="Ordinary business mail (quotation request, FOB Shanghai), 7bit us-ascii, "
             "no spam words."),
    "compat-forms.eml": dict(
        subject="𝐅𝐑𝐄𝐄 𝐆𝐈𝐅𝐓 ㈱",
        parts=[("text/plain", COMPAT_BODY)],
        note="Subject: one B encoded-word, UTF-8, in mathematical bold letters and a "
             "parenthesized ideograph; body UTF-8, base64: half-width katakana with voiced "
             "marks, a circled digit, a ligature, a trade mark sign and a spacing acute accent. "
             "NFKC folds them for matching (`free gift (株)`, `パスポート 1号 financetm don´t`)."),
    "multipart-alternative.eml": dict(
        subject="Limited offer",
        parts=[("text/plain", "Limited offer"),
               ("text/html", "Limited offer just for you")],
        note="multipart/alternative; From display name `PayPal`, address "
             "`service@paypa1-secure.example` (digit 1 for l)."),
}


# ---------------------------------------------------------------- checks

class HtmlText(html.parser.HTMLParser):
    """Visible text of an HTML part: skips <script> and <style>, decodes entities."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.parts = []
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "a":
            self.links.extend(v for k, v in attrs if k == "href")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(s):
    p = HtmlText()
    p.feed(s)
    p.close()
    # Collapse ASCII whitespace only (str.split() would also eat U+3000).
    text = "".join(p.parts)
    return " ".join(t for t in text.replace("\t", " ").replace("\r", " ")
                    .replace("\n", " ").split(" ") if t), p.links


def rfc2047_filename(name):
    """Decode an encoded-word left inside a quoted parameter, as mail clients do
    (Python's policy=default already does this itself)."""
    if name and "=?" in name:
        return str(email.header.make_header(email.header.decode_header(name)))
    return name


def check_raw(name, raw):
    assert b"\n" not in raw.replace(b"\r\n", b""), name + ": bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), name + ": bare CR"
    assert raw.endswith(b"\r\n"), name
    for line in raw.split(b"\r\n"):
        assert len(line) <= 78, (name, line)
    raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # top-level header block is 7-bit


def extract(raw):
    """(subject, [(kind, text)], notes) using email.policy.default."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    got, notes = [], []
    notes += ["defect: %r" % d for d in msg.defects]
    for part in msg.walk():
        if part.is_multipart():
            continue
        notes += ["part defect: %r" % d for d in part.defects]
        ct = part.get_content_type()
        if part.get_content_disposition() == "attachment" or part.get_filename():
            fn = rfc2047_filename(part.get_filename())
            cn = part.get_param("name", header="content-type")
            if isinstance(cn, tuple):
                cn = email.utils.collapse_rfc2231_value(cn)
            cn = rfc2047_filename(cn)
            if cn != fn:
                notes.append("Content-Type name %r differs from filename %r" % (cn, fn))
            notes.append("attachment %s, %d bytes" % (ct, len(part.get_content())))
            got.append(("attachment", fn))
        elif ct == "text/html":
            text, links = html_text(part.get_content())
            notes.append("html links %r" % links)
            got.append(("text/html", text))
        else:
            notes.append("%s charset=%s cte=%s" % (ct, part.get_content_charset(),
                                                   part.get("content-transfer-encoding")))
            body = part.get_content().replace("\r\n", "\n")
            got.append((ct, body[:-1] if body.endswith("\n") else body))
    return str(msg["subject"]), got, notes


def md(s):
    return "`%s`" % s.replace("\n", "\\n").replace("\u3000", "\\u3000")


def write_readme():
    out = [
        "# Golden messages for the spam-filter decoder",
        "",
        "Generated by `make.py` (Python 3 standard library only; run it again to regenerate,",
        "output is byte-identical). Raw RFC 5322, CRLF line endings, every file has From,",
        "To (`alice@example.test`), Date, Message-ID and MIME-Version. `make.py` re-parses each",
        "file with Python's `email` package (`policy=email.policy.default`) and checks it",
        "against the expectations below.",
        "",
        "Each line: file - decoded Subject - decoded body text per part - decoded attachment",
        "names. Body text is after transfer and charset decoding, line breaks written `\\n`,",
        "trailing line break dropped; `\\u3000` is U+3000 IDEOGRAPHIC SPACE; for text/html only",
        "the visible text (no script/style, entities decoded, whitespace runs collapsed).",
        "",
    ]
    for name, e in EXPECTED.items():
        texts = ["%s %s" % (k, md(t)) for k, t in e["parts"] if k != "attachment"]
        atts = [md(t) for k, t in e["parts"] if k == "attachment"]
        if name == "plain-ham.eml":
            texts = ["text/plain: identical to the raw body (17 lines, `Dear Mr. Chen,` ... "
                     "`Purchasing, Noordlicht B.V.`)"]
        out.append("- `%s` - subject %s - body: %s - attachments: %s. %s"
                   % (name, md(e["subject"]), "; ".join(texts),
                      ", ".join(atts) if atts else "none", e["note"]))
    out.append("")
    with open(os.path.join(HERE, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out))


def main():
    assert set(FILES) == set(EXPECTED)
    for name, raw in FILES.items():
        check_raw(name, raw)
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(raw)
    write_readme()
    failed = 0
    for name, e in EXPECTED.items():
        with open(os.path.join(HERE, name), "rb") as f:
            subject, parts, notes = extract(f.read())
        ok = subject == e["subject"] and parts == e["parts"]
        failed += not ok
        print("%s %s" % ("OK  " if ok else "FAIL", name))
        print("     subject: %r" % subject)
        for kind, text in parts:
            print("     %s: %r" % (kind, text))
        for n in notes:
            print("     (%s)" % n)
        if not ok:
            print("     expected: %r %r" % (e["subject"], e["parts"]))
    print("%d files, %d failed" % (len(EXPECTED), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
