//! Signatures at submission: the user's template for this message's
//! scenario, filled from their profile, then the domain's footer. The
//! message is changed once, before DKIM signing and before the local and
//! remote copies part ways, so every recipient gets the same bytes.

use caravel_store::fields::{field_value, header_end};
use caravel_store::settings::{account_scope, domain_scope};
use caravel_store::{AccountId, Store};

use crate::book::{load, FOOTER, SIGNATURE};
use crate::insert::{insert, Rendered, Skipped};
use crate::profile::{profile_lookup, render};
use crate::signature::{choose, is_reply, Scenario, Template};

/// Who submits, and to whom.
pub struct Sender<'a> {
    pub account: AccountId,
    /// The account's address (its domain's profile and footer apply).
    pub address: &'a str,
    pub recipients: &'a [String],
}

/// The message with the user's signature and the domain's footer in its
/// text, as far as they apply and are not there already. A user with
/// neither costs two reads; the rest is read only when something applies.
pub async fn add_signatures(store: &dyn Store, sender: &Sender<'_>, message: Vec<u8>) -> Vec<u8> {
    let domain = sender.address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    let (own, domain_scope) = (account_scope(sender.account), domain_scope(&domain));
    let read = async {
        let templates: Vec<(String, Template)> = load(store, &own, SIGNATURE).await?;
        let footers: Vec<(String, Template)> = load(store, &domain_scope, FOOTER).await?;
        if templates.is_empty() && footers.is_empty() {
            return Ok(None);
        }
        let profile = crate::manage::sender_profile(store, sender.account, &domain).await?;
        let hosted: Vec<String> =
            store.list_domains().await?.into_iter().map(|d| d.name.to_ascii_lowercase()).collect();
        Ok::<_, caravel_store::StoreError>(Some((templates, footers, profile, hosted)))
    };
    let (templates, footers, profile, hosted) = match read.await {
        Ok(Some(r)) => r,
        Ok(None) => return message,
        Err(e) => {
            // A message goes out without a signature rather than not at all.
            tracing::warn!(error = %e, "cannot read signature settings");
            return message;
        }
    };
    let scenario = scenario(&message, sender, &hosted);
    let mut message = message;
    for (template, separator) in [(choose(&templates, &scenario), true), (choose(&footers, &scenario), false)] {
        let Some((_, t)) = template else { continue };
        let lookup = profile_lookup(&profile);
        let rendered = Rendered {
            text: render(&t.text, &lookup, false),
            html: t.html.as_ref().map(|h| render(h, &lookup, true)),
            separator,
        };
        match insert(&message, &rendered) {
            Ok(m) => message = m,
            Err(Skipped::Protected) => break,
            Err(why) => tracing::debug!(?why, "signature not inserted"),
        }
    }
    message
}

/// Reply or new, inside or outside, and to which domains.
fn scenario(message: &[u8], sender: &Sender<'_>, hosted: &[String]) -> Scenario {
    let head = &message[..header_end(message)];
    let answers = field_value(head, "in-reply-to").is_some() || field_value(head, "references").is_some();
    let subject = caravel_store::mime::with_parsed(head, |m| m.subject().map(str::to_string))
        .flatten()
        .or_else(|| field_value(head, "subject"))
        .unwrap_or_default();
    let recipient_domains: Vec<String> =
        sender.recipients.iter().filter_map(|r| r.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())).collect();
    let external = recipient_domains.iter().any(|d| !hosted.contains(d));
    Scenario { reply: is_reply(answers, &subject), external, recipient_domains }
}
