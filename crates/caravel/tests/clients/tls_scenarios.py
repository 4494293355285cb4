"""TLS end to end, run by tests/tls.rs with Python's ssl module (OpenSSL).
Usage: tls_scenarios.py SCENARIO [ARGS]; ports from *_PORT variables."""

import hashlib
import smtplib
import socket
import ssl
import sys
import time
import warnings

from common import HOST, expect, port

IMPLICIT = {"imaps": "IMAPS_PORT", "pop3s": "POP3S_PORT", "submissions": "SUBMISSIONS_PORT"}
STARTTLS = {"imap": "IMAP_PORT", "pop3": "POP3_PORT", "smtp": "SMTP_PORT", "submission": "SUBMISSION_PORT"}


warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1, on purpose


def context(version=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if version is not None:
        # OpenSSL 3 allows TLS 1.1 only at security level 0.
        c.set_ciphers("DEFAULT@SECLEVEL=0")
        c.minimum_version = version
        c.maximum_version = version
    return c


def plain_then_starttls(service, sock):
    """Speaks the protocol up to the point where TLS starts."""
    f = sock.makefile("rb")
    if service == "imap":
        f.readline()
        sock.sendall(b"a STARTTLS\r\n")
        expect(f.readline().startswith(b"a OK"), "IMAP STARTTLS")
    elif service == "pop3":
        f.readline()
        sock.sendall(b"STLS\r\n")
        expect(f.readline().startswith(b"+OK"), "POP3 STLS")
    else:
        while not f.readline().startswith(b"220 "):
            pass
        sock.sendall(b"EHLO test.example\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"STARTTLS\r\n")
        expect(f.readline().startswith(b"220"), "SMTP STARTTLS")


def handshake(service, version=None, server_name=None):
    """The TLS version agreed and the server certificate's SHA-256, or the error."""
    env = IMPLICIT.get(service) or STARTTLS[service]
    sock = socket.create_connection((HOST, port(env)), timeout=10)
    if service in STARTTLS:
        plain_then_starttls(service, sock)
    try:
        tls = context(version).wrap_socket(sock, server_hostname=server_name)
    except ssl.SSLError as e:
        return None, str(e)
    cert = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
    agreed = tls.version()
    tls.close()
    return agreed, cert


def versions():
    """Every TLS listener, implicit or STARTTLS: TLS 1.3 by default, 1.2 when
    asked, and TLS 1.1 refused by the server: the error is an alert the server
    sent, not the client declining to offer TLS 1.1."""
    for service in list(IMPLICIT) + list(STARTTLS):
        agreed, _ = handshake(service)
        expect(agreed == "TLSv1.3", f"{service}: {agreed}")
        agreed, _ = handshake(service, ssl.TLSVersion.TLSv1_2)
        expect(agreed == "TLSv1.2", f"{service} with TLS 1.2: {agreed}")
        agreed, error = handshake(service, ssl.TLSVersion.TLSv1_1)
        expect(agreed is None and "ALERT" in error.upper(), f"{service} with TLS 1.1: {agreed} {error}")


def certificate(name, expected):
    """A new IMAPS connection asking for NAME (SNI) sees the certificate whose
    SHA-256 is EXPECTED, within 10 seconds (the server checks its files
    every 2 seconds)."""
    seen = None
    for _ in range(50):
        _, seen = handshake("imaps", server_name=None if name == "-" else name)
        if seen == expected:
            return
        time.sleep(0.2)
    expect(False, f"{name}: certificate {seen}, expected {expected}")


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
