"""The administration API over HTTP, run by tests/admin_api.rs, as the web
console calls it: a session cookie, the anti-forgery token, JSON in and out,
every error as {"error": ...}. Roles: alice is the server's admin, bob the
domain admin of example.test, carol a user of other.test.
Ports from HTTP_PORT."""

import http.client
import json
import sys
import urllib.parse

from common import HOST, USER, PASSWORD, caravel, expect, port

HTTP = port("HTTP_PORT")
BOB, BOB_PASSWORD = "bob@example.test", "Builder-Key-2026!"
CAROL, CAROL_PASSWORD = "carol@other.test", "Harbour-Gate-2026-x"


class Session:
    def __init__(self, address=None, password=None):
        self.cookie, self.csrf = None, None
        if address:
            status, body = self.call("POST", "/api/v1/session", {"address": address, "password": password})
            expect(status == 200 and body["signed_in"] and body["csrf"], f"sign in {address}: {status} {body}")

    def call(self, method, path, body=None, csrf=True):
        c = http.client.HTTPConnection(HOST, HTTP, timeout=30)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if csrf and self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        raw = body if isinstance(body, bytes) else (json.dumps(body) if body is not None else None)
        c.request(method, path, raw, headers)
        r = c.getresponse()
        data = r.read()
        if r.getheader("Set-Cookie"):
            pair = r.getheader("Set-Cookie").split(";")[0]
            self.cookie = None if pair.endswith("=") else pair
        ctype = r.getheader("Content-Type") or ""
        out = json.loads(data) if ctype.startswith("application/json") else data
        if isinstance(out, dict) and out.get("csrf"):
            self.csrf = out["csrf"]
        c.close()
        return r.status, out


def q(address):
    return urllib.parse.quote(address, safe="@")


def refused(result, status, words=""):
    got, body = result
    expect(got == status and isinstance(body, dict) and set(body) == {"error"} and words in body["error"],
           f"expected {status} with {words!r}: {got} {body}")


def setup():
    caravel("domain", "add", "other.test")
    caravel("user", "add", CAROL, "--password-stdin", input=CAROL_PASSWORD)
    caravel("user", "set", USER, "--role", "admin")
    caravel("user", "set", BOB, "--role", "domain-admin")


def admin():
    setup()
    a = Session(USER, PASSWORD)
    # Anti-forgery: the cookie alone changes nothing.
    refused(a.call("POST", "/api/v1/domains", {"name": "new.test"}, csrf=False), 403, "X-CSRF-Token")
    a_forged = Session()
    a_forged.cookie, a_forged.csrf = a.cookie, "0" * 64
    refused(a_forged.call("POST", "/api/v1/domains", {"name": "new.test"}), 403, "X-CSRF-Token")
    status, d = a.call("POST", "/api/v1/domains", {"name": "New.Test"})
    expect(status == 200 and d["name"] == "new.test", d)
    refused(a.call("POST", "/api/v1/domains", {"name": "new.test"}), 409, "already exists")
    refused(a.call("POST", "/api/v1/domains", b"{not json", ), 400, "")
    status, domains = a.call("GET", "/api/v1/domains")
    expect(status == 200 and {d["name"] for d in domains} == {"example.test", "other.test", "new.test"}, domains)
    status, body = a.call("PUT", "/api/v1/domains/new.test/protocols", {"pop3": False})
    expect(status == 200 and body["protocols"] == {"smtp": True, "imap": True, "pop3": False}, body)

    status, body = a.call("POST", "/api/v1/users", {"address": "dan@new.test", "name": "Dan"})
    expect(status == 200 and len(body["password"]) >= 16 and body["user"]["protocols"]["pop3"] is False, body)
    refused(a.call("POST", "/api/v1/users", {"address": "dan@new.test"}), 409, "already exists")
    refused(a.call("POST", "/api/v1/users", {"address": "not-an-address"}), 400, "")
    refused(a.call("GET", "/api/v1/users/nobody@new.test"), 404, "no user")
    status, u = a.call("PATCH", "/api/v1/users/dan@new.test",
                       {"imap": False, "quota": "1G", "phone": "+86 138-0013-8000", "role": "domain-admin"})
    expect(status == 200 and u["protocols"] == {"smtp": True, "imap": False, "pop3": False}
           and u["quota"] == 1 << 30 and u["phone"] == "+8613800138000" and u["role"] == "domain-admin", u)
    refused(a.call("PATCH", "/api/v1/users/dan@new.test", {"phone": "12345"}), 400, "international form")
    refused(a.call("PATCH", "/api/v1/users/dan@new.test", {"role": "emperor"}), 400, "")
    status, u = a.call("GET", "/api/v1/users/dan@new.test")
    expect(status == 200 and u["name"] == "Dan" and "password_hash" not in u, u)
    status, _ = a.call("POST", "/api/v1/users/dan@new.test/unlock")
    expect(status == 200, "unlock")
    status, _ = a.call("PUT", "/api/v1/users/dan@new.test/password", {"password": "Lantern-Quay-2026"})
    expect(status == 200, "password")
    refused(a.call("PUT", "/api/v1/users/dan@new.test/password", {"password": "short"}), 400, "")
    status, alias = a.call("POST", "/api/v1/aliases", {"alias": "sales@new.test", "targets": ["dan@new.test"]})
    expect(status == 200 and alias["targets"] == ["dan@new.test"], alias)
    status, aliases = a.call("GET", "/api/v1/aliases")
    expect(any(x["address"] == "sales@new.test" for x in aliases), aliases)
    expect(a.call("DELETE", "/api/v1/aliases/sales@new.test")[0] == 200, "alias deleted")
    refused(a.call("DELETE", "/api/v1/domains/new.test"), 400, "delete them first")
    expect(a.call("DELETE", "/api/v1/users/dan@new.test")[0] == 200, "user deleted")
    expect(a.call("DELETE", "/api/v1/domains/new.test")[0] == 200, "domain deleted")
    refused(a.call("DELETE", f"/api/v1/users/{q(USER)}"), 403, "signed in with")
    refused(a.call("PATCH", f"/api/v1/users/{q(USER)}", {"role": "user"}), 403, "own role")
    # DKIM keys and the records to publish.
    status, body = a.call("POST", "/api/v1/domains/example.test/dkim", {"algorithm": "ed25519"})
    expect(status == 200 and body["record"]["type"] == "TXT" and body["record"]["value"].startswith("v=DKIM1; k=ed25519"),
           body)
    selector = body["key"]["selector"]
    status, keys = a.call("GET", "/api/v1/domains/example.test/dkim")
    expect(status == 200 and [k["selector"] for k in keys] == [selector], keys)
    expect(all("private" not in json.dumps(k).lower() for k in keys), f"no private key: {keys}")
    refused(a.call("POST", "/api/v1/domains/example.test/dkim", {"algorithm": "dsa"}), 400, "not a DKIM algorithm")
    status, records = a.call("GET", "/api/v1/domains/example.test/dns")
    expect(status == 200 and any(r["type"] == "MX" and r["name"] == "example.test" for r in records)
           and any(r["name"] == f"{selector}._domainkey.example.test" for r in records), records)
    expect(a.call("DELETE", f"/api/v1/domains/example.test/dkim/{selector}")[0] == 200, "key retired")
    # The outbound queue.
    status, queue = a.call("GET", "/api/v1/queue")
    expect(status == 200 and queue == [], queue)
    status, body = a.call("POST", "/api/v1/queue/retry")
    expect(status == 200 and body["recipients"] == 0, body)
    refused(a.call("DELETE", "/api/v1/queue/999"), 404, "")
    # The troubleshooter.
    status, checks = a.call("GET", "/api/v1/doctor")
    expect(status == 200 and any(c["name"] == "listeners" for c in checks), checks)
    status, checks = a.call("GET", f"/api/v1/doctor/{q(CAROL)}")
    expect(status == 200 and checks[0]["name"] != "listeners"
           and any(c["name"] == "account" and c["status"] == "ok" for c in checks), checks)
    status, traces = a.call("GET", "/api/v1/trace?message_id=nothing@nowhere.test")
    expect(status == 200 and traces == [], traces)
    refused(a.call("GET", "/api/v1/trace"), 400, "message_id, from or to")
    # Signed out: nothing.
    expect(a.call("DELETE", "/api/v1/session")[0] == 200, "signed out")
    refused(a.call("GET", "/api/v1/users"), 401, "Not signed in")
    print("admin ok")


def domain_admin():
    setup()
    b = Session(BOB, BOB_PASSWORD)
    status, domains = b.call("GET", "/api/v1/domains")
    expect(status == 200 and [d["name"] for d in domains] == ["example.test"], domains)
    status, users = b.call("GET", "/api/v1/users")
    expect(status == 200 and {u["address"] for u in users} == {USER, BOB}, users)
    refused(b.call("POST", "/api/v1/domains", {"name": "mine.test"}), 403, "admin")
    refused(b.call("POST", "/api/v1/users", {"address": "eve@other.test"}), 403, "does not administer other.test")
    status, body = b.call("POST", "/api/v1/users", {"address": "eve@example.test", "password": "Quayside-Lamp-2026"})
    expect(status == 200 and body["password"] is None, body)
    refused(b.call("PATCH", "/api/v1/users/eve@example.test", {"role": "admin"}), 403, "admin")
    status, u = b.call("PATCH", "/api/v1/users/eve@example.test", {"smtp": False})
    expect(status == 200 and u["protocols"]["smtp"] is False, u)
    refused(b.call("PATCH", f"/api/v1/users/{q(USER)}", {"role": "user"}), 403, "admin")
    refused(b.call("GET", f"/api/v1/users/{q(CAROL)}"), 403, "does not administer")
    refused(b.call("PUT", "/api/v1/domains/other.test/protocols", {"imap": False}), 403, "other.test")
    refused(b.call("POST", "/api/v1/aliases", {"alias": "x@other.test", "targets": [BOB]}), 403, "other.test")
    refused(b.call("GET", "/api/v1/doctor"), 403, "admin")
    refused(b.call("GET", "/api/v1/queue"), 403, "admin")
    refused(b.call("POST", "/api/v1/domains/other.test/dkim", {}), 403, "other.test")
    status, records = b.call("GET", "/api/v1/domains/example.test/dns")
    expect(status == 200 and records, records)
    status, checks = b.call("GET", "/api/v1/doctor/eve@example.test")
    expect(status == 200 and any(c["name"] == "protocols" and c["status"] == "warn" for c in checks), checks)
    refused(b.call("GET", f"/api/v1/trace?to={q(CAROL)}"), 403, "")
    # The server's administrator (alice) is in bob's domain, and out of
    # his reach: no password reset, no recovery address or number of his
    # choosing (the way to take an account), no unlock, no delete.
    for method, path, body in [
        ("PUT", f"/api/v1/users/{q(USER)}/password", {"password": "Taken-Over-2026-x"}),
        ("PATCH", f"/api/v1/users/{q(USER)}", {"recovery": "bob@example.test"}),
        ("PATCH", f"/api/v1/users/{q(USER)}", {"phone": "+86 138 0000 0000"}),
        ("POST", f"/api/v1/users/{q(USER)}/unlock", None),
        ("DELETE", f"/api/v1/users/{q(USER)}", None),
    ]:
        refused(b.call(method, path, body), 403, "administrator too")
    expect(Session(USER, PASSWORD).csrf, "alice's password still works")
    expect(b.call("DELETE", "/api/v1/users/eve@example.test")[0] == 200, "deleted")
    print("domain admin ok")


def user():
    setup()
    c = Session(CAROL, CAROL_PASSWORD)
    status, me = c.call("GET", "/api/v1/session")
    expect(status == 200 and me["role"] == "user" and me["csrf"] == c.csrf, me)
    refused(c.call("GET", "/api/v1/users"), 403, "administrator")
    refused(c.call("GET", "/api/v1/domains"), 403, "administrator")
    status, mine = c.call("GET", f"/api/v1/users/{q(CAROL)}")
    expect(status == 200 and mine["address"] == CAROL, mine)
    refused(c.call("GET", f"/api/v1/users/{q(USER)}"), 403, "")
    refused(c.call("PATCH", f"/api/v1/users/{q(CAROL)}", {"role": "admin"}), 403, "administrator")
    status, checks = c.call("GET", f"/api/v1/doctor/{q(CAROL)}")
    names = {x["name"] for x in checks}
    expect(status == 200 and {"account", "sign-in", "protocols", "sending"} <= names, checks)
    expect(not names & {"antivirus", "clamd", "quarantine"}, f"the server's parts are the admin's: {names}")
    # A Message-ID is the sender's to write: one copied from another
    # message must not show carol that message's other events.
    import smtplib
    for to in (USER, CAROL):
        s = smtplib.SMTP(HOST, port("SMTP_PORT"))
        s.sendmail("buyer@partner.test", [to], (f"From: buyer@partner.test\r\nTo: {to}\r\nSubject: offer\r\n"
                                               "Message-ID: <offer-77@partner.test>\r\n\r\nPrices.\r\n").encode())
        s.quit()
    status, traces = c.call("GET", f"/api/v1/trace?to={q(CAROL)}")
    expect(status == 200 and traces, traces)
    seen = [st.get("recipient") for t in traces for st in t["steps"]]
    expect(CAROL in seen and USER not in seen, f"only carol's own events: {seen}")
    refused(c.call("GET", f"/api/v1/doctor/{q(USER)}"), 403, "")
    status, traces = c.call("GET", f"/api/v1/trace?to={q(CAROL)}")
    expect(status == 200 and isinstance(traces, list), traces)
    refused(c.call("GET", f"/api/v1/trace?to={q(USER)}"), 403, "")
    refused(c.call("GET", "/api/v1/trace?message_id=x@y.test"), 403, "admin")
    print("user ok")


def every_endpoint_answers():
    """Every operation the OpenAPI document lists answers as documented,
    without a session: a status it documents (or the 401/403 of a
    protected one), and for the API a JSON body in the one error shape."""
    s = Session()
    status, doc = s.call("GET", "/api/v1/openapi.json")
    expect(status == 200, "openapi")
    samples = {"{name}": "example.test", "{address}": q(USER), "{alias}": "sales@example.test",
               "{selector}": "s1", "{id}": "1"}
    bodies = {"post": {}, "put": {}, "patch": {}}
    seen = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            url = path
            for k, v in samples.items():
                url = url.replace(k, v)
            if method in ("post", "put", "patch"):
                result = s.call(method.upper(), url, bodies[method])
            else:
                result = s.call(method.upper(), url)
            got, body = result
            documented = {int(c) for c in op["responses"] if c.isdigit()} | {401, 403}
            expect(got in documented or (got == 400 and url.startswith("/api/")),
                   f"{method.upper()} {url}: {got} not in {sorted(documented)}: {body!r:.200}")
            if url.startswith("/api/") and got >= 400:
                expect(isinstance(body, dict) and set(body) == {"error"}, f"{method} {url}: {body!r:.200}")
            seen += 1
    expect(seen >= 40, f"only {seen} operations")
    print(f"{seen} operations answered")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
