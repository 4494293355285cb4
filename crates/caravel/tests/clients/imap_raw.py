"""A raw-line IMAP client for exactness tests: what the server sends is kept
byte for byte (imaplib would reshape it), literals included, so a test can
compare whole responses with the RFC's grammar."""

import re
import socket

from common import HOST, PASSWORD, USER, ctx, expect, port

IMAPS = port("IMAPS_PORT")


class Response:
    """The untagged lines (each with its literals inline) and the tagged one."""

    def __init__(self, untagged, tagged):
        self.untagged = untagged
        self.tagged = tagged

    @property
    def ok(self):
        return self.tagged.split(b" ", 2)[1:2] == [b"OK"]

    def status(self):
        return self.tagged.split(b" ", 2)[1].decode()

    def lines(self, kind):
        """Untagged lines whose kind (word after `* ` or `* n `) is KIND."""
        out = []
        for line in self.untagged:
            words = line.split(b" ", 3)
            if len(words) > 1 and words[1].upper() == kind.encode():
                out.append(line)
            elif len(words) > 2 and words[1].isdigit() and words[2].upper() == kind.encode():
                out.append(line)
        return out

    def text(self):
        return b"".join(line + b"\r\n" for line in self.untagged + [self.tagged]).decode("utf-8", "replace")

    def __repr__(self):
        return self.text()


class Imap:
    def __init__(self, login=True, user=USER, password=PASSWORD):
        self.sock = ctx().wrap_socket(socket.create_connection((HOST, IMAPS)), server_hostname=HOST)
        self.sock.settimeout(20)
        self.buf = b""
        self.n = 0
        self.greeting = self.line()
        if login:
            r = self.cmd(f'LOGIN "{user}" "{password}"')
            expect(r.ok, f"login: {r}")

    def fill(self):
        chunk = self.sock.recv(65536)
        expect(chunk, "connection closed by the server")
        self.buf += chunk

    def line(self):
        """One response line with any literals it carries, CRLF removed."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self.fill()
            head, _, self.buf = self.buf.partition(b"\r\n")
            out += head
            m = re.search(rb"~?\{(\d+)\}$", head)
            if not m:
                return out
            size = int(m.group(1))
            while len(self.buf) < size:
                self.fill()
            out += b"\r\n" + self.buf[:size]
            self.buf = self.buf[size:]

    def send(self, data):
        self.sock.sendall(data)

    def tag(self):
        self.n += 1
        return f"t{self.n}"

    def cmd(self, text, *literals, tag=None):
        """Sends TEXT (literals as LITERAL+ `{n+}` where TEXT has `{}`) and
        reads up to the tagged response."""
        tag = tag or self.tag()
        data = f"{tag} ".encode()
        parts = text.encode() if isinstance(text, str) else text
        pieces = parts.split(b"{}")
        expect(len(pieces) == len(literals) + 1, "one literal per {}")
        for piece, lit in zip(pieces, literals):
            lit = lit.encode() if isinstance(lit, str) else lit
            data += piece + b"{%d+}\r\n" % len(lit) + lit
        data += pieces[-1] + b"\r\n"
        self.send(data)
        return self.read_until(tag)

    def read_until(self, tag):
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag.encode() + b" "):
                return Response(untagged, line)
            untagged.append(line)

    def ok(self, text, *literals):
        r = self.cmd(text, *literals)
        expect(r.ok, f"{text}: {r}")
        return r

    def select(self, name="INBOX"):
        return self.ok(f'SELECT "{name}"')

    def append(self, message, mailbox="INBOX", flags=""):
        message = message.replace("\r\n", "\n").replace("\n", "\r\n") if isinstance(message, str) else message
        flags = f" ({flags})" if flags else ""
        r = self.ok(f'APPEND "{mailbox}"{flags} {{}}', message)
        return int(re.search(rb"APPENDUID \d+ (\d+)", r.tagged).group(1))

    def close(self):
        try:
            self.send(b"z LOGOUT\r\n")
            self.sock.close()
        except OSError:
            pass


def search_numbers(r):
    """The numbers of a `* SEARCH` line (empty when there is none)."""
    for line in r.lines("SEARCH"):
        return [int(x) for x in line.split()[2:] if x.isdigit()]
    return []
