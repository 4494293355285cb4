//! The operator's mail log in PostgreSQL: one row per event, appended by
//! every node, read by `caravel trace`.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use super::PgStore;
use crate::{EventKind, EventQuery, MailEvent, MailLog, Result};

/// Events a query returns when it sets no limit.
const DEFAULT_LIMIT: usize = 1000;

/// Appends one event, inside the caller's transaction when it has one (a
/// delivery's or a queue attempt's events commit with it).
pub(crate) async fn insert_event(c: &impl GenericClient, e: &MailEvent) -> Result<()> {
    c.execute(
        "INSERT INTO mail_log (ts, kind, message_id, sender, recipient, detail, session)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&e.ts, &e.kind.as_str(), &e.message_id, &e.sender, &e.recipient, &e.detail, &e.session],
    )
    .await?;
    Ok(())
}

fn event_from_row(r: &Row) -> MailEvent {
    MailEvent {
        ts: r.get(0),
        kind: EventKind::parse(r.get(1)).unwrap_or(EventKind::Received),
        message_id: r.get(2),
        sender: r.get(3),
        recipient: r.get(4),
        detail: r.get(5),
        session: r.get(6),
    }
}

/// The WHERE clause and its values for the filters `q` sets; only those, so
/// that the planner can use the index of each. Addresses compare without
/// regard to case, as the embedded store's (the indexes are on `lower()`).
fn filters(q: &EventQuery) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len())));
    };
    if let Some(id) = &q.message_id {
        add("message_id = ?", Box::new(id.clone()));
    }
    if let Some(sender) = &q.sender {
        add("lower(sender) = lower(?)", Box::new(sender.clone()));
    }
    if let Some(recipient) = &q.recipient {
        add("lower(recipient) = lower(?)", Box::new(recipient.clone()));
    }
    if let Some(session) = &q.session {
        add("session = ?", Box::new(session.clone()));
    }
    if let Some(since) = q.since {
        add("ts >= ?", Box::new(since));
    }
    if let Some(kind) = q.kind {
        add("kind = ?", Box::new(kind.as_str()));
    }
    let clause = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    (clause, values)
}

#[async_trait]
impl MailLog for PgStore {
    async fn record(&self, event: MailEvent) -> Result<()> {
        let c = self.client().await?;
        insert_event(&**c, &event).await
    }

    async fn events(&self, q: EventQuery) -> Result<Vec<MailEvent>> {
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit } as i64;
        // The id orders events as they were recorded (an identity: ids only
        // go up), including events of the same millisecond.
        let order = if q.newest { "DESC" } else { "ASC" };
        let (clause, mut values) = filters(&q);
        values.push(Box::new(limit));
        let sql = format!(
            "SELECT ts, kind, message_id, sender, recipient, detail, session FROM mail_log {clause}
             ORDER BY id {order} LIMIT ${}",
            values.len()
        );
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
        let c = self.client().await?;
        let mut events: Vec<MailEvent> = c.query(&sql, &params).await?.iter().map(event_from_row).collect();
        if q.newest {
            events.reverse();
        }
        Ok(events)
    }
}
