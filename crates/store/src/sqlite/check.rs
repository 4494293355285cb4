//! `caravel store check`: verifies every invariant listed in the crate docs.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use rusqlite::Connection;

use super::{inline, SqliteStore};
use crate::blobs::BlobStore;
use crate::{CheckReport, Maintenance, Result};

#[async_trait]
impl Maintenance for SqliteStore {
    async fn check(&self) -> Result<CheckReport> {
        let blobs = self.blobs.clone();
        self.read(move |c| check(c, &blobs)).await
    }

    async fn recover(&self) -> Result<u64> {
        let on_disk = {
            let blobs = self.blobs.clone();
            tokio::task::spawn_blocking(move || blobs.list())
                .await
                .map_err(|e| crate::StoreError::Backend(e.to_string()))??
        };
        let mut found = 0;
        for chunk in on_disk.chunks(1000) {
            let chunk = chunk.to_vec();
            // Under the write lock, a file with no row cannot be mid-delivery in
            // a way that matters: a delivery re-checks its file before its row.
            found += self
                .writer
                .write(move |c| {
                    let mut n = 0;
                    for hash in chunk {
                        let known: bool = c.query_row(
                            "SELECT EXISTS (SELECT 1 FROM blobs WHERE hash = ?1 AND data IS NULL)",
                            [&hash],
                            |r| r.get(0),
                        )?;
                        if !known {
                            c.execute("INSERT OR IGNORE INTO blob_trash (hash) VALUES (?1)", [&hash])?;
                            n += 1;
                        }
                    }
                    Ok(n)
                })
                .await?;
        }
        // The trash is emptied at the start of the next transaction.
        self.writer.write(|_| Ok(())).await?;
        Ok(found)
    }

    async fn compact(&self, vacuum: bool) -> Result<crate::CompactReport> {
        self.compact_bodies(vacuum).await
    }
}

fn query_pairs<T: rusqlite::types::FromSql>(c: &Connection, sql: &str) -> Result<Vec<(String, T)>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Blob files younger than this without a row may belong to a delivery in
/// progress (the file is written before its row); older ones are orphans.
const IN_FLIGHT_AGE: std::time::Duration = std::time::Duration::from_secs(600);

fn check(c: &Connection, blobs: &BlobStore) -> Result<CheckReport> {
    // One read transaction: a consistent snapshot while the server keeps writing.
    c.execute_batch("BEGIN")?;
    let out = check_snapshot(c, blobs);
    let _ = c.execute_batch("COMMIT");
    let (mut report, missing) = out?;
    // A file the snapshot still names may have been expunged and unlinked
    // since: only a row that still exists without its file is damage.
    for (hash, error) in missing {
        let still: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM blobs WHERE hash = ?1)", [&hash], |r| r.get(0))?;
        if still && blobs.read(&hash).is_err() {
            report.problems.push(format!("blob {hash}: file unreadable: {error}"));
        }
    }
    Ok(report)
}

/// The report, and the blobs whose file could not be read (to re-check).
fn check_snapshot(c: &Connection, blobs: &BlobStore) -> Result<(CheckReport, Vec<(String, String)>)> {
    let mut report = CheckReport::default();
    let mut missing = Vec::new();
    let mut problem = |p: String| report.problems.push(p);

    let integrity: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        problem(format!("SQLite integrity: {integrity}"));
    }

    // Blob rows against message references and files.
    let refs: HashMap<String, i64> = query_pairs::<i64>(
        c,
        "SELECT blob, count(*) FROM (SELECT blob FROM messages UNION ALL SELECT blob FROM queue) GROUP BY blob",
    )?
    .into_iter()
    .collect();
    // Each row is read and checked in turn: an inline body is inflated (a
    // damaged one is reported) and hashed, never all of them held at once.
    let mut known: HashSet<String> = HashSet::new();
    let mut in_files: HashSet<String> = HashSet::new();
    let mut st = c.prepare("SELECT hash, size, refcount, data, codec FROM blobs")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (hash, size, refcount): (String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let actual = refs.get(&hash).copied().unwrap_or(0);
        if actual != refcount {
            problem(format!("blob {hash}: refcount {refcount} but {actual} message(s) or queue entries use it"));
        }
        let content = match r.get::<_, Option<Vec<u8>>>(3)? {
            Some(data) => inline::unpack(&hash, r.get(4)?, data, size).map_err(|e| e.to_string()),
            None => {
                in_files.insert(hash.clone());
                blobs.read(&hash).map_err(|e| e.to_string())
            }
        };
        match content {
            Ok(data) => {
                if data.len() as i64 != size {
                    problem(format!("blob {hash}: {} bytes on disk, {size} in the index", data.len()));
                } else if BlobStore::hash(&data) != hash {
                    problem(format!("blob {hash}: content does not match its hash (corrupted)"));
                }
            }
            Err(e) if in_files.contains(&hash) => missing.push((hash.clone(), e)),
            Err(e) => problem(e),
        }
        known.insert(hash);
    }
    drop(rows);
    drop(st);
    for hash in refs.keys() {
        if !known.contains(hash.as_str()) {
            problem(format!("blob {hash}: used by messages but has no index row"));
        }
    }
    let trash: HashSet<String> = {
        let mut st = c.prepare("SELECT hash FROM blob_trash")?;
        let r = st.query_map([], |r| r.get(0))?;
        r.collect::<rusqlite::Result<_>>()?
    };
    let on_disk = blobs.list()?;
    for hash in &on_disk {
        let young = std::fs::metadata(blobs.path(hash))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().map(|age| age < IN_FLIGHT_AGE).unwrap_or(true));
        if !in_files.contains(hash.as_str()) && !trash.contains(hash) && !young {
            problem(format!("blob {hash}: orphan file, no index row refers to it"));
        }
    }

    // Mailbox counters.
    let mut st = c.prepare(
        "SELECT b.name, a.address, b.messages, b.size, b.uidnext, b.highestmodseq,
                count(m.id), coalesce(sum(m.size), 0), coalesce(max(m.uid), 0), coalesce(max(m.modseq), 0),
                b.unseen, b.deleted, coalesce(sum(m.flags & 1 = 0), 0), coalesce(sum(m.flags & 8 = 8), 0)
         FROM mailboxes b JOIN accounts a ON a.id = b.account_id
         LEFT JOIN messages m ON m.mailbox_id = b.id GROUP BY b.id",
    )?;
    let mut mailbox_rows = st.query([])?;
    while let Some(r) = mailbox_rows.next()? {
        let (name, owner): (String, String) = (r.get(0)?, r.get(1)?);
        let v: Vec<i64> = (2..14).map(|i| r.get(i)).collect::<rusqlite::Result<_>>()?;
        if v[8] != v[10] || v[9] != v[11] {
            problem(format!(
                "mailbox {name} of {owner}: counters say {} unseen / {} deleted, found {} / {}",
                v[8], v[9], v[10], v[11]
            ));
        }
        let (messages, size, uidnext, hms, count, sum, max_uid, max_modseq) =
            (v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        if messages != count || size != sum {
            problem(format!(
                "mailbox {name} of {owner}: counters say {messages} messages / {size} bytes, found {count} / {sum}"
            ));
        }
        if uidnext <= max_uid {
            problem(format!("mailbox {name} of {owner}: UIDNEXT {uidnext} not above UID {max_uid}"));
        }
        if hms < max_modseq {
            problem(format!("mailbox {name} of {owner}: HIGHESTMODSEQ {hms} below a message's {max_modseq}"));
        }
    }

    // Stored structures: each must read back (FETCH analyzes an unreadable
    // one again from its bytes, but it is damage all the same).
    let mut st = c.prepare(
        "SELECT b.name, a.address, m.uid, m.envelope, m.structure FROM messages m
         JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id",
    )?;
    let mut messages = st.query([])?;
    while let Some(r) = messages.next()? {
        let (env, body): (super::mail::EnvelopeBytes, String) = (r.get(3)?, r.get(4)?);
        let unreadable = crate::stored_envelope::decode(&env.0)
            .and_then(|_| serde_json::from_str::<crate::mime::BodyPart>(&body).map_err(|e| e.to_string()))
            .err();
        if let Some(e) = unreadable {
            let (name, owner, uid): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            problem(format!("message UID {uid} in mailbox {name} of {owner}: stored structure unreadable ({e})"));
        }
    }

    // Account quotas.
    for (address, (used, sum)) in {
        let mut st = c.prepare(
            "SELECT a.address, a.used, coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes b
                 ON b.id = m.mailbox_id WHERE b.account_id = a.id), 0) FROM accounts a",
        )?;
        let r = st.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))))?;
        r.collect::<rusqlite::Result<Vec<_>>>()?
    } {
        if used != sum {
            problem(format!("account {address}: quota usage says {used} bytes, its messages hold {sum}"));
        }
    }

    report.messages = c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))? as u64;
    report.blobs = known.len() as u64;
    Ok((report, missing))
}
