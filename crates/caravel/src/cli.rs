//! The command line of ../shared/INTERFACE.md.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "caravel", version, about = "An all-in-one business mail server")]
pub struct Cli {
    /// Configuration file (default: ./caravel.toml if it exists, else built-in defaults)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server in the foreground (SIGTERM or SIGINT: graceful stop)
    Serve,
    /// Mail domains served here
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Accounts
    #[command(subcommand)]
    User(UserCmd),
    /// Addresses that forward to other addresses
    #[command(subcommand)]
    Alias(AliasCmd),
    /// The message store
    #[command(subcommand)]
    Store(StoreCmd),
    /// Import messages (mbox files, Maildir folders or single message files) into an account
    Import(ImportArgs),
    /// Two-factor sign-in with an authenticator app (TOTP)
    #[command(subcommand, name = "2fa")]
    TwoFactor(TwoFactorCmd),
    /// Passwords for mail programs and devices (needed once two-factor sign-in is on)
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCmd),
    /// TLS certificates
    #[command(subcommand)]
    Tls(TlsCmd),
    /// DKIM signing keys for outgoing mail
    #[command(subcommand)]
    Dkim(DkimCmd),
    /// The outbound queue
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Allow and block lists, keyword rules
    #[command(subcommand)]
    Filter(FilterCmd),
    /// The learning spam classifier
    #[command(subcommand)]
    Spam(SpamCmd),
    /// The virus scanner and its signatures
    #[command(subcommand)]
    Av(AvCmd),
    /// Checks, each with a verdict in plain words and the fix (with ADDRESS: that account too)
    Doctor {
        address: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Text-message codes through [sms] webhook_url
    #[command(subcommand)]
    Sms(SmsCmd),
    /// A message's whole path: received, filtered, stored, queued, each delivery attempt, bounced
    #[command(group(clap::ArgGroup::new("which").required(true).args(["message_id", "from", "to"])))]
    Trace {
        /// The Message-ID (with or without <>)
        #[arg(long, value_name = "ID")]
        message_id: Option<String>,
        /// Messages from this sender
        #[arg(long, value_name = "ADDRESS")]
        from: Option<String>,
        /// Messages to this recipient
        #[arg(long, value_name = "ADDRESS")]
        to: Option<String>,
        /// How many messages (the newest)
        #[arg(long, default_value_t = 10)]
        last: usize,
        #[command(flatten)]
        json: Json,
    },
    /// Search the mail log: what was received, refused, delivered, queued, bounced, quarantined
    Log {
        /// An address (as sender or recipient) or a Message-ID
        text: Option<String>,
        /// received, rejected, delivered, queued, bounced, deferred, quarantined or signinfailed
        #[arg(long)]
        kind: Option<String>,
        /// Only events since this day (YYYY-MM-DD, UTC)
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// How many events (the newest)
        #[arg(long, default_value_t = 50)]
        last: usize,
        #[command(flatten)]
        json: Json,
    },
    /// Messages held back from their recipients (viruses, suspicious attachments, likely spam)
    #[command(subcommand)]
    Quarantine(QuarantineCmd),
    /// Signatures put into every message a user sends (ADDRESS), or a domain's footer (DOMAIN)
    #[command(subcommand)]
    Signature(SignatureCmd),
    /// Automatic replies: out of office, holidays, after hours, acknowledgements
    #[command(subcommand)]
    Autoreply(AutoreplyCmd),
    /// The company's holidays (auto-replies answer on them)
    #[command(subcommand)]
    Holiday(HolidayCmd),
    /// Mail rules applied at delivery: file, forward, mark, refuse
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Every DNS record DOMAIN should publish (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, autoconfig)
    Dns {
        domain: String,
        /// Also ask DNS what is published now, and say for each record whether it is right
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        json: Json,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Messages waiting to go out, with each recipient's state
    List(Json),
    /// Try a message (or every message: --all) again now
    Retry {
        #[arg(required_unless_present = "all")]
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Remove a message from the queue (it is not sent, and no bounce is made)
    Del { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum DkimCmd {
    /// Make a signing key for DOMAIN and print the TXT record to publish
    Generate {
        domain: String,
        /// rsa (2048 bits; every receiver checks it) or ed25519 (RFC 8463)
        #[arg(long, default_value = "rsa")]
        algo: String,
    },
    /// List DOMAIN's keys (selector, algorithm, date)
    List {
        domain: String,
        #[command(flatten)]
        json: Json,
    },
    /// Delete a key (after its successor's record is published)
    Del { domain: String, selector: String },
}

#[derive(Debug, Subcommand)]
pub enum TlsCmd {
    /// Check every certificate in use: expiry, the names it covers, its chain; exit 1 on a problem
    Check(Json),
}

#[derive(Debug, Subcommand)]
pub enum TwoFactorCmd {
    /// Start enrollment: prints the otpauth:// URI and a QR code to scan; nothing is enforced until confirm
    Enroll {
        address: String,
        /// Also write the QR code as a PNG image
        #[arg(long, value_name = "FILE.png")]
        qr: Option<PathBuf>,
    },
    /// Turn two-factor sign-in on with the first code the app shows; prints recovery codes
    Confirm { address: String, code: String },
    /// Turn two-factor sign-in off
    Disable { address: String },
}

#[derive(Debug, Subcommand)]
pub enum AppPasswordCmd {
    /// Make a password for one program or device; printed once, alone on the last line
    Add { address: String, name: String },
    /// List an account's app passwords (names and dates, never the passwords)
    List {
        address: String,
        #[command(flatten)]
        json: Json,
    },
    /// Revoke an app password
    Del { address: String, name: String },
}

#[derive(Debug, Args)]
pub struct Json {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

/// What signatures and auto-replies fill in ({name}, {title} ...); "" clears one.
#[derive(Debug, Args, Default)]
pub struct ProfileArgs {
    /// Job title ({title})
    #[arg(long)]
    pub title: Option<String>,
    /// Company name ({company})
    #[arg(long)]
    pub company: Option<String>,
    /// Telephone ({phone}); for a user, in international form (+86 ...), also where text-message codes go
    #[arg(long)]
    pub phone: Option<String>,
    /// Mobile telephone ({mobile})
    #[arg(long)]
    pub mobile: Option<String>,
    /// Web site ({website})
    #[arg(long)]
    pub website: Option<String>,
    /// Postal address ({address})
    #[arg(long, value_name = "TEXT")]
    pub postal_address: Option<String>,
    /// Time zone of working hours and auto-reply dates (Asia/Shanghai, +08:00)
    #[arg(long)]
    pub zone: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SmsCmd {
    /// Send a test code to NUMBER (international form, +86 ...) and say what the webhook answered
    Test { number: String },
}

/// `on` or `off`.
fn on_off(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("use on or off".into()),
    }
}

/// The protocol switches of `user set` and `domain set`.
#[derive(Debug, Args, Default)]
pub struct SwitchArgs {
    /// Sending mail with a mail program (SMTP AUTH on 587/465)
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub smtp: Option<bool>,
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub imap: Option<bool>,
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub pop3: Option<bool>,
}

impl SwitchArgs {
    pub fn changes(&self) -> Vec<(caravel_store::Protocol, bool)> {
        use caravel_store::Protocol;
        [(Protocol::Smtp, self.smtp), (Protocol::Imap, self.imap), (Protocol::Pop3, self.pop3)]
            .into_iter()
            .filter_map(|(p, on)| on.map(|on| (p, on)))
            .collect()
    }
}

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Serve mail for DOMAIN
    Add { domain: String },
    /// The company details the domain's signatures use, and the protocols its new users get
    Set {
        domain: String,
        #[command(flatten)]
        profile: ProfileArgs,
        #[command(flatten)]
        switches: SwitchArgs,
    },
    /// List domains
    List(Json),
    /// Stop serving DOMAIN (it must have no users or aliases left)
    Del { domain: String },
}

// Parsed once per run: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create an account; without --password-stdin a password is generated and printed once
    Add {
        address: String,
        /// Read the password from one line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// Mailbox quota, e.g. 5G (0: unlimited)
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
    },
    /// Change an account's name, quota, recovery address, protocols or details
    Set {
        address: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
        /// Address for password recovery
        #[arg(long, value_name = "EMAIL")]
        recovery: Option<String>,
        #[command(flatten)]
        switches: SwitchArgs,
        /// What the account administers in the web console and the API: user, domain-admin (its domain) or admin
        #[arg(long, value_parser = ["user", "domain-admin", "admin"])]
        role: Option<String>,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// List accounts
    List(Json),
    /// Delete an account and all its mail
    Del { address: String },
    /// Clear failed sign-ins and any lock
    Unlock { address: String },
    /// Set a new password, read from standard input
    Passwd {
        address: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    /// Forward mail for ALIAS to one or more addresses
    Add {
        alias: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// List aliases
    List(Json),
    /// Delete an alias
    Del { alias: String },
}

#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Verify every index entry, blob and counter; exit 1 on damage
    Check(Json),
    /// Compress what older versions stored uncompressed, while the server runs
    Compact {
        /// Then rewrite the database file to return the space freed (writes wait meanwhile)
        #[arg(long)]
        vacuum: bool,
        #[command(flatten)]
        json: Json,
    },
    /// Copy the embedded store into an empty PostgreSQL database, then verify the copy
    Migrate {
        /// The database: postgres://USER:PASSWORD@HOST:PORT/DB
        #[arg(long)]
        to: String,
        #[command(flatten)]
        json: Json,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The account to import into
    pub address: String,
    /// Mailbox to import into (default INBOX; created if missing)
    #[arg(long, default_value = "INBOX")]
    pub mailbox: String,
    /// Mark imported messages as read
    #[arg(long)]
    pub seen: bool,
    /// Skip the first N messages of the sources (to go on after a stopped import)
    #[arg(long, default_value_t = 0)]
    pub skip: usize,
    /// mbox files, Maildir folders, or files holding one message each
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Where a filter rule applies: the whole server (neither flag), one
/// domain, or one user.
#[derive(Debug, Args)]
pub struct RuleScope {
    /// This user's rule only
    #[arg(long, value_name = "ADDRESS", conflicts_with = "domain")]
    pub user: Option<String>,
    /// This domain's rule (every user of it)
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum FilterCmd {
    /// Refuse mail from senders or client addresses (PATTERN: user@domain, @domain, *.domain, an IP or CIDR)
    #[command(subcommand)]
    Block(ListCmd),
    /// Never score mail from these senders as spam (the antivirus and DMARC still apply)
    #[command(subcommand)]
    Allow(ListCmd),
    /// Words and patterns that mark mail as spam
    #[command(subcommand)]
    Keyword(KeywordCmd),
    /// Every rule, with its scope
    List(Json),
}

#[derive(Debug, Subcommand)]
pub enum ListCmd {
    Add {
        pattern: String,
        #[command(flatten)]
        scope: RuleScope,
    },
    Del {
        pattern: String,
        #[command(flatten)]
        scope: RuleScope,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeywordCmd {
    /// TEXT is matched without case, in any charset; /REGEX/ is a pattern
    Add {
        text: String,
        /// subject, body, or any (also header fields and attachment names)
        #[arg(long = "where", default_value = "any")]
        place: String,
        /// junk, reject, quarantine, or score:N (adds N points)
        #[arg(long, default_value = "junk")]
        action: String,
        #[command(flatten)]
        scope: RuleScope,
    },
    Del {
        text: String,
        #[command(flatten)]
        scope: RuleScope,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpamCmd {
    /// Teach the classifier: message files, Maildir folders or mbox files
    #[command(group(clap::ArgGroup::new("kind").required(true)))]
    Train {
        #[arg(long, group = "kind")]
        spam: bool,
        #[arg(long, group = "kind")]
        ham: bool,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Train this user's classifier instead of the server's
        #[arg(long, value_name = "ADDRESS")]
        user: Option<String>,
    },
    /// Verdict, score and reasons per message
    Classify {
        #[command(flatten)]
        json: Json,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// With this user's rules, training and thresholds
        #[arg(long, value_name = "ADDRESS")]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AvCmd {
    /// Scan files (messages, archives, documents): exit 1 if any is infected or suspicious
    Scan {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Install new signatures (.hdb, .hsb, .ndb, .cvd, .cld) from a directory or from the URL of
    /// a SHA256SUMS file; the running server uses them within seconds
    Update {
        #[arg(long, value_name = "URL|DIR")]
        from: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCmd {
    /// Held messages, newest first
    List(Json),
    /// One held message: why, from whom, to whom, and its text
    Show { id: i64 },
    /// Deliver a held message to its recipients' inboxes (and learn it as not spam)
    Release {
        id: i64,
        /// Needed to release a message in which a virus was found
        #[arg(long)]
        force: bool,
    },
    /// Delete a held message
    Del { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum SignatureCmd {
    /// Add or replace a signature template of ADDRESS (or the footer of a DOMAIN)
    Set {
        /// A user's address, or a domain for its footer (legal disclaimer)
        address: String,
        /// Plain text; {name} {title} {company} {phone} {mobile} {website} {address} are filled in
        #[arg(long, value_name = "FILE")]
        text_file: PathBuf,
        /// HTML for HTML messages (else the text is used)
        #[arg(long, value_name = "FILE")]
        html_file: Option<PathBuf>,
        #[arg(long, default_value = "default")]
        name: String,
        /// new, reply (and forward), external, internal or always
        #[arg(long, default_value = "always")]
        when: String,
        /// Only for recipients in this domain or ending (.cn); repeatable
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// The templates of ADDRESS (or DOMAIN's footer)
    List {
        address: String,
        #[command(flatten)]
        json: Json,
    },
    /// Delete a template
    Del { address: String, name: String },
}

// Parsed once per run: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum AutoreplyCmd {
    /// Add or replace an auto-reply template of ADDRESS
    Set {
        address: String,
        /// The reply's subject ({subject}: the original's; else it follows after a colon)
        #[arg(long)]
        subject: String,
        /// The text; {name} ... {opens} (when the office opens) {opens_sender} (in the sender's time) {subject}
        #[arg(long, value_name = "FILE")]
        body_file: PathBuf,
        #[arg(long, value_name = "FILE")]
        html_file: Option<PathBuf>,
        /// First day (YYYY-MM-DD or YYYY-MM-DDTHH:MM, in the user's zone)
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        #[arg(long, default_value = "default")]
        name: String,
        /// out-of-office, holidays, after-hours or acknowledge (every new message, for shared addresses)
        #[arg(long, default_value = "out-of-office")]
        scenario: String,
        /// Working hours, for after-hours
        #[arg(long, default_value = "09:00-18:00", value_name = "HH:MM-HH:MM")]
        hours: String,
        /// Working days, for after-hours
        #[arg(long, default_value = "mon-fri", value_name = "DAYS")]
        workdays: String,
        /// Holiday calendar (default: every holiday)
        #[arg(long)]
        calendar: Option<String>,
        /// Use this template for senders in this domain or ending (.de); repeatable
        #[arg(long = "sender-domain", value_name = "DOMAIN")]
        sender_domains: Vec<String>,
        /// Use this template for messages in this language (zh, en, ja, de ...)
        #[arg(long)]
        language: Option<String>,
        /// Reply to one sender at most once in this many days
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// The auto-reply templates of ADDRESS
    List {
        address: String,
        #[command(flatten)]
        json: Json,
    },
    /// Turn auto-replies off: one template, or all
    Off {
        address: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum HolidayCmd {
    /// Add or replace a holiday (first and last day)
    Add {
        name: String,
        #[arg(long, value_name = "DATE")]
        from: String,
        #[arg(long, value_name = "DATE")]
        until: String,
        #[arg(long, default_value = "company")]
        calendar: String,
    },
    List(Json),
    Del {
        name: String,
    },
}

// Parsed once per run: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Add a rule (applied after the existing ones); text conditions match case-insensitively, anywhere
    Add {
        address: String,
        #[command(flatten)]
        rule: RuleArgs,
    },
    List {
        address: String,
        #[command(flatten)]
        json: Json,
    },
    Del {
        address: String,
        id: u64,
    },
}

/// A mail rule's conditions and actions (`caravel rule add`).
#[derive(Debug, Args)]
pub struct RuleArgs {
    #[arg(long)]
    pub from: Option<String>,
    /// To: or Cc: contains
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub subject: Option<String>,
    #[arg(long)]
    pub body: Option<String>,
    /// "Name: value": the header field contains value; repeatable
    #[arg(long, value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Larger than SIZE (e.g. 5M)
    #[arg(long, value_name = "SIZE")]
    pub larger: Option<String>,
    #[arg(long, value_name = "SIZE")]
    pub smaller: Option<String>,
    /// It has an attachment
    #[arg(long)]
    pub attachment: bool,
    /// Any condition suffices (default: all must hold)
    #[arg(long)]
    pub any: bool,
    /// File into this folder (made when missing; "/" separates levels)
    #[arg(long = "move", value_name = "FOLDER")]
    pub move_to: Option<String>,
    /// Send a copy to this address; repeatable
    #[arg(long, value_name = "ADDRESS")]
    pub forward: Vec<String>,
    /// With --forward: keep no copy here
    #[arg(long)]
    pub no_keep: bool,
    #[arg(long)]
    pub mark_read: bool,
    #[arg(long)]
    pub flag: bool,
    /// Refuse the message with this text
    #[arg(long, value_name = "TEXT")]
    pub reject: Option<String>,
    /// No later rule applies
    #[arg(long)]
    pub stop: bool,
}
