"""Sign-in security end to end, run by tests/sign_in_security.rs: the real
`caravel` binary for 2fa and app-password commands, Python's imaplib,
poplib and smtplib as the mail programs. Usage: security_scenarios.py
SCENARIO; ports from IMAPS_PORT, POP3S_PORT, SUBMISSIONS_PORT; the binary and
its config from CARAVEL_BIN and CARAVEL_CONFIG; the database from CARAVEL_DB."""

import imaplib
import json
import os
import poplib
import smtplib
import sqlite3
import sys

from common import HOST, PASSWORD, USER, caravel, ctx, expect, port, totp

IMAPS = port("IMAPS_PORT")
POP3S = port("POP3S_PORT")
SUBMISSIONS = port("SUBMISSIONS_PORT")
BOB, BOB_PASSWORD = "bob@example.test", "Builder-Key-2026!"


def attempt(sign_in, errors):
    """(ok, the server's words when refused)."""
    try:
        sign_in()
        return True, ""
    except errors as e:
        return False, str(e)


def imap_login(user, password):
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    return attempt(lambda: (m.login(user, password), m.logout()), imaplib.IMAP4.error)


def pop3_login(user, password):
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    return attempt(lambda: (p.user(user), p.pass_(password), p.quit()), poplib.error_proto)


def smtp_login(user, password):
    s = smtplib.SMTP_SSL(HOST, SUBMISSIONS, context=ctx())
    return attempt(lambda: (s.login(user, password), s.quit()), smtplib.SMTPException)


def two_factor():
    qr = os.path.join(os.path.dirname(os.environ["CARAVEL_CONFIG"]), "qr.png")
    out = caravel("2fa", "enroll", USER, "--qr", qr).stdout
    uri = out.strip().splitlines()[-1]
    expect(uri.startswith("otpauth://totp/example.test:alice@example.test?secret="), uri)
    secret = uri.split("secret=")[1].split("&")[0]
    expect("█" in out or "▀" in out, "a QR code drawn in the terminal")
    with open(qr, "rb") as f:
        expect(f.read(8) == b"\x89PNG\r\n\x1a\n", "--qr writes a PNG")
    # Nothing is enforced before confirmation.
    expect(imap_login(USER, PASSWORD)[0], "password still works before confirm")
    wrong = caravel("2fa", "confirm", USER, "000000" if totp(secret) != "000000" else "111111", check=False)
    expect(wrong.returncode == 1 and "not right" in wrong.stderr, wrong.stderr)
    out = caravel("2fa", "confirm", USER, totp(secret)).stdout.strip().splitlines()
    codes = out[-10:]
    expect(len(set(codes)) == 10 and all(len(c) == 11 and c[5] == "-" for c in codes), f"{out}")
    again = caravel("2fa", "confirm", USER, totp(secret), check=False)
    expect(again.returncode == 1 and "already on" in again.stderr, again.stderr)
    # The account password alone no longer signs mail programs in.
    for name, login in [("IMAP", imap_login), ("POP3", pop3_login), ("SMTP", smtp_login)]:
        ok, text = login(USER, PASSWORD)
        expect(not ok and "app password" in text, f"{name} with the bare password: {text}")
    password = caravel("app-password", "add", USER, "Phone").stdout.strip().splitlines()[-1]
    expect(len(password) == 19 and password.count("-") == 3, password)
    for name, login in [("IMAP", imap_login), ("POP3", pop3_login), ("SMTP", smtp_login)]:
        ok, text = login(USER, password)
        expect(ok, f"{name} with the app password: {text}")
    expect(imap_login(USER, password.replace("-", " ").upper())[0], "spaces and case are forgiven")
    listed = json.loads(caravel("app-password", "list", USER, "--json").stdout)
    expect([p["name"] for p in listed] == ["Phone"] and listed[0]["last_used"], f"{listed}")
    dup = caravel("app-password", "add", USER, "Phone", check=False)
    expect(dup.returncode == 1, "one name, one password")
    caravel("app-password", "del", USER, "Phone")
    ok, text = imap_login(USER, password)
    expect(not ok and "AUTHENTICATIONFAILED" in text, f"revoked: {text}")
    caravel("2fa", "disable", USER)
    expect(imap_login(USER, PASSWORD)[0], "password works again once two-factor is off")


def lockout():
    phone = caravel("app-password", "add", BOB, "Phone").stdout.strip().splitlines()[-1]
    # Five failures across IMAP and SMTP lock the account for every protocol.
    for login in [imap_login, smtp_login, imap_login, smtp_login, imap_login]:
        expect(not login(BOB, "wrong password")[0], "wrong password refused")
    ok, text = imap_login(BOB, BOB_PASSWORD)
    expect(not ok and "locked" in text, f"IMAP while locked: {text}")
    ok, text = smtp_login(BOB, BOB_PASSWORD)
    expect(not ok and "535" in text and "locked" in text, f"SMTP while locked: {text}")
    ok, text = pop3_login(BOB, BOB_PASSWORD)
    expect(not ok and "locked" in text, f"POP3 while locked: {text}")
    # An attacker locking the account does not cut off its phone.
    expect(imap_login(BOB, phone)[0], "an app password works through the lock")
    db = sqlite3.connect(f"file:{os.environ['CARAVEL_DB']}?mode=ro", uri=True)
    rows = db.execute("SELECT detail FROM mail_log WHERE kind = 'locked' AND recipient = ?", (BOB,)).fetchall()
    expect(len(rows) == 1 and "127.0.0.1" in rows[0][0], f"mail log: {rows}")
    users = json.loads(caravel("user", "list", "--json").stdout)
    expect([u["locked"] for u in users if u["address"] == BOB] == [True], f"{users}")
    caravel("user", "unlock", BOB)
    expect(imap_login(BOB, BOB_PASSWORD)[0], "unlocked by the CLI")


def ip_ban():
    # The server allows 4 failures per address: spread over accounts and POP3.
    for user in ["nobody@example.test", BOB, "ghost@example.test", USER]:
        expect(not pop3_login(user, "wrong password")[0], "refused")
    ok, text = imap_login(USER, PASSWORD)
    expect(not ok and "UNAVAILABLE" in text and "your address" in text, f"IMAP from a banned address: {text}")
    ok, text = smtp_login(USER, PASSWORD)
    expect(not ok and "454" in text, f"SMTP from a banned address: {text}")
    db = sqlite3.connect(f"file:{os.environ['CARAVEL_DB']}?mode=ro", uri=True)
    rows = db.execute("SELECT detail FROM mail_log WHERE kind = 'banned'").fetchall()
    expect(len(rows) == 1 and rows[0][0].startswith("127.0.0.1 banned"), f"mail log: {rows}")


def protocol_switches():
    """Per-account switches, enforced at sign-in on every listener, in
    plain words once the password is right; the domain's setting is what
    new accounts get."""
    phone = caravel("app-password", "add", BOB, "Phone").stdout.strip().splitlines()[-1]
    out = caravel("user", "set", BOB, "--imap", "off").stdout
    expect("IMAP off" in out and "SMTP on" in out, out)
    for password in (BOB_PASSWORD, phone):
        ok, text = imap_login(BOB, password)
        expect(not ok and "CONTACTADMIN" in text and "IMAP is turned off for this account" in text
               and f"caravel user set {BOB} --imap on" in text, text)
    # A wrong password is told nothing about the switch.
    ok, text = imap_login(BOB, "Wrong-Password-2026")
    expect(not ok and "AUTHENTICATIONFAILED" in text and "turned off" not in text, text)
    expect(pop3_login(BOB, BOB_PASSWORD)[0] and smtp_login(BOB, BOB_PASSWORD)[0], "the others stay on")
    # With STARTTLS on 143 too.
    m = imaplib.IMAP4(HOST, port("IMAP_PORT"))
    m.starttls(ssl_context=ctx())
    ok, text = attempt(lambda: m.login(BOB, BOB_PASSWORD), imaplib.IMAP4.error)
    expect(not ok and "turned off" in text, text)

    caravel("user", "set", BOB, "--imap", "on", "--pop3", "off", "--smtp", "off")
    expect(imap_login(BOB, BOB_PASSWORD)[0], "IMAP back on")
    ok, text = pop3_login(BOB, BOB_PASSWORD)
    expect(not ok and "[SYS/PERM] POP3 is turned off for this account" in text, text)
    ok, text = smtp_login(BOB, BOB_PASSWORD)
    expect(not ok and "535" in text and "5.7.1" in text and "Sending mail (SMTP) is turned off" in text, text)
    # Submission on 587 (STARTTLS) as well; receiving mail is not affected.
    s = smtplib.SMTP(HOST, port("SUBMISSION_PORT"))
    s.starttls(context=ctx())
    ok, text = attempt(lambda: s.login(BOB, BOB_PASSWORD), smtplib.SMTPException)
    expect(not ok and "turned off" in text, text)
    mx = smtplib.SMTP(HOST, port("SMTP_PORT"))
    refused = mx.sendmail("buyer@partner.test", [BOB], b"Subject: order\r\n\r\nStill received.\r\n")
    mx.quit()
    expect(refused == {}, f"mail to the account still arrives: {refused}")
    users = json.loads(caravel("user", "list", "--json").stdout)
    (b,) = [u for u in users if u["address"] == BOB]
    expect(b["protocols"] == {"smtp": False, "imap": True, "pop3": False}, b)
    expect(caravel("user", "set", BOB, "--imap", "maybe", check=False).returncode == 2, "on or off only")

    # The domain's setting: for accounts made after it.
    out = caravel("domain", "set", "example.test", "--pop3", "off").stdout
    expect("POP3 off" in out and "existing users keep theirs" in out, out)
    domains = json.loads(caravel("domain", "list", "--json").stdout)
    expect(domains[0]["protocols"] == {"smtp": True, "imap": True, "pop3": False}, domains)
    caravel("user", "add", "carol@example.test", "--password-stdin", input="Harbour-Gate-2026-x")
    ok, text = pop3_login("carol@example.test", "Harbour-Gate-2026-x")
    expect(not ok and "POP3 is turned off" in text, text)
    expect(imap_login("carol@example.test", "Harbour-Gate-2026-x")[0], "IMAP on for carol")
    expect(pop3_login(USER, PASSWORD)[0], "alice (made before) keeps POP3")
    caravel("user", "set", "carol@example.test", "--pop3", "on")
    expect(pop3_login("carol@example.test", "Harbour-Gate-2026-x")[0], "turned on for one account")

    # The phone number for text-message codes, kept in international form.
    out = caravel("user", "set", BOB, "--phone", "+86 138-0013-8000").stdout
    expect("+8613800138000" in out, out)
    users = json.loads(caravel("user", "list", "--json").stdout)
    expect([u["phone"] for u in users if u["address"] == BOB] == ["+8613800138000"], users)
    out = caravel("user", "set", BOB, "--phone", "021 5555 1234").stdout
    expect("signatures only" in out, out)


if __name__ == "__main__":
    globals()[sys.argv[1]]()
