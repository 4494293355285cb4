"""Spam-filter accuracy on the fixed corpus split (../shared/corpus/split),
for bench/spam-side-by-side.sh. Standard library only.

  spam_eval.py spamd CORPUS OUT --port P --pid SPAMD_PID [--workers 2] [--train-s T]
      scores the test split through a running spamd (SPAMC/1.5 SYMBOLS).
  spam_eval.py caravel CORPUS OUT --bin target/release/caravel --config CFG
      `caravel spam train --ham|--spam` on the train split, then `spam classify --json`
      on the test split; times both, and the CPU time of classify.
  spam_eval.py report OUT... [--json FILE] [--fp FILE] [--commit C] [--reference R]
      the side-by-side table; the same as JSON; the filter's false positives.

Each OUT holds {"filter", "train_s", "wall_s", "cpu_s", "messages": [{"file",
"label", "spam", "score", "tags"}]} (Caravel adds "verdict"); label is the
first path component of the split entry (ham/spam)."""

import argparse
import concurrent.futures
import json
import os
import resource
import socket
import subprocess
import sys
import time


def split(corpus, name):
    with open(os.path.join(corpus, "split", name + ".txt")) as f:
        return [line.strip() for line in f if line.strip()]


def label(path):
    return path.split("/", 1)[0]


def save(out, filt, messages, train_s, wall_s, cpu_s):
    with open(out, "w") as f:
        json.dump({"filter": filt, "train_s": train_s, "wall_s": wall_s, "cpu_s": cpu_s,
                   "messages": messages}, f, indent=0)


# ---- SpamAssassin through spamd ----

def spamd_request(port, command, body=b""):
    with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
        s.sendall(f"{command} SPAMC/1.5\r\nContent-length: {len(body)}\r\n\r\n".encode() + body)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


def spamd_check(port, corpus, path):
    with open(os.path.join(corpus, path), "rb") as f:
        reply = spamd_request(port, "SYMBOLS", f.read())
    head, _, symbols = reply.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if " EX_OK" not in lines[0]:
        raise RuntimeError(f"{path}: {lines[0]}")
    # "Spam: True ; 12.3 / 5.0"
    verdict = next(l for l in lines if l.lower().startswith("spam:"))
    flag, _, scores = verdict.split(":", 1)[1].partition(";")
    return {"file": path, "label": label(path), "spam": flag.strip() == "True",
            "score": float(scores.split("/")[0]), "tags": symbols.strip().split(",")}


def proc_cpu(pid):
    """CPU seconds of pid, of its reaped children, and of its live children
    (spamd's children do the scanning; a child that exits moves its time into
    the parent's cutime, so the sum stays consistent)."""
    def fields(p):
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # fields from 3 (state) on
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(int(x) for x in fields(pid)[11:15])  # utime stime cutime cstime
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            f = fields(p)
            if int(f[1]) == pid:  # ppid
                total += sum(int(x) for x in f[11:15])
        except (OSError, IndexError):
            pass  # gone meanwhile
    return total / tick


def run_spamd(a):
    # spamd compiles its rules before it listens: wait, so that start-up is not timed
    deadline = time.time() + 180
    while True:
        try:
            if "PONG" in spamd_request(a.port, "PING"):
                break
        except OSError:
            pass
        if time.time() > deadline:
            sys.exit("spamd did not answer PING within 180 s (see spamd.log)")
        time.sleep(0.5)
    files = split(a.corpus, "test")
    cpu0, t0 = proc_cpu(a.pid), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(a.workers) as pool:
        messages = list(pool.map(lambda p: spamd_check(a.port, a.corpus, p), files))
    wall, cpu = time.perf_counter() - t0, proc_cpu(a.pid) - cpu0
    save(a.out, "SpamAssassin", messages, a.train_s, wall, cpu)
    # spamd only warns in its log when it cannot open the Bayes database
    if not any(t.startswith("BAYES_") for m in messages for t in m["tags"]):
        sys.exit("no message got a BAYES_ rule: Bayes was not used (see spamd.log)")


# ---- Caravel ----

def caravel(cmd, cwd, **kw):
    try:
        return subprocess.run(cmd, cwd=cwd, check=True, **kw)
    except subprocess.CalledProcessError as e:
        sys.exit(f"failed ({e.returncode}): {' '.join(cmd[:6])} ... ({len(cmd)} arguments)")


def n_batches(paths):
    """How many commands the paths need to stay well under ARG_MAX (the
    environment counts too); the split's ~1,500-3,000 paths fit in one."""
    return -(-sum(len(p) + 1 for p in paths) // (os.sysconf("SC_ARG_MAX") // 4))


def run_caravel(a):
    # Paths are passed relative to the corpus (cwd), as in the split files.
    cmd = [os.path.abspath(a.bin), "--config", os.path.abspath(a.config), "spam"]
    train = split(a.corpus, "train")
    t0 = time.perf_counter()
    for kind in ("ham", "spam"):  # `spam train` takes one kind per run; sa-learn's order
        paths = [p for p in train if label(p) == kind]
        n = n_batches(paths)
        for i in range(n):
            caravel(cmd + ["train", "--" + kind, *paths[i::n]], a.corpus)
    train_s = time.perf_counter() - t0

    test = split(a.corpus, "test")
    by_name = {os.path.basename(p): p for p in test}
    ru0, t0, rows = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter(), []
    n = n_batches(test)
    for i in range(n):
        out = caravel(cmd + ["classify", "--json", *test[i::n]], a.corpus, stdout=subprocess.PIPE).stdout
        rows += json.loads(out)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    messages = []
    for r in rows:
        # classify may print the path as given or resolved: file names are unique
        path = by_name[os.path.basename(r["file"])]
        messages.append({"file": path, "label": label(path), "spam": r["verdict"] != "accept",
                         "score": r.get("score"), "verdict": r["verdict"],
                         "tags": r.get("tags")})
    if sorted(m["file"] for m in messages) != sorted(test):
        sys.exit(f"classify returned {len(messages)} results for {len(test)} test files")
    save(a.out, "Caravel", messages, train_s, wall, cpu)


# ---- report ----

def summary(run):
    m = run["messages"]
    spam = [x for x in m if x["label"] == "spam"]
    ham = [x for x in m if x["label"] == "ham"]
    caught = sum(x["spam"] for x in spam)
    fps = sorted(x["file"] for x in ham if x["spam"])
    return {
        "filter": run["filter"],
        "spam_caught": caught, "spam_total": len(spam),
        "recall_pct": round(100 * caught / len(spam), 2),
        "ham_flagged": len(fps), "ham_total": len(ham),
        "fp_pct": round(100 * len(fps) / len(ham), 2),
        "msgs_per_s": round(len(m) / run["wall_s"], 1),
        "msgs_per_cpu_s": round(len(m) / run["cpu_s"], 1) if run["cpu_s"] else None,
        "train_s": round(run["train_s"], 1) if run["train_s"] is not None else None,
        "false_positives": fps,
    }


def report(a):
    rows = [summary(json.load(open(p))) for p in a.runs]
    print(f"{'filter':<14}| {'spam recall':>18} | {'ham false positives':>19} | {'msgs/s':>7} |"
          f" {'msgs/CPU-s':>10} | {'training':>8}")
    for r in rows:
        cpu = f"{r['msgs_per_cpu_s']:>10}" if r["msgs_per_cpu_s"] else f"{'-':>10}"
        train = f"{r['train_s']:>7}s" if r["train_s"] is not None else f"{'-':>8}"
        print(f"{r['filter']:<14}| {r['recall_pct']:6.2f} % ({r['spam_caught']:>4}/{r['spam_total']})"
              f" | {r['fp_pct']:5.2f} % ({r['ham_flagged']:>3}/{r['ham_total']})"
              f" | {r['msgs_per_s']:>7} | {cpu} | {train}")
    by = {r["filter"]: r for r in rows}
    if a.json:
        # one entry in the style of bench/results/results.json (reference, Caravel, better);
        # null where a side was skipped
        def pair(key):
            return [by.get("SpamAssassin", {}).get(key), by.get("Caravel", {}).get(key)]
        entry = {
            "id": "spam",
            "title": "Spam filter, SpamAssassin public corpus, fixed 50/50 split (scored on test)",
            "date": time.strftime("%Y-%m-%d"),
            "commit": a.commit,
            "command": "bash bench/spam-side-by-side.sh",
            "reference": a.reference,
            "metrics": [
                ["spam recall (%)", *pair("recall_pct"), "higher"],
                ["ham false positives (%)", *pair("fp_pct"), "lower"],
                ["classify speed, wall (msgs/s)", *pair("msgs_per_s"), "higher"],
                ["classify speed per CPU second (msgs/s)", *pair("msgs_per_cpu_s"), "higher"],
                ["training on the train split (s)", *pair("train_s"), "lower"],
            ],
            "counts": {r["filter"]: {k: r[k] for k in ("spam_caught", "spam_total", "ham_flagged", "ham_total")}
                       for r in rows},
        }
        with open(a.json, "w") as f:
            json.dump(entry, f, indent=1)
            f.write("\n")
        print(f"results: {a.json}")
    if a.fp and "Caravel" in by:
        with open(a.fp, "w") as f:
            f.writelines(p + "\n" for p in by["Caravel"]["false_positives"])
        print(f"Caravel false positives: {a.fp}")


ap = argparse.ArgumentParser()
sub = ap.add_subparsers(dest="cmd", required=True)
s = sub.add_parser("spamd")
s.add_argument("corpus")
s.add_argument("out")
s.add_argument("--port", type=int, required=True)
s.add_argument("--pid", type=int, required=True)
s.add_argument("--workers", type=int, default=2)
s.add_argument("--train-s", type=float)
c = sub.add_parser("caravel")
c.add_argument("corpus")
c.add_argument("out")
c.add_argument("--bin", required=True)
c.add_argument("--config", required=True)
r = sub.add_parser("report")
r.add_argument("runs", nargs="+")
r.add_argument("--json")
r.add_argument("--fp")
r.add_argument("--commit")
r.add_argument("--reference")
a = ap.parse_args()
{"spamd": run_spamd, "caravel": run_caravel, "report": report}[a.cmd](a)
