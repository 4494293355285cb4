//! The embedded backend: SQLite (WAL, synchronous=FULL) plus blob files.
//! See the crate documentation for the layout and its invariants.

mod check;
mod compact;
mod coordination;
mod directory;
mod dkim;
mod filter_data;
mod folders;
pub(crate) mod inline;
mod mail;
mod quarantine;
mod queue;
mod schema;
mod search_fill;
mod security;
mod settings;
mod sorting;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::blobs::BlobStore;
use crate::header_cache::HeaderCache;
use crate::{Notifier, Result, StoreError};
use writer::Writer;

pub use schema::CURRENT_VERSION as SCHEMA_VERSION;

/// How long a writer waits for another process (e.g. an admin command) to
/// release SQLite's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Read connections kept open between reads.
const MAX_IDLE_READERS: usize = 8;

/// Reads that run at once; more wait their turn. Each holds a connection (a
/// page cache of up to 2 MB) and a blocking thread: without a bound, ten
/// busy clients grew the process to about 100 threads and hundreds of MB.
const MAX_CONCURRENT_READS: usize = MAX_IDLE_READERS;

/// Rows one maintenance transaction works on (`write_in_chunks`): a few
/// milliseconds of work, so deliveries are held up no longer than by a burst
/// of mail. Two in tests, so that a few messages take several chunks.
pub(crate) const CHUNK: i64 = if cfg!(test) { 2 } else { 256 };

/// The WAL is cut back to this size after a checkpoint, so a burst of
/// writes (flag changes on a large mailbox) does not leave a large file.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

pub struct SqliteStore {
    db_path: PathBuf,
    blobs: BlobStore,
    writer: Writer,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_permits: Arc<tokio::sync::Semaphore>,
    notifier: Notifier,
    header_cache: Arc<HeaderCache>,
    queue_signal: Arc<tokio::sync::Notify>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir` and brings its schema
    /// up to date.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        crate::private::create_dir(data_dir)
            .map_err(|e| StoreError::Backend(format!("cannot create data directory {}: {e}", data_dir.display())))?;
        let db_path = data_dir.join("caravel.db");
        // Created here 0600 so that SQLite, which gives its WAL and SHM files
        // the database file's mode, makes them private too.
        crate::private::create_file(&db_path, false)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", db_path.display())))?;
        let blobs = BlobStore::open(data_dir.join("blobs"))?;
        blobs.clean_temp()?;
        let mut conn = open_connection(&db_path)?;
        use_wal(&conn)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            writer: Writer::start(conn, blobs.clone()),
            db_path,
            blobs,
            readers: Arc::new(Mutex::new(Vec::new())),
            read_permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_READS)),
            notifier: Notifier::default(),
            header_cache: Arc::new(HeaderCache::default()),
            queue_signal: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Runs a read-only query on a pooled connection, off the async runtime.
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.db_path.clone();
        let permit = self
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the store is closing".into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match taken {
                Some(c) => c,
                None => open_connection(&path)?,
            };
            let out = f(&conn);
            let mut idle = pool.lock().unwrap_or_else(|e| e.into_inner());
            // A burst may open many connections; keeping them all would keep
            // their page caches (2 MB each) after the burst is over.
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    /// Every mailbox's id (maintenance over all of them).
    pub(crate) async fn mailbox_ids(&self) -> Result<Vec<crate::MailboxId>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id FROM mailboxes ORDER BY id")?;
            let ids = st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })
        .await
    }

    pub fn blob_store(&self) -> &BlobStore {
        &self.blobs
    }

    /// Long maintenance work (keys and text for old messages, compaction)
    /// as a series of short write transactions of up to `CHUNK` rows,
    /// so deliveries go on between them: `chunk` gets the position the previous one stopped at (0 at
    /// first) and returns where it stopped (None when done) and what it did,
    /// which `add` collects.
    pub(crate) async fn write_in_chunks<C, F>(&self, chunk: F, mut add: impl FnMut(C)) -> Result<()>
    where
        C: Send + 'static,
        F: Fn(&Connection, i64) -> Result<(Option<i64>, C)> + Clone + Send + 'static,
    {
        let mut after = 0;
        loop {
            let step = chunk.clone();
            let (last, done) = self.writer.write(move |c| step(c, after)).await?;
            add(done);
            match last {
                Some(position) => after = position,
                None => return Ok(()),
            }
        }
    }
}

/// Puts the database in WAL mode (once: the mode is kept in the file).
/// Switching takes an exclusive lock, for which SQLite does not wait: a
/// second process opening a new store at the same moment (the server
/// starting while an admin command runs) tries again, up to BUSY_TIMEOUT.
fn use_wal(conn: &Connection) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let mode: std::result::Result<String, _> = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0));
        match mode {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => return Err(StoreError::Backend(format!("the store cannot use WAL (journal mode {mode})"))),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // FULL: a commit is on disk (WAL fsynced) before it returns.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The query planner's stability guarantee: a statement's plan does not
    // depend on the values bound to it. Without it, a cached statement with
    // a range (`uid BETWEEN ?2 AND ?3`, every FETCH) was compiled again at
    // each run: 5-7 % of a FETCH's CPU. Our queries have one good plan.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

/// Runs a DELETE that must remove a row; none removed is `NotFound(what)`.
pub(crate) fn delete_one(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match c.execute(sql, params)? {
        0 => Err(StoreError::NotFound(what())),
        _ => Ok(()),
    }
}

/// Maps "no row" to `NotFound(what)`.
pub(crate) fn found<T>(r: rusqlite::Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(StoreError::NotFound(what())),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
