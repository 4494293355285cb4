"""What a Caravel data directory takes on disk against the message bytes it
holds: the database (with its WAL), the blob files, and the database's bytes
per table and index (SQLite's dbstat), per message.

  disk_report.py DATA_DIR [--json OUT]

Run it on a stopped server (or accept that the WAL holds recent writes)."""

import argparse
import json
import os
import sqlite3

a = argparse.ArgumentParser()
a.add_argument("data_dir")
a.add_argument("--json")
args = a.parse_args()

db_path = os.path.join(args.data_dir, "caravel.db")
db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
messages, raw = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM messages").fetchone()


def size_of(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


blob_files = 0
for root, _, files in os.walk(os.path.join(args.data_dir, "blobs")):
    for f in files:
        # Disk blocks, as du counts them.
        blob_files += os.stat(os.path.join(root, f)).st_blocks * 512
db_bytes = size_of(db_path)
wal_bytes = size_of(db_path + "-wal")
total = db_bytes + wal_bytes + blob_files
per_object = db.execute(
    "SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC"
).fetchall()
free_pages = db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
compressed = db.execute("SELECT count(*) FROM blobs WHERE codec = 1").fetchone()[0] if any(
    r[1] == "codec" for r in db.execute("PRAGMA table_info(blobs)")) else 0

print(f"{messages:,} messages, {raw / 1e6:.1f} MB of message bytes ({raw / max(messages, 1):,.0f} B each)")
print(f"caravel.db {db_bytes / 1e6:.1f} MB + WAL {wal_bytes / 1e6:.1f} MB + blob files {blob_files / 1e6:.1f} MB"
      f" = {total / 1e6:.1f} MB: {total / max(raw, 1):.2f}x the message bytes")
print(f"bodies compressed in their row: {compressed:,}; free pages {free_pages / 1e6:.1f} MB")
print(f"{'table or index':<32}{'MB':>9}{'B/msg':>8}{'payload B/msg':>15}")
for name, pages, payload in per_object:
    if pages > 0.001 * db_bytes:
        print(f"{name:<32}{pages / 1e6:>9.1f}{pages / max(messages, 1):>8.0f}{payload / max(messages, 1):>15.0f}")
if args.json:
    with open(args.json, "w") as f:
        json.dump({"messages": messages, "message_bytes": raw, "db": db_bytes, "wal": wal_bytes,
                   "blob_files": blob_files, "ratio": total / max(raw, 1),
                   "objects": {n: p for n, p, _ in per_object}}, f, indent=1)
