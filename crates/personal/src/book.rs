//! The typed settings over the store's JSON documents: the kinds, and
//! reading and writing them.

use caravel_store::Settings;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A user's or domain's profile (one document, named "").
pub const PROFILE: &str = "profile";
/// A user's signature templates, by name.
pub const SIGNATURE: &str = "signature";
/// A domain's footer (a signature template named "").
pub const FOOTER: &str = "footer";
/// A user's auto-reply templates, by name.
pub const AUTOREPLY: &str = "autoreply";
/// A user's mail rules, named by their number.
pub const RULE: &str = "rule";
/// The server's holidays, by name.
pub const HOLIDAY: &str = "holiday";

/// Every document of `kind` in `scope` that reads as `T`; one that does not
/// (written by a newer version, or damaged) is skipped with a warning.
pub async fn load<T: DeserializeOwned>(
    s: &dyn Settings,
    scope: &str,
    kind: &str,
) -> caravel_store::Result<Vec<(String, T)>> {
    let mut out = Vec::new();
    for (name, value) in s.settings(scope, kind).await? {
        match serde_json::from_str(&value) {
            Ok(v) => out.push((name, v)),
            Err(e) => tracing::warn!(scope, kind, name, error = %e, "a setting that cannot be read is skipped"),
        }
    }
    Ok(out)
}

/// The one document named "" (a profile, a footer), if any.
pub async fn load_one<T: DeserializeOwned>(
    s: &dyn Settings,
    scope: &str,
    kind: &str,
) -> caravel_store::Result<Option<T>> {
    Ok(load(s, scope, kind).await?.into_iter().find(|(n, _)| n.is_empty()).map(|(_, v)| v))
}

pub async fn save<T: Serialize>(
    s: &dyn Settings,
    scope: &str,
    kind: &str,
    name: &str,
    value: &T,
) -> caravel_store::Result<()> {
    let json = serde_json::to_string(value).map_err(|e| caravel_store::StoreError::Invalid(e.to_string()))?;
    s.put_setting(scope, kind, name, &json).await
}
