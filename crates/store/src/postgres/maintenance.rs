//! `caravel store check` and `store compact` on PostgreSQL.
//!
//! The check verifies in SQL, in one snapshot, what the embedded store's
//! check verifies (sqlite/check.rs) where it applies here: blob reference
//! counts, bodies against their hash, mailbox counters, stored structures
//! and quota usage. There are no blob files: bodies are rows.

use std::pin::pin;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Transaction};

use super::PgStore;
use crate::blobs::BlobStore;
use crate::sqlite::inline;
use crate::{CheckReport, CompactReport, Maintenance, Result};

/// Bodies read per statement by `compact`.
const CHUNK: i64 = 500;

/// The tables that grow with the mail kept (what `compact` vacuums).
const BIG_TABLES: &[&str] = &["blobs", "messages", "sort_keys", "vanished", "mail_log", "queue", "queue_recipients"];

#[async_trait]
impl Maintenance for PgStore {
    async fn check(&self) -> Result<CheckReport> {
        let mut c = self.client().await?;
        // One snapshot while the nodes keep writing: every count is taken
        // at the same instant as the rows it is compared with.
        let tx = c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        let mut report = CheckReport::default();
        let counts = tx.query_one("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM blobs)", &[]).await?;
        report.messages = counts.get::<_, i64>(0) as u64;
        report.blobs = counts.get::<_, i64>(1) as u64;
        let problems = &mut report.problems;
        check_refcounts(&tx, problems).await?;
        check_bodies(&tx, problems).await?;
        check_mailboxes(&tx, problems).await?;
        check_structures(&tx, problems).await?;
        check_quotas(&tx, problems).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn recover(&self) -> Result<u64> {
        // Nothing to recover: bodies are rows, written in the transaction
        // that names them, so a crash leaves no body without its message
        // (the embedded store's recovery removes blob files a crash left
        // without their row).
        Ok(0)
    }

    async fn compact(&self, vacuum: bool) -> Result<CompactReport> {
        let mut report = CompactReport { file_before: self.database_size().await?, ..CompactReport::default() };
        self.compress_bodies(&mut report).await?;
        if vacuum {
            // Plain VACUUM: the space of deleted rows becomes reusable and
            // empty pages at a table's end go back to the file system, while
            // every node goes on reading and writing. VACUUM FULL would give
            // back everything but lock each table against reads too for the
            // whole rewrite, which a live cluster cannot take; an operator
            // runs it (or pg_repack) in a maintenance window.
            let c = self.client().await?;
            for table in BIG_TABLES {
                c.batch_execute(&format!("VACUUM (ANALYZE) {table}")).await?;
            }
        }
        report.file_after = self.database_size().await?;
        Ok(report)
    }
}

impl PgStore {
    /// The database's size on disk (tables, indexes, TOAST), in bytes.
    async fn database_size(&self) -> Result<u64> {
        let row = self.client().await?.query_one("SELECT pg_database_size(current_database())", &[]).await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Compresses the bodies small enough for a compressed row that are kept
    /// as they came (this backend's deliveries compress them already: these
    /// are rows written another way, such as copied from an older store).
    /// A chunk per statement, each body rewritten on its own: the server
    /// goes on meanwhile, and a body is content-addressed, so rewriting it
    /// races with nothing but its deletion (then the update finds no row).
    async fn compress_bodies(&self, report: &mut CompactReport) -> Result<()> {
        let c = self.client().await?;
        let mut after = String::new();
        loop {
            let rows = c
                .query(
                    "SELECT hash, size, data FROM blobs WHERE hash > $1 AND codec = $2 AND size <= $3
                     ORDER BY hash LIMIT $4",
                    &[&after, &inline::STORED, &(inline::INLINE_MAX as i64), &CHUNK],
                )
                .await?;
            let Some(last) = rows.last() else { return Ok(()) };
            after = last.get(0);
            for r in &rows {
                let (hash, size, data): (&str, i64, Vec<u8>) = (r.get(0), r.get(1), r.get(2));
                // Checked before it is rewritten: a damaged row stays as it
                // is, for `store check` to report.
                let Ok(raw) = inline::unpack(hash, inline::STORED, data, size) else { continue };
                if BlobStore::hash(&raw) != hash {
                    continue;
                }
                let (codec, packed) = inline::pack(&raw);
                if codec == inline::STORED {
                    continue;
                }
                let n = c
                    .execute(
                        "UPDATE blobs SET data = $2, codec = $3 WHERE hash = $1 AND codec = $4",
                        &[&hash, &packed.as_ref(), &codec, &inline::STORED],
                    )
                    .await?;
                if n == 1 {
                    report.bodies += 1;
                    report.stored_before += raw.len() as u64;
                    report.stored_after += packed.len() as u64;
                }
            }
        }
    }
}

/// Each blob's reference count against the messages and queue entries
/// naming it (foreign keys already guarantee every name has its row), and
/// no row left that nothing names (a blob at 0 is deleted with its body).
async fn check_refcounts(tx: &Transaction<'_>, problems: &mut Vec<String>) -> Result<()> {
    let rows = tx
        .query(
            "SELECT b.hash, b.refcount, coalesce(r.n, 0) FROM blobs b
             LEFT JOIN (SELECT blob, count(*) AS n FROM (SELECT blob FROM messages UNION ALL SELECT blob FROM queue) x
                        GROUP BY blob) r ON r.blob = b.hash
             WHERE b.refcount <> coalesce(r.n, 0) OR coalesce(r.n, 0) = 0",
            &[],
        )
        .await?;
    for r in rows {
        let (hash, refcount, actual): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
        problems.push(match actual {
            0 if refcount == 0 => format!("blob {hash}: kept, but no message or queue entry uses it"),
            _ => format!("blob {hash}: refcount {refcount} but {actual} message(s) or queue entries use it"),
        });
    }
    Ok(())
}

/// Every body comes back to its size and hash: bodies kept as they came are
/// checked by PostgreSQL itself (nothing crosses the network), compressed
/// ones are inflated here one at a time.
async fn check_bodies(tx: &Transaction<'_>, problems: &mut Vec<String>) -> Result<()> {
    let rows = tx
        .query(
            "SELECT hash, size, length(data) FROM blobs
             WHERE codec = $1 AND (length(data) <> size OR encode(sha256(data), 'hex') <> hash)",
            &[&inline::STORED],
        )
        .await?;
    for r in rows {
        let (hash, size, stored): (String, i64, i32) = (r.get(0), r.get(1), r.get(2));
        problems.push(body_problem(&hash, size, i64::from(stored)));
    }
    let params: [&(dyn ToSql + Sync); 1] = [&inline::STORED];
    let mut rows = pin!(tx.query_raw("SELECT hash, size, codec, data FROM blobs WHERE codec <> $1", params).await?);
    while let Some(r) = rows.try_next().await? {
        let (hash, size, codec, data): (String, i64, i64, Vec<u8>) = (r.get(0), r.get(1), r.get(2), r.get(3));
        match inline::unpack(&hash, codec, data, size) {
            Ok(raw) if raw.len() as i64 == size && BlobStore::hash(&raw) == hash => {}
            Ok(raw) => problems.push(body_problem(&hash, size, raw.len() as i64)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    Ok(())
}

/// A body that does not come back as its row says: its size, else its hash.
fn body_problem(hash: &str, size: i64, stored: i64) -> String {
    if stored != size {
        format!("blob {hash}: {stored} bytes stored, {size} in the index")
    } else {
        format!("blob {hash}: content does not match its hash (corrupted)")
    }
}

/// Each mailbox's counters against its messages: MESSAGES, size, unseen and
/// \Deleted counts equal what its messages sum to; UIDNEXT is above every
/// UID (RFC 3501 §2.3.1.1) and HIGHESTMODSEQ at or above every message's
/// and every expunge's modseq (RFC 7162 §3.1.1). Only the mailboxes that
/// fail come back.
async fn check_mailboxes(tx: &Transaction<'_>, problems: &mut Vec<String>) -> Result<()> {
    let rows = tx
        .query(
            "SELECT * FROM (
               SELECT b.name, a.address, b.messages, b.size, b.uidnext, b.highestmodseq, b.unseen, b.deleted,
                      count(m.id), coalesce(sum(m.size), 0)::bigint, coalesce(max(m.uid), 0),
                      greatest(coalesce(max(m.modseq), 0),
                               coalesce((SELECT max(v.modseq) FROM vanished v WHERE v.mailbox_id = b.id), 0)),
                      count(*) FILTER (WHERE m.flags & 1 = 0), count(*) FILTER (WHERE m.flags & 8 = 8)
               FROM mailboxes b JOIN accounts a ON a.id = b.account_id LEFT JOIN messages m ON m.mailbox_id = b.id
               GROUP BY b.id, a.address
             ) s (name, owner, messages, size, uidnext, hms, unseen, deleted,
                  n, total, max_uid, max_modseq, n_unseen, n_deleted)
             WHERE messages <> n OR size <> total OR uidnext <= max_uid OR hms < max_modseq
                OR unseen <> n_unseen OR deleted <> n_deleted",
            &[],
        )
        .await?;
    for r in rows {
        let (name, owner): (String, String) = (r.get(0), r.get(1));
        let v: Vec<i64> = (2..14).map(|i| r.get(i)).collect();
        let (messages, size, uidnext, hms, unseen, deleted) = (v[0], v[1], v[2], v[3], v[4], v[5]);
        let (count, sum, max_uid, max_modseq, n_unseen, n_deleted) = (v[6], v[7], v[8], v[9], v[10], v[11]);
        let what = format!("mailbox {name} of {owner}");
        if unseen != n_unseen || deleted != n_deleted {
            problems.push(format!(
                "{what}: counters say {unseen} unseen / {deleted} deleted, found {n_unseen} / {n_deleted}"
            ));
        }
        if messages != count || size != sum {
            problems.push(format!("{what}: counters say {messages} messages / {size} bytes, found {count} / {sum}"));
        }
        if uidnext <= max_uid {
            problems.push(format!("{what}: UIDNEXT {uidnext} not above UID {max_uid}"));
        }
        if hms < max_modseq {
            problems.push(format!("{what}: HIGHESTMODSEQ {hms} below a message's or an expunge's {max_modseq}"));
        }
    }
    Ok(())
}

/// Stored structures must read back (FETCH analyzes an unreadable one again
/// from its bytes, but it is damage all the same). Streamed: one row at a
/// time whatever the number of messages.
async fn check_structures(tx: &Transaction<'_>, problems: &mut Vec<String>) -> Result<()> {
    let none: [&(dyn ToSql + Sync); 0] = [];
    let mut rows = pin!(
        tx.query_raw(
            "SELECT b.name, a.address, m.uid, m.envelope, m.structure FROM messages m
             JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id",
            none,
        )
        .await?
    );
    while let Some(r) = rows.try_next().await? {
        let (envelope, structure): (&[u8], &str) = (r.get(3), r.get(4));
        let unreadable = crate::stored_envelope::decode(envelope)
            .and_then(|_| serde_json::from_str::<crate::mime::BodyPart>(structure).map_err(|e| e.to_string()))
            .err();
        if let Some(e) = unreadable {
            let (name, owner, uid): (&str, &str, i64) = (r.get(0), r.get(1), r.get(2));
            problems.push(format!("message UID {uid} in mailbox {name} of {owner}: stored structure unreadable ({e})"));
        }
    }
    Ok(())
}

/// Each account's quota usage equals the size of its messages.
async fn check_quotas(tx: &Transaction<'_>, problems: &mut Vec<String>) -> Result<()> {
    let rows = tx
        .query(
            "SELECT a.address, a.used, coalesce(s.total, 0) FROM accounts a
             LEFT JOIN (SELECT b.account_id, sum(m.size)::bigint AS total FROM messages m
                        JOIN mailboxes b ON b.id = m.mailbox_id GROUP BY b.account_id) s ON s.account_id = a.id
             WHERE a.used <> coalesce(s.total, 0)",
            &[],
        )
        .await?;
    for r in rows {
        let (address, used, sum): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
        problems.push(format!("account {address}: quota usage says {used} bytes, its messages hold {sum}"));
    }
    Ok(())
}
