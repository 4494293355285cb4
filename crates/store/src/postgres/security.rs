//! Sign-in security in PostgreSQL: lockout counters, TOTP state, recovery
//! codes, app passwords, web sessions and password-reset tokens.
//!
//! Several nodes check sign-ins of one account at once, so every "once"
//! here is settled by one statement or under the account row's lock: a
//! failure is never lost from the count, a TOTP step, a recovery code and a
//! reset token are accepted once.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{conflict, PgStore};
use crate::{now_secs, AccountId, AppPassword, LockPolicy, Result, Security, StoreError, TotpState, WebSession};

fn no_account(account: AccountId) -> StoreError {
    StoreError::NotFound(format!("account {account}"))
}

fn web_session_from_row(r: &Row) -> WebSession {
    WebSession {
        account: r.get(0),
        created: r.get(1),
        expires: r.get(2),
        pending: r.get(3),
        code_hash: r.get(4),
        code_expires: r.get(5),
        code_sent: r.get(6),
        codes_sent: r.get::<_, i64>(7) as u32,
        code_failures: r.get::<_, i64>(8) as u32,
    }
}

#[async_trait]
impl Security for PgStore {
    async fn record_failure(&self, account: AccountId, now: i64, policy: LockPolicy) -> Result<Option<i64>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Under the row's lock: failures counted by two nodes at once are
        // both counted, and the one that reaches the limit locks once.
        let row = tx
            .query_opt(
                "SELECT failed_logins, first_failure, lock_count FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
                &[&account],
            )
            .await?
            .ok_or_else(|| no_account(account))?;
        let count = policy.after_failure(now, row.get(0), row.get(1), row.get(2));
        tx.execute(
            "UPDATE accounts SET failed_logins = $2, first_failure = $3, locked_until = coalesce($4, locked_until),
                    lock_count = lock_count + $5
             WHERE id = $1",
            &[
                &account,
                &count.failed_logins,
                &count.first_failure,
                &count.locked_until,
                &i64::from(count.locked_until.is_some()),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(count.locked_until)
    }

    async fn record_success(&self, account: AccountId) -> Result<()> {
        let c = self.client().await?;
        // Conditional: the usual sign-in, with nothing to clear, writes nothing.
        let st = c
            .prepare_cached(
                "UPDATE accounts SET failed_logins = 0, first_failure = NULL, lock_count = 0, locked_until = NULL
                 WHERE id = $1 AND (failed_logins <> 0 OR lock_count <> 0 OR locked_until IS NOT NULL)",
            )
            .await?;
        c.execute(&st, &[&account]).await?;
        Ok(())
    }

    async fn totp(&self, account: AccountId) -> Result<TotpState> {
        let c = self.client().await?;
        let st =
            c.prepare_cached("SELECT totp_secret, totp_enabled, totp_last_step FROM accounts WHERE id = $1").await?;
        let row = c.query_opt(&st, &[&account]).await?.ok_or_else(|| no_account(account))?;
        Ok(TotpState { secret: row.get(0), enabled: row.get(1), last_step: row.get(2) })
    }

    async fn set_totp_secret(&self, account: AccountId, secret: Option<String>) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE accounts SET totp_secret = $2, totp_enabled = false, totp_last_step = 0 WHERE id = $1",
                &[&account, &secret],
            )
            .await?;
        if n == 0 {
            return Err(no_account(account));
        }
        tx.execute("DELETE FROM recovery_codes WHERE account_id = $1", &[&account]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enable_totp(&self, account: AccountId, recovery_hashes: Vec<String>) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // The update locks the account row: two confirmations at once end
        // with one set of recovery codes, the later one's.
        let n = tx
            .execute("UPDATE accounts SET totp_enabled = true WHERE id = $1 AND totp_secret IS NOT NULL", &[&account])
            .await?;
        if n == 0 {
            return Err(StoreError::Invalid("no two-factor enrollment to confirm".into()));
        }
        tx.execute("DELETE FROM recovery_codes WHERE account_id = $1", &[&account]).await?;
        tx.execute(
            "INSERT INTO recovery_codes (account_id, hash) SELECT $1, h FROM unnest($2::text[]) AS h
             ON CONFLICT DO NOTHING",
            &[&account, &recovery_hashes],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool> {
        let c = self.client().await?;
        // One conditional update: of two sign-ins racing with one code (on
        // any nodes), the second finds the step taken (RFC 6238 §5.2).
        let st =
            c.prepare_cached("UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2").await?;
        Ok(c.execute(&st, &[&account, &step]).await? == 1)
    }

    async fn use_recovery_code(&self, account: AccountId, hash: &str) -> Result<bool> {
        let c = self.client().await?;
        // Of two deletes of one row, one deletes it: a code is used once.
        let n = c.execute("DELETE FROM recovery_codes WHERE account_id = $1 AND hash = $2", &[&account, &hash]).await?;
        Ok(n == 1)
    }

    async fn add_app_password(&self, account: AccountId, name: &str, hash: &str) -> Result<AppPassword> {
        let c = self.client().await?;
        let created = now_secs();
        let row = c
            .query_opt(
                "INSERT INTO app_passwords (account_id, name, hash, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, name) DO NOTHING RETURNING id",
                &[&account, &name, &hash, &created],
            )
            .await
            .map_err(|e| conflict(e, || "that app password already exists".into()))?;
        if row.is_none() {
            return Err(StoreError::Conflict(format!("an app password named {name} already exists")));
        }
        Ok(AppPassword { name: name.to_string(), created, last_used: None })
    }

    async fn app_passwords(&self, account: AccountId) -> Result<Vec<AppPassword>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT name, created, last_used FROM app_passwords WHERE account_id = $1 ORDER BY name COLLATE \"C\"",
                &[&account],
            )
            .await?;
        Ok(rows.iter().map(|r| AppPassword { name: r.get(0), created: r.get(1), last_used: r.get(2) }).collect())
    }

    async fn del_app_password(&self, account: AccountId, name: &str) -> Result<()> {
        let c = self.client().await?;
        let n = c.execute("DELETE FROM app_passwords WHERE account_id = $1 AND name = $2", &[&account, &name]).await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no app password named {name}")));
        }
        Ok(())
    }

    async fn use_app_password(&self, account: AccountId, hash: &str) -> Result<bool> {
        let c = self.client().await?;
        // An update that matches no row writes nothing: a sign-in with the
        // account password costs one read here.
        let st =
            c.prepare_cached("UPDATE app_passwords SET last_used = $3 WHERE account_id = $1 AND hash = $2").await?;
        Ok(c.execute(&st, &[&account, &hash, &now_secs()]).await? > 0)
    }

    async fn create_web_session(&self, token_hash: &str, s: WebSession) -> Result<()> {
        let c = self.client().await?;
        // Expired sessions go as new ones come (the new row is not among
        // those the DELETE sees).
        c.execute(
            "WITH expired AS (DELETE FROM web_sessions WHERE expires < $3)
             INSERT INTO web_sessions (token_hash, account_id, created, expires, pending) VALUES ($1, $2, $3, $4, $5)",
            &[&token_hash, &s.account, &s.created, &s.expires, &s.pending],
        )
        .await?;
        Ok(())
    }

    async fn web_session(&self, token_hash: &str, now: i64) -> Result<Option<WebSession>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT account_id, created, expires, pending, code_hash, code_expires, code_sent, codes_sent,
                        code_failures
                 FROM web_sessions WHERE token_hash = $1 AND expires > $2",
            )
            .await?;
        Ok(c.query_opt(&st, &[&token_hash, &now]).await?.as_ref().map(web_session_from_row))
    }

    async fn update_web_session(&self, token_hash: &str, s: WebSession) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE web_sessions SET expires = $2, pending = $3, code_hash = $4, code_expires = $5, code_sent = $6,
                    codes_sent = $7, code_failures = $8
             WHERE token_hash = $1",
            &[
                &token_hash,
                &s.expires,
                &s.pending,
                &s.code_hash,
                &s.code_expires,
                &s.code_sent,
                &i64::from(s.codes_sent),
                &i64::from(s.code_failures),
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_web_session(&self, token_hash: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute("DELETE FROM web_sessions WHERE token_hash = $1", &[&token_hash]).await?;
        Ok(())
    }

    async fn revoke_all(&self, account: AccountId, app_passwords: bool) -> Result<()> {
        let c = self.client().await?;
        // One statement: both go, or neither.
        c.execute(
            "WITH sessions AS (DELETE FROM web_sessions WHERE account_id = $1)
             DELETE FROM app_passwords WHERE account_id = $1 AND $2",
            &[&account, &app_passwords],
        )
        .await?;
        Ok(())
    }

    async fn create_reset_token(
        &self,
        token_hash: &str,
        account: AccountId,
        now: i64,
        expires: i64,
        not_after_last: i64,
    ) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // The account row's lock makes check-then-insert one step: two
        // requests at once on two nodes make one token, not two.
        if tx.query_opt("SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE", &[&account]).await?.is_none() {
            return Err(no_account(account));
        }
        tx.execute("DELETE FROM reset_tokens WHERE expires <= $1", &[&now]).await?;
        let recent: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM reset_tokens WHERE account_id = $1 AND created > $2)",
                &[&account, &not_after_last],
            )
            .await?
            .get(0);
        if recent {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO reset_tokens (token_hash, account_id, created, expires) VALUES ($1, $2, $3, $4)",
            &[&token_hash, &account, &now, &expires],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn reset_token_account(&self, token_hash: &str, now: i64) -> Result<Option<AccountId>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT account_id FROM reset_tokens WHERE token_hash = $1 AND expires > $2",
                &[&token_hash, &now],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn take_reset_token(&self, token_hash: &str, now: i64) -> Result<Option<(AccountId, i64)>> {
        let c = self.client().await?;
        // DELETE … RETURNING: of two takers, one gets the row.
        let row = c
            .query_opt("DELETE FROM reset_tokens WHERE token_hash = $1 RETURNING account_id, expires", &[&token_hash])
            .await?;
        Ok(row.map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1))).filter(|(_, expires)| *expires > now))
    }
}

/// Races between nodes: two stores on one database, many calls at once.
#[cfg(test)]
pub(super) mod races {
    use std::sync::Arc;

    use super::PgStore;
    use crate::{Address, Directory, LockPolicy, NewUser, Security};

    /// Two nodes on one fresh database with one account; its id.
    pub(in crate::postgres) async fn two_nodes() -> (Arc<PgStore>, Arc<PgStore>, i64) {
        let url = caravel_testkit::postgres::fresh_database();
        let a = PgStore::connect(&url).await.expect("node a");
        let b = PgStore::connect(&url).await.expect("node b");
        a.add_domain("example.com").await.expect("domain");
        let user = NewUser {
            address: Address::parse("u@example.com").expect("address"),
            name: None,
            quota: None,
            password_hash: "x".into(),
        };
        let id = a.add_user(user).await.expect("user").id;
        (Arc::new(a), Arc::new(b), id)
    }

    /// Runs `n` calls of `f` at once, alternating nodes; their results.
    pub(in crate::postgres) async fn at_once<T, F, Fut>(a: &Arc<PgStore>, b: &Arc<PgStore>, n: usize, f: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(Arc<PgStore>, usize) -> Fut,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        let tasks: Vec<_> =
            (0..n).map(|i| tokio::spawn(f(if i % 2 == 0 { a.clone() } else { b.clone() }, i))).collect();
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_failure_is_lost_and_one_locks() {
        let (a, b, id) = two_nodes().await;
        let policy = LockPolicy { max_failures: 20, window_secs: 900, lock_secs: 900 };
        let locks = at_once(&a, &b, 20, move |s, i| async move {
            s.record_failure(id, 1000 + i as i64 % 3, policy).await.expect("failure")
        })
        .await;
        assert_eq!(locks.iter().filter(|l| l.is_some()).count(), 1, "the 20th failure locks, once");
        let user = a.user_by_id(id).await.expect("user").expect("exists");
        assert_eq!(user.failed_logins, 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codes_steps_and_tokens_are_taken_once() {
        let (a, b, id) = two_nodes().await;
        a.set_totp_secret(id, Some("JBSWY3DPEHPK3PXP".into())).await.expect("enroll");
        a.enable_totp(id, vec!["h1".into()]).await.expect("confirm");
        let steps = at_once(&a, &b, 8, move |s, _| async move { s.use_totp_step(id, 7).await.expect("step") }).await;
        assert_eq!(steps.iter().filter(|ok| **ok).count(), 1, "one step, one sign-in");
        let codes =
            at_once(&a, &b, 8, move |s, _| async move { s.use_recovery_code(id, "h1").await.expect("code") }).await;
        assert_eq!(codes.iter().filter(|ok| **ok).count(), 1, "one recovery code, one use");
        let made = at_once(&a, &b, 8, move |s, i| async move {
            s.create_reset_token(&format!("r{i}"), id, 100, 1000, 40).await.expect("token")
        })
        .await;
        assert_eq!(made.iter().filter(|ok| **ok).count(), 1, "one token per minute");
        let token = format!("r{}", made.iter().position(|ok| *ok).expect("one made"));
        let taken = at_once(&a, &b, 8, move |s, _| {
            let token = token.clone();
            async move { s.take_reset_token(&token, 500).await.expect("take") }
        })
        .await;
        assert_eq!(taken.iter().filter(|t| t.is_some()).count(), 1, "one use");
    }
}
