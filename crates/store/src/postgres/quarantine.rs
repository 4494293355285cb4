//! The quarantine in PostgreSQL: one row per held message, its text in the
//! row (held messages are few). A release is claimed with a conditional
//! update, so two nodes never release one message twice.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::mail::{execute, insert_events, query, query_one, query_opt};
use super::PgStore;
use crate::quarantine::{Held, HeldKind, NewHeld, Quarantine};
use crate::{EventKind, MailEvent, Result};

const COLUMNS: &str = "id, kind, reason, sender, recipients, subject, size, created, notified, via, verdicts";

fn held(r: &Row) -> Held {
    let kind: &str = r.get(1);
    let recipients: Vec<String> = split_recipients(r.get(4)).map(String::from).collect();
    let via = crate::quarantine::parse_via(r.get(9), &recipients);
    let verdicts = crate::quarantine::parse_verdicts(r.get(10), &recipients);
    Held {
        id: r.get(0),
        // An unknown kind is treated as the most dangerous one.
        kind: HeldKind::parse(kind).unwrap_or(HeldKind::Virus),
        reason: r.get(2),
        sender: r.get(3),
        recipients,
        subject: r.get(5),
        size: r.get::<_, i64>(6) as u64,
        created: r.get(7),
        notified: r.get(8),
        via,
        verdicts,
    }
}

/// The `recipients` column: one address a line.
fn split_recipients(list: &str) -> impl Iterator<Item = &str> {
    list.split('\n').filter(|s| !s.is_empty())
}

#[async_trait]
impl Quarantine for PgStore {
    async fn hold(&self, m: NewHeld) -> Result<i64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let id: i64 = query_one(
            &tx,
            "INSERT INTO quarantine (kind, reason, sender, recipients, subject, size, created, notified, raw, via, verdicts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9, $10) RETURNING id",
            &[
                &m.kind.word(),
                &m.reason,
                &m.sender,
                &m.recipients.join("\n"),
                &m.subject,
                &(m.raw.len() as i64),
                &m.created,
                &m.raw.as_slice(),
                &crate::quarantine::via_column(&m.via),
                &crate::quarantine::verdicts_column(&m.verdicts),
            ],
        )
        .await?
        .get(0);
        let ts = crate::now_millis();
        let events: Vec<MailEvent> = m
            .recipients
            .iter()
            .map(|r| MailEvent {
                ts,
                kind: EventKind::Quarantined,
                message_id: m.message_id.clone(),
                sender: Some(m.sender.clone()),
                recipient: Some(r.clone()),
                detail: format!("held in the quarantine as {id} ({}): {}", m.kind.word(), m.reason_of(r)),
                session: m.session.clone(),
            })
            .collect();
        insert_events(&tx, &events).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn held(&self) -> Result<Vec<Held>> {
        let sql = format!("SELECT {COLUMNS} FROM quarantine ORDER BY id DESC");
        Ok(query(&self.client().await?, &sql, &[]).await?.iter().map(held).collect())
    }

    async fn held_message(&self, id: i64) -> Result<Option<(Held, Vec<u8>)>> {
        let sql = format!("SELECT {COLUMNS}, raw FROM quarantine WHERE id = $1");
        let row = query_opt(&self.client().await?, &sql, &[&id]).await?;
        Ok(row.map(|r| (held(&r), r.get(11))))
    }

    async fn unhold(&self, id: i64) -> Result<bool> {
        Ok(execute(&self.client().await?, "DELETE FROM quarantine WHERE id = $1", &[&id]).await? > 0)
    }

    async fn drop_held_recipient(&self, id: i64, address: &str) -> Result<Option<usize>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Locked: a release to another recipient on another node waits, and
        // then takes its recipient from this one's result.
        let row = query_opt(&tx, "SELECT recipients FROM quarantine WHERE id = $1 FOR UPDATE", &[&id]).await?;
        let Some(row) = row else { return Ok(None) };
        let rest: Vec<&str> =
            split_recipients(row.get(0)).filter(|r| !crate::quarantine::same_recipient(r, address)).collect();
        if rest.is_empty() {
            execute(&tx, "DELETE FROM quarantine WHERE id = $1", &[&id]).await?;
        } else {
            execute(&tx, "UPDATE quarantine SET recipients = $2 WHERE id = $1", &[&id, &rest.join("\n")]).await?;
        }
        tx.commit().await?;
        Ok(Some(rest.len()))
    }

    async fn expire_held(&self, before: i64) -> Result<u64> {
        Ok(execute(&self.client().await?, "DELETE FROM quarantine WHERE created < $1", &[&before]).await?)
    }

    async fn mark_held_notified(&self, ids: Vec<i64>) -> Result<()> {
        execute(&self.client().await?, "UPDATE quarantine SET notified = true WHERE id = ANY($1)", &[&ids]).await?;
        Ok(())
    }

    async fn claim_held(&self, id: i64, now: i64, stale: i64) -> Result<bool> {
        // One conditional update: of two nodes claiming at once, the second
        // waits for the first's row lock, sees its claim, and changes nothing.
        let n = execute(
            &self.client().await?,
            "UPDATE quarantine SET releasing = $2 WHERE id = $1 AND (releasing = 0 OR releasing < $3)",
            &[&id, &now, &(now - stale)],
        )
        .await?;
        Ok(n == 1)
    }

    async fn unclaim_held(&self, id: i64) -> Result<()> {
        execute(&self.client().await?, "UPDATE quarantine SET releasing = 0 WHERE id = $1", &[&id]).await?;
        Ok(())
    }
}
