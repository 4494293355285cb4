//! `GET /metrics`: the counters of [`caravel_metrics`] with the gauges read
//! at scrape time (the queue, the store's size on disk), in the text format
//! Prometheus scrapes. Served only to `[metrics] allow` (this machine by
//! default).

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::extract::{Extension, State as AxState};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{Client, State};

/// The store's size is measured at most this often (walking the blob
/// files of a large store takes a while).
static STORE_SIZE_EVERY: caravel_metrics::Every = caravel_metrics::Every::new(60);
static STORE_SIZE: AtomicI64 = AtomicI64::new(0);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(
    AxState(st): AxState<Arc<State>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    // Behind a reverse proxy on this machine every request comes from
    // 127.0.0.1: one the proxy forwarded is not from here.
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| headers.contains_key(*h));
    if forwarded || !st.metrics_allow.iter().any(|n| n.contains(client.ip)) {
        let text = match forwarded {
            true => "Metrics are not served through a proxy: scrape the server's own address.\n".to_string(),
            false => {
                format!("Metrics are not served to {}: add it to [metrics] allow in the configuration.\n", client.ip)
            }
        };
        return (StatusCode::FORBIDDEN, [(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    }
    let m = caravel_metrics::global();
    let now = caravel_store::now_secs();
    match st.store.queue_summary().await {
        Ok((n, oldest)) => {
            m.queue_messages.set(n as i64);
            m.queue_oldest_seconds.set(oldest.map_or(0, |t| (now - t).max(0)));
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the queue"),
    }
    if let Some(dir) = st.data_dir.clone() {
        if STORE_SIZE_EVERY.due(now.max(0) as u64) {
            let size = tokio::task::spawn_blocking(move || dir_size(&dir, 0)).await.unwrap_or(0);
            STORE_SIZE.store(size as i64, Ordering::Relaxed);
        }
        m.store_bytes.set(STORE_SIZE.load(Ordering::Relaxed));
    }
    let wants_openmetrics =
        headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/openmetrics-text"));
    let content_type = if wants_openmetrics { OPENMETRICS } else { PROMETHEUS_TEXT };
    ([(CONTENT_TYPE, content_type)], m.render()).into_response()
}

/// Bytes of the files under `dir` (not following links; at most 16 levels).
fn dir_size(dir: &Path, depth: usize) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() && depth < 16 {
            total += dir_size(&e.path(), depth + 1);
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}
