"""Certificates from pebble, as mail programs and browsers see them, run by
tests/acme.rs: a strict TLS check (pebble's root, the name) on imaps,
submissions and https; a renewal seen by a new connection while an old IMAP
session goes on; a failing challenge explained by `caravel tls check`.
Ports from IMAPS_PORT, SUBMISSIONS_PORT, HTTPS_PORT; pebble's HTTPS
certificate in PEBBLE_CA, its management port in PEBBLE_MANAGEMENT."""

import imaplib
import json
import os
import socket
import ssl
import sys
import time
import urllib.request

from common import HOST, PASSWORD, USER, caravel, expect, port

IMAPS, SUBMISSIONS, HTTPS = port("IMAPS_PORT"), port("SUBMISSIONS_PORT"), port("HTTPS_PORT")
NAME = "mail.example.test"


def pebble_root():
    """The root pebble issues under (generated at its start)."""
    ctx = ssl.create_default_context(cafile=os.environ["PEBBLE_CA"])
    url = f"https://127.0.0.1:{os.environ['PEBBLE_MANAGEMENT']}/roots/0"
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        return r.read().decode()


def strict(root):
    """A client that trusts pebble's root only and checks the name."""
    ctx = ssl.create_default_context(cadata=root)
    ctx.check_hostname = True
    return ctx


def served(port, ctx, name=NAME):
    """The serial of the certificate PORT serves for NAME, if it passes
    the strict check; None while it does not (self-signed)."""
    try:
        with socket.create_connection((HOST, port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=name) as tls:
                return tls.getpeercert()["serialNumber"]
    except ssl.SSLCertVerificationError:
        return None


def wait_issued(ctx, port=IMAPS, name=NAME, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            serial = served(port, ctx, name)
        except OSError:
            serial = None
        if serial:
            return serial
        time.sleep(0.5)
    tls = caravel("tls", "check", "--json", check=False).stdout
    expect(False, f"no certificate from pebble for {name} on {port} within {timeout} s; tls check: {tls}")


def issued_once():
    root = pebble_root()
    ctx = strict(root)
    serial = wait_issued(ctx)
    for p in (SUBMISSIONS, HTTPS):
        expect(served(p, ctx), f"port {p} serves the certificate too")
    # The domain's published name has a certificate of its own.
    wait_issued(ctx, HTTPS, "mta-sts.example.test")
    logged = json.loads(caravel("log", "--kind", "certificate", "--json").stdout)
    expect(any("obtained" in e["detail"] and NAME in e["detail"] for e in logged), f"in the mail log: {logged}")
    report = json.loads(caravel("tls", "check", "--json", check=False).stdout)
    acme = [r for r in report if r.get("source") == "acme"]
    expect(acme and NAME in acme[0]["names"] and acme[0].get("renewal"), f"tls check names ACME: {report}")
    return serial


def issued_and_renewed():
    """Issued, then renewed (each check is due in this test) while an IMAP
    session opened on the first certificate goes on."""
    root = pebble_root()
    ctx = strict(root)
    issued_once()
    # The chain checked against pebble's root; the name was checked above
    # (imaplib connects by address, so it cannot ask for the name).
    session_ctx = strict(root)
    session_ctx.check_hostname = False
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=session_ctx)
    # The certificate this session runs on (the first, or one renewed since).
    first = m.sock.getpeercert()["serialNumber"]
    m.login(USER, PASSWORD)
    m.select("INBOX")
    deadline = time.time() + 60
    renewed = None
    while time.time() < deadline:
        s = served(IMAPS, ctx)
        if s and s != first:
            renewed = s
            break
        time.sleep(0.5)
    expect(renewed, "a renewed certificate is served by new connections")
    typ, _ = m.noop()
    expect(typ == "OK", "the session from before the renewal goes on")
    m.logout()


def validation_fails():
    """Pebble checks the wrong port: no certificate is issued, the
    self-signed one keeps serving, and the reason is given in plain words."""
    root = pebble_root()
    ctx = strict(root)
    deadline = time.time() + 60
    why = None
    while time.time() < deadline and not why:
        status = os.path.join(os.path.dirname(os.environ["CARAVEL_DB"]), "acme", "status.json")
        if os.path.exists(status):
            certs = json.load(open(status)).get("certs", {})
            why = certs.get(NAME, {}).get("last_error")
        time.sleep(0.5)
    expect(why and "could not validate" in why and "port 80" in why, f"the failure explained: {why}")
    expect(served(IMAPS, ctx) is None, "no pebble certificate")
    plain = ssl.create_default_context()
    plain.check_hostname, plain.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((HOST, IMAPS), timeout=5) as raw:
        with plain.wrap_socket(raw, server_hostname=NAME) as tls:
            expect(tls.getpeercert(binary_form=True), "the self-signed certificate still serves")
    out = caravel("tls", "check", check=False)
    expect("could not validate" in out.stdout + out.stderr, f"tls check says why: {out.stdout} {out.stderr}")
    logged = json.loads(caravel("log", "--kind", "certificate", "--json").stdout)
    expect(logged and "could not validate" in logged[0]["detail"], f"the mail log says why: {logged}")
    doctor = caravel("doctor", check=False).stdout
    expect("could not validate" in doctor, f"the doctor says why: {doctor}")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
