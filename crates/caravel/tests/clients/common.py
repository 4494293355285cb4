"""What the scenario scripts share: the server's address and ports (from the
environment the Rust tests set), the test user, a TLS context that accepts the
self-signed certificate, the failure helper, and reading folders over IMAP."""

import imaplib
import os
import ssl
import subprocess
import sys

HOST = "127.0.0.1"
USER, PASSWORD = "alice@example.test", "Wonderland-Key-2026"


def port(name):
    return int(os.environ.get(name, "0"))


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def expect(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


def imap_session(user, password, imaps=None):
    """An IMAPS session signed in as USER (on IMAPS_PORT unless IMAPS)."""
    i = imaplib.IMAP4_SSL(HOST, imaps or port("IMAPS_PORT"), ssl_context=ctx())
    i.login(user, password)
    return i


def imap_messages(user, password, folder, imaps=None):
    """(flags, message) for each message in FOLDER, by UID, nothing marked
    seen; headers decoded (the email package's modern policy). A folder
    that does not exist has none."""
    from email import policy
    from email.parser import BytesParser
    i = imap_session(user, password, imaps)
    out = []
    status, _ = i.select(f'"{folder}"', readonly=True)
    if status == "OK":
        _, data = i.uid("SEARCH", None, "ALL")
        for uid in data[0].split():
            _, d = i.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            parts = [p for p in d if isinstance(p, tuple)]
            out.append((parts[0][0].decode(), BytesParser(policy=policy.default).parsebytes(parts[0][1])))
    i.logout()
    return out


def imap_subjects(user, password, folder="INBOX"):
    """The Subject field of each message in FOLDER, as sent (not decoded)."""
    i = imap_session(user, password)
    i.select(f'"{folder}"', readonly=True)
    _, data = i.search(None, "ALL")
    out = []
    for n in data[0].split():
        _, msg = i.fetch(n, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out.append(msg[0][1].decode(errors="replace").strip())
    i.logout()
    return out


def totp(secret, at=None):
    """RFC 6238 with HMAC-SHA-1, 6 digits, 30 s: what an authenticator app
    shows for the base32 SECRET (or an otpauth:// URI holding it)."""
    import base64
    import hmac
    import time
    if secret.startswith("otpauth://"):
        secret = secret.split("secret=")[1].split("&")[0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((at if at is not None else time.time()) // 30)
    mac = hmac.new(key, counter.to_bytes(8, "big"), "sha1").digest()
    o = mac[-1] & 15
    return "%06d" % ((int.from_bytes(mac[o:o + 4], "big") & 0x7FFFFFFF) % 1000000)


def caravel(*args, check=True, input=None):
    """Runs an admin command against the server under test (CARAVEL_BIN
    with CARAVEL_CONFIG), with INPUT on standard input; with CHECK it must
    succeed."""
    p = subprocess.run([os.environ["CARAVEL_BIN"], "--config", os.environ["CARAVEL_CONFIG"], *args],
                       capture_output=True, text=True, input=input)
    if check:
        expect(p.returncode == 0, f"caravel {' '.join(args)}: {p.returncode} {p.stdout} {p.stderr}")
    return p
