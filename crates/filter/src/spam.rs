//! The spam stage: allow and block lists, keyword rules and the learning
//! classifier, decided per recipient (each user's own lists, rules and
//! training count for their copy only). Rules and learnt examples live in
//! the store (`caravel filter ...`, `caravel spam train`, Junk moves over
//! IMAP); the stage keeps the rules compiled and the models trained in
//! memory and redoes what changed, which the store's generation numbers tell.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use caravel_store::filter_data::{GreyPolicy, Learn, LearnReport, GLOBAL_SCOPE};
use caravel_store::{AccountId, Store};

use crate::content::Content;
use crate::keywords::{pattern_limit, Action, KeywordRule, KeywordSet, Place};
use crate::lists::Pattern;
use crate::logistic::{self, features, Trained};
use crate::model_cache::ModelCache;
use crate::pipeline::{Hit, MessageContext, Stage, Verdict};

/// `[spam]` settings the stage uses.
#[derive(Debug, Clone)]
pub struct SpamSettings {
    pub enabled: bool,
    pub default_rules: bool,
    /// The classifier abstains until it has learnt this many of each kind.
    pub min_messages: u32,
    /// Examples kept per kind and scope; the oldest past it are forgotten.
    pub max_examples: u32,
    /// Points for mail from an address the recipient wrote to (0: off).
    pub correspondent_score: f64,
    /// Addresses remembered per user as written to.
    pub correspondents_kept: u32,
    /// Submitted mail scoring this much is refused.
    pub outbound_reject: f64,
    /// Greylisting, or None (off).
    pub greylist: Option<GreyPolicy>,
}

impl Default for SpamSettings {
    fn default() -> Self {
        SpamSettings {
            enabled: true,
            default_rules: true,
            min_messages: 50,
            max_examples: 10_000,
            correspondent_score: -4.0,
            correspondents_kept: 5_000,
            outbound_reject: 8.0,
            greylist: None,
        }
    }
}

/// Rules compiled from the store, per scope ("" server, "@domain", address).
#[derive(Default)]
struct RuleBook {
    generation: i64,
    allow: Vec<(String, Pattern)>,
    block: Vec<(String, Pattern)>,
    keywords: HashMap<String, Arc<KeywordSet>>,
    /// Scopes with patterns someone entered: the default rules are known
    /// to run in the fast engine, these may need the slow one.
    entered_patterns: HashSet<String>,
}

impl RuleBook {
    fn scopes_of(address: &str) -> [String; 3] {
        let address = address.to_lowercase();
        let domain = address.rsplit_once('@').map_or(String::new(), |(_, d)| format!("@{d}"));
        [String::new(), domain, address]
    }

    fn listed(list: &[(String, Pattern)], scopes: &[String], addresses: &[&str], ip: Option<IpAddr>) -> Option<String> {
        list.iter()
            .filter(|(s, _)| scopes.contains(s))
            .find(|(_, p)| {
                addresses.iter().any(|a| !a.is_empty() && p.matches_address(a)) || ip.is_some_and(|ip| p.matches_ip(ip))
            })
            .map(|(_, p)| p.text())
    }
}

/// Junk moves learnt per round.
const LEARN_BATCH: usize = 16;

pub struct SpamFilter {
    /// Held while Junk moves are being learnt.
    learning: tokio::sync::Mutex<()>,
    /// Held while the rules are read and compiled again.
    reloading: tokio::sync::Mutex<()>,
    /// Content tests on blocking threads at once (entered patterns may
    /// take the slow engine: they wait their turn, not take every core).
    content_slots: tokio::sync::Semaphore,
    store: Arc<dyn Store>,
    settings: SpamSettings,
    rules: Mutex<Arc<RuleBook>>,
    models: ModelCache,
}

/// Why a sender is refused before the message is sent.
pub fn block_reply(pattern: &str) -> Verdict {
    Verdict::Reject {
        code: 550,
        enhanced: "5.7.1",
        text: format!("Sender refused: it is on this server's block list ({pattern})"),
    }
}

impl SpamFilter {
    pub fn new(store: Arc<dyn Store>, settings: SpamSettings) -> SpamFilter {
        SpamFilter {
            learning: tokio::sync::Mutex::new(()),
            reloading: tokio::sync::Mutex::new(()),
            content_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
            ),
            store: store.clone(),
            settings,
            rules: Mutex::new(Arc::new(RuleBook { generation: -1, ..RuleBook::default() })),
            models: ModelCache::new(store.clone()),
        }
    }

    /// Keeps the server's trained model in `dir` between processes.
    pub fn with_model_dir(mut self, dir: std::path::PathBuf) -> SpamFilter {
        self.models = self.models.with_dir(dir);
        self
    }

    /// Trains the server's model (or reads it from the model directory) now
    /// rather than when the first message needs it; how many spam and
    /// legitimate messages it learnt from, or None while it has too few of
    /// either kind to be used (`min_messages`).
    pub async fn prepare(&self) -> Option<(u32, u32)> {
        if !self.settings.enabled {
            return None;
        }
        let models = self.models(&[GLOBAL_SCOPE]).await;
        let m = models.first()?;
        (m.spam.min(m.ham) >= self.settings.min_messages.max(1)).then_some((m.spam, m.ham))
    }

    fn book(&self) -> Arc<RuleBook> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reloads the rules if another process (or this one) changed them.
    async fn refresh_rules(&self) -> Arc<RuleBook> {
        match self.store.filter_generation().await {
            Ok(generation) => self.rules_at(generation).await,
            Err(_) => self.book(),
        }
    }

    /// The rules as of `generation`, reloaded if they are older.
    async fn rules_at(&self, generation: i64) -> Arc<RuleBook> {
        let current = self.book();
        if current.generation == generation {
            return current;
        }
        // One reload at a time: sessions that arrive meanwhile wait for it
        // rather than compile the same rules again.
        let _reloading = self.reloading.lock().await;
        let current = self.book();
        if current.generation == generation {
            return current;
        }
        let rules = match self.store.filter_rules().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the filter rules; the previous ones stay");
                return current;
            }
        };
        let mut book = RuleBook { generation, ..RuleBook::default() };
        let mut keywords: HashMap<String, Vec<KeywordRule>> = HashMap::new();
        if self.settings.default_rules {
            keywords.insert(String::new(), crate::default_rules::rules());
        }
        for r in rules {
            if let Some(k) = crate::rules::keyword_rule(&r) {
                if k.is_pattern() {
                    book.entered_patterns.insert(r.scope.clone());
                }
                keywords.entry(r.scope.clone()).or_default().push(k);
                continue;
            }
            if r.kind != "allow" && r.kind != "block" {
                continue;
            }
            match Pattern::parse(&r.pattern) {
                Ok(p) => {
                    let list = if r.kind == "allow" { &mut book.allow } else { &mut book.block };
                    list.push((r.scope.clone(), p));
                }
                Err(e) => tracing::warn!(pattern = %r.pattern, error = %e, "filter rule skipped"),
            }
        }
        // A scope whose rules did not change keeps its compiled set; the
        // others compile off the runtime's threads (patterns take a while).
        let mut changed = Vec::new();
        for (scope, rules) in keywords {
            match current.keywords.get(&scope) {
                Some(set) if set.rules() == rules.as_slice() => {
                    book.keywords.insert(scope, set.clone());
                }
                _ => changed.push((scope, rules)),
            }
        }
        let compiled = tokio::task::spawn_blocking(move || {
            changed
                .into_iter()
                .map(|(scope, rules)| {
                    let limit = pattern_limit(&scope);
                    let (set, skipped) = KeywordSet::lenient(rules, limit);
                    (scope, set, skipped)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(compiled) = compiled else {
            tracing::warn!("cannot compile the keyword rules; the previous ones stay");
            return current;
        };
        for (scope, set, skipped) in compiled {
            for why in skipped {
                tracing::warn!(scope = %scope, rule = %why, "keyword rule skipped");
            }
            book.keywords.insert(scope, Arc::new(set));
        }
        let book = Arc::new(book);
        *self.rules.lock().unwrap_or_else(|e| e.into_inner()) = book.clone();
        book
    }

    /// The models of `scopes` (the server, and maybe a user), trained
    /// again where their generation moved.
    async fn models(&self, scopes: &[i64]) -> Vec<Arc<Trained>> {
        let Ok(generations) = self.store.spam_generations(scopes).await else { return Vec::new() };
        self.models_at(scopes, &generations).await
    }

    /// The models of `scopes` (the server's first) as of `generations`: the
    /// server's model, then each user's layer on top of it.
    async fn models_at(&self, scopes: &[i64], generations: &[i64]) -> Vec<Arc<Trained>> {
        let mut out: Vec<Arc<Trained>> = Vec::new();
        let mut base: Option<Arc<Trained>> = None;
        for (scope, &generation) in scopes.iter().zip(generations) {
            if generation == 0 {
                continue;
            }
            let Some(m) = self.models.get(*scope, generation, base.as_ref()).await else { continue };
            if *scope == GLOBAL_SCOPE {
                base = Some(m.clone());
            }
            out.push(m);
        }
        out
    }

    /// Learns the messages users moved into or out of Junk since last time.
    pub async fn learn_pending(&self) {
        // One learner at a time: sessions arriving meanwhile go on without
        // waiting (the next message learns what is left).
        let Ok(_learning) = self.learning.try_lock() else { return };
        let Ok(jobs) = self.store.spam_learn_jobs(LEARN_BATCH).await else { return };
        if jobs.is_empty() {
            return;
        }
        let mut by_scope: HashMap<AccountId, Vec<Learn>> = HashMap::new();
        for job in &jobs {
            let raw = match self.store.read_blob(&job.hash).await {
                Ok(raw) => raw,
                Err(e) => {
                    // Expunged since: nothing left to learn from.
                    tracing::info!(hash = %job.hash, error = %e, "a message moved to or from Junk is gone");
                    continue;
                }
            };
            // Parsing a large message takes a while: not on a runtime thread.
            let Ok(features) = tokio::task::spawn_blocking(move || features(&raw, &Content::parse(&raw))).await else {
                continue;
            };
            by_scope.entry(job.account).or_default().push(Learn { digest: job.hash.clone(), spam: job.spam, features });
        }
        for (scope, messages) in by_scope {
            if let Err(e) = self.learn(scope, messages).await {
                tracing::warn!(account = scope, error = %e, "cannot learn from a Junk move");
                return;
            }
        }
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        if let Err(e) = self.store.spam_learn_done(&ids).await {
            tracing::warn!(error = %e, "cannot clear the learning queue");
        }
    }

    /// The block-list entry refusing `sender` from `ip` for everyone, at MAIL.
    pub async fn blocked_sender(&self, sender: &str, ip: IpAddr) -> Option<String> {
        if !self.settings.enabled {
            return None;
        }
        let book = self.refresh_rules().await;
        RuleBook::listed(&book.block, &[String::new()], &[&sender.to_lowercase()], Some(ip))
    }

    /// The entry of `recipient`'s (or their domain's) block list refusing
    /// `sender`, at RCPT.
    pub async fn blocked_for(&self, sender: &str, ip: IpAddr, recipient: &str) -> Option<String> {
        if !self.settings.enabled {
            return None;
        }
        let book = self.refresh_rules().await;
        let scopes = RuleBook::scopes_of(recipient);
        RuleBook::listed(&book.block, &scopes[1..], &[&sender.to_lowercase()], Some(ip))
    }

    /// "Come back later" for an unknown (network, sender, recipient)
    /// triple, when greylisting is on and the sender is not allowed.
    pub async fn greylisted(&self, sender: &str, ip: IpAddr, recipient: &str) -> Option<Verdict> {
        let policy = self.settings.greylist?;
        if !self.settings.enabled {
            return None;
        }
        let book = self.refresh_rules().await;
        let scopes = RuleBook::scopes_of(recipient);
        if RuleBook::listed(&book.allow, &scopes, &[&sender.to_lowercase()], Some(ip)).is_some() {
            return None;
        }
        let (client, key) = crate::greylist::triple(ip, sender, recipient);
        match self.store.greylist(&client, &key, caravel_store::now_secs(), policy).await {
            Ok(Some(wait)) => Some(Verdict::Reject {
                code: 451,
                enhanced: "4.7.1",
                text: format!(
                    "Greylisted: this server accepts mail from a new sender after a retry; try again in {wait} seconds"
                ),
            }),
            Ok(None) => None,
            Err(e) => {
                // Never refuse mail because the greylist cannot be read.
                tracing::warn!(error = %e, "greylist unavailable; letting the message through");
                None
            }
        }
    }

    /// Classifies a message as `caravel spam classify` does: the server's
    /// rules and training (and the user's, with `account`/`address`).
    pub async fn classify(&self, raw: &[u8], address: Option<(&str, AccountId)>) -> (Vec<Hit>, Option<Verdict>) {
        let snapshot = self.snapshot(address).await;
        let raw = raw.to_vec();
        // Parsing a message and the caller's own patterns take a while.
        let _slot = self.content_slots.acquire().await;
        tokio::task::spawn_blocking(move || snapshot.classify(&raw)).await.unwrap_or_else(resume)
    }

    /// `content_hits` for `jobs`: on this thread when only the default
    /// rules' patterns apply, else on a blocking thread (a pattern someone
    /// entered may need the slow engine: a Unicode `\b` on text that is not
    /// ASCII), as many at once as there are cores.
    async fn content_tests(
        &self,
        book: Arc<RuleBook>,
        jobs: Vec<ContentJob>,
        content: Content,
        features: Vec<u32>,
    ) -> Vec<Findings> {
        let min_messages = self.settings.min_messages;
        if !jobs.iter().flat_map(|j| &j.keys).any(|k| book.entered_patterns.contains(k)) {
            return content_hits(&book, &jobs, &content, &features, min_messages);
        }
        let _slot = self.content_slots.acquire().await;
        tokio::task::spawn_blocking(move || content_hits(&book, &jobs, &content, &features, min_messages))
            .await
            .unwrap_or_else(resume)
    }

    /// The rules and models that apply to `address` (or to the server) now,
    /// to classify many messages without asking the store each time.
    pub async fn snapshot(&self, address: Option<(&str, AccountId)>) -> Snapshot {
        let book = self.refresh_rules().await;
        let mut scopes = vec![GLOBAL_SCOPE];
        let keys: Vec<String> = match address {
            Some((a, id)) => {
                scopes.push(id);
                RuleBook::scopes_of(a).to_vec()
            }
            None => vec![String::new()],
        };
        Snapshot { book, keys, models: self.models(&scopes).await, min_messages: self.settings.min_messages }
    }

    /// Learns files given on the command line into `scope`.
    pub async fn train(
        &self,
        scope: i64,
        messages: Vec<(String, Vec<u8>, bool)>,
    ) -> caravel_store::Result<LearnReport> {
        let learn: Vec<Learn> = messages
            .into_iter()
            .map(|(digest, raw, spam)| Learn { digest, spam, features: features(&raw, &Content::parse(&raw)) })
            .collect();
        self.learn(scope, learn).await
    }

    /// Keeps `messages` as examples of `scope`, then forgets its oldest
    /// past `max_examples` of a kind (the report counts them).
    async fn learn(&self, scope: i64, messages: Vec<Learn>) -> caravel_store::Result<LearnReport> {
        let mut report = self.store.spam_learn(scope, messages).await?;
        // Learnt is learnt: a trim that fails is tried again after the
        // next learn, and does not undo this one.
        match self.store.spam_trim(scope, self.settings.max_examples).await {
            Ok((spam, ham)) => report.forgotten = spam + ham,
            Err(e) => tracing::warn!(scope, error = %e, "cannot forget the oldest spam examples"),
        }
        Ok(report)
    }
}

/// The rule scopes ("" server, "@domain", address) and models that apply
/// to one recipient.
struct ContentJob {
    keys: Vec<String>,
    models: Vec<Arc<Trained>>,
}

/// What content tests found for one recipient (or one scope's rules).
#[derive(Default)]
struct Findings {
    hits: Vec<Hit>,
    /// The strongest decision a rule made (junk, quarantine, reject).
    decision: Option<Verdict>,
    /// A rule asked for the message to be held (kept when a harsher
    /// decision is overruled).
    held: bool,
}

impl Findings {
    fn decide(&mut self, v: Verdict) {
        self.held |= v == Verdict::Quarantine;
        self.decision = Some(match self.decision.take() {
            Some(d) => d.harsher(v),
            None => v,
        });
    }
}

/// A content test's thread panicked: the session ends as it would have on
/// this thread (the message is not accepted without its tests).
fn resume<T>(e: tokio::task::JoinError) -> T {
    match e.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(e) => panic!("content tests cancelled: {e}"),
    }
}

/// Content tests for each of `jobs` (a recipient's rule scopes and
/// models): keyword hits and the strongest decision a rule made, then
/// the classifier's hit. A scope's rules are searched once and a stack
/// of models is asked once, however many recipients share them.
fn content_hits(
    book: &RuleBook,
    jobs: &[ContentJob],
    content: &Content,
    features: &[u32],
    min_messages: u32,
) -> Vec<Findings> {
    let mut by_scope: HashMap<&str, Findings> = HashMap::new();
    let mut by_models: HashMap<Vec<*const Trained>, Option<Hit>> = HashMap::new();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut found = Findings::default();
        for key in &job.keys {
            let Some(set) = book.keywords.get(key) else { continue };
            let scope = by_scope.entry(key.as_str()).or_insert_with(|| keyword_findings(set, content));
            for hit in &scope.hits {
                // Variants of one rule (发票代开, 代开发票 ...) count once.
                if !found.hits.iter().any(|h| h.name == hit.name) {
                    found.hits.push(hit.clone());
                }
            }
            if let Some(v) = &scope.decision {
                found.decide(v.clone());
            }
            found.held |= scope.held;
        }
        let stack: Vec<*const Trained> = job.models.iter().map(Arc::as_ptr).collect();
        let classified = by_models.entry(stack).or_insert_with(|| {
            let layers: Vec<&Trained> = job.models.iter().map(|m| m.as_ref()).collect();
            let p = logistic::classify(&layers, features, min_messages)?;
            let (name, score) = logistic::points(p);
            Some(Hit {
                name: name.into(),
                score,
                detail: format!("the learning classifier gives a spam probability of {:.0} %", p * 100.0),
            })
        });
        found.hits.extend(classified.clone());
        out.push(found);
    }
    out
}

/// What one scope's keyword rules find in a message.
fn keyword_findings(set: &KeywordSet, content: &Content) -> Findings {
    let mut found = Findings::default();
    for (rule, matched) in set.matches(content) {
        let where_ = match rule.place {
            Place::Subject => "subject",
            Place::Body => "body",
            Place::Any => "message",
        };
        let detail = format!("the {where_} contains \"{matched}\"");
        match rule.action {
            Action::Junk => found.decide(Verdict::Junk),
            Action::Quarantine => found.decide(Verdict::Quarantine),
            Action::Reject => found.decide(Verdict::Reject {
                code: 550,
                enhanced: "5.7.1",
                text: format!("Message refused by a content rule: {detail}"),
            }),
            Action::Score(_) => {}
        }
        let score = match rule.action {
            Action::Score(n) => n,
            Action::Junk | Action::Quarantine | Action::Reject => 0.0,
        };
        if !found.hits.iter().any(|h: &Hit| h.name == rule.name) {
            found.hits.push(Hit { name: rule.name.clone(), score, detail });
        }
    }
    found
}

/// What applies to one recipient (or the server) at one moment: rules and
/// trained models.
pub struct Snapshot {
    book: Arc<RuleBook>,
    keys: Vec<String>,
    models: Vec<Arc<Trained>>,
    min_messages: u32,
}

impl Snapshot {
    /// The content tests' hits on `raw`, and a rule's decision if one made it.
    pub fn classify(&self, raw: &[u8]) -> (Vec<Hit>, Option<Verdict>) {
        let content = Content::parse(raw);
        let features = features(raw, &content);
        let job = ContentJob { keys: self.keys.clone(), models: self.models.clone() };
        let found = content_hits(&self.book, &[job], &content, &features, self.min_messages);
        found.into_iter().next().map(|f| (f.hits, f.decision)).unwrap_or_default()
    }
}

/// The addresses an allow-list entry may match (an allowed name is not an
/// allowed forgery): the envelope sender unless SPF failed for it; the
/// From: address when it is the sender's own (`authenticated_from`: DMARC
/// passed, or with no DMARC record SPF or DKIM did), or when the envelope sender is
/// in its domain, SPF did not fail and DMARC did not fail. A partner with
/// neither SPF nor DMARC cannot be told from a forger sending from its own
/// domain: the entry applies; one sending from another domain gets nothing.
fn trusted_addresses<'a>(ctx: &MessageContext<'_>, sender: &'a str, from: &'a str) -> Vec<&'a str> {
    let tag = |t: &str| ctx.tags.iter().any(|x| x == t);
    let spf_failed = tag("spf=fail") || tag("spf=softfail");
    let domain = |a: &'a str| a.rsplit_once('@').map(|(_, d)| d);
    let same_domain = domain(from).is_some_and(|d| domain(sender) == Some(d));
    let mut out = Vec::new();
    if !spf_failed {
        out.push(sender);
    }
    if ctx.authenticated_from.as_deref() == Some(from) || (same_domain && !tag("dmarc=fail") && !spf_failed) {
        out.push(from);
    }
    out
}

#[async_trait]
impl Stage for SpamFilter {
    fn name(&self) -> &'static str {
        "spam"
    }

    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        if !self.settings.enabled {
            return None;
        }
        // One read says what changed: rules, training, waiting Junk moves.
        let mut scopes = vec![GLOBAL_SCOPE];
        scopes.extend(ctx.recipients.iter().filter_map(|r| r.account));
        let mut state = self.store.filter_state(&scopes).await.unwrap_or_default();
        if state.learning_pending {
            self.learn_pending().await;
            state = self.store.filter_state(&scopes).await.unwrap_or_default();
        }
        let book = self.rules_at(state.rules).await;
        let generation =
            |scope: i64| scopes.iter().position(|s| *s == scope).and_then(|i| state.scopes.get(i).copied());
        let from = ctx.content().from_address.clone();
        let sender = ctx.sender.to_lowercase();
        let addresses = [sender.as_str(), from.as_str()];
        if !ctx.inbound {
            let models = self.models_at(&[GLOBAL_SCOPE], &[generation(GLOBAL_SCOPE).unwrap_or(0)]).await;
            return self.check_outbound(ctx, book, models).await;
        }
        if let Some(p) = RuleBook::listed(&book.block, &[String::new()], &addresses, Some(ctx.peer)) {
            return Some(block_reply(&p));
        }
        let content = ctx.content().clone();
        let features = features(ctx.message, &content);
        let trusted = trusted_addresses(ctx, &sender, &from);
        // An allow entry never lets through a message whose From: domain
        // fails DMARC, whichever address or network matched it.
        let dmarc_failed = ctx.tags.iter().any(|t| t == "dmarc=fail");
        let mut recipients = std::mem::take(&mut ctx.recipients);
        let mut jobs: Vec<(usize, ContentJob)> = Vec::new();
        for (index, r) in recipients.iter_mut().enumerate() {
            let keys = RuleBook::scopes_of(&r.address);
            if let Some(p) = RuleBook::listed(&book.block, &keys[1..], &addresses, Some(ctx.peer)) {
                r.hits.push(Hit {
                    name: "BLOCKLIST".into(),
                    score: 0.0,
                    detail: format!("the sender is on the block list ({p})"),
                });
                r.decide(block_reply(&p));
                continue;
            }
            if let Some(p) = RuleBook::listed(&book.allow, &keys, &addresses, Some(ctx.peer)) {
                if !dmarc_failed && RuleBook::listed(&book.allow, &keys, &trusted, Some(ctx.peer)).is_some() {
                    r.allowed = true;
                    r.hits.push(Hit {
                        name: "ALLOWLIST".into(),
                        score: 0.0,
                        detail: format!("the sender is on the allow list ({p})"),
                    });
                    continue;
                }
                r.hits.push(Hit {
                    name: "ALLOWLIST_FORGED".into(),
                    score: 0.0,
                    detail: format!(
                        "the sender matches the allow list ({p}), but the address is not shown to be theirs \
                         (SPF or DMARC fails, or From: is in another domain than the envelope sender and not \
                         authenticated)"
                    ),
                });
            }
            if let Some(account) = r.account {
                r.hits.extend(self.known_correspondent(account, &from, ctx.authenticated_from.as_deref()).await);
            }
            let mine: Vec<i64> = std::iter::once(GLOBAL_SCOPE).chain(r.account).collect();
            let generations: Vec<i64> = mine.iter().map(|s| generation(*s).unwrap_or(0)).collect();
            let models = self.models_at(&mine, &generations).await;
            jobs.push((index, ContentJob { keys: keys.to_vec(), models }));
        }
        let (indices, jobs): (Vec<usize>, Vec<ContentJob>) = jobs.into_iter().unzip();
        let found = self.content_tests(book, jobs, content, features).await;
        for (index, found) in indices.into_iter().zip(found) {
            let r = &mut recipients[index];
            r.hits.extend(found.hits);
            // A rule's hold stands even when another's refusal wins and is
            // then overruled by the other recipients.
            if found.held {
                r.decide(Verdict::Quarantine);
            }
            if let Some(d) = found.decision {
                r.decide(d);
            }
        }
        ctx.recipients = recipients;
        None
    }
}

/// A message to more recipients than this notes none of them: a mass
/// mailing says little about whom the user knows (the RCPT limit is
/// higher).
const NOTED_PER_MESSAGE: usize = 100;
/// Someone not written to for this long is a stranger again (and
/// forgotten).
const CORRESPONDENT_LIFETIME: i64 = 400 * 86_400;

impl SpamFilter {
    /// Remembers whom a signed-in user wrote to, once the message was
    /// accepted: mail from them later is scored `correspondent_score` for
    /// this user. A store error costs the bonus, never the message.
    pub async fn note_correspondents(&self, account: AccountId, recipients: &[String]) {
        if !self.settings.enabled || self.settings.correspondent_score >= 0.0 {
            return;
        }
        let mut addresses: Vec<String> = recipients.iter().map(|a| a.to_lowercase()).collect();
        addresses.sort();
        addresses.dedup();
        if addresses.is_empty() || addresses.len() > NOTED_PER_MESSAGE {
            return;
        }
        let now = caravel_store::now_secs();
        let (keep, forget_before) = (self.settings.correspondents_kept, now - CORRESPONDENT_LIFETIME);
        if let Err(e) = self.store.note_correspondents(account, &addresses, now, keep, forget_before).await {
            tracing::warn!(account, error = %e, "cannot note whom a user wrote to");
        }
    }

    /// KNOWN_CORRESPONDENT when `account` wrote to the message's From:
    /// address, and only when the authentication stage found that address
    /// is the sender's own (`authenticated`): a forger using a customer's
    /// address gets no bonus.
    async fn known_correspondent(&self, account: AccountId, from: &str, authenticated: Option<&str>) -> Option<Hit> {
        if self.settings.correspondent_score >= 0.0 || from.is_empty() || authenticated != Some(from) {
            return None;
        }
        let last = match self.store.correspondent(account, from).await {
            Ok(last) => last?,
            Err(e) => {
                tracing::warn!(account, error = %e, "cannot read whom a user wrote to");
                return None;
            }
        };
        (caravel_store::now_secs() - last < CORRESPONDENT_LIFETIME).then(|| Hit {
            name: "KNOWN_CORRESPONDENT".into(),
            score: self.settings.correspondent_score,
            detail: format!("the recipient has written to {from}"),
        })
    }

    /// Mail a signed-in user submits: the server's rules and training; over
    /// `outbound_reject` it is refused with the reasons in plain words, so a
    /// compromised account cannot spend the company's reputation.
    async fn check_outbound(
        &self,
        ctx: &mut MessageContext<'_>,
        book: Arc<RuleBook>,
        models: Vec<Arc<Trained>>,
    ) -> Option<Verdict> {
        let content = ctx.content().clone();
        let features = features(ctx.message, &content);
        let job = ContentJob { keys: vec![String::new()], models };
        let found = self.content_tests(book, vec![job], content, features).await;
        let (hits, decision) = found.into_iter().next().map(|f| (f.hits, f.decision)).unwrap_or_default();
        let score: f64 = hits.iter().map(|h| h.score).sum();
        let reasons: Vec<String> =
            hits.iter().filter(|h| h.score > 0.0 || decision.is_some()).map(|h| h.detail.clone()).collect();
        ctx.hits.extend(hits);
        if score >= self.settings.outbound_reject || matches!(decision, Some(Verdict::Reject { .. })) {
            return Some(Verdict::Reject {
                code: 550,
                enhanced: "5.7.1",
                text: format!(
                    "Not sent: the message looks like spam (score {score:.1}, the limit is {:.1}): {}",
                    self.settings.outbound_reject,
                    reasons.join("; ")
                ),
            });
        }
        None
    }
}
