//! `caravel filter ...` (allow and block lists, keyword rules) and
//! `caravel spam train|classify`.

use std::path::PathBuf;
use std::sync::Arc;

use caravel_config::Config;
use caravel_filter::pipeline::{Hit, Verdict};
use caravel_filter::rules::{new_rule, stored_pattern};
use caravel_filter::SpamFilter;
use caravel_store::filter_data::GLOBAL_SCOPE;
use caravel_store::{Address, Store};
use serde::Serialize;

use crate::cli::{FilterCmd, KeywordCmd, ListCmd, RuleScope, SpamCmd};
use crate::commands::{open_existing_store, print_json, CmdResult};
use crate::import::Sources;
use crate::server::{spam_filter, spam_thresholds};

/// The stored scope of a rule: "", "@domain" or an address.
async fn scope_key(store: &dyn Store, scope: &RuleScope) -> Result<String, String> {
    if let Some(user) = &scope.user {
        let a = Address::parse(user)?;
        store.get_user(&a).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no user {a}"))?;
        return Ok(a.to_string().to_lowercase());
    }
    if let Some(d) = &scope.domain {
        let d = d.trim_start_matches('@').to_lowercase();
        let known = store.list_domains().await.map_err(|e| e.to_string())?;
        if !known.iter().any(|k| k.name == d) {
            return Err(format!("no domain {d} (caravel domain add {d})"));
        }
        return Ok(format!("@{d}"));
    }
    Ok(String::new())
}

fn describe(scope: &str) -> String {
    match scope {
        "" => "for the whole server".into(),
        s if s.starts_with('@') => format!("for {}", &s[1..]),
        s => format!("for {s}"),
    }
}

pub async fn filter(config: &Config, cmd: FilterCmd) -> CmdResult {
    let store = open_existing_store(config).await?;
    match cmd {
        FilterCmd::Block(c) => list(&*store, "block", c).await,
        FilterCmd::Allow(c) => list(&*store, "allow", c).await,
        FilterCmd::Keyword(KeywordCmd::Add { text, place, action, scope }) => {
            let scope = scope_key(&*store, &scope).await?;
            let r = new_rule("keyword", &text, Some(&place), Some(&action), scope.clone())?;
            let (place, action) = (r.place.clone().unwrap_or_default(), r.action.clone().unwrap_or_default());
            caravel_filter::rules::add(&*store, r).await?;
            println!("keyword rule {text} ({place}, {action}) added {}", describe(&scope));
            Ok(())
        }
        FilterCmd::Keyword(KeywordCmd::Del { text, scope }) => {
            let scope = scope_key(&*store, &scope).await?;
            store.del_filter_rule("keyword", &text, &scope).await.map_err(|e| e.to_string())?;
            println!("keyword rule {text} removed {}", describe(&scope));
            Ok(())
        }
        FilterCmd::List(json) => {
            let rules = store.filter_rules().await.map_err(|e| e.to_string())?;
            if json.json {
                return print_json(&rules);
            }
            if rules.is_empty() {
                println!("no rules (the built-in keyword rules apply unless [spam] default_rules = false)");
            }
            for r in rules {
                let extra = match (&r.place, &r.action) {
                    (Some(p), Some(a)) => format!(" where={p} action={a}"),
                    _ => String::new(),
                };
                println!("{:<8} {}{extra} {}", r.kind, r.pattern, describe(&r.scope));
            }
            Ok(())
        }
    }
}

async fn list(store: &dyn Store, kind: &str, cmd: ListCmd) -> CmdResult {
    match cmd {
        ListCmd::Add { pattern, scope } => {
            let scope = scope_key(store, &scope).await?;
            let r = new_rule(kind, &pattern, None, None, scope.clone())?;
            let p = r.pattern.clone();
            caravel_filter::rules::add(store, r).await?;
            println!("{kind} {p} added {}", describe(&scope));
        }
        ListCmd::Del { pattern, scope } => {
            let p = stored_pattern(kind, &pattern)?;
            let scope = scope_key(store, &scope).await?;
            store.del_filter_rule(kind, &p, &scope).await.map_err(|e| e.to_string())?;
            println!("{kind} {p} removed {}", describe(&scope));
        }
    }
    Ok(())
}

/// Messages learnt per store transaction.
const TRAIN_BATCH: usize = 500;

#[derive(Serialize)]
pub struct Classified {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    pub verdict: &'static str,
    pub score: f64,
    pub tags: Vec<String>,
    pub reasons: Vec<String>,
}

/// The verdict the delivery pipeline would give `raw` (for `who`: an
/// account's address and id, with its rules, training and thresholds).
pub async fn classify(config: &Config, filter: &SpamFilter, raw: &[u8], who: Option<(&str, i64)>) -> Classified {
    let (hits, decision) = filter.classify(raw, who).await;
    verdict(config, who, hits, decision)
}

/// The verdict of the content tests' `hits` and a rule's `decision` under
/// `who`'s thresholds (or the server's).
fn verdict(config: &Config, who: Option<(&str, i64)>, hits: Vec<Hit>, decision: Option<Verdict>) -> Classified {
    let score: f64 = hits.iter().map(|h| h.score).sum();
    let limits = spam_thresholds(&config.spam).for_address(who.map_or("", |(a, _)| a));
    let by_score = limits.verdict(score);
    // As the pipeline decides: the harsher of rule and score.
    let verdict = match decision {
        Some(d) => by_score.harsher(d),
        None => by_score,
    };
    Classified {
        file: String::new(),
        verdict: verdict.word(),
        score: (score * 10.0).round() / 10.0 + 0.0,
        tags: hits.iter().map(|h: &Hit| h.name.clone()).collect(),
        reasons: hits.iter().map(|h| h.detail.clone()).collect(),
    }
}

pub async fn spam(config: &Config, cmd: SpamCmd) -> CmdResult {
    let store = open_existing_store(config).await?;
    let store: Arc<dyn Store> = store;
    let filter = spam_filter(config, store.clone());
    let account = |user: Option<String>| {
        let store = store.clone();
        async move {
            let Some(user) = user else { return Ok::<_, String>(None) };
            let a = Address::parse(&user)?;
            let u = store.get_user(&a).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no user {a}"))?;
            Ok(Some((u.address, u.id)))
        }
    };
    match cmd {
        SpamCmd::Train { spam, ham: _, paths, user } => {
            let scope = account(user).await?.map_or(GLOBAL_SCOPE, |(_, id)| id);
            train(config, &filter, scope, spam, paths).await?;
            // The server's model now, kept in data_dir/spam: `spam classify`
            // and the server read it instead of training it again.
            let started = std::time::Instant::now();
            if let Some((spam, ham)) = filter.prepare().await {
                println!(
                    "the server's classifier: {spam} spam and {ham} legitimate messages learnt, model ready in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        SpamCmd::Classify { json, files, user } => {
            let who = account(user).await?;
            let mut out = Vec::new();
            let started = std::time::Instant::now();
            let who = who.as_ref().map(|(a, id)| (a.as_str(), *id));
            // Rules and models as they are now, for every file.
            let snapshot = filter.snapshot(who).await;
            for file in &files {
                let raw = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                let (hits, decision) = snapshot.classify(&raw);
                out.push(Classified { file: file.display().to_string(), ..verdict(config, who, hits, decision) });
            }
            let secs = started.elapsed().as_secs_f64();
            eprintln!("classified {} messages in {secs:.2} s", out.len());
            if json.json {
                return print_json(&out);
            }
            for c in out {
                println!("{}: {} score={:.1} tests={}", c.file, c.verdict, c.score, c.tags.join(","));
                for r in c.reasons {
                    println!("  {r}");
                }
            }
            Ok(())
        }
    }
}

async fn train(config: &Config, filter: &SpamFilter, scope: i64, spam: bool, paths: Vec<PathBuf>) -> CmdResult {
    let mut progress = crate::progress::Progress::messages("training", crate::progress::total_size(&paths));
    let mut sources = Sources::new(paths, config.limits.max_message_size, 0);
    let mut total = caravel_store::filter_data::LearnReport::default();
    loop {
        let mut batch = Vec::new();
        while batch.len() < TRAIN_BATCH {
            match sources.next_message()? {
                Some(m) => {
                    progress.advance(m.raw.len() as u64);
                    let digest = caravel_store::blobs::BlobStore::hash(&m.raw);
                    batch.push((digest, m.raw, spam));
                }
                None => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        let n = batch.len();
        let report = filter.train(scope, batch).await.map_err(|e| e.to_string())?;
        total.learnt += report.learnt;
        total.relearnt += report.relearnt;
        total.unchanged += report.unchanged;
        total.forgotten += report.forgotten;
        if n < TRAIN_BATCH {
            break;
        }
    }
    progress.finish();
    println!(
        "learnt {} messages as {} ({} moved from the other kind, {} known already)",
        total.learnt + total.relearnt,
        if spam { "spam" } else { "ham" },
        total.relearnt,
        total.unchanged
    );
    if total.forgotten > 0 {
        println!(
            "forgot the {} examples learnt longest ago (the limit is [spam] max_examples = {} of each kind)",
            total.forgotten, config.spam.max_examples
        );
    }
    Ok(())
}
