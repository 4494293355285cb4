//! Files for messages being written: streamed to disk under the data
//! directory (`uploads/ACCOUNT/ID`, the name and type beside it in
//! `ID.json`), never held in memory, refused as soon as one passes the
//! largest message. Per account, at most `MAX_UPLOADS` files and twice the
//! largest message wait, counting uploads still arriving; a file is kept a
//! day, or until the message that names it is sent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use caravel_store::AccountId;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{Current, Full};
use crate::api_error::ApiError;
use crate::compose_message::Attachment;
use crate::webmail_compose::{max_message, too_large};
use crate::State;

const MAX_UPLOADS: usize = 50;
const UPLOAD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// How often an upload also sweeps every account's old files.
const SWEEP_EVERY: i64 = 3600;

/// Uploads arriving now, per account: (files, bytes so far).
static ARRIVING: LazyLock<Mutex<HashMap<AccountId, (usize, u64)>>> = LazyLock::new(Default::default);
static LAST_SWEEP: AtomicI64 = AtomicI64::new(0);

pub(crate) fn uploads_dir(st: &State, cur: &Current) -> Result<PathBuf, ApiError> {
    let data = st.data_dir.as_ref().ok_or_else(|| ApiError::unavailable("uploads need a data directory"))?;
    Ok(data.join("uploads").join(cur.user.id.to_string()))
}

/// An upload's id is 32 lowercase hex digits: nothing else names a file.
pub(crate) fn upload_id_ok(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Removes files older than a day in `dir`; what is left: (files, bytes)
/// of finished uploads.
async fn sweep(dir: &Path) -> (usize, u64) {
    let (mut files, mut bytes) = (0, 0);
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return (0, 0) };
    while let Ok(Some(e)) = entries.next_entry().await {
        let Ok(meta) = e.metadata().await else { continue };
        let old = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > UPLOAD_LIFETIME);
        if old {
            let _ = tokio::fs::remove_file(e.path()).await;
        } else if e.path().extension().is_none() {
            files += 1;
            bytes += meta.len();
        }
    }
    (files, bytes)
}

/// Once an hour, every account's old uploads (an account that never
/// uploads again leaves none behind for long).
async fn sweep_all(root: &Path) {
    let now = caravel_store::now_secs();
    let last = LAST_SWEEP.load(Ordering::Relaxed);
    if now - last < SWEEP_EVERY || LAST_SWEEP.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err()
    {
        return;
    }
    let Ok(mut accounts) = tokio::fs::read_dir(root).await else { return };
    while let Ok(Some(account)) = accounts.next_entry().await {
        if sweep(&account.path()).await == (0, 0) {
            // Empty now: only succeeds when nothing arrived meanwhile.
            let _ = tokio::fs::remove_dir(account.path()).await;
        }
    }
}

/// One upload arriving: counted against the account's allowance while it
/// lasts; its partial file removed however it ends (refused, failed, or
/// dropped when the browser goes away) unless it was kept.
struct Arriving {
    account: AccountId,
    bytes: u64,
    part: PathBuf,
    kept: bool,
}

impl Arriving {
    /// Registers an upload; None when the account has too many files.
    fn start(account: AccountId, finished_files: usize, part: PathBuf) -> Option<Arriving> {
        let mut all = ARRIVING.lock().unwrap_or_else(|e| e.into_inner());
        let entry = all.entry(account).or_default();
        if finished_files + entry.0 >= MAX_UPLOADS {
            return None;
        }
        entry.0 += 1;
        Some(Arriving { account, bytes: 0, part, kept: false })
    }

    /// `n` more bytes; false when the account's files would pass `cap`.
    fn grow(&mut self, n: u64, finished_bytes: u64, cap: u64) -> bool {
        let mut all = ARRIVING.lock().unwrap_or_else(|e| e.into_inner());
        let entry = all.entry(self.account).or_default();
        entry.1 += n;
        self.bytes += n;
        finished_bytes + entry.1 <= cap
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        let mut all = ARRIVING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = all.get_mut(&self.account) {
            entry.0 = entry.0.saturating_sub(1);
            entry.1 = entry.1.saturating_sub(self.bytes);
            if entry.0 == 0 {
                all.remove(&self.account);
            }
        }
        if !self.kept {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

#[derive(Deserialize)]
pub struct UploadQuery {
    name: String,
    #[serde(rename = "type")]
    content_type: Option<String>,
}

fn waiting_too_much() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Too many files are waiting to be sent: send or discard a message first.",
    )
}

/// A file for a message being written; its id is what a draft names.
pub async fn upload(
    AxState(st): AxState<Arc<State>>,
    Full(cur): Full,
    Query(q): Query<UploadQuery>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let max = max_message(&st);
    let dir = uploads_dir(&st, &cur)?;
    if let Some(root) = dir.parent() {
        sweep_all(root).await;
    }
    tokio::fs::create_dir_all(&dir).await.map_err(ApiError::unavailable)?;
    let (files, bytes) = sweep(&dir).await;
    let name: String = q.name.chars().filter(|c| !c.is_control() && !"/\\".contains(*c)).take(200).collect();
    let name = if name.trim().is_empty() { "attachment".to_string() } else { name };
    let content_type = q
        .content_type
        .filter(|t| t.len() < 100 && t.contains('/') && t.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "application/octet-stream".into());
    let id = hex::encode(rand::random::<[u8; 16]>());
    let part = dir.join(format!("{id}.part"));
    let mut arriving = Arriving::start(cur.user.id, files, part.clone()).ok_or_else(waiting_too_much)?;
    let mut file = tokio::fs::File::create(&part).await.map_err(ApiError::unavailable)?;
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("The upload was interrupted; try again."))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large("This file is", max));
        }
        if !arriving.grow(chunk.len() as u64, bytes, 2 * max) {
            return Err(waiting_too_much());
        }
        file.write_all(&chunk).await.map_err(ApiError::unavailable)?;
    }
    file.flush().await.map_err(ApiError::unavailable)?;
    drop(file);
    let meta = json!({ "name": name, "type": content_type, "size": size });
    tokio::fs::write(dir.join(format!("{id}.json")), meta.to_string()).await.map_err(ApiError::unavailable)?;
    tokio::fs::rename(&part, dir.join(&id)).await.map_err(ApiError::unavailable)?;
    arriving.kept = true;
    Ok(Json(json!({ "id": id, "name": name, "size": size, "type": content_type })))
}

pub(crate) async fn read_upload(dir: &Path, id: &str) -> Result<Attachment, ApiError> {
    let gone = || {
        ApiError::not_found("An attached file is no longer on the server (uploads are kept a day): attach it again.")
    };
    if !upload_id_ok(id) {
        return Err(gone());
    }
    let meta = tokio::fs::read(dir.join(format!("{id}.json"))).await.map_err(|_| gone())?;
    let meta: Value = serde_json::from_slice(&meta).map_err(|_| gone())?;
    let bytes = tokio::fs::read(dir.join(id)).await.map_err(|_| gone())?;
    Ok(Attachment {
        name: meta["name"].as_str().unwrap_or("attachment").to_string(),
        content_type: meta["type"].as_str().unwrap_or("application/octet-stream").to_string(),
        bytes,
    })
}

/// Removes uploads a sent message used.
pub(crate) async fn forget(dir: &Path, ids: impl Iterator<Item = &String>) {
    for id in ids.filter(|id| upload_id_ok(id)) {
        let _ = tokio::fs::remove_file(dir.join(id)).await;
        let _ = tokio::fs::remove_file(dir.join(format!("{id}.json"))).await;
    }
}
