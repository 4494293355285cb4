"""Verifies every DKIM-Signature of a message with dkimpy (an independent
implementation), asking the DNS server on loopback for the keys.

usage: /usr/bin/python3 dkim_verify.py MESSAGE_FILE DNS_PORT
Prints one line per signature: "<d> <s> pass|fail", and exits 1 unless
there is at least one signature and all verify.
"""
import sys

import dkim
import dns.resolver


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    message = open(path, "rb").read()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        answer = resolver.resolve(name.rstrip("."), "TXT", lifetime=timeout)
        return b"".join(b"".join(r.strings) for r in answer)

    d = dkim.DKIM(message)
    count = sum(1 for line in message.split(b"\r\n\r\n")[0].split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))
    ok = count > 0
    for i in range(count):
        good = d.verify(idx=i, dnsfunc=dnsfunc)
        sig = dict(d.signature_fields)
        print(sig.get(b"d", b"?").decode(), sig.get(b"s", b"?").decode(), "pass" if good else "fail",
              "h=" + sig.get(b"h", b"").decode().replace(" ", ""))
        ok = ok and good
    sys.exit(0 if ok else 1)


main()
