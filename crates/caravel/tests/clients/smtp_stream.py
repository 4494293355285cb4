"""Sends a stream of messages over several SMTP connections at once and
prints `ACK <message-id> <sha256 of the sent text>` after every 250, flushed
at once: whatever is printed was acknowledged by the server. Stops quietly
when the server goes away. Usage: smtp_stream.py PORT CONNECTIONS COUNT TAG"""

import hashlib
import smtplib
import sys
import threading

port, conns, count, tag = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lock = threading.Lock()


def worker(w):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        s.ehlo("stream.test")
        for i in range(w, count, conns):
            mid = f"<{tag}-{i}@stream.test>"
            body = f"From: stream@remote.test\r\nTo: alice@example.test\r\nSubject: {tag} {i}\r\nMessage-ID: {mid}\r\n\r\n"
            body += f"message {i} of stream {tag}\r\n" * (5 + (i * 13) % 3000)
            data = body.encode()
            s.sendmail("stream@remote.test", ["alice@example.test"], data)
            with lock:
                sys.stdout.write(f"ACK {mid} {hashlib.sha256(data).hexdigest()}\n")
                sys.stdout.flush()
    except Exception:
        return


threads = [threading.Thread(target=worker, args=(w,)) for w in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
