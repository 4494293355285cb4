//! The PostgreSQL backend, for several Caravel nodes serving one set of
//! mailboxes: every piece of state, message bodies included, lives in the
//! database, so nodes share nothing on local disk.
//!
//! Races between nodes are settled by the database, never by a lock in one
//! process: counters are raised with `UPDATE … RETURNING` under the row's
//! lock (UIDs and MODSEQs: the mailbox row), check-then-write becomes one
//! upsert or a conditional update, and the outbound queue is claimed with
//! `FOR UPDATE SKIP LOCKED`. Changes are published to this process's
//! sessions at once and to other nodes by `NOTIFY` (notify.rs).

mod coordination;
mod directory;
mod dkim;
mod filter_data;
mod folders;
pub mod import;
mod mail;
mod mail_log;
mod mailboxes;
mod maintenance;
mod notify;
mod quarantine;
mod queue;
mod schema;
mod security;
mod settings;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::header_cache::HeaderCache;
use crate::{AccountId, MailboxChange, MailboxId, Notifier, Result, StoreError};

pub use schema::CURRENT_VERSION as SCHEMA_VERSION;

/// Connections each node keeps to PostgreSQL at most.
const POOL_SIZE: usize = 32;

/// How long an operation waits for a connection (from the pool, or a new
/// one while PostgreSQL is unreachable) before it fails as transient: SMTP
/// answers 451 and IMAP NO [UNAVAILABLE] rather than hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgStore {
    pool: Pool,
    /// This process's sessions (IMAP IDLE, NOTIFY, POP3), fed by this node's
    /// changes at once and by the other nodes' through LISTEN.
    notifier: Arc<Notifier>,
    header_cache: Arc<HeaderCache>,
    queue_signal: Arc<tokio::sync::Notify>,
    /// This node's name in notifications and queue claims (random per start).
    node: String,
    notify_out: notify::Sender,
    /// The notification tasks, stopped when the store is dropped.
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`),
    /// applies the schema's migrations and starts listening for the other
    /// nodes' changes.
    pub async fn connect(url: &str) -> Result<PgStore> {
        Self::connect_node(url, None).await
    }

    /// [`PgStore::connect`] for a server node named `node`, a name it keeps
    /// across restarts (several processes must never share one): the queue
    /// claims it left when it stopped or crashed are given back at once,
    /// rather than when their lease ends.
    pub async fn connect_node(url: &str, node: Option<&str>) -> Result<PgStore> {
        let store = Self::open(url, node.map(str::to_string)).await?;
        if node.is_some() {
            let freed = store
                .client()
                .await?
                .execute("UPDATE queue SET claimed_by = NULL, claimed_until = 0 WHERE claimed_by = $1", &[&store.node])
                .await?;
            if freed > 0 {
                tracing::info!(messages = freed, "gave back the queue claims of this node's previous run");
            }
        }
        Ok(store)
    }

    async fn open(url: &str, node: Option<String>) -> Result<PgStore> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("[store] url is not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("caravel");
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot set up the PostgreSQL pool: {e}")))?;
        let store = {
            let mut client = pool.get().await.map_err(pool_error)?;
            schema::migrate(&mut client).await?;
            let notifier = Arc::new(Notifier::default());
            let queue_signal = Arc::new(tokio::sync::Notify::new());
            let node = node.unwrap_or_else(node_name);
            let (notify_out, sending) = notify::Sender::start(pool.clone(), node.clone());
            let listening = notify::listen(config, node.clone(), notifier.clone(), queue_signal.clone());
            PgStore {
                pool: pool.clone(),
                notifier,
                header_cache: Arc::new(HeaderCache::default()),
                queue_signal,
                node,
                notify_out,
                tasks: vec![sending, listening],
            }
        };
        Ok(store)
    }

    /// A pooled connection; transient `Backend` when PostgreSQL cannot be reached.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Tells this node's watchers of `mailbox` at once, and the other nodes'.
    /// Call after the change committed.
    pub(crate) fn publish(&self, mailbox: MailboxId, change: MailboxChange) {
        self.notify_out.mailbox(&self.node, mailbox, &change);
        self.notifier.publish(mailbox, change);
    }

    /// The account's mailboxes were created, deleted, renamed or
    /// (un)subscribed. Call after the change committed.
    pub(crate) fn publish_account(&self, account: AccountId) {
        self.notify_out.account(&self.node, account);
        self.notifier.publish_account(account);
    }

    /// Something was queued or made due: wakes every node's delivery worker.
    pub(crate) fn signal_queue(&self) {
        self.notify_out.queue(&self.node);
        self.queue_signal.notify_one();
    }

    /// This node's name (queue claims).
    pub(crate) fn node(&self) -> &str {
        &self.node
    }
}

/// A new node name: the host's name, the process id and four random
/// bytes (a server keeps the first one it gets in `data_dir/node-id`).
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut random = [0u8; 4];
    let _ = getrandom_bytes(&mut random);
    format!("{}-{}-{}", host.trim(), std::process::id(), hex::encode(random))
}

/// Random bytes from the kernel (no extra dependency for four bytes).
fn getrandom_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => e.into(),
        e => StoreError::Backend(format!("PostgreSQL is unavailable: {e}")),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code) if *code == SqlState::DISK_FULL => StoreError::Full(e.to_string()),
            _ => StoreError::Backend(match e.as_db_error() {
                Some(db) => format!("PostgreSQL: {}", db.message()),
                None => format!("PostgreSQL: {e}"),
            }),
        }
    }
}

/// A unique or primary key was violated (a name already taken).
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Maps a unique violation to `Conflict(what)`, other errors as usual.
pub(crate) fn conflict(e: tokio_postgres::Error, what: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(what())
    } else {
        e.into()
    }
}

#[cfg(test)]
mod tests;
