//! `caravel store compact`: bodies an older version kept uncompressed in
//! their row (before migration 20) are compressed like new ones
//! (sqlite/inline.rs), and, if asked, the file is vacuumed.

use rusqlite::{params, Connection};

use super::{inline, open_connection, SqliteStore, CHUNK};
use crate::blobs::BlobStore;
use crate::{CompactReport, Result, StoreError};

impl SqliteStore {
    pub(crate) async fn compact_bodies(&self, vacuum: bool) -> Result<CompactReport> {
        let mut report = CompactReport { file_before: self.file_size(), ..CompactReport::default() };
        self.write_in_chunks(compress_chunk, |(bodies, before, now)| {
            report.bodies += bodies;
            report.stored_before += before;
            report.stored_after += now;
        })
        .await?;
        if vacuum {
            let path = self.db_path.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                // Its own connection: VACUUM cannot run inside the writer's
                // transaction. It takes the write lock for its whole run.
                let c = open_connection(&path)?;
                c.execute_batch("VACUUM")?;
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                Ok(())
            })
            .await
            .map_err(|e| StoreError::Backend(format!("vacuum failed: {e}")))??;
        }
        report.file_after = self.file_size();
        Ok(report)
    }

    fn file_size(&self) -> u64 {
        let wal = self.db_path.with_extension("db-wal");
        [&self.db_path, &wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }
}

/// Compresses the uncompressed inline bodies among the next `CHUNK` rows
/// after `after` (rowid order). Returns the last rowid looked at (None at
/// the end), how many bodies were compressed, and their stored bytes before
/// and after.
fn compress_chunk(c: &Connection, after: i64) -> Result<(Option<i64>, (u64, u64, u64))> {
    let rows: Vec<(i64, String, Vec<u8>, i64)> = c
        .prepare_cached(
            "SELECT rowid, hash, data, size FROM blobs
             WHERE rowid > ?1 AND codec = ?2 AND data IS NOT NULL ORDER BY rowid LIMIT ?3",
        )?
        .query_map(params![after, inline::STORED, CHUNK], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let last = rows.last().map(|r| r.0);
    let (mut bodies, mut before, mut now) = (0, 0, 0);
    for (rowid, hash, data, size) in rows {
        // Checked before it is rewritten: a damaged row stays as it is, for
        // `store check` to report.
        let Ok(raw) = inline::unpack(&hash, inline::STORED, data, size) else { continue };
        if BlobStore::hash(&raw) != hash {
            continue;
        }
        let (codec, packed) = inline::pack(&raw);
        if codec == inline::STORED {
            continue;
        }
        c.prepare_cached("UPDATE blobs SET data = ?2, codec = ?3 WHERE rowid = ?1")?.execute(params![
            rowid,
            packed.as_ref(),
            codec
        ])?;
        bodies += 1;
        before += raw.len() as u64;
        now += packed.len() as u64;
    }
    Ok((last, (bodies, before, now)))
}
