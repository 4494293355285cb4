//! One certificate order (RFC 8555 §7.4): the account, an order for the
//! names, a challenge answered per name, the CSR for a fresh key, the
//! chain. Failures come back in plain words with the CA's own detail.

use std::path::Path;
use std::time::Duration;

use caravel_config::{Acme, AcmeChallenge};
use caravel_net::tls::AcmeChallenges;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use serde::{Deserialize, Serialize};

/// How long the CA may take to validate and to issue.
const VALIDATION: Duration = Duration::from_secs(120);

/// The account as kept on disk, with the directory it belongs to (a new
/// directory needs a new account).
#[derive(Serialize, Deserialize)]
struct Saved {
    directory: String,
    credentials: AccountCredentials,
}

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

fn builder(config: &Acme) -> Result<instant_acme::AccountBuilder, String> {
    match &config.ca_file {
        Some(ca) => Account::builder_with_root(ca).map_err(|err| format!("[acme] ca_file {}: {err}", ca.display())),
        None => Account::builder().map_err(e),
    }
}

/// The account: restored from `data_dir/acme/account.json`, or created
/// (and saved, 0600) on the first order.
async fn account(config: &Acme, data_dir: &Path, fresh: bool) -> Result<Account, String> {
    let file = crate::dir(data_dir).join("account.json");
    if let (false, Ok(bytes)) = (fresh, std::fs::read(&file)) {
        if let Ok(saved) = serde_json::from_slice::<Saved>(&bytes) {
            if saved.directory == config.directory {
                return builder(config)?
                    .from_credentials(saved.credentials)
                    .await
                    .map_err(|err| unreachable_ca(config, err));
            }
        }
    }
    let contact: Vec<String> = config.email.iter().map(|m| format!("mailto:{m}")).collect();
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
    let (account, credentials) = builder(config)?
        .create(&new, config.directory.clone(), None)
        .await
        .map_err(|err| unreachable_ca(config, err))?;
    let saved = serde_json::to_vec(&Saved { directory: config.directory.clone(), credentials }).map_err(e)?;
    write_private(&file, &saved)?;
    tracing::info!(directory = %config.directory, "ACME: account created");
    Ok(account)
}

async fn account_again(config: &Acme, data_dir: &Path) -> Result<Account, String> {
    account(config, data_dir, true).await
}

fn unreachable_ca(config: &Acme, err: instant_acme::Error) -> String {
    format!("the ACME server {} did not answer as expected: {err}", config.directory)
}

/// A certificate (chain, PEM) and its new key (PEM) for `names`.
pub async fn obtain(
    config: &Acme,
    data_dir: &Path,
    challenges: &AcmeChallenges,
    names: &[String],
) -> Result<(String, String), String> {
    if names.is_empty() {
        return Err("no names to certify".into());
    }
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let account = account(config, data_dir, false).await?;
    let mut order = match account.new_order(&NewOrder::new(&identifiers)).await {
        Ok(order) => order,
        // The CA no longer knows the saved account (deactivated, or a test
        // CA restarted): a new one, once.
        Err(instant_acme::Error::Api(p))
            if p.r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":accountDoesNotExist") || t.ends_with(":unauthorized")) =>
        {
            tracing::warn!(problem = %p, "ACME: the saved account is refused; creating a new one");
            let account = account_again(config, data_dir).await?;
            account.new_order(&NewOrder::new(&identifiers)).await.map_err(|err| refused("the order", err))?
        }
        Err(err) => return Err(refused("the order", err)),
    };
    let kind = match config.challenge {
        AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        AcmeChallenge::Http01 => ChallengeType::Http01,
    };
    let mut authorizations = order.authorizations();
    while let Some(auth) = authorizations.next().await {
        let mut auth = auth.map_err(|err| refused("an authorization", err))?;
        if auth.status != AuthorizationStatus::Pending {
            continue;
        }
        let name = auth.identifier().to_string();
        let mut challenge = auth
            .challenge(kind.clone())
            .ok_or_else(|| format!("the CA offers no {} challenge for {name}", config.challenge.as_str()))?;
        let key_authorization = challenge.key_authorization();
        match config.challenge {
            AcmeChallenge::Http01 => challenges.set_http(&challenge.token, key_authorization.as_str()),
            AcmeChallenge::TlsAlpn01 => {
                let (cert, key) = alpn_certificate(&name, key_authorization.digest().as_ref())?;
                challenges.set_alpn(&name, &cert, &key)?;
            }
        }
        challenge.set_ready().await.map_err(|err| refused("a challenge", err))?;
    }
    let retries = RetryPolicy::new().initial_delay(Duration::from_millis(250)).backoff(1.5).timeout(VALIDATION);
    match order.poll_ready(&retries).await {
        Ok(OrderStatus::Ready) => {}
        // Invalid, or the order's own problem document: each name's reason.
        Ok(_) | Err(instant_acme::Error::Api(_)) => return Err(validation_failed(config, &mut order).await),
        Err(err) => return Err(refused("validation", err)),
    }
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(e)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let key = rcgen::KeyPair::generate().map_err(e)?;
    let csr = params.serialize_request(&key).map_err(e)?;
    order.finalize_csr(csr.der()).await.map_err(|err| refused("the certificate request", err))?;
    let chain = order.poll_certificate(&retries).await.map_err(|err| refused("issuing", err))?;
    Ok((chain, key.serialize_pem()))
}

fn refused(step: &str, err: instant_acme::Error) -> String {
    format!("the CA refused {step}: {err}")
}

/// Why the CA would not validate: each name's failed challenge in the
/// CA's words, and what to check.
async fn validation_failed(config: &Acme, order: &mut instant_acme::Order) -> String {
    let mut why = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut auth)) = authorizations.next().await {
        let name = auth.identifier().to_string();
        let state = match auth.refresh().await {
            Ok(s) => s,
            Err(err) => {
                why.push(format!("{name}: {err}"));
                continue;
            }
        };
        for c in &state.challenges {
            if let Some(p) = &c.error {
                why.push(format!("{name}: {}", p.detail.clone().unwrap_or_else(|| p.to_string())));
            }
        }
    }
    let hint = match config.challenge {
        AcmeChallenge::Http01 => "port 80 of each name must reach this server's http listener",
        AcmeChallenge::TlsAlpn01 => "port 443 of each name must reach this server's https listener",
    };
    if why.is_empty() {
        why.push("the CA gave no reason".into());
    }
    format!("the CA could not validate the names ({}); {hint}", why.join("; "))
}

/// The self-signed certificate of a TLS-ALPN-01 answer: the name, and the
/// SHA-256 of the key authorization in a critical acmeIdentifier
/// extension (RFC 8737 §3).
fn alpn_certificate(name: &str, digest: &[u8]) -> Result<(String, String), String> {
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(e)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(e)?;
    let cert = params.self_signed(&key).map_err(e)?;
    Ok((cert.pem(), key.serialize_pem()))
}

pub use caravel_net::tls::write_private;
