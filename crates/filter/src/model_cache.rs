//! The spam classifier's trained models, one per scope, kept in memory and
//! trained again from the store's examples when their generation moves.
//!
//! The server's model takes seconds to train on a large set; mail does not
//! wait for that: once there is a model, a newer one is trained in the
//! background while the one there is goes on serving. Only the very first
//! is trained while a message waits. A user's layer is small (their own
//! corrections) and is trained in the foreground, so that a message moved
//! into Junk counts for the very next one; it is trained again when the
//! server's model under it changes. Each scope trains one at a time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use caravel_store::filter_data::{SpamExamples, GLOBAL_SCOPE};
use caravel_store::Store;

use crate::logistic::Trained;
use crate::model_file;

/// Scopes kept; past this, users' layers are dropped (and trained again
/// when next needed), so memory stays bounded however many users train.
const MAX_SCOPES: usize = 2_000;

#[derive(Default)]
struct Slot {
    model: Option<Arc<Trained>>,
    /// A newer server model is being trained in the background.
    refreshing: bool,
    /// Held while this scope is trained in the foreground.
    training: Arc<tokio::sync::Mutex<()>>,
}

pub struct ModelCache {
    store: Arc<dyn Store>,
    slots: Arc<Mutex<HashMap<i64, Slot>>>,
    /// Where the server's model is kept between processes (`model_file`).
    dir: Option<Arc<PathBuf>>,
}

impl ModelCache {
    pub fn new(store: Arc<dyn Store>) -> ModelCache {
        ModelCache { store, slots: Arc::default(), dir: None }
    }

    /// Keeps the server's model in `dir` too, and reads it from there.
    pub fn with_dir(mut self, dir: PathBuf) -> ModelCache {
        self.dir = Some(Arc::new(dir));
        self
    }

    /// The model of `scope` as of `generation` (or newer): the server's, or
    /// a user's layer on top of `base` (the server's model in use).
    pub async fn get(&self, scope: i64, generation: i64, base: Option<&Arc<Trained>>) -> Option<Arc<Trained>> {
        let base_generation = base.map_or(0, |b| b.generation);
        let fresh = move |m: &Trained| m.generation >= generation && m.base_generation == base_generation;
        let training = {
            let mut slots = lock(&self.slots);
            let slot = slots.entry(scope).or_default();
            match &slot.model {
                Some(m) if fresh(m) => return Some(m.clone()),
                Some(m) if scope == GLOBAL_SCOPE => {
                    let serving = m.clone();
                    if !slot.refreshing {
                        slot.refreshing = true;
                        self.refresh_in_background(scope);
                    }
                    return Some(serving);
                }
                _ => slot.training.clone(),
            }
        };
        let _one_at_a_time = training.lock().await;
        if let Some(m) = self.cached(scope).filter(|m| fresh(m)) {
            return Some(m);
        }
        let m = train(self.store.as_ref(), scope, base.cloned(), self.dir.clone()).await?;
        put(&self.slots, scope, m.clone());
        Some(m)
    }

    fn cached(&self, scope: i64) -> Option<Arc<Trained>> {
        lock(&self.slots).get(&scope).and_then(|s| s.model.clone())
    }

    /// Trains the server's model again on a task of its own; the cache
    /// takes it when it is done, even if no message is waiting for it.
    fn refresh_in_background(&self, scope: i64) {
        let (store, slots, dir) = (self.store.clone(), self.slots.clone(), self.dir.clone());
        tokio::spawn(async move {
            let trained = train(store.as_ref(), scope, None, dir).await;
            if let Some(m) = trained {
                put(&slots, scope, m);
            }
            if let Some(slot) = lock(&slots).get_mut(&scope) {
                slot.refreshing = false;
            }
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps `m` unless a newer model of the scope is there already.
fn put(slots: &Mutex<HashMap<i64, Slot>>, scope: i64, m: Arc<Trained>) {
    let mut slots = lock(slots);
    if slots.len() >= MAX_SCOPES && !slots.contains_key(&scope) {
        slots.retain(|s, slot| *s == GLOBAL_SCOPE || slot.refreshing);
    }
    let slot = slots.entry(scope).or_default();
    let newer_there = slot
        .model
        .as_ref()
        .is_some_and(|old| (old.generation, old.base_generation) > (m.generation, m.base_generation));
    if !newer_there {
        slot.model = Some(m);
    }
}

/// Reads the scope's examples and trains its model (off the runtime's
/// threads: the server's takes about 2 s of CPU per thousand examples),
/// or reads the server's from `dir` if it was trained from these examples.
async fn train(
    store: &dyn Store,
    scope: i64,
    base: Option<Arc<Trained>>,
    dir: Option<Arc<PathBuf>>,
) -> Option<Arc<Trained>> {
    // The server's model may be on disk already: its file is found by the
    // examples' fingerprint, which needs no features read (unpacking them
    // was most of a `spam classify` run's start).
    if let (GLOBAL_SCOPE, Some(dir)) = (scope, &dir) {
        if let Some(m) = read_kept(store, dir.clone()).await {
            return Some(Arc::new(m));
        }
    }
    let examples = match store.spam_examples(scope).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(scope, error = %e, "cannot read the classifier's examples");
            return None;
        }
    };
    let started = std::time::Instant::now();
    let n = examples.examples.len();
    let trained = tokio::task::spawn_blocking(move || train_scope(scope, examples, base, dir.as_deref())).await.ok()?;
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(scope, examples = n, ms, "spam classifier trained");
    Some(Arc::new(trained))
}

/// The server's model from its file in `dir`, if one was trained from the
/// examples the store has now.
async fn read_kept(store: &dyn Store, dir: Arc<PathBuf>) -> Option<Trained> {
    let summary = store.spam_examples_summary(GLOBAL_SCOPE).await.ok()?;
    if summary.spam_messages == 0 || summary.ham_messages == 0 {
        return None;
    }
    let started = std::time::Instant::now();
    let fingerprint = summary.fingerprint;
    let mut m = tokio::task::spawn_blocking(move || model_file::load(&dir, fingerprint)).await.ok()??;
    (m.spam, m.ham, m.generation) = (summary.spam_messages, summary.ham_messages, summary.generation);
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(scope = GLOBAL_SCOPE, examples = m.spam + m.ham, ms, "spam classifier read from its file");
    Some(m)
}

/// A scope's model from its examples: the server's trained from scratch
/// (and kept in `dir`), a user's as a layer on top of `base` (the server's
/// model, when it has one).
fn train_scope(scope: i64, examples: SpamExamples, base: Option<Arc<Trained>>, dir: Option<&PathBuf>) -> Trained {
    let mut trained = match scope {
        // One kind only: nothing is trained (see `Trained::new`), nothing kept.
        GLOBAL_SCOPE if examples.spam_messages == 0 || examples.ham_messages == 0 => Trained::new(&examples.examples),
        GLOBAL_SCOPE => {
            let m = Trained::new(&examples.examples);
            if let Some(d) = dir {
                if let Err(e) = model_file::save(d, examples.fingerprint, &m) {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot keep the spam classifier's model");
                }
            }
            m
        }
        _ => Trained::on_top(base.as_deref(), &examples.examples),
    };
    // The store's totals (the examples are the same messages).
    (trained.spam, trained.ham) = (examples.spam_messages, examples.ham_messages);
    trained.generation = examples.generation;
    trained.base_generation = base.map_or(0, |b| b.generation);
    trained
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_store::filter_data::Learn;

    fn learn(n: usize, spam: bool) -> Vec<Learn> {
        (0..n)
            .map(|i| Learn {
                digest: format!("{spam}{i}"),
                spam,
                features: if spam { vec![1, 2, 3, 100 + i as u32] } else { vec![4, 5, 6, 200 + i as u32] },
            })
            .collect()
    }

    /// A store that learnt 5 spam and 5 legitimate messages.
    async fn five_of_each() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(caravel_store::sqlite::SqliteStore::open(dir.path()).expect("store"));
        store.spam_learn(GLOBAL_SCOPE, learn(5, true)).await.expect("learn");
        store.spam_learn(GLOBAL_SCOPE, learn(5, false)).await.expect("learn");
        (dir, store)
    }

    /// A process with the same store and directory reads the server's
    /// model from its file, found by the examples' fingerprint alone.
    #[tokio::test]
    async fn the_kept_model_is_read_by_the_fingerprint() {
        let (dir, store) = five_of_each().await;
        let models = dir.path().join("spam");
        let g = store.spam_generations(&[GLOBAL_SCOPE]).await.expect("generation")[0];
        let trained = ModelCache::new(store.clone()).with_dir(models.clone());
        let first = trained.get(GLOBAL_SCOPE, g, None).await.expect("trained");
        assert_eq!(std::fs::read_dir(&models).expect("kept").count(), 1);
        // Put another model (its features the other way round) under the
        // same fingerprint: a new cache must serve that one, from the file.
        let summary = store.spam_examples_summary(GLOBAL_SCOPE).await.expect("summary");
        assert_eq!(summary.fingerprint, store.spam_examples(GLOBAL_SCOPE).await.expect("examples").fingerprint);
        let swapped: Vec<(bool, Vec<u32>)> = store
            .spam_examples(GLOBAL_SCOPE)
            .await
            .expect("examples")
            .examples
            .into_iter()
            .map(|(s, f)| (!s, f))
            .collect();
        model_file::save(&models, summary.fingerprint, &Trained::new(&swapped)).expect("save");
        let read = ModelCache::new(store.clone()).with_dir(models).get(GLOBAL_SCOPE, g, None).await.expect("read");
        assert_eq!((read.spam, read.ham, read.generation), (5, 5, g), "the store's totals");
        let spammy = [1, 2, 3];
        let p = |m: &Trained| crate::logistic::classify(&[m], &spammy, 1).expect("decides");
        assert!(p(&first) > 0.5 && p(&read) < 0.5, "{} {}", p(&first), p(&read));
    }

    /// A newer server model is trained in the background while the old one
    /// serves; a user's layer follows the server model it sits on.
    #[tokio::test]
    async fn the_server_model_is_refreshed_in_the_background() {
        let (_dir, store) = five_of_each().await;
        let cache = ModelCache::new(store.clone());
        let g1 = store.spam_generations(&[GLOBAL_SCOPE]).await.expect("generation")[0];
        let first = cache.get(GLOBAL_SCOPE, g1, None).await.expect("trained while waiting");
        assert_eq!((first.spam, first.ham, first.generation), (5, 5, g1));
        let user = cache.get(7, 0, Some(&first)).await.expect("an empty layer");
        assert_eq!(user.base_generation, g1);
        // Learning the same again changes nothing: the same model serves.
        store.spam_learn(GLOBAL_SCOPE, learn(5, true)).await.expect("learn");
        assert_eq!(store.spam_generations(&[GLOBAL_SCOPE]).await.expect("generation")[0], g1);
        store.spam_learn(GLOBAL_SCOPE, learn(8, true)).await.expect("learn");
        let g2 = store.spam_generations(&[GLOBAL_SCOPE]).await.expect("generation")[0];
        assert!(g2 > g1);
        let serving = cache.get(GLOBAL_SCOPE, g2, None).await.expect("the old one, at once");
        assert!(Arc::ptr_eq(&serving, &first));
        let mut newer = serving;
        for _ in 0..500 {
            newer = cache.get(GLOBAL_SCOPE, g2, None).await.expect("model");
            if newer.generation == g2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!((newer.spam, newer.generation), (8, g2), "trained in the background");
        let user = cache.get(7, 0, Some(&newer)).await.expect("layer");
        assert_eq!(user.base_generation, g2, "trained again on the new server model");
    }
}
