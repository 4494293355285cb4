//! The console's server operations (`caravel_http::Operations`): the same
//! functions the CLI's `quarantine release`, `av update` and `dns --check`
//! call.

use std::time::Duration;

use serde_json::json;

use crate::trace::Troubleshooter;

#[async_trait::async_trait]
impl caravel_http::Operations for Troubleshooter {
    async fn release(&self, id: i64, only: Option<String>) -> Result<Vec<String>, String> {
        crate::antivirus::release(self.store.clone(), &self.config, id, only.as_deref()).await
    }

    async fn antivirus(&self) -> serde_json::Value {
        let config = self.config.clone();
        let now = caravel_store::now_secs().max(0) as u64;
        let state = tokio::task::spawn_blocking(move || crate::doctor::antivirus_state(&config, now)).await;
        let quarantined = self.store.held().await.map(|h| h.len()).ok();
        let (check, info) = match state {
            Ok(s) => s,
            Err(e) => return json!({ "status": "fail", "verdict": format!("the check stopped: {e}") }),
        };
        let (signatures, updated) = match &info {
            Some(i) => (Some(i.signatures), (i.newest > 0).then_some(i.newest)),
            None => (None, None),
        };
        json!({
            "enabled": self.config.antivirus.enabled,
            "status": check.status,
            "verdict": check.verdict,
            "fix": check.fix,
            "signatures": signatures,
            "files": info.as_ref().map(|i| i.files.len()),
            "updated": updated,
            "age_days": updated.map(|u| now.saturating_sub(u) / 86_400),
            "update_from": self.config.antivirus.update_from,
            "quarantined": quarantined,
        })
    }

    async fn antivirus_update(&self, from: Option<String>) -> Result<String, String> {
        // From a web page: the configured source or an https address, not
        // a directory of the server (that is for a shell: caravel av update).
        let from = from.map(|f| f.trim().to_string()).filter(|f| !f.is_empty());
        if let Some(f) = &from {
            if !f.starts_with("https://") && Some(f) != self.config.antivirus.update_from.as_ref() {
                return Err(format!(
                    "{f}: give an https:// address of a SHA256SUMS file (a directory of the server: caravel av update --from DIR)"
                ));
            }
        }
        // One update at a time.
        static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = RUNNING.try_lock().map_err(|_| "an update is running already".to_string())?;
        let from = from.or_else(|| self.config.antivirus.update_from.clone());
        let from = from.ok_or("say where the signatures come from (a directory, or the URL of a SHA256SUMS file), or set [antivirus] update_from")?;
        let quiet = crate::progress::Progress::quiet("signature update");
        crate::av_commands::update(&self.config, from.trim(), quiet).await
    }

    async fn spam_settings(&self) -> serde_json::Value {
        let s = &self.config.spam;
        let limits = |t: &caravel_config::SpamThresholds| json!({ "junk": t.junk, "quarantine": t.quarantine, "reject": t.reject });
        let each = |list: &[(String, caravel_config::SpamThresholds)]| -> serde_json::Map<String, serde_json::Value> {
            list.iter().map(|(k, t)| (k.clone(), limits(t))).collect()
        };
        json!({
            "enabled": s.enabled,
            "default_rules": s.default_rules,
            "min_messages": s.min_messages,
            "max_examples": s.max_examples,
            "correspondent_score": s.correspondent_score,
            "correspondents_kept": s.correspondents_kept,
            "thresholds": limits(&s.thresholds),
            "domains": each(&s.domains),
            "users": each(&s.users),
            "outbound_reject": s.outbound_reject,
            "dnsbl": s.dnsbl,
            "uribl": s.uribl,
            "greylisting": s.greylisting,
            "greylist_delay_secs": s.greylist_delay.as_secs(),
            "greylist_lifetime_secs": s.greylist_lifetime.as_secs(),
            "greylist_retry_window_secs": s.greylist_retry_window.as_secs(),
            "greylist_auto_allow": s.greylist_auto_allow,
        })
    }

    async fn classify(&self, raw: Vec<u8>, account: Option<(String, i64)>) -> serde_json::Value {
        let who = account.as_ref().map(|(a, id)| (a.as_str(), *id));
        json!(crate::spam_commands::classify(&self.config, &self.spam, &raw, who).await)
    }

    async fn train(&self, raw: Vec<u8>, spam: bool, account: Option<i64>) -> Result<serde_json::Value, String> {
        let digest = caravel_store::blobs::BlobStore::hash(&raw);
        let scope = account.unwrap_or(caravel_store::filter_data::GLOBAL_SCOPE);
        let report = self.spam.train(scope, vec![(digest, raw, spam)]).await.map_err(|e| e.to_string())?;
        Ok(json!({ "learnt": report.learnt, "relearnt": report.relearnt, "unchanged": report.unchanged }))
    }

    async fn dns_check(&self, records: Vec<caravel_admin::dkim::DnsRecord>) -> Result<serde_json::Value, String> {
        let dns = caravel_dns::Resolver::new(&self.config.dns.resolvers, Duration::from_secs(5))?;
        let checked = crate::dns_check::check(&dns, &self.config.hostname, records).await;
        serde_json::to_value(checked).map_err(|e| e.to_string())
    }
}
