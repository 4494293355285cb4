"""Times the webmail API on a full folder and measures the memory a web
session costs; run by bench/webmail.sh against a release build."""

import argparse
import http.client
import json
import statistics
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Session:
    def __init__(self, port, user, password):
        self.port, self.cookie, self.csrf = port, None, None
        status, data = self.call("POST", "/api/v1/session", {"address": user, "password": password})
        assert status == 200, status
        self.csrf = json.loads(data).get("csrf")

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        c.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = c.getresponse()
        data = r.read()
        if r.getheader("Set-Cookie"):
            self.cookie = r.getheader("Set-Cookie").split(";")[0]
        c.close()
        return r.status, data


def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--sessions", type=int, default=200)
    a = p.parse_args()
    s = Session(a.port, a.user, a.password)

    def first_list():
        assert s.call("GET", "/api/v1/mail/folders")[0] == 200
        status, data = s.call("GET", "/api/v1/mail/messages?folder=INBOX&limit=50")
        assert status == 200 and json.loads(data)["total"] == a.messages, data[:200]

    cold_list = timed(first_list)
    warm_list = statistics.median(timed(first_list) for _ in range(20))
    _, data = s.call("GET", "/api/v1/mail/messages?folder=INBOX&offset=5000&limit=50")
    uids = [m["uid"] for m in json.loads(data)["messages"]]

    def opener(uid):
        return lambda: s.call("GET", f"/api/v1/mail/message?folder=INBOX&uid={uid}")

    cold_open = timed(opener(uids[0]))
    warm_open = statistics.median(timed(opener(u)) for u in uids[1:21])
    _, data = s.call("GET", "/api/v1/mail/search?folder=INBOX&q=inquiry%20000123")
    search = timed(lambda: s.call("GET", "/api/v1/mail/search?folder=INBOX&subject=000123"))
    threads = statistics.median(
        timed(lambda: s.call("GET", "/api/v1/mail/messages?folder=INBOX&limit=50&thread=true")) for _ in range(5))
    by_subject = statistics.median(
        timed(lambda: s.call("GET", "/api/v1/mail/messages?folder=INBOX&limit=50&sort=subject")) for _ in range(5))

    def send():
        status, data = s.call("POST", "/api/v1/mail/send", {"to": [a.user], "subject": "Re: Inquiry 000123",
                                                            "text": "Our best price is attached.\n" * 20,
                                                            "reply_to": {"folder": "INBOX", "uid": uids[0]}})
        assert status == 200, data[:300]

    send_ms = statistics.median(timed(send) for _ in range(10))
    before = rss_kib(a.pid)
    sessions = [Session(a.port, a.user, a.password) for _ in range(a.sessions)]
    for x in sessions:
        x.call("GET", "/api/v1/mail/folders")
    after = rss_kib(a.pid)
    # Each open page also holds its live-update stream (server-sent events).
    import socket
    streams = []
    for x in sessions:
        sock = socket.create_connection(("127.0.0.1", a.port))
        sock.sendall(f"GET /api/v1/mail/events?folder=INBOX HTTP/1.1\r\nHost: x\r\nCookie: {x.cookie}\r\n\r\n".encode())
        streams.append(sock)
    for sock in streams:
        assert b" 200 " in sock.recv(4096).split(b"\r\n")[0]
    with_streams = rss_kib(a.pid)
    print(f"webmail on a {a.messages}-message INBOX (release build, loopback HTTP):")
    print(f"  first message list (folders + newest 50): cold {cold_list:.1f} ms, warm median {warm_list:.1f} ms")
    print(f"  open a message: cold {cold_open:.1f} ms, warm median {warm_open:.1f} ms")
    print(f"  subject search over the folder: {search:.1f} ms")
    print(f"  first page of conversations (thread=true): median {threads:.1f} ms; sorted by subject: {by_subject:.1f} ms")
    print(f"  send a reply (submission, signature, queue, Sent copy): median {send_ms:.1f} ms")
    print(f"  memory per signed-in web session: {(after - before) / a.sessions:.1f} KiB "
          f"(RSS {before} -> {after} KiB over {a.sessions} sessions)")
    print(f"  ... with its live-update stream open: {(with_streams - before) / a.sessions:.1f} KiB "
          f"(RSS -> {with_streams} KiB)")


if __name__ == "__main__":
    main()
