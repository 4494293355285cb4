//! The group-commit writer: one thread owns the write connection, takes every
//! write job waiting in its queue, runs each in its own savepoint inside one
//! transaction, commits once (one WAL fsync), then answers every job. Blob
//! files are already durable when their job arrives. Under load, N concurrent deliveries cost one
//! commit instead of N.

use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::blobs::BlobStore;
use crate::{Result, StoreError};

/// Jobs taken into one transaction at most.
const MAX_BATCH: usize = 512;

type Reply = Box<dyn FnOnce(Committed) + Send>;

/// How a group transaction ended, for every job in it (so, cloneable).
type Committed = std::result::Result<(), CommitError>;

#[derive(Clone)]
struct CommitError {
    /// The disk was full (StoreError::Full), rather than another failure.
    full: bool,
    text: String,
}

impl CommitError {
    fn store_error(self) -> StoreError {
        if self.full {
            StoreError::Full(self.text)
        } else {
            StoreError::Backend(self.text)
        }
    }
}

impl From<rusqlite::Error> for CommitError {
    fn from(e: rusqlite::Error) -> Self {
        let text = e.to_string();
        CommitError { full: matches!(StoreError::from(e), StoreError::Full(_)), text }
    }
}
/// A job's own outcome: its reply once the batch commits, or that it failed
/// (and whether for a full disk, which may have rolled the batch back).
enum Ran {
    Done(Reply),
    Failed { full: bool },
}

type Job = Box<dyn FnOnce(&Connection) -> Ran + Send>;

#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    pub(crate) fn start(conn: Connection, blobs: BlobStore) -> Writer {
        let (queue, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(conn, blobs, rx))
            .expect("spawn the store writer thread");
        Writer { queue }
    }

    /// Runs `f` in the next group transaction; resolves once it has committed.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R>>();
        let job: Job = Box::new(move |conn| match in_savepoint(conn, f) {
            Ok(value) => Ran::Done(Box::new(move |committed: Committed| {
                let _ = tx.send(committed.map(|()| value).map_err(CommitError::store_error));
            })),
            Err(e) => {
                let full = matches!(e, StoreError::Full(_));
                let _ = tx.send(Err(e));
                Ran::Failed { full }
            }
        });
        self.queue.send(job).map_err(|_| StoreError::Backend("the store writer has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("the write was not completed; try again".into()))?
    }
}

fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn run(conn: Connection, blobs: BlobStore, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
        let outcome = (|| -> Committed {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            // Under the write lock: unlink blobs trashed by earlier transactions.
            if let Err(e) = empty_trash(&conn, &blobs) {
                tracing::warn!(error = %e, "could not empty the blob trash; will retry");
            }
            for job in jobs.drain(..) {
                let full = match job(&conn) {
                    Ran::Done(reply) => {
                        replies.push(reply);
                        false
                    }
                    Ran::Failed { full } => full,
                };
                // SQLite rolls the whole transaction back by itself on some
                // errors (disk full, I/O error). Then a later job's SAVEPOINT
                // would open and commit a transaction of its own: stop here.
                if conn.is_autocommit() {
                    let text = "the transaction was rolled back after a storage error".to_string();
                    return Err(CommitError { full, text });
                }
            }
            Ok(conn.execute_batch("COMMIT")?)
        })();
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(outcome.clone());
        }
        // Jobs not reached drop their sender: their callers see an error.
        drop(jobs);
    }
}

fn empty_trash(conn: &Connection, blobs: &BlobStore) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, EXISTS (SELECT 1 FROM blobs b WHERE b.hash = t.hash) FROM blob_trash t LIMIT 1000",
    )?;
    let rows: Vec<(String, bool)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let mut delete = conn.prepare_cached("DELETE FROM blob_trash WHERE hash = ?1")?;
    for (hash, revived) in rows {
        if !revived {
            blobs.remove(&hash)?;
        }
        delete.execute([&hash])?;
    }
    Ok(())
}
