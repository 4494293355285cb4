//! `caravel store migrate --to postgres://…`: copies an embedded store into
//! an empty PostgreSQL database, row for row (ids, UIDs, UIDVALIDITY and
//! MODSEQs kept, so mail programs see the same mailboxes and download
//! nothing again), then verifies the copy.
//!
//! The SQLite side is read in one read transaction (a consistent snapshot
//! even while a server writes) on a thread of its own, which streams rows to
//! the PostgreSQL side; PostgreSQL takes them with binary COPY, all in one
//! transaction, so a failed migration leaves the database empty. Columns
//! are matched by name: what only one side has keeps its default.

use std::path::Path;

use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use crate::blobs::BlobStore;
use crate::sqlite::SqliteStore;
use crate::{Result, StoreError};

/// Every table, parents before children (foreign keys).
pub const TABLES: &[&str] = &[
    "domains",
    "accounts",
    "aliases",
    "alias_targets",
    "serials",
    "mailboxes",
    "subscriptions",
    "blobs",
    "messages",
    "vanished",
    "sort_keys",
    "urlauth_keys",
    "queue",
    "queue_recipients",
    "mail_log",
    "recovery_codes",
    "app_passwords",
    "web_sessions",
    "reset_tokens",
    "dkim_keys",
    "filter_rules",
    "filter_generation",
    "spam_scopes",
    "spam_learnt",
    "spam_learn_queue",
    "greylist",
    "greylist_clients",
    "correspondents",
    "quarantine",
    "settings",
    "reply_log",
    "leases",
    "rate_events",
];

/// Rows sent to PostgreSQL in one message from the reading thread, and the
/// bytes they may hold (bodies: a few batches wait in the channel).
const BATCH: usize = 500;
const BATCH_BYTES: usize = 16 << 20;

/// Where the copy is: `table`, `done` of `total` rows.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub table: &'a str,
    pub done: u64,
    pub total: u64,
}

/// What was copied and what the verification found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MigrateReport {
    /// Rows per table, as copied (equal on both sides once verified).
    pub tables: Vec<(String, u64)>,
    /// Checks that compared both sides, by name, and whether they agreed.
    pub checks: Vec<(String, bool)>,
}

impl MigrateReport {
    pub fn verified(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok)
    }
}

/// One value as both sides know it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn size(&self) -> usize {
        match self {
            Value::Text(t) => t.len(),
            Value::Bytes(b) => b.len(),
            _ => 8,
        }
    }
}

/// A column of the PostgreSQL table and how its values are written.
struct Column {
    name: String,
    ty: Type,
}

/// Copies the embedded store in `data_dir` into the empty database at
/// `url` (its schema is created first), then verifies the copy.
pub async fn copy_from_sqlite(data_dir: &Path, url: &str, progress: &mut dyn FnMut(Progress)) -> Result<MigrateReport> {
    // Brings the embedded store's schema up to date, as a server start
    // would, and computes what older versions left for later (SORT and
    // THREAD keys, header text for SEARCH): PostgreSQL computes neither.
    {
        let sqlite = SqliteStore::open(data_dir)?;
        for mailbox in sqlite.mailbox_ids().await? {
            sqlite.ensure_sort_keys(mailbox).await?;
            sqlite.fill_search_text(mailbox).await?;
        }
    }
    // Creates (or checks) the PostgreSQL schema.
    drop(super::PgStore::connect(url).await?);
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let report = copy_all(&mut client, data_dir, progress).await;
    drop(client);
    let _ = driver.await;
    report
}

/// Copies and verifies in one transaction, committed only when the copy
/// matches the snapshot it was read from and the embedded store did not
/// change meanwhile (a server still running would lose what came after).
async fn copy_all(client: &mut Client, data_dir: &Path, progress: &mut dyn FnMut(Progress)) -> Result<MigrateReport> {
    let used: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM domains) + (SELECT count(*) FROM accounts) + (SELECT count(*) FROM messages)",
            &[],
        )
        .await?
        .get(0);
    if used > 0 {
        return Err(StoreError::Conflict(
            "the PostgreSQL database already holds a Caravel store; migrate into an empty database".into(),
        ));
    }
    let tx = client.transaction().await?;
    // Made by the first migration; the copy brings the store's own row.
    tx.execute("DELETE FROM filter_generation", &[]).await?;
    let mut plan = plan(&tx).await?;
    // Columns only PostgreSQL has (queue claims) keep their defaults.
    {
        let conn = rusqlite::Connection::open_with_flags(
            data_dir.join("caravel.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        for (table, columns) in &mut plan {
            let have = sqlite_columns(&conn, table)?;
            columns.retain(|c| have.contains(&c.name));
        }
    }
    let (rows_tx, mut rows_rx) = mpsc::channel::<Batch>(4);
    let reader = {
        let data_dir = data_dir.to_path_buf();
        let plan: Vec<(String, Vec<String>)> =
            plan.iter().map(|(t, cols)| (t.clone(), cols.iter().map(|c| c.name.clone()).collect())).collect();
        std::thread::spawn(move || read_sqlite(&data_dir, &plan, &rows_tx))
    };
    let mut copied: Vec<(String, u64)> = Vec::new();
    for (table, columns) in &plan {
        let Some(Batch::Start { total }) = rows_rx.recv().await else {
            return Err(reader_error(reader));
        };
        progress(Progress { table, done: 0, total });
        if columns.is_empty() {
            // A table the embedded store does not have: nothing to copy.
            let Some(Batch::End) = rows_rx.recv().await else {
                return Err(reader_error(reader));
            };
            copied.push((table.clone(), 0));
            continue;
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let sink = tx.copy_in(&format!("COPY {table} ({}) FROM STDIN BINARY", names.join(", "))).await?;
        let types: Vec<Type> = columns.iter().map(|c| c.ty.clone()).collect();
        let writer = BinaryCopyInWriter::new(sink, &types);
        tokio::pin!(writer);
        let mut done = 0u64;
        loop {
            match rows_rx.recv().await {
                Some(Batch::Rows(rows)) => {
                    for row in rows {
                        let values: Vec<Box<dyn ToSql + Sync + Send>> =
                            row.into_iter().zip(columns).map(|(v, c)| to_sql(v, &c.ty)).collect::<Result<_>>()?;
                        let refs: Vec<&(dyn ToSql + Sync)> =
                            values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
                        writer.as_mut().write(&refs).await?;
                        done += 1;
                    }
                    progress(Progress { table, done, total });
                }
                Some(Batch::End) => break,
                Some(Batch::Start { .. }) | None => return Err(reader_error(reader)),
            }
        }
        writer.finish().await?;
        copied.push((table.clone(), done));
    }
    let snapshot = reader.join().map_err(|_| StoreError::Backend("the reading thread failed".into()))??;
    // Identities go on above every id the embedded store ever gave (ids
    // are never reused: a deleted mailbox's or queued message's included).
    for (table, columns) in &plan {
        if columns.iter().any(|c| c.name == "id") {
            let given = snapshot.highest_ids.iter().find(|(t, _)| t == table).map_or(0, |(_, n)| *n);
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                   greatest(coalesce((SELECT max(id) FROM {table}), 0), $1) + 1, false)
                     WHERE pg_get_serial_sequence('{table}', 'id') IS NOT NULL"
                ),
                &[&given],
            )
            .await?;
        }
    }
    let report = verify(&tx, copied, &snapshot.checksums).await?;
    if !report.verified() {
        return Ok(report);
    }
    let now = current_checksums(data_dir)?;
    if now != snapshot.checksums {
        return Err(StoreError::Conflict(
            "the embedded store changed during the copy (is a server still using it?): stop the server and migrate again; \
             nothing was written to PostgreSQL"
                .into(),
        ));
    }
    tx.commit().await?;
    Ok(report)
}

/// What the reading thread saw in its snapshot, for the checks.
struct Snapshot {
    /// [`CHECKSUMS`] over the rows it copied.
    checksums: Vec<String>,
    /// The highest id each table ever gave (`serials`, AUTOINCREMENT).
    highest_ids: Vec<(String, i64)>,
}

fn reader_error(reader: std::thread::JoinHandle<Result<Snapshot>>) -> StoreError {
    match reader.join() {
        Ok(Err(e)) => e,
        _ => StoreError::Backend("the embedded store could not be read to the end".into()),
    }
}

enum Batch {
    Start { total: u64 },
    Rows(Vec<Vec<Value>>),
    End,
}

/// The PostgreSQL columns of every table, in [`TABLES`] order; a table the
/// schema has and the list lacks is an error (it would not be copied).
async fn plan(c: &impl tokio_postgres::GenericClient) -> Result<Vec<(String, Vec<Column>)>> {
    let rows = c
        .query(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name <> 'caravel_schema'
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .await?;
    let mut plan: Vec<(String, Vec<Column>)> = TABLES.iter().map(|t| (t.to_string(), Vec::new())).collect();
    for r in rows {
        let (table, name, ty): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let ty = match ty.as_str() {
            "bigint" => Type::INT8,
            "boolean" => Type::BOOL,
            "bytea" => Type::BYTEA,
            "text" => Type::TEXT,
            other => return Err(StoreError::Invalid(format!("{table}.{name}: type {other} cannot be copied"))),
        };
        match plan.iter_mut().find(|(t, _)| *t == table) {
            Some((_, cols)) => cols.push(Column { name, ty }),
            None => return Err(StoreError::Invalid(format!("table {table} is not in the migration's list"))),
        }
    }
    Ok(plan)
}

/// Reads every table of the plan in one snapshot and streams its rows (a
/// table with no columns in the plan is one the embedded store lacks).
fn read_sqlite(data_dir: &Path, plan: &[(String, Vec<String>)], out: &mpsc::Sender<Batch>) -> Result<Snapshot> {
    let mut conn = rusqlite::Connection::open_with_flags(
        data_dir.join("caravel.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let blobs = BlobStore::open(data_dir.join("blobs"))?;
    let tx = conn.transaction()?;
    let send = |b: Batch| out.blocking_send(b).map_err(|_| StoreError::Backend("the copy stopped".into()));
    for (table, columns) in plan {
        let have = sqlite_columns(&tx, table)?;
        let total: i64 =
            if have.is_empty() { 0 } else { tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))? };
        send(Batch::Start { total: total as u64 })?;
        if total > 0 {
            // Only columns both sides have are in the plan.
            let mut st = tx.prepare(&format!("SELECT {} FROM {table}", columns.join(", ")))?;
            let mut rows = st.query([])?;
            let mut batch = Vec::with_capacity(BATCH);
            let mut bytes = 0;
            while let Some(row) = rows.next()? {
                let mut values: Vec<Value> = (0..columns.len())
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            ValueRef::Null => Value::Null,
                            ValueRef::Integer(n) => Value::Int(n),
                            ValueRef::Real(f) => Value::Int(f as i64),
                            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                        })
                    })
                    .collect::<rusqlite::Result<_>>()?;
                if table == "blobs" {
                    fill_blob(columns, &mut values, &blobs)?;
                }
                bytes += values.iter().map(Value::size).sum::<usize>();
                batch.push(values);
                if batch.len() == BATCH || bytes >= BATCH_BYTES {
                    send(Batch::Rows(std::mem::take(&mut batch)))?;
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                send(Batch::Rows(batch))?;
            }
        }
        send(Batch::End)?;
    }
    let checksums = CHECKSUMS.iter().map(|(_, sql)| sqlite_checksum(&tx, sql)).collect::<Result<_>>()?;
    Ok(Snapshot { checksums, highest_ids: highest_ids(&tx)? })
}

/// The highest id each table ever gave: mailboxes keep theirs in
/// `serials`, the queue in `sqlite_sequence` (AUTOINCREMENT).
fn highest_ids(c: &rusqlite::Connection) -> Result<Vec<(String, i64)>> {
    use rusqlite::OptionalExtension;
    let mut out = Vec::new();
    let mailbox: Option<i64> =
        c.query_row("SELECT value FROM serials WHERE name = 'mailbox_id'", [], |r| r.get(0)).optional()?;
    out.push(("mailboxes".to_string(), mailbox.unwrap_or(0)));
    let mut st = c.prepare("SELECT name, seq FROM sqlite_sequence")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    out.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    Ok(out)
}

/// [`CHECKSUMS`] over the embedded store as it is now.
fn current_checksums(data_dir: &Path) -> Result<Vec<String>> {
    let conn =
        rusqlite::Connection::open_with_flags(data_dir.join("caravel.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    CHECKSUMS.iter().map(|(_, sql)| sqlite_checksum(&conn, sql)).collect()
}

/// A blob row whose body is in its file gets the file's bytes, as they are.
fn fill_blob(columns: &[String], values: &mut [Value], blobs: &BlobStore) -> Result<()> {
    let at = |name: &str| columns.iter().position(|c| c == name);
    let (Some(hash), Some(data), Some(codec)) = (at("hash"), at("data"), at("codec")) else {
        return Err(StoreError::Invalid("the blobs table lacks hash, data or codec".into()));
    };
    if values[data] == Value::Null {
        let Value::Text(name) = &values[hash] else {
            return Err(StoreError::Invalid("a blob without its hash".into()));
        };
        let body = blobs.read(name).map_err(|e| StoreError::Backend(format!("blob file {name}: {e}")))?;
        values[data] = Value::Bytes(body);
        values[codec] = Value::Int(0);
    }
    Ok(())
}

fn sqlite_columns(c: &rusqlite::Connection, table: &str) -> Result<Vec<String>> {
    let mut st = c.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = st.query_map([], |r| r.get::<_, String>(1))?.collect::<rusqlite::Result<_>>()?;
    Ok(names)
}

fn to_sql(v: Value, ty: &Type) -> Result<Box<dyn ToSql + Sync + Send>> {
    let bad = |v: &Value| StoreError::Invalid(format!("value {v:?} does not fit a {ty} column"));
    Ok(match (v, ty) {
        (Value::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (Value::Null, t) if *t == Type::BOOL => Box::new(None::<bool>),
        (Value::Null, t) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
        (Value::Null, _) => Box::new(None::<String>),
        (Value::Int(n), t) if *t == Type::INT8 => Box::new(n),
        (Value::Int(n), t) if *t == Type::BOOL => Box::new(n != 0),
        (Value::Int(n), t) if *t == Type::TEXT => Box::new(n.to_string()),
        (Value::Text(s), t) if *t == Type::TEXT => Box::new(s),
        (Value::Text(s), t) if *t == Type::BYTEA => Box::new(s.into_bytes()),
        (Value::Text(s), t) if *t == Type::INT8 => Box::new(s.trim().parse::<i64>().map_err(|_| bad(&Value::Text(s)))?),
        (Value::Bytes(b), t) if *t == Type::BYTEA => Box::new(b),
        (Value::Bytes(b), t) if *t == Type::TEXT => {
            Box::new(String::from_utf8(b).map_err(|e| bad(&Value::Bytes(e.into_bytes())))?)
        }
        (v, _) => return Err(bad(&v)),
    })
}

/// The checks, inside the copy's transaction: row counts per table on both
/// sides; checksums over what mail programs and sign-in depend on, against
/// the snapshot the copy was read from; every body in PostgreSQL hashes to
/// its name.
async fn verify(
    tx: &tokio_postgres::Transaction<'_>,
    tables: Vec<(String, u64)>,
    snapshot: &[String],
) -> Result<MigrateReport> {
    let mut checks = Vec::new();
    for (table, copied) in &tables {
        let n: i64 = tx.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?.get(0);
        checks.push((format!("{table}: {copied} rows on both sides"), n as u64 == *copied));
    }
    for ((name, sql), sqlite) in CHECKSUMS.iter().zip(snapshot) {
        let postgres = postgres_checksum(tx, sql).await?;
        checks.push((format!("{name} checksum"), *sqlite == postgres));
    }
    let bad = blobs_not_matching_their_names(tx).await?;
    checks.push((format!("every message body matches its SHA-256 ({bad} do not)"), bad == 0));
    Ok(MigrateReport { tables, checks })
}

/// Queries both sides answer alike; each row is hashed and the sorted row
/// hashes hashed again, so neither side's order (or collation) matters.
const CHECKSUMS: &[(&str, &str)] = &[
    ("accounts", "SELECT id, address_key, password_hash, used FROM accounts"),
    ("mailboxes", "SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, messages, size FROM mailboxes"),
    ("messages", "SELECT mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob FROM messages"),
    ("queue", "SELECT q.id, q.blob, r.address, r.status FROM queue q JOIN queue_recipients r ON r.queue_id = q.id"),
];

fn sqlite_checksum(c: &rusqlite::Connection, sql: &str) -> Result<String> {
    let mut st = c.prepare(sql)?;
    let n = st.column_count();
    let mut rows = st.query([])?;
    let mut row_hashes = Vec::new();
    while let Some(row) = rows.next()? {
        let mut hash = Sha256::new();
        for i in 0..n {
            match row.get_ref(i)? {
                ValueRef::Null => hash.update(b"\0N"),
                ValueRef::Integer(v) => hash.update(format!("\0I{v}").as_bytes()),
                ValueRef::Real(v) => hash.update(format!("\0I{}", v as i64).as_bytes()),
                ValueRef::Text(t) => {
                    hash.update(b"\0T");
                    hash.update(t);
                }
                ValueRef::Blob(b) => {
                    hash.update(b"\0T");
                    hash.update(b);
                }
            }
        }
        row_hashes.push(hash.finalize().to_vec());
    }
    Ok(combine(row_hashes))
}

fn combine(mut row_hashes: Vec<Vec<u8>>) -> String {
    row_hashes.sort_unstable();
    let mut all = Sha256::new();
    for h in row_hashes {
        all.update(h);
    }
    hex::encode(all.finalize())
}

async fn postgres_checksum(c: &impl tokio_postgres::GenericClient, sql: &str) -> Result<String> {
    let rows = c.query(sql, &[]).await?;
    let mut row_hashes = Vec::with_capacity(rows.len());
    for row in rows {
        let mut hash = Sha256::new();
        for (i, col) in row.columns().iter().enumerate() {
            if *col.type_() == Type::INT8 {
                match row.get::<_, Option<i64>>(i) {
                    Some(v) => hash.update(format!("\0I{v}").as_bytes()),
                    None => hash.update(b"\0N"),
                }
            } else {
                match row.get::<_, Option<String>>(i) {
                    Some(t) => {
                        hash.update(b"\0T");
                        hash.update(t.as_bytes());
                    }
                    None => hash.update(b"\0N"),
                }
            }
        }
        row_hashes.push(hash.finalize().to_vec());
    }
    Ok(combine(row_hashes))
}

/// Reads every body back (a batch at a time) and counts those whose bytes
/// do not hash to their name or have another length.
async fn blobs_not_matching_their_names(c: &impl tokio_postgres::GenericClient) -> Result<u64> {
    let mut bad = 0;
    let mut after = String::new();
    loop {
        let rows = c
            .query("SELECT hash, size, codec, data FROM blobs WHERE hash > $1 ORDER BY hash LIMIT 200", &[&after])
            .await?;
        let Some(last) = rows.last() else { return Ok(bad) };
        after = last.get(0);
        for r in &rows {
            let (hash, size, codec, data): (String, i64, i64, Vec<u8>) = (r.get(0), r.get(1), r.get(2), r.get(3));
            let body = match codec {
                0 => Ok(data),
                _ => crate::sqlite::inline::unpack(&hash, codec, data, size),
            };
            let ok = body.is_ok_and(|b| b.len() as i64 == size && BlobStore::hash(&b) == hash);
            bad += u64::from(!ok);
        }
    }
}
