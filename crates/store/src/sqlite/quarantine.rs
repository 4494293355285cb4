//! The quarantine in the embedded store: one row per held message, its
//! text in the row (held messages are few, and a row moves with the data).

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

use super::SqliteStore;
use crate::quarantine::{Held, HeldKind, NewHeld, Quarantine};
use crate::Result;

const COLUMNS: &str = "id, kind, reason, sender, recipients, subject, size, created, notified, via, verdicts";

fn held(r: &Row) -> rusqlite::Result<Held> {
    let kind: String = r.get(1)?;
    let recipients: Vec<String> =
        r.get::<_, String>(4)?.split('\n').filter(|s| !s.is_empty()).map(String::from).collect();
    let via = crate::quarantine::parse_via(&r.get::<_, String>(9)?, &recipients);
    let verdicts = crate::quarantine::parse_verdicts(&r.get::<_, String>(10)?, &recipients);
    Ok(Held {
        id: r.get(0)?,
        // An unknown kind is treated as the most dangerous one.
        kind: HeldKind::parse(&kind).unwrap_or(HeldKind::Virus),
        reason: r.get(2)?,
        sender: r.get(3)?,
        recipients,
        subject: r.get(5)?,
        size: r.get::<_, i64>(6)? as u64,
        created: r.get(7)?,
        notified: r.get(8)?,
        via,
        verdicts,
    })
}

#[async_trait]
impl Quarantine for SqliteStore {
    async fn hold(&self, m: NewHeld) -> Result<i64> {
        self.writer
            .write(move |c| {
                c.execute(
                    "INSERT INTO quarantine (kind, reason, sender, recipients, subject, size, created, notified, raw, via, verdicts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10)",
                    params![
                        m.kind.word(),
                        m.reason,
                        m.sender,
                        m.recipients.join("\n"),
                        m.subject,
                        m.raw.len() as i64,
                        m.created,
                        m.raw.as_slice(),
                        crate::quarantine::via_column(&m.via),
                        crate::quarantine::verdicts_column(&m.verdicts)
                    ],
                )?;
                let id = c.last_insert_rowid();
                for r in &m.recipients {
                    super::mail::insert_event(
                        c,
                        &crate::MailEvent {
                            ts: crate::now_millis(),
                            kind: crate::EventKind::Quarantined,
                            message_id: m.message_id.clone(),
                            sender: Some(m.sender.clone()),
                            recipient: Some(r.clone()),
                            detail: format!("held in the quarantine as {id} ({}): {}", m.kind.word(), m.reason_of(r)),
                            session: m.session.clone(),
                        },
                    )?;
                }
                Ok(id)
            })
            .await
    }

    async fn held(&self) -> Result<Vec<Held>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM quarantine ORDER BY id DESC"))?;
            let rows = st.query_map([], held)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn held_message(&self, id: i64) -> Result<Option<(Held, Vec<u8>)>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS}, raw FROM quarantine WHERE id = ?1"))?;
            Ok(st.query_row([id], |r| Ok((held(r)?, r.get::<_, Vec<u8>>(11)?))).optional()?)
        })
        .await
    }

    async fn unhold(&self, id: i64) -> Result<bool> {
        self.writer.write(move |c| Ok(c.execute("DELETE FROM quarantine WHERE id = ?1", [id])? > 0)).await
    }

    async fn drop_held_recipient(&self, id: i64, address: &str) -> Result<Option<usize>> {
        let address = address.to_string();
        self.writer
            .write(move |c| {
                let recipients: Option<String> =
                    c.query_row("SELECT recipients FROM quarantine WHERE id = ?1", [id], |r| r.get(0)).optional()?;
                let Some(recipients) = recipients else { return Ok(None) };
                let rest: Vec<&str> = recipients
                    .split('\n')
                    .filter(|r| !r.is_empty() && !crate::quarantine::same_recipient(r, &address))
                    .collect();
                if rest.is_empty() {
                    c.execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
                } else {
                    c.execute("UPDATE quarantine SET recipients = ?2 WHERE id = ?1", params![id, rest.join("\n")])?;
                }
                Ok(Some(rest.len()))
            })
            .await
    }

    async fn expire_held(&self, before: i64) -> Result<u64> {
        self.writer.write(move |c| Ok(c.execute("DELETE FROM quarantine WHERE created < ?1", [before])? as u64)).await
    }

    async fn claim_held(&self, id: i64, now: i64, stale: i64) -> Result<bool> {
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "UPDATE quarantine SET releasing = ?2 WHERE id = ?1 AND (releasing = 0 OR releasing < ?3)",
                    params![id, now, now - stale],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn unclaim_held(&self, id: i64) -> Result<()> {
        self.writer
            .write(move |c| Ok(c.execute("UPDATE quarantine SET releasing = 0 WHERE id = ?1", [id]).map(|_| ())?))
            .await
    }

    async fn mark_held_notified(&self, ids: Vec<i64>) -> Result<()> {
        self.writer
            .write(move |c| {
                let mut st = c.prepare_cached("UPDATE quarantine SET notified = 1 WHERE id = ?1")?;
                for id in &ids {
                    st.execute(params![id])?;
                }
                Ok(())
            })
            .await
    }
}
