"""What the scenario scripts share: the server's address and ports (from the
environment the Rust tests set), the test user, a TLS context that accepts the
self-signed certificate, and the failure helper."""

import os
import ssl
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
