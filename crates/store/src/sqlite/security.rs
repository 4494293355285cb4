//! Sign-in security in the embedded store: lockout counters, TOTP state,
//! recovery codes and app passwords.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::{delete_one, found, SqliteStore};
use crate::{now_secs, AccountId, AppPassword, LockPolicy, Result, Security, StoreError, TotpState, WebSession};

#[async_trait]
impl Security for SqliteStore {
    async fn record_failure(&self, account: AccountId, now: i64, policy: LockPolicy) -> Result<Option<i64>> {
        self.writer
            .write(move |c| {
                let (failures, first, locks): (i64, Option<i64>, i64) = found(
                    c.query_row(
                        "SELECT failed_logins, first_failure, lock_count FROM accounts WHERE id = ?1",
                        [account],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    ),
                    || format!("account {account}"),
                )?;
                let count = policy.after_failure(now, failures, first, locks);
                let Some(until) = count.locked_until else {
                    c.execute(
                        "UPDATE accounts SET failed_logins = ?2, first_failure = ?3 WHERE id = ?1",
                        params![account, count.failed_logins, count.first_failure],
                    )?;
                    return Ok(None);
                };
                c.execute(
                    "UPDATE accounts SET failed_logins = ?3, first_failure = NULL, locked_until = ?2,
                            lock_count = lock_count + 1
                     WHERE id = ?1",
                    params![account, until, count.failed_logins],
                )?;
                Ok(Some(until))
            })
            .await
    }

    async fn record_success(&self, account: AccountId) -> Result<()> {
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE accounts SET failed_logins = 0, first_failure = NULL, lock_count = 0, locked_until = NULL
                     WHERE id = ?1 AND (failed_logins <> 0 OR lock_count <> 0 OR locked_until IS NOT NULL)",
                )?
                .execute([account])?;
                Ok(())
            })
            .await
    }

    async fn totp(&self, account: AccountId) -> Result<TotpState> {
        self.read(move |c| {
            found(
                c.prepare_cached("SELECT totp_secret, totp_enabled, totp_last_step FROM accounts WHERE id = ?1")?
                    .query_row([account], |r| {
                        Ok(TotpState { secret: r.get(0)?, enabled: r.get(1)?, last_step: r.get(2)? })
                    }),
                || format!("account {account}"),
            )
        })
        .await
    }

    async fn set_totp_secret(&self, account: AccountId, secret: Option<String>) -> Result<()> {
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "UPDATE accounts SET totp_secret = ?2, totp_enabled = 0, totp_last_step = 0 WHERE id = ?1",
                    params![account, secret],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("account {account}")));
                }
                c.execute("DELETE FROM recovery_codes WHERE account_id = ?1", [account])?;
                Ok(())
            })
            .await
    }

    async fn enable_totp(&self, account: AccountId, recovery_hashes: Vec<String>) -> Result<()> {
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "UPDATE accounts SET totp_enabled = 1 WHERE id = ?1 AND totp_secret IS NOT NULL",
                    [account],
                )?;
                if n == 0 {
                    return Err(StoreError::Invalid("no two-factor enrollment to confirm".into()));
                }
                c.execute("DELETE FROM recovery_codes WHERE account_id = ?1", [account])?;
                for h in &recovery_hashes {
                    c.execute("INSERT OR IGNORE INTO recovery_codes VALUES (?1, ?2)", params![account, h])?;
                }
                Ok(())
            })
            .await
    }

    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool> {
        self.writer
            .write(move |c| {
                // One statement: two sign-ins racing with one code cannot both win.
                let n = c.execute(
                    "UPDATE accounts SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2",
                    params![account, step],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn use_recovery_code(&self, account: AccountId, hash: &str) -> Result<bool> {
        let hash = hash.to_string();
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "DELETE FROM recovery_codes WHERE account_id = ?1 AND hash = ?2",
                    params![account, hash],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn add_app_password(&self, account: AccountId, name: &str, hash: &str) -> Result<AppPassword> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.writer
            .write(move |c| {
                let taken: bool = c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM app_passwords WHERE account_id = ?1 AND name = ?2)",
                    params![account, name],
                    |r| r.get(0),
                )?;
                if taken {
                    return Err(StoreError::Conflict(format!("an app password named {name} already exists")));
                }
                let created = now_secs();
                c.execute(
                    "INSERT INTO app_passwords (account_id, name, hash, created) VALUES (?1, ?2, ?3, ?4)",
                    params![account, name, hash, created],
                )?;
                Ok(AppPassword { name, created, last_used: None })
            })
            .await
    }

    async fn app_passwords(&self, account: AccountId) -> Result<Vec<AppPassword>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT name, created, last_used FROM app_passwords WHERE account_id = ?1 ORDER BY name",
            )?;
            let rows = st.query_map([account], |r| {
                Ok(AppPassword { name: r.get(0)?, created: r.get(1)?, last_used: r.get(2)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn del_app_password(&self, account: AccountId, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let sql = "DELETE FROM app_passwords WHERE account_id = ?1 AND name = ?2";
                delete_one(c, sql, params![account, name], || format!("no app password named {name}"))
            })
            .await
    }

    async fn use_app_password(&self, account: AccountId, hash: &str) -> Result<bool> {
        let hash = hash.to_string();
        // A read first: most sign-ins with an account password never write.
        let known: Option<i64> = self
            .read(move |c| {
                Ok(c.prepare_cached("SELECT id FROM app_passwords WHERE account_id = ?1 AND hash = ?2")?
                    .query_row(params![account, hash], |r| r.get(0))
                    .optional()?)
            })
            .await?;
        let Some(id) = known else { return Ok(false) };
        self.writer
            .write(move |c| {
                c.execute("UPDATE app_passwords SET last_used = ?2 WHERE id = ?1", params![id, now_secs()])?;
                Ok(())
            })
            .await?;
        Ok(true)
    }

    async fn create_web_session(&self, token_hash: &str, session: WebSession) -> Result<()> {
        let token = token_hash.to_string();
        self.writer
            .write(move |c| {
                // Expired sessions go as new ones come.
                c.execute("DELETE FROM web_sessions WHERE expires < ?1", [session.created])?;
                c.execute(
                    "INSERT INTO web_sessions (token_hash, account_id, created, expires, pending) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![token, session.account, session.created, session.expires, session.pending],
                )?;
                Ok(())
            })
            .await
    }

    async fn web_session(&self, token_hash: &str, now: i64) -> Result<Option<WebSession>> {
        let token = token_hash.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT account_id, created, expires, pending, code_hash, code_expires, code_sent, codes_sent, code_failures
                 FROM web_sessions WHERE token_hash = ?1 AND expires > ?2",
            )?
            .query_row(params![token, now], |r| {
                Ok(WebSession {
                    account: r.get(0)?,
                    created: r.get(1)?,
                    expires: r.get(2)?,
                    pending: r.get(3)?,
                    code_hash: r.get(4)?,
                    code_expires: r.get(5)?,
                    code_sent: r.get(6)?,
                    codes_sent: r.get(7)?,
                    code_failures: r.get(8)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn update_web_session(&self, token_hash: &str, s: WebSession) -> Result<()> {
        let token = token_hash.to_string();
        self.writer
            .write(move |c| {
                c.execute(
                    "UPDATE web_sessions SET expires = ?2, pending = ?3, code_hash = ?4, code_expires = ?5, code_sent = ?6,
                            codes_sent = ?7, code_failures = ?8
                     WHERE token_hash = ?1",
                    params![
                        token,
                        s.expires,
                        s.pending,
                        s.code_hash,
                        s.code_expires,
                        s.code_sent,
                        s.codes_sent,
                        s.code_failures
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn delete_web_session(&self, token_hash: &str) -> Result<()> {
        let token = token_hash.to_string();
        self.writer
            .write(move |c| {
                c.execute("DELETE FROM web_sessions WHERE token_hash = ?1", [token])?;
                Ok(())
            })
            .await
    }

    async fn revoke_all(&self, account: AccountId, app_passwords: bool) -> Result<()> {
        self.writer
            .write(move |c| {
                c.execute("DELETE FROM web_sessions WHERE account_id = ?1", [account])?;
                if app_passwords {
                    c.execute("DELETE FROM app_passwords WHERE account_id = ?1", [account])?;
                }
                Ok(())
            })
            .await
    }

    async fn create_reset_token(
        &self,
        token_hash: &str,
        account: AccountId,
        now: i64,
        expires: i64,
        not_after_last: i64,
    ) -> Result<bool> {
        let token = token_hash.to_string();
        self.writer
            .write(move |c| {
                c.execute("DELETE FROM reset_tokens WHERE expires <= ?1", [now])?;
                let recent: bool = c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM reset_tokens WHERE account_id = ?1 AND created > ?2)",
                    params![account, not_after_last],
                    |r| r.get(0),
                )?;
                if recent {
                    return Ok(false);
                }
                c.execute(
                    "INSERT INTO reset_tokens (token_hash, account_id, created, expires) VALUES (?1, ?2, ?3, ?4)",
                    params![token, account, now, expires],
                )?;
                Ok(true)
            })
            .await
    }

    async fn reset_token_account(&self, token_hash: &str, now: i64) -> Result<Option<AccountId>> {
        let token = token_hash.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT account_id FROM reset_tokens WHERE token_hash = ?1 AND expires > ?2")?
                .query_row(params![token, now], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn take_reset_token(&self, token_hash: &str, now: i64) -> Result<Option<(AccountId, i64)>> {
        let token = token_hash.to_string();
        self.writer
            .write(move |c| {
                Ok(c.query_row(
                    "DELETE FROM reset_tokens WHERE token_hash = ?1 RETURNING account_id, expires",
                    [token],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()?
                .filter(|(_, expires)| *expires > now))
            })
            .await
    }
}
