"""The web console in headless Chromium, driven over WebDriver by
chromedriver (webdriver.py), run by tests/console.rs: what a person does
with the pages, checked by what the mail protocols then see. Screenshots
of the pages go to SCREENSHOTS. Ports from HTTP_PORT, IMAPS_PORT,
SUBMISSIONS_PORT, SMTP_PORT, POP3S_PORT."""

import imaplib
import os
import poplib
import smtplib
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from email.message import EmailMessage

from common import HOST, PASSWORD, USER, caravel, ctx, expect, imap_subjects, port, totp
from webdriver import Browser

HTTP, IMAPS, SUBMISSIONS, SMTP, POP3S = (port(n) for n in
                                          ("HTTP_PORT", "IMAPS_PORT", "SUBMISSIONS_PORT", "SMTP_PORT", "POP3S_PORT"))
BOB, BOB_PASSWORD = "bob@example.test", "Builder-Key-2026!"
BASE = f"http://{HOST}:{HTTP}/"
SHOTS = os.environ.get("SCREENSHOTS") or tempfile.mkdtemp(prefix="caravel-shots-")


@contextmanager
def browser(**options):
    """A headless Chromium for one scenario; when the scenario fails in it,
    the screen, the address and the page's message are kept for whoever
    reads the log."""
    b = Browser(**options)
    try:
        yield b
    except Exception:
        try:
            print("failed at", b.run("return location.href"), "showing:", error_text(b), file=sys.stderr)
            print("screenshot:", b.screenshot(os.path.join(SHOTS, f"failed-{sys.argv[1]}.png")), file=sys.stderr)
        except Exception as e:
            print("no screenshot:", e, file=sys.stderr)
        raise
    finally:
        b.close()


def shot(b, name):
    path = b.screenshot(os.path.join(SHOTS, f"{name}.png"))
    expect(os.path.getsize(path) > 5000, f"screenshot {name} has content")


def error_text(b):
    found = b.find_all('[data-test="error"]')
    return found[0].text if found else ""


def sign_in(b, address, password):
    b.get(BASE + "#/sign-in")
    # The page may draw the form again while it starts: fill it until both
    # fields hold what was typed, then send it.
    for _ in range(5):
        b.fill('input[name="address"]', address)
        b.fill('input[name="password"]', password)
        held = b.run("const f = n => (document.querySelector(`input[name=${n}]`) || {}).value;"
                     "return [f('address'), f('password')]")
        if held == [address, password]:
            break
        time.sleep(0.2)
    b.press('[data-test="sign-in"]')


def go(b, name):
    """Opens page NAME from the navigation, as a person would."""
    link = b.find(f'[data-test="nav-{name}"]')
    if not b.run("return arguments[0].offsetParent !== null", {"element-6066-11e4-a52e-4f735466cecf": link.id}):
        b.find('[data-test="menu"]').click()
    link.click()
    return b.page(name)


def click_in_row(b, row_css, action):
    row = b.find(row_css)
    row.find(f'[data-test="{action}"]').click()


def wait_for_subject(user, password, words, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(words in s for s in imap_subjects(user, password)):
            return
        time.sleep(0.3)
    expect(False, f"{words!r} arrived for {user}: {imap_subjects(user, password)}")


def enroll_by_cli(address):
    out = caravel("2fa", "enroll", address).stdout
    uri = [line for line in out.splitlines() if line.startswith("otpauth://")][0]
    caravel("2fa", "confirm", address, totp(uri))
    return uri


def sign_in_with_totp_and_tour_the_pages():
    """Password then the authenticator's code; then every page of the
    console, for a user and for the server's administrator, in English,
    in Chinese and on a phone-sized screen, each kept as a screenshot."""
    caravel("user", "set", USER, "--role", "admin")
    uri = enroll_by_cli(USER)
    with browser() as b:
        sign_in(b, USER, "not the password")
        b.wait("the refusal", lambda: "wrong" in error_text(b).lower())
        shot(b, "sign-in-refused")
        sign_in(b, USER, PASSWORD)
        b.find('input[name="code"]')
        shot(b, "sign-in-second-factor")
        # A reload on the way does not start the sign-in over.
        b.get(BASE + "#/sign-in")
        b.run("location.reload()")
        code_box = b.find('[data-test="verify"]') and b.find('input[name="code"]')
        # A code of the wrong time window is refused; the right one lets in.
        code_box.type(totp(uri, time.time() - 3600))
        b.find('[data-test="verify"]').click()
        b.wait("the wrong code refused", lambda: error_text(b))
        # The current window's code confirmed the enrollment and cannot be
        # used twice: the next window's (within the allowed clock drift).
        b.find('input[name="code"]').type(totp(uri, time.time() + 30))
        b.find('[data-test="verify"]').click()
        home = b.page("home")
        expect(USER in b.find("header").text, "the header names the account")
        setup = b.find('[data-test="setup"]').text
        expect(f"mail.example.test" in setup and str(IMAPS) in setup and str(SUBMISSIONS) in setup,
               f"the set-up table gives this server's name and ports: {setup}")
        expect(home, "home")
        shot(b, "home")
        pages = ["mail", "security", "signatures", "autoreplies", "rules", "lists", "quarantine", "doctor",
                 "admin-domains", "admin-users", "admin-aliases", "admin-filter", "admin-antivirus",
                 "admin-quarantine", "admin-queue", "admin-dns", "admin-log", "admin-doctor"]
        for name in pages:
            go(b, name)
            expect(not error_text(b), f"page {name} loads without an error: {error_text(b)}")
            shot(b, name)
            if name == "signatures":
                # Details saved on the page fill the signature's preview.
                b.find('[data-test="profile-form"] input[name="title"]').type("Export Manager")
                b.find('[data-test="profile-save"]').click()
                b.wait("saved", lambda: b.find('[data-test="notice"]').text.strip())
                b.find('textarea[name="text"]').type("Alice\n{title}")
                b.find('[data-test="signature-preview"]').click()
                preview = b.find('[data-test="preview-text"]')
                b.wait("the preview", lambda: "Export Manager" in preview.text)
                shot(b, "signatures-preview")
            if name == "admin-filter":
                # A message pasted into the filter's test box gets a verdict.
                b.find('textarea[name="message"]').type(
                    "From: x@partner.test\nSubject: Order 12\n\nPlease confirm the order.\n")
                b.find('[data-test="classify"]').click()
                result = b.find('[data-test="classify-result"]')
                b.wait("the verdict", lambda: "Inbox" in result.text)
                shot(b, "admin-filter-classified")
        # Chinese: every label changes; the choice is kept.
        b.find('[data-test="lang"]').click()
        b.wait("Chinese labels", lambda: any("\u4e00" <= ch <= "\u9fff" for ch in b.find("nav").text))
        expect(b.run("return document.documentElement.lang") == "zh-CN", "the page says it is Chinese")
        go(b, "home")
        shot(b, "home-zh")
        go(b, "admin-users")
        shot(b, "admin-users-zh")
        b.get(BASE + "#/home")
        b.page("home")
        expect(any("\u4e00" <= ch <= "\u9fff" for ch in b.find("nav").text), "the language is remembered")
        b.find('[data-test="lang"]').click()
        # A phone: no sideways scrolling, the menu behind a button.
        b.set_size(390, 844)
        for name in ["home", "mail", "security", "quarantine", "admin-users"]:
            go(b, name)
            wide = b.run("return document.documentElement.scrollWidth - window.innerWidth")
            expect(wide <= 1, f"{name} fits a phone's width (over by {wide}px)")
            shot(b, f"phone-{name}")
        b.find('[data-test="sign-out"]').click()
        b.find('input[name="address"]')


def decode_qr(png_path):
    """The text of the QR code in PNG_PATH, read as a phone camera would."""
    p = subprocess.run(["zbarimg", "--quiet", "--raw", png_path], capture_output=True, text=True)
    expect(p.returncode == 0, f"zbarimg reads the QR code: {p.stderr}")
    return p.stdout.strip()


def enroll_two_factor_from_the_qr_page():
    """Bob turns two-factor sign-in on from the security page: the QR code
    on screen is read (zbarimg), the app's code confirms it, recovery codes
    are shown; from then on signing in asks for a code, and mail programs
    need app passwords."""
    with browser() as b:
        sign_in(b, BOB, BOB_PASSWORD)
        b.page("home")
        go(b, "security")
        b.find('input[name="password"]').type(BOB_PASSWORD)
        b.find('[data-test="enroll-start"]').click()
        qr = b.find('img[data-test="qr"]')
        b.wait("the QR image", lambda: qr.prop("complete") and qr.prop("naturalWidth") > 0)
        shot(b, "security-qr")
        png = qr.screenshot(os.path.join(SHOTS, "qr-code.png"))
        uri = decode_qr(png)
        expect(uri.startswith("otpauth://totp/") and "secret=" in uri, f"an otpauth URI: {uri}")
        typed = b.find('[data-test="totp-secret"]').text.replace(" ", "")
        expect(typed and typed in uri, "the key for typing by hand is the QR code's")
        b.find('input[name="code"]').type(totp(uri))
        b.find('[data-test="enroll-confirm"]').click()
        codes = b.find('[data-test="recovery-codes"]')
        b.wait("recovery codes", lambda: len(codes.find_all("li")) >= 5)
        shot(b, "security-recovery-codes")
        recovery = codes.find_all("li")[0].text.strip()
        b.find('[data-test="sign-out"]').click()
        # Signing in now takes a second factor: a recovery code works once.
        sign_in(b, BOB, BOB_PASSWORD)
        b.find('[data-test="method-recovery"]').click()
        b.find('input[name="code"]').type(recovery)
        b.find('[data-test="verify"]').click()
        b.page("home")
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    try:
        m.login(BOB, BOB_PASSWORD)
        expect(False, "with two-factor on, IMAP refuses the account password")
    except imaplib.IMAP4.error:
        pass


def admin_creates_a_user():
    """The administrator creates an account on the users page, with a
    generated password; the new account then signs in over IMAP with it.
    POP3 turned off on the same page is refused at once."""
    caravel("user", "set", USER, "--role", "admin")
    carol = "carol@example.test"
    with browser() as b:
        sign_in(b, USER, PASSWORD)
        b.page("home")
        page = go(b, "admin-users")
        expect(page, "users page")
        b.find('input[name="address"]').type(carol)
        b.find('input[name="name"]').type("Carol Chen")
        b.find('input[name="quota"]').type("2G")
        b.find('[data-test="user-create"]').click()
        generated = b.find('[data-test="generated-password"]')
        password = b.wait("the generated password", lambda: generated.text.strip())
        row_css = f'tr[data-address="{carol}"]'
        b.page("admin-users")
        row = b.find(row_css)
        expect("Carol Chen" in row.text, f"the new row: {row.text}")
        shot(b, "admin-users-created")
        m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
        m.login(carol, password)
        m.logout()
        # POP3 off for carol, from her row.
        b.find(row_css).find('[data-test="proto-pop3"]').click()
        b.wait("POP3 refused", lambda: not pop3_allowed(carol, password))
        shot(b, "admin-users-pop3-off")


def pop3_allowed(user, password):
    p = poplib.POP3_SSL(HOST, POP3S, context=ctx())
    try:
        p.user(user)
        p.pass_(password)
        return True
    except poplib.error_proto as e:
        expect("turned off" in str(e).lower() or "pop3" in str(e).lower(), f"the refusal says why: {e}")
        return False
    finally:
        try:
            p.quit()
        except Exception:
            pass


def user_sets_an_auto_reply():
    """Bob sets an acknowledgement on the auto-replies page; alice writes
    to him and gets the reply in her inbox."""
    with browser() as b:
        sign_in(b, BOB, BOB_PASSWORD)
        b.page("home")
        go(b, "autoreplies")
        b.run("""const s = document.querySelector('select[name="scenario"]');
                 s.value = 'acknowledge'; s.dispatchEvent(new Event('change', {bubbles: true}));""")
        b.find('input[name="subject"]').type("Received: {subject}")
        b.find('textarea[name="text"]').type("Thank you, {name} will answer within one working day.")
        b.find('[data-test="autoreply-save"]').click()
        b.wait("the saved template listed", lambda: b.find_all('tr[data-name="default"]'))
        b.page("autoreplies")
        shot(b, "autoreplies-saved")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = USER, BOB, "Quotation for 500 units"
    msg["Message-ID"] = "<quote-500@example.test>"
    msg.set_content("Please send your best price.")
    with smtplib.SMTP_SSL(HOST, SUBMISSIONS, context=ctx()) as s:
        s.login(USER, PASSWORD)
        s.send_message(msg)
    wait_for_subject(USER, PASSWORD, "Received: Quotation for 500 units")


def user_releases_a_quarantined_message():
    """A message held by a keyword rule for bob and alice shows on bob's
    quarantine page with his verdict only; he releases it and it arrives
    in his inbox (and leaves the page). The administrator's view has each
    recipient's verdict."""
    caravel("filter", "keyword", "add", "claim your prize", "--action", "quarantine")
    caravel("user", "set", USER, "--role", "admin")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "offers@partner.test", f"{BOB}, {USER}", "Claim your prize today"
    msg["Message-ID"] = "<prize-1@partner.test>"
    msg.set_content("Claim your prize: a real order from a real buyer, wrongly held.")
    with smtplib.SMTP(HOST, SMTP) as s:
        s.send_message(msg)
    expect(not any("Claim your prize" in x for x in imap_subjects(BOB, BOB_PASSWORD)), "held, not delivered")
    with browser() as b:
        sign_in(b, USER, PASSWORD)
        b.page("home")
        go(b, "quarantine")
        b.find("tr[data-id]").find('[data-test="view"]').click()
        verdicts = b.find('[data-test="held-verdicts"]').text
        expect(BOB in verdicts and USER in verdicts and "X-Spam-Status: Yes" in verdicts,
               f"each recipient's verdict: {verdicts}")
    with browser() as b:
        sign_in(b, BOB, BOB_PASSWORD)
        b.page("home")
        go(b, "quarantine")
        row = b.find("tr[data-id]")
        expect("Claim your prize" in row.text, f"the held message is listed: {row.text}")
        row.find('[data-test="view"]').click()
        expect("wrongly held" in b.find('[data-test="held-text"]').text, "its text can be read")
        verdicts = b.find('[data-test="held-verdicts"]').text
        expect(BOB in verdicts and USER not in verdicts and "claim your prize" in verdicts,
               f"his own verdict only: {verdicts}")
        shot(b, "quarantine")
        b.find("tr[data-id]").find('[data-test="release"]').click()
        b.wait("the notice", lambda: b.find('[data-test="notice"]').text.strip())
        b.page("quarantine")
        b.wait("the row gone", lambda: not b.find_all("tr[data-id]"))
        shot(b, "quarantine-released")
    wait_for_subject(BOB, BOB_PASSWORD, "Claim your prize today")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
