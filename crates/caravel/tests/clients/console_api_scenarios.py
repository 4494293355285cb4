"""The console's API beyond accounts and domains, run by tests/admin_api.rs:
a user's own settings (signatures, auto-replies, rules, lists, phone,
quarantine), the administrators' filter rules, quarantine, antivirus, mail
log, holidays, live DNS check and a hand on other accounts' sign-in. Each
change is checked where it acts: the CLI reads the same settings, mail
goes where the quarantine release says. Alice is the server's admin, bob
a user, carol a user of another domain. Ports from HTTP_PORT, SMTP_PORT,
IMAPS_PORT."""

import imaplib
import json
import smtplib
import sys
import time
from email.message import EmailMessage

from api_scenarios import BOB, BOB_PASSWORD, CAROL, CAROL_PASSWORD, Session, q, refused
from common import HOST, PASSWORD, USER, caravel, ctx, expect, imap_subjects, port

SMTP, IMAPS = port("SMTP_PORT"), port("IMAPS_PORT")


def setup():
    caravel("domain", "add", "other.test")
    caravel("user", "add", CAROL, "--password-stdin", input=CAROL_PASSWORD)
    caravel("user", "set", USER, "--role", "admin")


def ok(result, status=200):
    got, body = result
    expect(got == status, f"expected {status}: {got} {body}")
    return body


def own_settings():
    setup()
    bob = Session(BOB, BOB_PASSWORD)
    me = f"/api/v1/users/{q(BOB)}"
    setup_info = ok(bob.call("GET", "/api/v1/setup"))
    expect(setup_info["hostname"] == "mail.example.test"
           and any(e["protocol"] == "imap" and e["port"] == IMAPS and e["security"] == "tls"
                   for e in setup_info["incoming"]), setup_info)
    u = ok(bob.call("PUT", f"{me}/phone", {"phone": "+86 138 0013 8000"}))
    expect(u["phone"] == "+8613800138000", u)
    refused(bob.call("PUT", f"{me}/phone", {"phone": "call me"}), 400, "")

    # Signatures: saved as the CLI reads them, previewed with the profile
    # (set here through the API, the company from the domain's).
    prof = ok(bob.call("PATCH", f"{me}/profile", {"title": "Export Manager", "zone": "Asia/Shanghai"}))
    expect(prof["title"] == "Export Manager" and prof["zone"] == "Asia/Shanghai", prof)
    refused(bob.call("PATCH", f"{me}/profile", {"zone": "Mars/Olympus"}), 400, "time zone")
    refused(bob.call("PATCH", "/api/v1/domains/example.test/profile", {"company": "x"}), 403, "")
    ok(Session(USER, PASSWORD).call("PATCH", "/api/v1/domains/example.test/profile", {"company": "Harbour Trading"}))
    ok(bob.call("PUT", f"{me}/signatures/reply", {"text": "Bob\n{title}\n{company}\nMobile: {mobile}",
                                                  "when": "reply", "domains": [" .CN "]}))
    sigs = ok(bob.call("GET", f"{me}/signatures"))
    expect([(s["name"], s["when"], s["domains"]) for s in sigs] == [("reply", "reply", [".cn"])], sigs)
    cli = json.loads(caravel("signature", "list", BOB, "--json").stdout)
    expect(cli[0]["name"] == "reply" and cli[0]["when"] == "reply", f"the CLI sees it: {cli}")
    preview = ok(bob.call("POST", f"{me}/signatures/preview", {"text": sigs[0]["text"], "html": "<b>{company}</b>"}))
    expect(preview["text"] == "Bob\nExport Manager\nHarbour Trading" and preview["html"] == "<b>Harbour Trading</b>",
           f"filled, the empty mobile line left out: {preview}")
    refused(bob.call("PUT", f"{me}/signatures/x", {"text": "x", "when": "sometimes"}), 400, "when")
    refused(bob.call("PUT", f"{me}/signatures/x", {"text": "  "}), 400, "needs a text")
    ok(bob.call("DELETE", f"{me}/signatures/reply"))
    refused(bob.call("DELETE", f"{me}/signatures/reply"), 404, "no signature")

    # Auto-replies: listed as entered, with whether they answer now.
    ok(bob.call("PUT", f"{me}/autoreplies/trip", {"scenario": "out-of-office", "subject": "Away: {subject}",
                                                  "text": "Back on Monday.", "from": "2020-01-01",
                                                  "until": "2099-12-31", "sender_domains": ["Buyer.DE"]}))
    ok(bob.call("PUT", f"{me}/autoreplies/later", {"scenario": "out-of-office", "text": "Later.",
                                                   "from": "2098-01-01"}))
    replies = {r["name"]: r for r in ok(bob.call("GET", f"{me}/autoreplies"))}
    expect(replies["trip"]["active"] and not replies["later"]["active"], f"active now or not: {replies}")
    expect(replies["trip"]["hours"] == "09:00-18:00" and replies["trip"]["workdays"] == "mon-fri"
           and replies["trip"]["sender_domains"] == ["buyer.de"], replies["trip"])
    refused(bob.call("PUT", f"{me}/autoreplies/x", {"text": "x", "from": "next week"}), 400, "not a date")
    refused(bob.call("PUT", f"{me}/autoreplies/x", {"text": "x", "scenario": "after-hours",
                                                    "hours": "18:00-09:00"}), 400, "start before the end")
    expect("trip" in caravel("autoreply", "list", BOB).stdout, "the CLI sees the auto-reply")
    ok(bob.call("DELETE", f"{me}/autoreplies/later"))
    refused(bob.call("DELETE", f"{me}/autoreplies/later"), 404, "no auto-reply")

    # Mail rules.
    created = ok(bob.call("POST", f"{me}/rules", {"from": "buyer.cn", "move_to": "Customers/CN", "flag": True}), 201)
    rules = ok(bob.call("GET", f"{me}/rules"))
    expect(rules[0]["id"] == created["id"] and "file into Customers/CN" in rules[0]["description"], rules)
    refused(bob.call("POST", f"{me}/rules", {"from": "x"}), 400, "needs an action")
    refused(bob.call("POST", f"{me}/rules", {"larger": "huge", "flag": True}), 400, "size")
    cli = json.loads(caravel("rule", "list", BOB, "--json").stdout)
    expect(cli[0]["actions"][0] == {"do": "move", "value": "Customers/CN"}, f"the CLI sees the rule: {cli}")
    ok(bob.call("DELETE", f"{me}/rules/{created['id']}"))
    refused(bob.call("DELETE", f"{me}/rules/{created['id']}"), 404, "no rule")

    # Nobody reaches another account's settings.
    carol = Session(CAROL, CAROL_PASSWORD)
    for method, path in [("GET", f"{me}/signatures"), ("GET", f"{me}/autoreplies"), ("GET", f"{me}/rules"),
                         ("PUT", f"{me}/phone")]:
        refused(carol.call(method, path, {"phone": ""} if method == "PUT" else None), 403, "does not administer")
    # The administrator does.
    alice = Session(USER, PASSWORD)
    ok(alice.call("PUT", f"{me}/autoreplies/admin-set", {"text": "Set by the office."}))
    expect(any(r["name"] == "admin-set" for r in ok(bob.call("GET", f"{me}/autoreplies"))), "set for bob")
    # Bob changes his own password: the current one is needed, and every
    # session ends with it.
    new_password = "Harbour-Crane-Lift-2027"
    refused(bob.call("POST", "/api/v1/password", {"password": "wrong", "new_password": new_password}), 403, "")
    refused(bob.call("POST", "/api/v1/password", {"password": BOB_PASSWORD, "new_password": "short"}), 400, "")
    done = ok(bob.call("POST", "/api/v1/password", {"password": BOB_PASSWORD, "new_password": new_password}))
    expect(done["password_changed"], done)
    expect(bob.call("GET", "/api/v1/session")[0] == 401, "this session ended too")
    Session(BOB, new_password)
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    try:
        m.login(BOB, BOB_PASSWORD)
        expect(False, "the old password no longer works")
    except imaplib.IMAP4.error:
        pass


def send_spam_to(recipients, subject):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "offers@partner.test", ", ".join(recipients), subject
    msg["Message-ID"] = f"<{abs(hash(subject))}@partner.test>"
    msg.set_content("Claim your prize now: this is held by a keyword rule.")
    with smtplib.SMTP(HOST, SMTP) as s:
        s.send_message(msg, to_addrs=recipients)


def filter_rules_and_quarantine():
    setup()
    alice, bob, carol = Session(USER, PASSWORD), Session(BOB, BOB_PASSWORD), Session(CAROL, CAROL_PASSWORD)
    # A user's own block list; the server's rules are the administrator's.
    mine = ok(bob.call("POST", "/api/v1/filter/rules", {"kind": "block", "pattern": "@Spam.TEST"}), 201)
    expect(mine["scope"] == BOB and mine["pattern"] == "@spam.test", mine)
    refused(bob.call("POST", "/api/v1/filter/rules", {"kind": "block", "pattern": "@x.test", "scope": ""}), 403, "")
    refused(bob.call("POST", "/api/v1/filter/rules", {"kind": "allow", "pattern": "@x.test",
                                                      "scope": "example.test"}), 403, "")
    refused(bob.call("POST", "/api/v1/filter/rules", {"kind": "block", "pattern": "not a pattern"}), 400, "pattern")
    # Every message to a scope is searched with all its patterns: a user's
    # may hold less compiled program than the server's, alone and together.
    def costly(n, end):
        return {"kind": "keyword", "pattern": "/(?:\\b\\w+\\b\\W*){1,%d}%s/" % (n, end)}
    refused(bob.call("POST", "/api/v1/filter/rules", costly(20, "zzz")), 400, "size limit")
    big = ok(alice.call("POST", "/api/v1/filter/rules", {**costly(20, "zzz"), "scope": ""}), 201)
    ok(alice.call("DELETE", f"/api/v1/filter/rules/{big['id']}"))
    fits = [ok(bob.call("POST", "/api/v1/filter/rules", costly(5, end)), 201) for end in ("one", "two")]
    refused(bob.call("POST", "/api/v1/filter/rules", costly(5, "three")), 400, "with the other patterns")
    for r in fits:
        ok(bob.call("DELETE", f"/api/v1/filter/rules/{r['id']}"))
    refused(alice.call("POST", "/api/v1/filter/rules", {"kind": "keyword", "pattern": "x", "place": "footer",
                                                        "scope": ""}), 400, "")
    server = ok(alice.call("POST", "/api/v1/filter/rules", {"kind": "keyword", "pattern": "claim your prize",
                                                            "action": "quarantine", "scope": ""}), 201)
    expect(server["place"] == "any" and server["action"] == "quarantine", server)
    expect([r["id"] for r in ok(bob.call("GET", "/api/v1/filter/rules"))] == [mine["id"]], "bob sees his own")
    expect({r["id"] for r in ok(alice.call("GET", "/api/v1/filter/rules"))} == {mine["id"], server["id"]}, "all")
    expect("claim your prize" in caravel("filter", "list").stdout, "the CLI sees the server's rule")
    refused(bob.call("DELETE", f"/api/v1/filter/rules/{server['id']}"), 404, "no filter rule")

    # Held for two: each releases their own copy.
    send_spam_to([BOB, USER], "Claim your prize (for two)")
    held = ok(bob.call("GET", "/api/v1/quarantine"))
    expect(len(held) == 1 and held[0]["recipients"] == [BOB], f"bob sees his own part: {held}")
    expect(set(ok(alice.call("GET", "/api/v1/quarantine"))[0]["recipients"]) == {BOB, USER}, "alice sees all")
    hid = held[0]["id"]
    expect(ok(carol.call("GET", "/api/v1/quarantine")) == [], "carol sees none")
    refused(carol.call("GET", f"/api/v1/quarantine/{hid}"), 404, "no held message")
    refused(carol.call("POST", f"/api/v1/quarantine/{hid}/release", {}), 404, "no held message")
    shown = ok(bob.call("GET", f"/api/v1/quarantine/{hid}"))
    expect("held by a keyword rule" in shown["text"] and not shown["truncated"], shown)
    released = ok(bob.call("POST", f"/api/v1/quarantine/{hid}/release", {}))
    expect(released["released_to"] == [BOB], released)
    expect(any("Claim your prize (for two)" in s for s in imap_subjects(BOB, BOB_PASSWORD)), "in bob's inbox")
    expect(not any("Claim your prize" in s for s in imap_subjects(USER, PASSWORD)), "not in alice's")
    expect(ok(bob.call("GET", "/api/v1/quarantine")) == [], "gone from bob's list")
    still = ok(alice.call("GET", "/api/v1/quarantine"))
    expect(len(still) == 1 and still[0]["recipients"] == [USER], f"alice's copy stays held: {still}")
    # A user's delete takes only their copy; the administrator's, all.
    send_spam_to([BOB, USER], "Claim your prize (again)")
    again = [h for h in ok(bob.call("GET", "/api/v1/quarantine"))][0]["id"]
    ok(bob.call("DELETE", f"/api/v1/quarantine/{again}"))
    expect([h["recipients"] for h in ok(alice.call("GET", "/api/v1/quarantine")) if h["id"] == again] == [[USER]],
           "bob's delete left alice's copy")
    ok(alice.call("DELETE", f"/api/v1/quarantine/{again}"))
    ok(alice.call("POST", f"/api/v1/quarantine/{hid}/release", {}))
    expect(any("Claim your prize (for two)" in s for s in imap_subjects(USER, PASSWORD)), "alice's copy arrived")
    expect(ok(alice.call("GET", "/api/v1/quarantine")) == [], "the quarantine is empty")
    ok(bob.call("DELETE", f"/api/v1/filter/rules/{mine['id']}"))
    refused(bob.call("DELETE", f"/api/v1/filter/rules/{mine['id']}"), 404, "no filter rule")


def spam_filter():
    """Classify and train over the API, as the CLI does: a keyword rule
    scores a message; training is the caller's own classifier unless an
    administrator names another (or the server's)."""
    setup()
    alice, bob, carol = Session(USER, PASSWORD), Session(BOB, BOB_PASSWORD), Session(CAROL, CAROL_PASSWORD)
    ok(alice.call("POST", "/api/v1/filter/rules", {"kind": "keyword", "pattern": "wholesale replica watches",
                                                   "action": "score:7", "scope": ""}), 201)
    offer = ("From: seller@partner.test\nTo: bob@example.test\nSubject: Wholesale replica watches\n\n"
             "Wholesale replica watches, best price.\n")
    verdict = ok(bob.call("POST", "/api/v1/spam/classify", {"message": offer}))
    expect(verdict["verdict"] == "junk" and verdict["score"] >= 7
           and any("wholesale replica watches" in r for r in verdict["reasons"]), verdict)
    plain = "From: buyer@partner.test\nSubject: Order 77\n\nPlease confirm the order.\n"
    clean = ok(bob.call("POST", "/api/v1/spam/classify", {"message": plain}))
    expect(clean["verdict"] == "accept", f"clean: {clean}")
    learnt = ok(bob.call("POST", "/api/v1/spam/train", {"message": offer, "spam": True}))
    expect(learnt == {"learnt": 1, "relearnt": 0, "unchanged": 0}, learnt)
    again = ok(bob.call("POST", "/api/v1/spam/train", {"message": offer, "spam": False}))
    expect(again["relearnt"] == 1, f"moved to the other kind: {again}")
    refused(bob.call("POST", "/api/v1/spam/train", {"message": offer, "spam": True, "user": ""}), 403, "")
    refused(carol.call("POST", "/api/v1/spam/train", {"message": offer, "spam": True, "user": BOB}), 403, "")
    refused(bob.call("POST", "/api/v1/spam/classify", {"message": "  "}), 400, "whole message")
    expect(ok(alice.call("POST", "/api/v1/spam/train", {"message": offer, "spam": True, "user": ""}))["learnt"] == 1,
           "the server's classifier")
    # A message larger than the API's usual 64 KiB limit.
    big = plain + ("Line of a long specification sheet.\n" * 8000)
    expect(ok(bob.call("POST", "/api/v1/spam/classify", {"message": big}))["verdict"] == "accept", "a large message")
    settings = ok(alice.call("GET", "/api/v1/spam/settings"))
    expect(settings["thresholds"]["junk"] == 5.0 and settings["enabled"] is True, settings)
    refused(bob.call("GET", "/api/v1/spam/settings"), 403, "administrator")


def boundaries():
    """What each role may not reach: a domain admin neither the server
    admin's settings nor its held mail; a user never a virus, never who
    else a held message was for; nobody its own 2FA or app passwords
    through the administrators' routes; a sender not what became of its
    mail at a local recipient. And the limits on what a user may store."""
    import smtplib as smtp
    from av_scenarios import EICAR, PROGRAM, message
    setup()
    caravel("user", "set", BOB, "--role", "domain-admin")
    dan, dan_password = "dan@example.test", "Lantern-Quay-2026"
    caravel("user", "add", dan, "--password-stdin", input=dan_password)
    alice, bob, dan_s = Session(USER, PASSWORD), Session(BOB, BOB_PASSWORD), Session(dan, dan_password)
    # A domain admin does not read the server admin's settings.
    ok(alice.call("PUT", f"/api/v1/users/{q(USER)}/autoreplies/away", {"text": "Away."}))
    for path in ["signatures", "autoreplies", "rules", "app-passwords"]:
        refused(bob.call("GET", f"/api/v1/users/{q(USER)}/{path}"), 403, "administrator")
    ok(bob.call("GET", f"/api/v1/users/{q(dan)}/autoreplies"))
    # Held for alice, bob and dan: each sees only its own part of it.
    ok(alice.call("POST", "/api/v1/filter/rules", {"kind": "keyword", "pattern": "claim your prize",
                                                   "action": "quarantine", "scope": ""}), 201)
    send_spam_to([USER, BOB, dan], "Claim your prize (three)")
    mine = ok(dan_s.call("GET", "/api/v1/quarantine"))
    expect(len(mine) == 1 and mine[0]["recipients"] == [dan], f"dan sees himself only (no Bcc): {mine}")
    shown = ok(dan_s.call("GET", f"/api/v1/quarantine/{mine[0]['id']}"))
    expect(shown["held"]["recipients"] == [dan], shown["held"])
    theirs = ok(bob.call("GET", "/api/v1/quarantine"))
    expect(sorted(theirs[0]["recipients"]) == sorted([BOB, dan]), f"bob: his domain's users, not alice: {theirs}")
    released = ok(bob.call("POST", f"/api/v1/quarantine/{theirs[0]['id']}/release", {}))
    expect(sorted(released["released_to"]) == sorted([BOB, dan]), released)
    left = ok(alice.call("GET", "/api/v1/quarantine"))
    expect(len(left) == 1 and left[0]["recipients"] == [USER], f"alice's copy stays: {left}")
    ok(alice.call("DELETE", f"/api/v1/quarantine/{left[0]['id']}"))
    # A copy an alias forwards outside, held: the administrator of the
    # alias's domain answers for it (bob for orders@example.test), a user
    # does not, nor bob for another domain's alias.
    caravel("alias", "add", "orders@example.test", "partner@elsewhere.test")
    caravel("alias", "add", "sales@other.test", "partner2@elsewhere.test")
    # carol (other.test) holds it by a rule of her own as well: her copy
    # is held for other reasons, which bob does not see (nor she his).
    carol = Session(CAROL, CAROL_PASSWORD)
    rule = ok(carol.call("POST", "/api/v1/filter/rules", {"kind": "keyword", "pattern": "carols secret word",
                                                          "action": "quarantine"}), 201)
    send_spam_to(["orders@example.test", CAROL], "Claim your prize (forwarded), carols secret word")
    send_spam_to(["sales@other.test"], "Claim your prize (other domain)")
    fwd = ok(bob.call("GET", "/api/v1/quarantine"))
    expect([(h["recipients"], h["via"]) for h in fwd]
           == [(["partner@elsewhere.test"], {"partner@elsewhere.test": ["orders@example.test"]})],
           f"bob answers for his alias's copy only: {fwd}")
    # Her rule's test is KEYWORD_<id> in X-Spam-Status.
    test = f"KEYWORD_{rule['id']}"
    text = ok(bob.call("GET", f"/api/v1/quarantine/{fwd[0]['id']}"))["text"]
    expect("carols secret word" not in fwd[0]["reason"] and test not in text,
           f"nothing of carol's verdict: {fwd[0]['reason']}")
    expect(list(fwd[0]["verdicts"]) == ["partner@elsewhere.test"], f"the copy's verdict only: {fwd[0]['verdicts']}")
    theirs = ok(carol.call("GET", "/api/v1/quarantine"))
    expect(len(theirs) == 1 and "carols secret word" in theirs[0]["reason"], f"carol's own verdict: {theirs}")
    expect(list(theirs[0]["verdicts"]) == [CAROL] and test in theirs[0]["verdicts"][CAROL]["fields"], theirs)
    expect(test in ok(carol.call("GET", f"/api/v1/quarantine/{theirs[0]['id']}"))["text"], "her test, in her text")
    expect(ok(dan_s.call("GET", "/api/v1/quarantine")) == [], "a user does not")
    released = ok(bob.call("POST", f"/api/v1/quarantine/{fwd[0]['id']}/release", {}))
    expect(released["released_to"] == ["partner@elsewhere.test"], released)
    left = ok(carol.call("GET", "/api/v1/quarantine"))
    expect([h["recipients"] for h in left] == [[CAROL]], f"carol's copy stays held: {left}")
    other = [h for h in ok(alice.call("GET", "/api/v1/quarantine")) if h["via"]]
    expect(len(other) == 1 and other[0]["via"] == {"partner2@elsewhere.test": ["sales@other.test"]}, other)
    for h in ok(alice.call("GET", "/api/v1/quarantine")):
        ok(alice.call("DELETE", f"/api/v1/quarantine/{h['id']}"))
    # Aliases of two domains forward to one outside address, and only
    # other.test's own rule holds the copy: bob answers for it (through
    # orders@) but reads nothing of other.test's verdict.
    caravel("alias", "add", "sales2@other.test", "partner@elsewhere.test")
    ok(alice.call("POST", "/api/v1/filter/rules", {"kind": "keyword", "pattern": "otherdomain walnuts",
                                                   "action": "quarantine", "scope": "other.test"}), 201)
    walnuts = EmailMessage()
    walnuts["From"], walnuts["To"], walnuts["Subject"] = "offers@partner.test", "orders@example.test", "Walnuts"
    walnuts.set_content("Fresh otherdomain walnuts by the crate.")
    with smtp.SMTP(HOST, SMTP) as s:
        s.send_message(walnuts, to_addrs=["orders@example.test", "sales2@other.test"])
    [held] = ok(alice.call("GET", "/api/v1/quarantine"))
    verdict = held["verdicts"]["partner@elsewhere.test"]
    expect(verdict["alias"] == "sales2@other.test" and "otherdomain walnuts" in held["reason"], held)
    [theirs] = ok(bob.call("GET", "/api/v1/quarantine"))
    shown = ok(bob.call("GET", f"/api/v1/quarantine/{theirs['id']}"))
    expect(theirs["via"] == {"partner@elsewhere.test": ["orders@example.test", "sales2@other.test"]}, theirs)
    expect("walnuts" not in theirs["reason"] and theirs["verdicts"]["partner@elsewhere.test"]["fields"] == ""
           and "X-Spam-Status" not in shown["text"], f"nothing of other.test's verdict: {theirs} {shown['text'][:300]}")
    ok(alice.call("DELETE", f"/api/v1/quarantine/{held['id']}"))
    # A virus: refused at SMTP, its copy for the server's administrator alone.
    try:
        with smtp.SMTP(HOST, SMTP) as s:
            s.sendmail("buyer@remote.test", [dan], message("virus-1", EICAR, "eicar.com", to=dan))
        expect(False, "the virus is refused")
    except smtp.SMTPDataError as e:
        expect(e.smtp_code == 554, e)
    expect(ok(dan_s.call("GET", "/api/v1/quarantine")) == [], "a user never sees a virus")
    expect(ok(bob.call("GET", "/api/v1/quarantine")) == [], "nor a domain admin")
    virus = ok(alice.call("GET", "/api/v1/quarantine"))
    expect(len(virus) == 1 and virus[0]["kind"] == "virus", virus)
    refused(dan_s.call("DELETE", f"/api/v1/quarantine/{virus[0]['id']}"), 404, "no held message")
    refused(alice.call("POST", f"/api/v1/quarantine/{virus[0]['id']}/release", {}), 409, "force")
    ok(alice.call("DELETE", f"/api/v1/quarantine/{virus[0]['id']}"))
    # A risky attachment: the user sees it, an administrator releases it.
    with smtp.SMTP(HOST, SMTP) as s:
        s.sendmail("buyer@remote.test", [dan], message("program-1", PROGRAM, "invoice.pdf.exe", to=dan))
    risky = ok(dan_s.call("GET", "/api/v1/quarantine"))
    expect(len(risky) == 1 and risky[0]["kind"] == "suspicious", risky)
    refused(dan_s.call("POST", f"/api/v1/quarantine/{risky[0]['id']}/release", {}), 403, "administrator")
    expect(ok(bob.call("POST", f"/api/v1/quarantine/{risky[0]['id']}/release", {}))["released_to"] == [dan], "bob")
    # Nobody turns off its own second factor or mints its own app password
    # through the administrators' routes (they skip the password).
    refused(alice.call("DELETE", f"/api/v1/users/{q(USER)}/2fa"), 403, "security page")
    refused(alice.call("POST", f"/api/v1/users/{q(USER)}/app-passwords", {"name": "x"}), 403, "security page")
    refused(alice.call("PUT", f"/api/v1/users/{q(USER)}/password", {"password": "Another-Long-Pass-2026"}),
            403, "security page")
    # A sender sees its mail accepted, not where it was filed here.
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = dan, USER, "To the boss"
    msg.set_content("Hello.")
    with smtplib.SMTP_SSL(HOST, port("SUBMISSIONS_PORT"), context=ctx()) as s:
        s.login(dan, dan_password)
        s.send_message(msg)
    time.sleep(0.5)
    seen = ok(dan_s.call("GET", "/api/v1/log"))
    expect(any(e["kind"] == "received" for e in seen), f"dan sees his mail received: {seen}")
    expect(not any(", spam " in e["detail"] for e in seen if e["recipient"] == USER),
           f"not the filter's verdict on alice's copy: {seen}")
    expect(any(e["kind"] == "received" and ", spam " in e["detail"]
               for e in ok(alice.call("GET", f"/api/v1/log?q={q(USER)}"))), "alice sees the verdict")
    expect(not any(e["kind"] == "delivered" and e["recipient"] == USER for e in seen),
           f"not where it went at alice's: {seen}")
    expect(any(e["kind"] == "delivered" and e["recipient"] == USER
               for e in ok(alice.call("GET", f"/api/v1/log?q={q(USER)}"))), "alice sees it")
    # The limits on what one account keeps.
    for n in range(50):
        ok(dan_s.call("PUT", f"/api/v1/users/{q(dan)}/signatures/s{n}", {"text": f"Dan {n}"}))
    refused(dan_s.call("PUT", f"/api/v1/users/{q(dan)}/signatures/s50", {"text": "one too many"}), 400, "the most")
    ok(dan_s.call("PUT", f"/api/v1/users/{q(dan)}/signatures/s7", {"text": "replacing is fine"}))
    refused(dan_s.call("PUT", f"/api/v1/users/{q(dan)}/signatures/preview", {"text": "x"}), 405, "does not take PUT")
    refused(dan_s.call("POST", "/api/v1/filter/rules", {"kind": "keyword", "pattern": "x" * 600}), 400, "longer")
    refused(alice.call("POST", "/api/v1/antivirus/update", {"from": "/var/lib/clamav"}), 400, "https://")


def administration():
    setup()
    alice, bob = Session(USER, PASSWORD), Session(BOB, BOB_PASSWORD)
    # The antivirus, for the server's administrator.
    av = ok(alice.call("GET", "/api/v1/antivirus"))
    expect(av["status"] in ("ok", "warn") and av["verdict"] and av["enabled"] is True, av)
    refused(bob.call("GET", "/api/v1/antivirus"), 403, "administrator")
    refused(alice.call("POST", "/api/v1/antivirus/update", {"from": "/nonexistent/signatures"}), 400, "")
    # The store's check and compaction, as the CLI's.
    report = ok(alice.call("GET", "/api/v1/store/check"))
    expect(report["problems"] == [] and report["messages"] >= 0, report)
    expect(isinstance(ok(alice.call("POST", "/api/v1/store/compact", {})), dict), "compacted")
    refused(bob.call("GET", "/api/v1/store/check"), 403, "")
    refused(alice.call("POST", "/api/v1/sms/test", {"number": "+8613800138000"}), 501, "webhook_url")
    # A domain's details and footer.
    ok(alice.call("PATCH", "/api/v1/domains/example.test/profile", {"company": "Harbour Trading", "zone": "+08:00"}))
    refused(alice.call("PATCH", "/api/v1/domains/example.test/profile", {"title": "CEO"}), 400, "a person's")
    expect(ok(alice.call("GET", "/api/v1/domains/example.test/profile"))["company"] == "Harbour Trading", "saved")
    ok(alice.call("PUT", "/api/v1/domains/example.test/footer", {"text": "{company}: confidential."}))
    expect(ok(alice.call("GET", "/api/v1/domains/example.test/footer"))["text"] == "{company}: confidential.", "f")
    expect("confidential" in caravel("signature", "list", "example.test").stdout, "the CLI sees the footer")
    refused(bob.call("PUT", "/api/v1/domains/example.test/footer", {"text": "x"}), 403, "")
    ok(alice.call("DELETE", "/api/v1/domains/example.test/footer"))
    refused(alice.call("DELETE", "/api/v1/domains/example.test/footer"), 404, "no footer")
    # A shared address's acknowledgement, set by the domain's administrator.
    caravel("alias", "add", "sales@example.test", BOB)
    ok(alice.call("PUT", "/api/v1/users/sales%40example.test/autoreplies/ack",
                  {"scenario": "acknowledge", "text": "Thank you for your inquiry."}))
    expect([r["name"] for r in ok(alice.call("GET", "/api/v1/users/sales%40example.test/autoreplies"))] == ["ack"],
           "listed for the alias")
    expect("ack" in caravel("autoreply", "list", "sales@example.test").stdout, "the CLI sees it")
    refused(bob.call("GET", "/api/v1/users/sales%40example.test/autoreplies"), 403, "")
    # The company's holidays.
    ok(alice.call("POST", "/api/v1/holidays", {"name": "Spring Festival", "from": "2027-02-06",
                                               "until": "2027-02-12", "calendar": "CN"}))
    expect(ok(bob.call("GET", "/api/v1/holidays"))[0] == {"name": "Spring Festival", "from": "2027-02-06",
                                                           "until": "2027-02-12", "calendar": "cn"}, "listed")
    refused(alice.call("POST", "/api/v1/holidays", {"name": "x", "from": "soon", "until": "later"}), 400, "not a date")
    refused(bob.call("POST", "/api/v1/holidays", {"name": "x", "from": "2027-01-01", "until": "2027-01-01"}), 403, "")
    expect("Spring Festival" in caravel("holiday", "list").stdout, "the CLI sees it")
    ok(alice.call("DELETE", "/api/v1/holidays/Spring%20Festival"))
    # An app password made by the administrator works for IMAP; 2FA off.
    made = ok(alice.call("POST", f"/api/v1/users/{q(BOB)}/app-passwords", {"name": "warehouse scanner"}), 201)
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    m.login(BOB, made["password"])
    m.logout()
    names = [p["name"] for p in ok(alice.call("GET", f"/api/v1/users/{q(BOB)}/app-passwords"))]
    expect(names == ["warehouse scanner"], names)
    refused(bob.call("GET", f"/api/v1/users/{q(USER)}/app-passwords"), 403, "")
    ok(alice.call("DELETE", f"/api/v1/users/{q(BOB)}/app-passwords/warehouse%20scanner"))
    out = caravel("2fa", "enroll", BOB).stdout
    uri = [line for line in out.splitlines() if line.startswith("otpauth://")][0]
    from common import totp
    caravel("2fa", "confirm", BOB, totp(uri))
    expect(ok(alice.call("GET", f"/api/v1/users/{q(BOB)}"))["totp_enabled"], "on")
    ok(alice.call("DELETE", f"/api/v1/users/{q(BOB)}/2fa"))
    expect(not ok(alice.call("GET", f"/api/v1/users/{q(BOB)}"))["totp_enabled"], "off")
    # The mail log: the administrator searches; a user sees its own.
    send_spam_to([BOB], "An ordinary offer")
    deadline = time.time() + 10
    while time.time() < deadline:
        events = ok(alice.call("GET", f"/api/v1/log?q={q(BOB)}&kind=delivered"))
        if events:
            break
        time.sleep(0.2)
    expect(events and all(e["kind"] == "delivered" and e["recipient"] == BOB for e in events), events)
    expect(ok(alice.call("GET", "/api/v1/log?kind=signinfailed")) is not None, "the JSON name of a kind works")
    refused(alice.call("GET", "/api/v1/log?kind=exploded"), 400, "kind")
    theirs = ok(bob.call("GET", f"/api/v1/log?q={q(USER)}"))
    expect(all(BOB in (e.get("sender"), e.get("recipient")) for e in theirs), f"bob sees only his: {theirs}")
    cli = json.loads(caravel("log", BOB, "--kind", "delivered", "--json").stdout)
    expect(len(cli) == len(events), f"the CLI finds the same: {cli}")
    # What DNS says now (the test DNS publishes nothing for example.test).
    checked = ok(alice.call("GET", "/api/v1/domains/example.test/dns/check"))
    mx = [c for c in checked if c["type"] == "MX"][0]
    expect(mx["status"] == "fail" and mx["found"] == [] and "no MX" in mx["note"], mx)
    expect(all(c["status"] in ("ok", "warn", "fail") and c["note"] for c in checked), checked)
    refused(bob.call("GET", "/api/v1/domains/example.test/dns/check"), 403, "")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
