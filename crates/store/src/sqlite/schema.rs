//! Versioned schema migrations, applied in order at open. `PRAGMA user_version`
//! holds the number of migrations applied; never edit one that has shipped,
//! add the next.

use rusqlite::Connection;

use crate::Result;

const MIGRATIONS: &[&str] = &[
    // 1: the first layout.
    r#"
    CREATE TABLE domains (
        id      INTEGER PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,          -- lowercase ASCII (punycode)
        created INTEGER NOT NULL
    );
    CREATE TABLE accounts (
        id            INTEGER PRIMARY KEY,
        domain_id     INTEGER NOT NULL REFERENCES domains(id),
        address       TEXT NOT NULL,           -- local part as given, @ ASCII domain
        address_key   TEXT NOT NULL UNIQUE,    -- lowercased, for lookups
        name          TEXT,
        password_hash TEXT NOT NULL,           -- PHC string (argon2id)
        quota         INTEGER,                 -- bytes, NULL = unlimited
        used          INTEGER NOT NULL DEFAULT 0,
        recovery      TEXT,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until  INTEGER,
        created       INTEGER NOT NULL
    );
    CREATE TABLE aliases (
        id          INTEGER PRIMARY KEY,
        domain_id   INTEGER NOT NULL REFERENCES domains(id),
        address     TEXT NOT NULL,
        address_key TEXT NOT NULL UNIQUE
    );
    CREATE TABLE alias_targets (
        alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        target   TEXT NOT NULL,
        PRIMARY KEY (alias_id, position)
    );
    CREATE TABLE mailboxes (
        id            INTEGER PRIMARY KEY,
        account_id    INTEGER NOT NULL REFERENCES accounts(id),
        name          TEXT NOT NULL,
        special_use   TEXT,
        uidvalidity   INTEGER NOT NULL,
        uidnext       INTEGER NOT NULL DEFAULT 1,
        highestmodseq INTEGER NOT NULL DEFAULT 1,
        subscribed    INTEGER NOT NULL DEFAULT 1,
        messages      INTEGER NOT NULL DEFAULT 0,
        size          INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account_id, name)
    );
    CREATE TABLE blobs (
        hash     TEXT PRIMARY KEY,             -- SHA-256 hex of the content
        size     INTEGER NOT NULL,
        refcount INTEGER NOT NULL,
        data     BLOB                          -- the content when small; NULL: a file
    );
    CREATE TABLE blob_trash (hash TEXT PRIMARY KEY);
    CREATE TABLE messages (
        id            INTEGER PRIMARY KEY,
        mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id),
        uid           INTEGER NOT NULL,
        modseq        INTEGER NOT NULL,
        flags         INTEGER NOT NULL DEFAULT 0,  -- bit set, see model::Flags
        keywords      TEXT NOT NULL DEFAULT '',    -- space-separated
        internal_date INTEGER NOT NULL,
        size          INTEGER NOT NULL,
        blob          TEXT NOT NULL REFERENCES blobs(hash),
        prefix        BLOB NOT NULL DEFAULT x'',  -- per-recipient header lines before the blob
        envelope      TEXT NOT NULL,               -- JSON, mime::Envelope
        structure     TEXT NOT NULL,               -- JSON, mime::BodyPart
        UNIQUE (mailbox_id, uid)
    );
    CREATE INDEX messages_blob ON messages(blob);
    -- Expunged UIDs with the modseq of their removal (QRESYNC VANISHED, RFC 7162).
    CREATE TABLE vanished (
        mailbox_id INTEGER NOT NULL,
        uid        INTEGER NOT NULL,
        modseq     INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    );
    -- The outbound queue: one row per message, one per remote recipient.
    CREATE TABLE queue (
        id      INTEGER PRIMARY KEY,
        blob    TEXT NOT NULL REFERENCES blobs(hash),
        sender  TEXT NOT NULL,                 -- '' for the null reverse-path
        created INTEGER NOT NULL,
        envid   TEXT,                          -- DSN ENVID (RFC 3461 §4.4)
        ret     TEXT,                          -- DSN RET: FULL or HDRS
        session TEXT
    );
    CREATE TABLE queue_recipients (
        queue_id     INTEGER NOT NULL REFERENCES queue(id),
        address      TEXT NOT NULL,
        notify       TEXT,                     -- DSN NOTIFY (RFC 3461 §4.1)
        orcpt        TEXT,                     -- DSN ORCPT (RFC 3461 §4.2)
        status       TEXT NOT NULL DEFAULT 'pending',
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER NOT NULL,
        last_error   TEXT,
        PRIMARY KEY (queue_id, address)
    );
    CREATE INDEX queue_blob ON queue(blob);
    CREATE TABLE mail_log (
        id         INTEGER PRIMARY KEY,
        ts         INTEGER NOT NULL,               -- Unix milliseconds
        kind       TEXT NOT NULL,
        message_id TEXT,
        sender     TEXT,
        recipient  TEXT,
        detail     TEXT NOT NULL,
        session    TEXT
    );
    CREATE INDEX mail_log_message_id ON mail_log(message_id);
    CREATE INDEX mail_log_sender ON mail_log(sender);
    CREATE INDEX mail_log_recipient ON mail_log(recipient);
    "#,
    // 2: an index for counting unseen and deleted messages (superseded by 3).
    r#"
    CREATE INDEX messages_mailbox_flags ON messages(mailbox_id, flags);
    "#,
    // 3: unseen and \Deleted counts kept per mailbox, like `messages`:
    // counting them on every LIST/STATUS/APPEND read every row of the mailbox
    // (milliseconds on a 10,000-message INBOX).
    r#"
    DROP INDEX IF EXISTS messages_mailbox_flags;
    ALTER TABLE mailboxes ADD COLUMN unseen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE mailboxes ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    UPDATE mailboxes SET
        unseen = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND m.flags & 1 = 0),
        deleted = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND m.flags & 8 = 8);
    "#,
    // 4: decoded header text for SEARCH (mime::SearchText); NULL for messages
    // stored before, which SEARCH then reads the slow way.
    r#"
    ALTER TABLE messages ADD COLUMN s_subject TEXT;
    ALTER TABLE messages ADD COLUMN s_from TEXT;
    ALTER TABLE messages ADD COLUMN s_to TEXT;
    ALTER TABLE messages ADD COLUMN s_cc TEXT;
    ALTER TABLE messages ADD COLUMN s_bcc TEXT;
    "#,
    // 5: subscriptions are names, not a mailbox column: a subscription
    // outlives its mailbox (RFC 9051 §6.3.7; LIST reports it \NonExistent,
    // RFC 5258 §3.1). New mailboxes are subscribed, as before. The old
    // `mailboxes.subscribed` column is no longer read.
    r#"
    CREATE TABLE subscriptions (
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        name       TEXT NOT NULL,
        PRIMARY KEY (account_id, name)
    ) WITHOUT ROWID;
    INSERT INTO subscriptions SELECT account_id, name FROM mailboxes WHERE subscribed = 1;
    CREATE TRIGGER subscribe_new_mailbox AFTER INSERT ON mailboxes BEGIN
        INSERT OR IGNORE INTO subscriptions VALUES (NEW.account_id, NEW.name);
    END;
    "#,
    // 6: \Recent for IMAP4rev1 (RFC 3501 §2.3.2): messages from this UID on
    // are recent to the next session that selects the mailbox. Nothing is
    // recent right after the upgrade.
    r#"
    ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;
    UPDATE mailboxes SET recent_uid = uidnext;
    "#,
    // 7: the zone of the internal date, minutes east of UTC.
    r#"
    ALTER TABLE messages ADD COLUMN internal_zone INTEGER NOT NULL DEFAULT 0;
    "#,
    // 8: sign-in security. `failed_logins` counts failures since
    // `first_failure` (the window); `lock_count` doubles each further lock.
    // Recovery codes and app passwords are kept as SHA-256 hashes: both are
    // long random strings, not words a person chose.
    r#"
    ALTER TABLE accounts ADD COLUMN first_failure INTEGER;
    ALTER TABLE accounts ADD COLUMN lock_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN totp_secret TEXT;
    ALTER TABLE accounts ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE recovery_codes (
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        hash       TEXT NOT NULL,
        PRIMARY KEY (account_id, hash)
    ) WITHOUT ROWID;
    CREATE TABLE app_passwords (
        id         INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        name       TEXT NOT NULL,
        hash       TEXT NOT NULL,
        created    INTEGER NOT NULL,
        last_used  INTEGER,
        UNIQUE (account_id, name),
        UNIQUE (account_id, hash)
    );
    "#,
    // 9: web sign-in sessions, by the SHA-256 of their cookie. A session
    // waiting for its second factor is `pending`; an emailed code (its hash)
    // lives in the session it was sent for.
    r#"
    CREATE TABLE web_sessions (
        token_hash    TEXT PRIMARY KEY,
        account_id    INTEGER NOT NULL REFERENCES accounts(id),
        created       INTEGER NOT NULL,
        expires       INTEGER NOT NULL,
        pending       INTEGER NOT NULL,
        code_hash     TEXT,
        code_expires  INTEGER NOT NULL DEFAULT 0,
        code_sent     INTEGER NOT NULL DEFAULT 0,
        codes_sent    INTEGER NOT NULL DEFAULT 0,
        code_failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX web_sessions_account ON web_sessions(account_id);
    "#,
    // 10: self-service password reset: one-time tokens (their SHA-256) sent
    // to the recovery address.
    r#"
    CREATE TABLE reset_tokens (
        token_hash TEXT PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        created    INTEGER NOT NULL,
        expires    INTEGER NOT NULL
    );
    CREATE INDEX reset_tokens_account ON reset_tokens(account_id);
    "#,
    // 11: DKIM signing keys per domain and selector (RFC 6376); several per
    // domain while a new one is rotated in.
    r#"
    CREATE TABLE dkim_keys (
        domain      TEXT NOT NULL,
        selector    TEXT NOT NULL,
        algorithm   TEXT NOT NULL,
        private_key TEXT NOT NULL,
        public_key  TEXT NOT NULL,
        created     INTEGER NOT NULL,
        PRIMARY KEY (domain, selector)
    );
    "#,
    // 12: the delivery worker: whether the sender was told the message is
    // late (once), and the due recipients found without a scan.
    r#"
    ALTER TABLE queue ADD COLUMN notice_sent INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX queue_due ON queue_recipients(status, next_attempt);
    "#,
    // 13: queue ids are never reused (AUTOINCREMENT), so an attempt that
    // finishes after `caravel queue del` cannot touch a newer message that
    // got the same id.
    r#"
    CREATE TABLE queue_new (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        blob        TEXT NOT NULL REFERENCES blobs(hash),
        sender      TEXT NOT NULL,
        created     INTEGER NOT NULL,
        envid       TEXT,
        ret         TEXT,
        session     TEXT,
        notice_sent INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO queue_new (id, blob, sender, created, envid, ret, session, notice_sent)
        SELECT id, blob, sender, created, envid, ret, session, notice_sent FROM queue;
    DROP TABLE queue;
    ALTER TABLE queue_new RENAME TO queue;
    CREATE INDEX queue_blob ON queue(blob);
    "#,
    // 14: counters that only go up. A mailbox id is never given twice (a
    // mailbox deleted and created again is a new mailbox to every cache and
    // every session that watched the old one), and neither is an account's
    // UIDVALIDITY (RFC 3501 §2.3.1.1), even when the mailbox that held the
    // highest was deleted.
    r#"
    CREATE TABLE serials (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO serials SELECT 'mailbox_id', coalesce(max(id), 0) FROM mailboxes;
    INSERT INTO serials SELECT 'uidvalidity:' || account_id, max(uidvalidity) FROM mailboxes GROUP BY account_id;
    "#,
    // 15: CREATE no longer subscribes (RFC 3501 §6.3.6 leaves it to the
    // client, and clients that want it send SUBSCRIBE): only the mailboxes
    // every new account starts with are subscribed, by the code that
    // creates them. Existing subscriptions stay.
    r#"
    DROP TRIGGER subscribe_new_mailbox;
    "#,
    // 16: URLAUTH mailbox access keys (RFC 4467 §3), random, made at the
    // first GENURLAUTH; RESETKEY and DELETE remove them.
    r#"
    CREATE TABLE urlauth_keys (
        mailbox_id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        key        BLOB NOT NULL
    );
    "#,
    // 17: the header text searched is now marked where the field exists
    // (HEADER subject "" matches only those) and holds group names (TO
    // team). Text stored before is forgotten, so those messages are
    // searched from their envelopes, exactly, not from stale text.
    r#"
    UPDATE messages SET s_subject = NULL, s_from = NULL, s_to = NULL, s_cc = NULL, s_bcc = NULL;
    "#,
    // 18: SORT and THREAD keys (RFC 5256), computed once per message: a
    // SORT is one ordered walk over these narrow rows instead of parsing
    // every envelope. Text keys are case-mapped (i;unicode-casemap), so
    // BINARY order is the collation's order. Existing messages get theirs
    // at their mailbox's first SORT or THREAD (sqlite/sorting.rs).
    r#"
    CREATE TABLE sort_keys (
        mailbox_id   INTEGER NOT NULL,
        uid          INTEGER NOT NULL,
        arrival      INTEGER NOT NULL,  -- INTERNALDATE
        size         INTEGER NOT NULL,  -- RFC822.SIZE
        date         INTEGER NOT NULL,  -- sent date, else INTERNALDATE (RFC 5256 §2.2)
        subject      TEXT NOT NULL,     -- base subject (§2.1)
        reply        INTEGER NOT NULL,  -- the subject marked a reply or forward
        from_addr    TEXT NOT NULL,     -- addr-mailbox of the first From address
        to_addr      TEXT NOT NULL,
        cc_addr      TEXT NOT NULL,
        from_display TEXT NOT NULL,     -- RFC 5957 DISPLAYFROM
        to_display   TEXT NOT NULL,
        message_id   TEXT,              -- first valid Message-ID, normalized
        refs         TEXT NOT NULL,     -- References (or In-Reply-To) ids, space-separated
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    CREATE TRIGGER sort_keys_gone AFTER DELETE ON messages BEGIN
        DELETE FROM sort_keys WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
    END;
    "#,
    // 19: SORT (DATE), what clients ask for most, walks an index instead of
    // sorting the mailbox's keys.
    r#"
    CREATE INDEX sort_keys_date ON sort_keys(mailbox_id, date, uid);
    "#,
    // 20: how a body kept in its row is stored (sqlite/inline.rs): 0 as it
    // is, 1 compressed with raw DEFLATE. Rows written before stay as they are
    // and are read as before.
    r#"
    ALTER TABLE blobs ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
    "#,
    // 21: the spam filter (filter_data.rs): allow/block lists and keyword
    // rules; the classifier's counts per scope (0: the server, else an
    // account id) and which messages each scope learnt as what; messages
    // users moved into or out of Junk, waiting to be learnt.
    r#"
    CREATE TABLE filter_rules (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        pattern TEXT NOT NULL,
        scope TEXT NOT NULL DEFAULT '',
        place TEXT,
        action TEXT,
        created INTEGER NOT NULL,
        UNIQUE (kind, pattern, scope)
    );
    CREATE TABLE filter_generation (id INTEGER PRIMARY KEY CHECK (id = 0), value INTEGER NOT NULL);
    INSERT INTO filter_generation VALUES (0, 0);
    CREATE TABLE spam_scopes (
        scope INTEGER PRIMARY KEY,
        spam INTEGER NOT NULL DEFAULT 0,
        ham INTEGER NOT NULL DEFAULT 0,
        generation INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE spam_tokens (
        scope INTEGER NOT NULL,
        token INTEGER NOT NULL,
        spam INTEGER NOT NULL,
        ham INTEGER NOT NULL,
        PRIMARY KEY (scope, token)
    ) WITHOUT ROWID;
    CREATE TABLE spam_learnt (
        scope INTEGER NOT NULL,
        digest TEXT NOT NULL,
        spam INTEGER NOT NULL,
        PRIMARY KEY (scope, digest)
    ) WITHOUT ROWID;
    CREATE TABLE spam_learn_queue (
        id INTEGER PRIMARY KEY,
        account INTEGER NOT NULL,
        hash TEXT NOT NULL,
        spam INTEGER NOT NULL
    );
    "#,
    // 22: greylisting (filter/src/greylist.rs): when each (network, sender,
    // recipient) triple was first and last seen, and whether it passed.
    r#"
    CREATE TABLE greylist (
        triple TEXT PRIMARY KEY,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        passed INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX greylist_last_seen ON greylist(last_seen);
    "#,
    // 23: the quarantine (store/src/quarantine.rs): held messages with why
    // and for whom, and their text.
    r#"
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        subject TEXT NOT NULL,
        size INTEGER NOT NULL,
        created INTEGER NOT NULL,
        notified INTEGER NOT NULL DEFAULT 0,
        raw BLOB NOT NULL
    );
    CREATE INDEX quarantine_created ON quarantine(created);
    "#,
    // 24: a release in progress claims its row (two releases of one message
    // would deliver it twice); the claim's time, 0 when unclaimed.
    r#"
    ALTER TABLE quarantine ADD COLUMN releasing INTEGER NOT NULL DEFAULT 0;
    "#,
    // 25: the domain a queued message may be DKIM-signed for although its
    // envelope sender is elsewhere (model.rs, Delivery::sign_as).
    r#"
    ALTER TABLE queue ADD COLUMN sign_as TEXT;
    "#,
    // 26: settings (store/src/settings.rs): signatures, profiles,
    // auto-replies, mail rules and calendars as JSON per scope; and when
    // each auto-reply went to whom.
    r#"
    CREATE TABLE settings (
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated INTEGER NOT NULL,
        PRIMARY KEY (scope, kind, name)
    ) WITHOUT ROWID;
    CREATE TABLE reply_log (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        sent INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;
    CREATE INDEX reply_log_sent ON reply_log(sent);
    "#,
    // 27: protocol switches per account, and per domain for new accounts
    // (a bit set per protocol turned off: 1 SMTP, 2 IMAP, 4 POP3); a phone
    // number for text-message codes.
    r#"
    ALTER TABLE accounts ADD COLUMN protocols_off INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN phone TEXT;
    ALTER TABLE domains ADD COLUMN protocols_off INTEGER NOT NULL DEFAULT 0;
    "#,
    // 28: `caravel trace` follows a message through its SMTP session.
    r#"
    CREATE INDEX mail_log_session ON mail_log(session);
    "#,
    // 29: who administers what in the web console and the API: 'user',
    // 'domain-admin' (the accounts of its own domain) or 'admin'.
    r#"
    ALTER TABLE accounts ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
    "#,
    // 30: leases and windowed counts (coordination.rs), the same tables as
    // in the PostgreSQL store; one process owns this store, so the
    // protocols keep these in memory and only admin tools use them here.
    r#"
    CREATE TABLE leases (
        name   TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE rate_events (
        name TEXT NOT NULL,
        ts   INTEGER NOT NULL,
        n    INTEGER NOT NULL
    );
    CREATE INDEX rate_events_name ON rate_events(name, ts);
    "#,
    // 31: the classifier became a logistic regression trained from each
    // learnt message's features (filter/src/logistic.rs); token counts
    // cannot be turned into those, so earlier training is forgotten (the
    // README says to run `caravel spam train` again).
    r#"
    DROP TABLE spam_tokens;
    DELETE FROM spam_learnt;
    DELETE FROM spam_scopes;
    ALTER TABLE spam_learnt ADD COLUMN features BLOB NOT NULL DEFAULT x'';
    "#,
    // 32: when each example was learnt (a number rising per scope), so
    // that the oldest can be forgotten past `[spam] max_examples`.
    // Examples from before count as the oldest.
    r#"
    ALTER TABLE spam_learnt ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX spam_learnt_age ON spam_learnt(scope, spam, seq);
    "#,
    // 33: whom each user wrote to (filter/src/spam.rs, known
    // correspondents): their replies are not filed as junk on content alone.
    r#"
    CREATE TABLE correspondents (
        account   INTEGER NOT NULL,
        address   TEXT NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (account, address)
    ) WITHOUT ROWID;
    CREATE INDEX correspondents_age ON correspondents(account, last_seen);
    "#,
    // 34: greylisting's clients (store/src/filter_data.rs,
    // `GreyPolicy::auto_allow`): how many times their triples passed.
    r#"
    CREATE TABLE greylist_clients (
        client     TEXT PRIMARY KEY,
        passes     INTEGER NOT NULL,
        last_pass  INTEGER NOT NULL,
        last_count INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX greylist_clients_age ON greylist_clients(last_pass);
    "#,
    // 35: which alias here a held copy for an outside address was
    // forwarded by (store/src/quarantine.rs, `NewHeld::via`).
    r#"
    ALTER TABLE quarantine ADD COLUMN via TEXT NOT NULL DEFAULT '';
    "#,
    // 36: each held recipient's own verdict, its reason and X-Spam fields
    // (store/src/quarantine.rs, `NewHeld::verdicts`).
    r#"
    ALTER TABLE quarantine ADD COLUMN verdicts TEXT NOT NULL DEFAULT '';
    "#,
    // 37: text is read in NFKC (filter/src/normalize.rs), so a message
    // with compatibility forms (㈱, ①, half-width katakana with voiced
    // marks, mathematical letters) has other features than when it was
    // learnt; examples are features, not messages, and cannot be read
    // again, so training is forgotten (the README says to run `caravel
    // spam train` again).
    r#"
    DELETE FROM spam_learnt;
    DELETE FROM spam_scopes;
    "#,
    // 38: text in eight bits without a charset (a raw GBK Subject:, a
    // text part without charset) is decoded in the message's charset or
    // the detector's guess (filter/src/charset.rs) instead of read as
    // U+FFFD, so such a message has other features than when it was
    // learnt: training is forgotten again (the README says why).
    r#"
    DELETE FROM spam_learnt;
    DELETE FROM spam_scopes;
    "#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: usize = MIGRATIONS.len();

/// Brings the database up to the current schema, one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(crate::StoreError::Invalid(format!(
            "the store has schema version {version}, newer than this Caravel ({}); upgrade Caravel",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Read again under the write lock: another process opening the
        // same store (the server starting while an admin command runs) may
        // have taken this step since.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now as usize > i {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
