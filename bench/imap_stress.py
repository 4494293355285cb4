"""Many IMAP clients at once against one server, as an office has them: every
user has several clients signed in all day, each doing a mix of SELECT,
FETCH, STORE, EXPUNGE, APPEND, STATUS, LIST and NOOP. Counts commands per
second, the server's CPU per command, its threads/processes and memory (peak,
and how far it falls back within 10 s of the load stopping).

  imap_stress.py --port P --starttls --password W --pid NAME=PID \
      [--users 20] [--clients 10] [--seconds 30] [--fill 200] \
      [--sign-in-per-session] [--json OUT]

--sign-in-per-session: each client connects, signs in, runs a few commands
and logs out, again and again (a phone that reconnects), instead of staying
signed in. Needs only the standard library, plus procmem.py of the shared
harness (--harness, default ../shared/bench)."""

import argparse
import asyncio
import json
import os
import random
import ssl
import sys
import time

a = argparse.ArgumentParser()
a.add_argument("--host", default="127.0.0.1")
a.add_argument("--port", type=int, required=True)
a.add_argument("--starttls", action="store_true")
a.add_argument("--user-pattern", default="user{n}@example.test")
a.add_argument("--first-user", type=int, default=1)
a.add_argument("--users", type=int, default=20)
a.add_argument("--clients", type=int, default=10, help="clients at once, spread over the users")
a.add_argument("--password", required=True)
a.add_argument("--seconds", type=float, default=30)
a.add_argument("--fill", type=int, default=200, help="messages in each INBOX before the run")
a.add_argument("--sign-in-per-session", action="store_true")
a.add_argument("--pid", action="append", default=[], help="NAME=PID of the server's process tree root")
a.add_argument("--harness", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
a.add_argument("--label", default="server")
a.add_argument("--json")
args = a.parse_args()
assert args.host.startswith("127."), "loopback only"
sys.path.insert(0, args.harness)
import procmem  # noqa: E402

TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE
MESSAGE = (
    b"From: Buyer <buyer@partner.test>\r\nTo: sales@example.test\r\n"
    b"Subject: stress order %d\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <stress-%d@partner.test>\r\n\r\n" + b"Please quote 40 containers.\r\n" * 30
)


class Client:
    """A minimal IMAP client: one command at a time, literals read whole."""

    def __init__(self):
        self.tag = 0
        self.exists = 0

    async def connect(self, user):
        self.r, self.w = await asyncio.open_connection(args.host, args.port)
        await self.r.readline()
        if args.starttls:
            await self.cmd(b"STARTTLS")
            await self.w.start_tls(TLS, server_hostname="mx.example.test")
        await self.cmd(b'LOGIN "%s" "%s"' % (user.encode(), args.password.encode()))

    async def cmd(self, line, literal=None):
        self.tag += 1
        tag = b"c%d" % self.tag
        if literal is None:
            self.w.write(tag + b" " + line + b"\r\n")
        else:
            # LITERAL+ is not assumed: wait for the continuation.
            self.w.write(tag + b" " + line + b" {%d}\r\n" % len(literal))
            await self.w.drain()
            while not (await self.r.readline()).startswith(b"+"):
                pass
            self.w.write(literal + b"\r\n")
        await self.w.drain()
        while True:
            resp = await self.r.readline()
            if not resp:
                raise ConnectionError("closed")
            while resp.endswith(b"}\r\n") and b"{" in resp:
                n = int(resp[resp.rindex(b"{") + 1 : -3])
                await self.r.readexactly(n)
                resp = await self.r.readline()
            if resp.startswith(b"* "):
                # The session's view: commands name only messages it knows.
                if resp.rstrip().endswith(b" EXISTS"):
                    self.exists = int(resp.split()[1])
                elif resp.rstrip().endswith(b" EXPUNGE"):
                    self.exists -= 1
            if resp.startswith(tag + b" "):
                if not resp.startswith(tag + b" OK"):
                    stats["refused"] += 1
                    stats["first_refusal"] = stats["first_refusal"] or f"{line[:40]!r}: {resp!r}"
                return

    async def close(self):
        try:
            await self.cmd(b"LOGOUT")
        except Exception:
            pass
        self.w.close()


async def fill(n):
    c = Client()
    await c.connect(args.user_pattern.format(n=n))
    await c.cmd(b"SELECT INBOX")
    for i in range(c.exists, args.fill):
        await c.cmd(b"APPEND INBOX", MESSAGE % (i, i))
    await c.close()


async def one_command(c, rnd, seq):
    """One command of the mix, chosen at random (weights as a mail client's
    day: mostly flag and header fetches, some bodies, stores and appends)."""
    n = max(c.exists, 1)
    lo = rnd.randint(1, n)
    op = rnd.random()
    if op < 0.25:
        await c.cmd(b"FETCH %d:%d (FLAGS)" % (max(1, n - 49), n))
    elif op < 0.40:
        await c.cmd(b"FETCH %d:%d (UID FLAGS ENVELOPE)" % (lo, min(n, lo + 9)))
    elif op < 0.55:
        await c.cmd(b"FETCH %d (BODY.PEEK[])" % lo)
    elif op < 0.70:
        await c.cmd(b"STORE %d %sFLAGS (\\Seen)" % (lo, rnd.choice([b"+", b"-"])))
    elif op < 0.78:
        await c.cmd(b"APPEND INBOX", MESSAGE % (seq, seq))
    elif op < 0.83:
        # Keep the mailbox about its size: expunge the newest message.
        if c.exists > args.fill:
            await c.cmd(b"STORE %d +FLAGS.SILENT (\\Deleted)" % c.exists)
            await c.cmd(b"EXPUNGE")
        else:
            await c.cmd(b"NOOP")
    elif op < 0.88:
        await c.cmd(b"STATUS INBOX (MESSAGES UNSEEN UIDNEXT)")
    elif op < 0.93:
        await c.cmd(b'LIST "" "*"')
    elif op < 0.97:
        await c.cmd(b"SELECT INBOX")
    else:
        await c.cmd(b"NOOP")


stats = {"commands": 0, "sessions": 0, "errors": 0, "first_error": None, "refused": 0, "first_refusal": None}


async def client(idx, stop_at):
    rnd = random.Random(idx)
    user = args.user_pattern.format(n=args.first_user + idx % args.users)
    seq = 1_000_000 * (idx + 1)
    c = None
    try:
        while time.monotonic() < stop_at:
            if c is None:
                if args.sign_in_per_session:
                    user = args.user_pattern.format(n=args.first_user + rnd.randrange(args.users))
                c = Client()
                await c.connect(user)
                await c.cmd(b"SELECT INBOX")
                stats["sessions"] += 1
                stats["commands"] += 2 + (1 if args.starttls else 0)
                todo = 5 if args.sign_in_per_session else 1 << 62
            seq += 1
            await one_command(c, rnd, seq)
            stats["commands"] += 1
            todo -= 1
            if todo == 0:
                await c.close()
                stats["commands"] += 1
                c = None
    except Exception as e:  # noqa: BLE001
        stats["errors"] += 1
        stats["first_error"] = stats["first_error"] or repr(e)
    if c is not None:
        await c.close()


def tree(roots):
    out = {"procs": 0, "threads": 0, "rss_kb": 0, "pss_kb": 0, "cpu_s": 0.0}
    kids = procmem._children_map()
    for pid in roots.values():
        s = procmem.sample_tree(pid, kids)
        out["procs"] += s["procs"]
        out["rss_kb"] += s["rss_kb"]
        out["pss_kb"] += s["pss_kb"]
        out["cpu_s"] += procmem.tree_cpu_s(pid, kids)
        for p in procmem.tree_pids(pid, kids):
            try:
                out["threads"] += len(os.listdir(f"/proc/{p}/task"))
            except OSError:
                pass
    return out


async def main():
    roots = procmem.parse_roots(args.pid)
    await asyncio.gather(*(fill(args.first_user + i) for i in range(args.users)))
    await asyncio.sleep(3)
    idle = tree(roots)
    peak = dict(idle)
    stop_at = time.monotonic() + args.seconds
    started = time.monotonic()
    tasks = [asyncio.create_task(client(i, stop_at)) for i in range(args.clients)]
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0.5)
        now = tree(roots)
        for k in ("procs", "threads", "rss_kb", "pss_kb"):
            peak[k] = max(peak[k], now[k])
    took = time.monotonic() - started
    busy = tree(roots)
    after = {}
    for s in (1, 5, 10):
        await asyncio.sleep(s - (time.monotonic() - started - took))
        after[s] = tree(roots)
    cpu = busy["cpu_s"] - idle["cpu_s"]
    result = {
        "label": args.label,
        "mode": "sign-in per session" if args.sign_in_per_session else "signed in",
        "users": args.users,
        "clients": args.clients,
        "seconds": round(took, 1),
        "commands": stats["commands"],
        "sessions": stats["sessions"],
        "errors": stats["errors"],
        "first_error": stats["first_error"],
        "refused": stats["refused"],
        "first_refusal": stats["first_refusal"],
        "commands_per_s": round(stats["commands"] / took, 1),
        "cpu_ms_per_command": round(1000 * cpu / max(stats["commands"], 1), 3),
        "idle": {k: idle[k] for k in ("procs", "threads", "rss_kb", "pss_kb")},
        "peak": {k: peak[k] for k in ("procs", "threads", "rss_kb", "pss_kb")},
        "after_load": {f"{s}s": {k: v[k] for k in ("procs", "threads", "rss_kb", "pss_kb")} for s, v in after.items()},
    }
    mb = lambda kb: f"{kb / 1024:.0f} MB"
    print(
        f"{args.label} ({result['mode']}, {args.clients} clients, {args.users} users): "
        f"{result['commands_per_s']} commands/s, {result['cpu_ms_per_command']} ms CPU/command, "
        f"errors {result['errors']} refused {result['refused']}; "
        f"procs/threads idle {idle['procs']}/{idle['threads']} peak {peak['procs']}/{peak['threads']}; "
        f"RSS idle {mb(idle['rss_kb'])} peak {mb(peak['rss_kb'])} after 10 s {mb(after[10]['rss_kb'])}; "
        f"PSS idle {mb(idle['pss_kb'])} peak {mb(peak['pss_kb'])} after 10 s {mb(after[10]['pss_kb'])}"
    )
    if result["first_error"] or result["first_refusal"]:
        print("  first error:", result["first_error"], "first refusal:", result["first_refusal"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


asyncio.run(main())
