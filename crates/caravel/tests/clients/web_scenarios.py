"""The web sign-in API end to end over HTTP (and HTTPS), with http.client,
run by tests/web_sign_in.rs. Ports from HTTP_PORT, HTTPS_PORT, IMAPS_PORT;
the CLI from CARAVEL_BIN and CARAVEL_CONFIG."""

import http.client
import imaplib
import json
import os
import re
import subprocess
import sys
import time

from common import HOST, PASSWORD, USER, ctx, expect, port, totp

HTTP, HTTPS, IMAPS = port("HTTP_PORT"), port("HTTPS_PORT"), port("IMAPS_PORT")
BOB, BOB_PASSWORD = "bob@example.test", "Builder-Key-2026!"


class Browser:
    """Keeps the session cookie, as a browser would."""

    def __init__(self, https=False):
        self.https, self.cookie, self.set_cookie, self.csrf = https, None, None, None

    def call(self, method, path, body=None, csrf=True):
        """A request as the web pages make it: the cookie, and for a change
        the anti-forgery token the sign-in answer gave (CSRF False leaves
        it out, as a forged request from another site would)."""
        c = (http.client.HTTPSConnection(HOST, HTTPS, context=ctx()) if self.https
             else http.client.HTTPConnection(HOST, HTTP))
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            headers["X-CSRF-Token"] = self.csrf
        c.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = c.getresponse()
        data = r.read()
        set_cookie = r.getheader("Set-Cookie")
        if set_cookie:
            self.set_cookie = set_cookie
            pair = set_cookie.split(";")[0]
            self.cookie = None if pair.endswith("=") else pair
        ctype = r.getheader("Content-Type") or ""
        body = json.loads(data) if ctype.startswith("application/json") else data
        if isinstance(body, dict) and body.get("csrf"):
            self.csrf = body["csrf"]
        return r.status, body


def caravel(*args):
    p = subprocess.run([os.environ["CARAVEL_BIN"], "--config", os.environ["CARAVEL_CONFIG"], *args],
                       capture_output=True, text=True)
    expect(p.returncode == 0, f"caravel {args}: {p.stderr}")
    return p.stdout


def imap_ok(user, password):
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    try:
        m.login(user, password)
        m.logout()
        return True
    except imaplib.IMAP4.error:
        return False


def found_in_inbox(user, password, subject, pattern):
    """PATTERN's group in the newest message of USER's INBOX with SUBJECT,
    waiting up to 20 s for it: the server answers a reset request before
    its message is delivered (the answer must not tell whether the account
    exists by how long it takes)."""
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    m.login(user, password)
    m.select("INBOX")
    deadline = time.monotonic() + 20
    while True:
        m.noop()
        typ, data = m.search(None, "SUBJECT", f'"{subject}"')
        ids = data[0].split()
        if ids or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    expect(ids, f"{subject!r} arrived in the recovery mailbox")
    typ, msg = m.fetch(ids[-1], "(BODY.PEEK[])")
    m.logout()
    return re.search(pattern, msg[0][1]).group(1).decode()


def code_in_inbox(user, password):
    return found_in_inbox(user, password, "sign-in code", rb"Your code is: (\d{6})")


def web_sign_in():
    b = Browser()
    status, body = b.call("GET", "/healthz")
    expect(status == 200 and body == b"ok\n", f"healthz {status} {body}")
    status, body = b.call("POST", "/api/v1/session", {"address": USER})
    expect(status == 400 and "password" in body["error"], f"a malformed request, answered in JSON: {status} {body}")
    status, body = b.call("POST", "/api/v1/session", {"address": USER, "password": "wrong"})
    expect(status == 401 and "Wrong address or password" in body["error"], f"{status} {body}")
    status, body = b.call("POST", "/api/v1/session", {"address": USER, "password": PASSWORD})
    expect(status == 200 and body["signed_in"], f"{status} {body}")
    flags = b.set_cookie.lower()
    expect("httponly" in flags and "samesite=strict" in flags and "max-age=" in flags and "secure" not in flags, flags)
    status, body = b.call("GET", "/api/v1/session")
    expect(status == 200 and body["address"] == USER and body["two_factor"] is False, f"{body}")

    # Enrollment: URI, then the QR code as a PNG, then a first code.
    status, body = b.call("POST", "/api/v1/2fa/enroll", {"password": "wrong password"})
    expect(status == 403, f"enrollment asks for the password again: {status} {body}")
    status, body = b.call("POST", "/api/v1/2fa/enroll", {"password": PASSWORD})
    expect(status == 200 and body["uri"].startswith("otpauth://totp/"), f"{status} {body}")
    uri = body["uri"]
    status, png = b.call("GET", "/api/v1/2fa/qr.png")
    expect(status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n", f"{status} {png[:20]}")
    status, body = b.call("POST", "/api/v1/2fa/confirm", {"code": totp(uri)})
    expect(status == 200 and len(body["recovery_codes"]) == 10, f"{status} {body}")
    recovery = body["recovery_codes"]

    # App passwords through the API; mail programs need them from now on.
    status, body = b.call("POST", "/api/v1/app-passwords", {"name": "Laptop", "password": PASSWORD})
    expect(status == 201, f"{status} {body}")
    app = body["password"]
    expect(imap_ok(USER, app) and not imap_ok(USER, PASSWORD), "IMAP: app password only")
    status, body = b.call("GET", "/api/v1/app-passwords")
    expect(status == 200 and [p["name"] for p in body] == ["Laptop"], f"{body}")
    status, _ = b.call("DELETE", "/api/v1/app-passwords/Laptop")
    expect(status == 204 and not imap_ok(USER, app), "revoked")

    status, body = b.call("DELETE", "/api/v1/session")
    expect(status == 200 and b.cookie is None, f"signed out: {status} {body} {b.cookie}")
    status, _ = b.call("GET", "/api/v1/session")
    expect(status == 401, "no session after sign-out")

    # Password, then TOTP. The session can do nothing before the code.
    b = Browser()
    status, body = b.call("POST", "/api/v1/session", {"address": USER, "password": PASSWORD})
    expect(status == 200 and not body["signed_in"] and "totp" in body["second_factor"], f"{body}")
    expect("email" not in body["second_factor"], "no recovery address yet")
    status, _ = b.call("GET", "/api/v1/app-passwords")
    expect(status == 401, "a pending session is not signed in")
    wrong = "%06d" % ((int(totp(uri)) + 1) % 1000000)
    status, body = b.call("POST", "/api/v1/session/totp", {"code": wrong})
    expect(status == 400 and "not right" in body["error"], f"{status} {body}")
    pending_cookie = b.cookie
    code = totp(uri)
    status, body = b.call("POST", "/api/v1/session/totp", {"code": code})
    if status == 400 and "already used" in body.get("error", ""):
        # The confirmation used this 30-second step: wait for the next one.
        time.sleep(30 - time.time() % 30 + 1)
        code = totp(uri)
        status, body = b.call("POST", "/api/v1/session/totp", {"code": code})
    expect(status == 200 and body["signed_in"], f"TOTP: {status} {body}")
    expect(b.cookie != pending_cookie, "a new session token once signed in")
    stale = Browser()
    stale.cookie = pending_cookie
    status, _ = stale.call("GET", "/api/v1/session")
    expect(status == 401, "the pending token is gone")
    # The same code again, in another sign-in: refused.
    b2 = Browser()
    b2.call("POST", "/api/v1/session", {"address": USER, "password": PASSWORD})
    status, body = b2.call("POST", "/api/v1/session/totp", {"code": code})
    expect(status == 400 and "already used" in body["error"], f"replay: {status} {body}")

    # Password, then a recovery code (once only).
    status, body = b2.call("POST", "/api/v1/session/recovery", {"code": recovery[0]})
    expect(status == 200 and body["signed_in"], f"recovery: {status} {body}")
    b3 = Browser()
    b3.call("POST", "/api/v1/session", {"address": USER, "password": PASSWORD})
    status, body = b3.call("POST", "/api/v1/session/recovery", {"code": recovery[0]})
    expect(status == 400, f"a used recovery code: {status} {body}")

    # Password, then a code sent to the recovery address (bob's mailbox).
    caravel("user", "set", USER, "--recovery", BOB)
    b4 = Browser()
    status, body = b4.call("POST", "/api/v1/session", {"address": USER, "password": PASSWORD})
    expect("email" in body["second_factor"], f"{body}")
    status, body = b4.call("POST", "/api/v1/session/email-code", {})
    expect(status == 202 and body["sent_to"] == "b***@example.test", f"{status} {body}")
    status, body = b4.call("POST", "/api/v1/session/email-code", {})
    expect(status == 429, f"a second code at once: {status} {body}")
    mailed = code_in_inbox(BOB, BOB_PASSWORD)
    status, body = b4.call("POST", "/api/v1/session/email", {"code": mailed})
    expect(status == 200 and body["signed_in"], f"email code: {status} {body}")
    b5 = Browser()
    b5.call("POST", "/api/v1/session", {"address": USER, "password": PASSWORD})
    status, body = b5.call("POST", "/api/v1/session/email", {"code": mailed})
    expect(status == 400, f"a used email code: {status} {body}")

    # A reset through the recovery address (bob's mailbox) also needs the
    # second factor: the recovery mailbox alone must not take the account.
    status, _ = b.call("GET", "/api/v1/session")
    expect(status == 200, "still signed in")
    status, _ = Browser().call("POST", "/api/v1/password-reset", {"address": USER})
    expect(status == 202, "reset asked")
    token = reset_code_in_inbox(BOB, BOB_PASSWORD)
    new = "Another-Secret-Key-2027"
    status, body = Browser().call("POST", "/api/v1/password-reset/confirm", {"token": token, "password": new})
    expect(status == 400 and "two-factor" in body["error"], f"reset without the second factor: {status} {body}")
    status, body = Browser().call("POST", "/api/v1/password-reset/confirm",
                                  {"token": token, "password": new, "code": recovery[1]})
    expect(status == 200 and body["password_changed"], f"reset with a recovery code: {status} {body}")
    status, _ = b.call("GET", "/api/v1/session")
    expect(status == 401, "revoked by the password change")
    # The account is told (read with an app password: two-factor is on, and
    # the reset revoked the earlier ones).
    app = caravel("app-password", "add", USER, "Check").strip().splitlines()[-1]
    found_in_inbox(USER, app, "Your password was changed", rb"(reset through its recovery address)")


def reset_code_in_inbox(user, password):
    return found_in_inbox(user, password, "Reset the password", rb"Your reset code is: ([0-9a-f]{64})")


def password_reset():
    """Forgot password: a one-time code to the recovery address (alice's
    mailbox, read over IMAP), then a new password; sessions end."""
    b = Browser()
    status, body = b.call("POST", "/api/v1/password-reset", {"address": "nobody@example.test"})
    expect(status == 202, "the same answer for an unknown account")
    caravel("user", "set", BOB, "--recovery", USER)
    signed_in = Browser()
    signed_in.call("POST", "/api/v1/session", {"address": BOB, "password": BOB_PASSWORD})
    status, body = b.call("POST", "/api/v1/password-reset", {"address": BOB})
    expect(status == 202, f"{status} {body}")
    token = reset_code_in_inbox(USER, PASSWORD)
    status, body = b.call("POST", "/api/v1/password-reset/confirm", {"token": token, "password": "short"})
    expect(status == 400 and "at least 10" in body["error"], f"policy: {status} {body}")
    new = "Fresh-Harbour-Key-2027"
    status, body = b.call("POST", "/api/v1/password-reset/confirm", {"token": token, "password": new})
    expect(status == 200 and body["password_changed"], f"{status} {body}")
    status, body = b.call("POST", "/api/v1/password-reset/confirm", {"token": token, "password": "Another-New-Key-2028"})
    expect(status == 400, f"a used code: {status} {body}")
    expect(imap_ok(BOB, new) and not imap_ok(BOB, BOB_PASSWORD), "the new password works, the old one not")
    status, _ = signed_in.call("GET", "/api/v1/session")
    expect(status == 401, "web sessions ended by the reset")


def https_cookie_is_secure():
    b = Browser(https=True)
    status, body = b.call("POST", "/api/v1/session", {"address": BOB, "password": BOB_PASSWORD})
    expect(status == 200 and body["signed_in"], f"{status} {body}")
    expect("; secure" in b.set_cookie.lower(), b.set_cookie)
    status, body = b.call("POST", "/api/v1/sign-out-everywhere", {"app_passwords": False})
    expect(status == 200 and body["signed_out"], f"{status} {body}")
    status, _ = b.call("GET", "/api/v1/session")
    expect(status == 401, "signed out everywhere")


def sms_sign_in():
    """The second factor by text message, through a webhook on this
    machine standing in for the SMS provider."""
    import http.server
    import threading
    got = []
    fail = {"now": False}

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, self.headers.get("Authorization"), json.loads(body)))
            self.send_response(500 if fail["now"] else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = http.server.HTTPServer((HOST, int(os.environ["SMS_PORT"])), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()

    uri = caravel("2fa", "enroll", BOB).strip().splitlines()[-1]
    caravel("2fa", "confirm", BOB, totp(uri))
    # No number yet: no text messages offered.
    b = Browser()
    status, body = b.call("POST", "/api/v1/session", {"address": BOB, "password": BOB_PASSWORD})
    expect(status == 200 and "sms" not in body["second_factor"], f"{body}")
    status, body = b.call("POST", "/api/v1/session/sms-code")
    expect(status == 400 and "no mobile number" in body["error"], f"{status} {body}")

    out = caravel("user", "set", BOB, "--phone", "+86 138 0013 8000")
    expect("+8613800138000" in out, out)
    out = caravel("sms", "test", "+86 138 0013 8000")
    expect("took a test message" in out and got[-1][2]["purpose"] == "test", f"{out} {got}")
    # The same test from the console, by the server's administrator.
    caravel("user", "set", USER, "--role", "admin")
    admin = Browser()
    admin.call("POST", "/api/v1/session", {"address": USER, "password": PASSWORD})
    status, body = admin.call("POST", "/api/v1/sms/test", {"number": "+86 138 0013 8000"})
    expect(status == 200 and body["sent_to"] == "+8613800138000" and got[-1][2]["code"] == body["code"]
           and got[-1][2]["purpose"] == "test", f"{status} {body} {got[-1]}")

    b = Browser()
    status, body = b.call("POST", "/api/v1/session", {"address": BOB, "password": BOB_PASSWORD})
    expect(status == 200 and not body["signed_in"] and "sms" in body["second_factor"], f"{body}")
    status, body = b.call("POST", "/api/v1/session/sms-code")
    expect(status == 202 and body["sent_to"] == "+86*******8000", f"{status} {body}")
    path, auth, msg = got[-1]
    expect(path == "/send" and auth == "Bearer hook-secret", f"{path} {auth}")
    expect(msg["to"] == "+8613800138000" and msg["purpose"] == "sign-in" and re.fullmatch(r"\d{6}", msg["code"])
           and msg["code"] in msg["text"], f"{msg}")
    code = msg["code"]
    status, body = b.call("POST", "/api/v1/session/sms-code")
    expect(status == 429 and "wait a minute" in body["error"], f"one code a minute: {status} {body}")
    wrong = "000000" if code != "000000" else "111111"
    status, body = b.call("POST", "/api/v1/session/sms", {"code": wrong})
    expect(status == 400 and "not right" in body["error"], f"{status} {body}")
    status, body = b.call("GET", "/api/v1/app-passwords")
    expect(status == 401, "nothing before the code")
    status, body = b.call("POST", "/api/v1/session/sms", {"code": code})
    expect(status == 200 and body["signed_in"], f"{status} {body}")
    status, body = b.call("GET", "/api/v1/session")
    expect(status == 200 and body["signed_in"], f"{body}")

    # The code belonged to that sign-in: a new one cannot use it.
    c = Browser()
    c.call("POST", "/api/v1/session", {"address": BOB, "password": BOB_PASSWORD})
    status, body = c.call("POST", "/api/v1/session/sms", {"code": code})
    expect(status == 400, f"replayed code: {status} {body}")
    # The provider failing: said in plain words.
    fail["now"] = True
    status, body = c.call("POST", "/api/v1/session/sms-code")
    expect(status == 502 and "could not be sent" in body["error"], f"{status} {body}")
    hook.shutdown()


if __name__ == "__main__":
    globals()[sys.argv[1]]()
