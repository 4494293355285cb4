//! The learning classifier: per-token spam and ham counts, combined as
//! Gary Robinson's method with Fisher's chi-square (the SpamBayes
//! classifier): each token's smoothed spam probability, the strongest
//! tokens' probabilities combined into a spam and a ham indication, and
//! the answer their difference. It says "unsure" (near 0.5) when the
//! evidence is weak or mixed, instead of guessing.

use std::collections::HashMap;

use crate::tokens::TokenHasher;

/// Robinson's strength of the prior belief (s) and its value (x).
const PRIOR_STRENGTH: f64 = 0.45;
const PRIOR: f64 = 0.5;
/// Tokens closer than this to 0.5 are ignored.
const MIN_DISTANCE: f64 = 0.1;
/// The most tokens combined per message (the strongest).
const MAX_CLUES: usize = 150;

/// Counts learnt in one scope (the whole server, or one user).
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub spam_messages: u32,
    pub ham_messages: u32,
    /// token hash -> (spam count, ham count)
    pub tokens: HashMap<u64, (u32, u32), TokenHasher>,
}

impl Model {
    /// Adds (or with `sign` -1, removes) one message's tokens.
    pub fn learn(&mut self, tokens: &[u64], spam: bool, sign: i32) {
        let bump = |n: &mut u32| *n = n.saturating_add_signed(sign);
        bump(if spam { &mut self.spam_messages } else { &mut self.ham_messages });
        for t in tokens {
            let e = self.tokens.entry(*t).or_default();
            bump(if spam { &mut e.0 } else { &mut e.1 });
            if *e == (0, 0) {
                self.tokens.remove(t);
            }
        }
    }
}

/// The spam probability of a message with `tokens`, from the sum of the
/// counts of `models` (a user's own training adds to the server's), or
/// None when they have learnt fewer than `min_messages` of either kind.
pub fn classify(models: &[&Model], tokens: &[u64], min_messages: u32) -> Option<f64> {
    let nspam: u32 = models.iter().map(|m| m.spam_messages).sum();
    let nham: u32 = models.iter().map(|m| m.ham_messages).sum();
    if nspam < min_messages.max(1) || nham < min_messages.max(1) {
        return None;
    }
    let mut clues: Vec<f64> = Vec::with_capacity(tokens.len());
    for t in tokens {
        let (mut s, mut h) = (0u32, 0u32);
        for m in models {
            if let Some(&(ms, mh)) = m.tokens.get(t) {
                s += ms;
                h += mh;
            }
        }
        if s == 0 && h == 0 {
            continue;
        }
        let p = token_probability(s, h, nspam, nham);
        if (p - 0.5).abs() >= MIN_DISTANCE {
            clues.push(p);
        }
    }
    if clues.len() > MAX_CLUES {
        clues.sort_unstable_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        clues.truncate(MAX_CLUES);
    }
    Some(combine(&clues))
}

/// Robinson's f(w): the token's spam ratio, pulled towards the prior by
/// how rarely the token was seen.
fn token_probability(s: u32, h: u32, nspam: u32, nham: u32) -> f64 {
    let spam_ratio = s as f64 / nspam as f64;
    let ham_ratio = h as f64 / nham as f64;
    let p = spam_ratio / (spam_ratio + ham_ratio);
    let n = (s + h) as f64;
    (PRIOR_STRENGTH * PRIOR + n * p) / (PRIOR_STRENGTH + n)
}

/// Fisher's combination of the clues, both ways.
fn combine(clues: &[f64]) -> f64 {
    if clues.is_empty() {
        return 0.5;
    }
    let n = clues.len();
    let ln_ham: f64 = clues.iter().map(|p| p.ln()).sum();
    let ln_spam: f64 = clues.iter().map(|p| (1.0 - p).ln()).sum();
    let spam = 1.0 - chi2q(-2.0 * ln_spam, 2 * n);
    let ham = 1.0 - chi2q(-2.0 * ln_ham, 2 * n);
    (spam - ham + 1.0) / 2.0
}

/// P(chi-square with `v` (even) degrees of freedom >= x2).
fn chi2q(x2: f64, v: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// The points a spam probability adds to the score, and the test's name
/// (SpamAssassin's BAYES_nn names, our own points: with few other rules the
/// classifier alone must be able to file a message as junk).
pub fn points(p: f64) -> (&'static str, f64) {
    match p {
        p if p >= 0.99 => ("BAYES_99", 6.0),
        p if p >= 0.90 => ("BAYES_90", 5.0),
        p if p >= 0.70 => ("BAYES_70", 3.0),
        p if p >= 0.60 => ("BAYES_60", 1.5),
        p if p > 0.40 => ("BAYES_50", 0.0),
        p if p > 0.20 => ("BAYES_20", -0.5),
        p if p > 0.05 => ("BAYES_05", -1.0),
        _ => ("BAYES_00", -2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(words: &str) -> Vec<u64> {
        let mut v: Vec<u64> = words.split(' ').map(crate::tokens::hash).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn learns_and_abstains_until_trained() {
        let mut m = Model::default();
        let spam = toks("cheap pills online casino winner");
        let ham = toks("meeting agenda invoice shipment container");
        assert_eq!(classify(&[&m], &spam, 1), None);
        for _ in 0..5 {
            m.learn(&spam, true, 1);
            m.learn(&ham, false, 1);
        }
        assert_eq!(classify(&[&m], &spam, 10), None, "too few messages");
        let p = classify(&[&m], &toks("cheap casino pills"), 5).expect("trained");
        assert!(p > 0.95, "{p}");
        let p = classify(&[&m], &toks("invoice shipment agenda"), 5).expect("trained");
        assert!(p < 0.05, "{p}");
        let p = classify(&[&m], &toks("nothing known here"), 5).expect("trained");
        assert!((p - 0.5).abs() < 1e-9, "{p}");
    }

    #[test]
    fn a_users_training_adds_to_the_global_counts() {
        let mut global = Model::default();
        for _ in 0..5 {
            global.learn(&toks("meeting agenda"), false, 1);
            global.learn(&toks("casino pills"), true, 1);
        }
        let mut user = Model::default();
        user.learn(&toks("zorblax widget quote"), true, 1);
        let p = classify(&[&global], &toks("zorblax widget quote"), 5).expect("trained");
        assert!((p - 0.5).abs() < 1e-9);
        let p = classify(&[&global, &user], &toks("zorblax widget quote"), 5).expect("trained");
        assert!(p > 0.9, "{p}");
        user.learn(&toks("zorblax widget quote"), true, -1);
        assert!(user.tokens.is_empty() && user.spam_messages == 0, "unlearning removes the counts");
    }

    #[test]
    fn points_are_monotonic() {
        let ps = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.995, 0.9999];
        let scores: Vec<f64> = ps.iter().map(|p| points(*p).1).collect();
        assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    }
}
