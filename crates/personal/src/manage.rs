//! Reading and changing a user's signatures, auto-replies and mail rules,
//! with the checks both the CLI (`caravel signature|autoreply|rule`) and the
//! JSON API apply: one place decides what a valid template or rule is, and
//! says what is wrong with one in plain words.

use caravel_store::{Address, Store};
use serde::{Deserialize, Serialize};

use crate::autoreply::{self, AutoReply, Holiday, Hours, Scenario};
use crate::book::{load, load_one, save, AUTOREPLY, HOLIDAY, PROFILE, RULE};
use crate::delivery::SERVER;
use crate::profile::{profile_lookup, render, Profile};
use crate::rules::{in_order, Action, Condition, Rule};
use crate::signature::{Template, When};

pub type Result<T> = std::result::Result<T, String>;

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// Recipient or sender domains as typed ("Buyer.CN, .de") → as matched.
fn domains(list: &[String]) -> Vec<String> {
    list.iter().map(|d| d.trim().to_ascii_lowercase()).filter(|d| !d.is_empty()).collect()
}

// ---- signatures ----

/// A signature template as a form gives it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SignatureForm {
    pub text: String,
    pub html: Option<String>,
    /// new, reply, external, internal or always (the default).
    pub when: Option<String>,
    pub domains: Vec<String>,
}

impl SignatureForm {
    pub fn build(self) -> Result<Template> {
        let when = match self.when.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
            None => When::Always,
            Some(w) => {
                When::parse(w).ok_or_else(|| format!("when {w:?}: use new, reply, external, internal or always"))?
            }
        };
        let text = self.text.trim_end().to_string();
        if text.trim().is_empty() {
            return Err("a signature needs a text".into());
        }
        let html = self.html.filter(|h| !h.trim().is_empty());
        Ok(Template { text, html, when, domains: domains(&self.domains) })
    }
}

/// One template as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureView {
    pub name: String,
    pub when: When,
    pub domains: Vec<String>,
    pub text: String,
    pub html: Option<String>,
}

pub async fn signatures(store: &dyn Store, scope: &str, kind: &str) -> Result<Vec<SignatureView>> {
    let all: Vec<(String, Template)> = load(store, scope, kind).await.map_err(e)?;
    Ok(all
        .into_iter()
        .map(|(name, t)| SignatureView { name, when: t.when, domains: t.domains, text: t.text, html: t.html })
        .collect())
}

/// The names a template may have: what a person types, not a path.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.len() <= 64 && !name.chars().any(|c| c.is_control() || c == '/');
    if ok {
        return Ok(());
    }
    Err(format!("{name:?} is not a usable name (1 to 64 characters, no '/')"))
}

/// Templates of one kind an account may keep: enough for every scenario
/// and language, not a store to fill.
pub const MAX_TEMPLATES: usize = 50;
/// Mail rules an account may keep.
pub const MAX_RULES: usize = 200;

/// Refuses a new `name` when `scope` holds `max` of `kind` already
/// (replacing one is always allowed).
async fn room_for(store: &dyn Store, scope: &str, kind: &str, name: &str, max: usize) -> Result<()> {
    let existing = store.settings(scope, kind).await.map_err(e)?;
    if existing.len() >= max && !existing.iter().any(|(n, _)| n == name) {
        return Err(format!("there are {max} already, the most kept: delete one first"));
    }
    Ok(())
}

pub async fn set_signature(store: &dyn Store, scope: &str, kind: &str, name: &str, form: SignatureForm) -> Result<()> {
    if !name.is_empty() {
        check_name(name)?;
    }
    let template = form.build()?;
    room_for(store, scope, kind, name, MAX_TEMPLATES).await?;
    save(store, scope, kind, name, &template).await.map_err(e)
}

/// The profile a user's signatures are filled from: their own details,
/// then their domain's (company, website, address), then their name.
pub async fn sender_profile(
    store: &dyn Store,
    account: caravel_store::AccountId,
    domain: &str,
) -> caravel_store::Result<Profile> {
    let own = caravel_store::settings::account_scope(account);
    let domain_scope = caravel_store::settings::domain_scope(domain);
    let profile: Profile = load_one(store, &own, PROFILE).await?.unwrap_or_default();
    let company: Profile = load_one(store, &domain_scope, PROFILE).await?.unwrap_or_default();
    let name = store.user_by_id(account).await?.and_then(|u| u.name);
    Ok(profile.or(&company).or(&Profile { name, ..Default::default() }))
}

/// A template filled in as the user's mail would carry it.
pub async fn preview_signature(
    store: &dyn Store,
    account: caravel_store::AccountId,
    address: &str,
    text: &str,
    html: Option<&str>,
) -> Result<(String, Option<String>)> {
    let domain = address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    let profile = sender_profile(store, account, &domain).await.map_err(e)?;
    let lookup = profile_lookup(&profile);
    Ok((render(text, &lookup, false), html.map(|h| render(h, &lookup, true))))
}

// ---- profiles: what {title}, {company} ... are filled with ----

pub async fn profile(store: &dyn Store, scope: &str) -> Result<Profile> {
    Ok(load_one(store, scope, PROFILE).await.map_err(e)?.unwrap_or_default())
}

/// Sets the fields `changes` has ("" clears one); the profile after.
pub async fn update_profile(store: &dyn Store, scope: &str, changes: &Profile) -> Result<Profile> {
    if let Some(zone) = changes.zone.as_deref().map(str::trim).filter(|z| !z.is_empty()) {
        if !autoreply::valid_zone(zone) {
            return Err(format!("unknown time zone {zone:?}: use a name like Asia/Shanghai or an offset like +08:00"));
        }
    }
    let fields = [&changes.name, &changes.title, &changes.company, &changes.phone, &changes.mobile, &changes.website];
    if fields.into_iter().chain([&changes.address, &changes.zone]).flatten().any(|v| v.len() > 1024) {
        return Err("a profile field is longer than 1024 characters".into());
    }
    let mut current = profile(store, scope).await?;
    current.update(changes);
    save(store, scope, PROFILE, "", &current).await.map_err(e)?;
    Ok(current)
}

// ---- auto-replies ----

/// An auto-reply as a form (or the CLI's options) gives it: the working
/// hours and days as text.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AutoReplyForm {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// out-of-office, holidays, after-hours or acknowledge.
    pub scenario: String,
    pub from: Option<String>,
    pub until: Option<String>,
    /// "09:00-18:00"
    pub hours: String,
    /// "mon-fri"
    pub workdays: String,
    pub calendar: Option<String>,
    pub sender_domains: Vec<String>,
    pub language: Option<String>,
    pub days: u32,
}

impl Default for AutoReplyForm {
    fn default() -> AutoReplyForm {
        AutoReplyForm::from(&AutoReply::default())
    }
}

fn filled(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl AutoReplyForm {
    pub fn build(self) -> Result<AutoReply> {
        let scenario = Scenario::parse(self.scenario.trim()).ok_or_else(|| {
            format!("scenario {:?}: use out-of-office, holidays, after-hours or acknowledge", self.scenario)
        })?;
        let (from, until) = (filled(self.from), filled(self.until));
        for d in [&from, &until].into_iter().flatten() {
            if !autoreply::valid_moment(d) {
                return Err(format!("{d:?} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM"));
            }
        }
        let (start, end) = self.hours.split_once('-').ok_or("hours: use HH:MM-HH:MM, e.g. 09:00-18:00")?;
        let days = autoreply::parse_days(&self.workdays).ok_or("workdays: use e.g. mon-fri or mon,tue,thu")?;
        let hours = Hours { days, start: start.trim().into(), end: end.trim().into() };
        if !autoreply::valid_hours(&hours) {
            return Err(format!("hours {}: use HH:MM-HH:MM with the start before the end", self.hours));
        }
        if self.text.trim().is_empty() {
            return Err("an auto-reply needs a text".into());
        }
        Ok(AutoReply {
            subject: self.subject,
            text: self.text,
            html: filled(self.html),
            scenario,
            from,
            until,
            hours,
            calendar: filled(self.calendar),
            senders: domains(&self.sender_domains),
            language: filled(self.language).map(|l| l.to_ascii_lowercase()),
            days: self.days.max(1),
        })
    }
}

impl From<&AutoReply> for AutoReplyForm {
    fn from(t: &AutoReply) -> AutoReplyForm {
        AutoReplyForm {
            subject: t.subject.clone(),
            text: t.text.clone(),
            html: t.html.clone(),
            scenario: t.scenario.to_string(),
            from: t.from.clone(),
            until: t.until.clone(),
            hours: format!("{}-{}", t.hours.start, t.hours.end),
            workdays: autoreply::format_days(&t.hours.days),
            calendar: t.calendar.clone(),
            sender_domains: t.senders.clone(),
            language: t.language.clone(),
            days: t.days,
        }
    }
}

/// One template as the API lists it, and whether it answers now.
#[derive(Debug, Clone, Serialize)]
pub struct AutoReplyView {
    pub name: String,
    #[serde(flatten)]
    pub form: AutoReplyForm,
    pub active: bool,
}

pub async fn autoreplies(store: &dyn Store, scope: &str, zone: Option<&str>, now: i64) -> Result<Vec<AutoReplyView>> {
    let all: Vec<(String, AutoReply)> = load(store, scope, AUTOREPLY).await.map_err(e)?;
    let holidays: Vec<Holiday> = load(store, SERVER, HOLIDAY).await.map_err(e)?.into_iter().map(|(_, h)| h).collect();
    let tz = autoreply::zone(zone);
    let at = jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Ok(all
        .into_iter()
        .map(|(name, t)| AutoReplyView { active: t.active(at, &tz, &holidays), form: AutoReplyForm::from(&t), name })
        .collect())
}

pub async fn set_autoreply(store: &dyn Store, scope: &str, name: &str, form: AutoReplyForm) -> Result<AutoReply> {
    check_name(name)?;
    let template = form.build()?;
    room_for(store, scope, AUTOREPLY, name, MAX_TEMPLATES).await?;
    save(store, scope, AUTOREPLY, name, &template).await.map_err(e)?;
    Ok(template)
}

/// Deletes one template, or all; how many there were.
pub async fn autoreplies_off(store: &dyn Store, scope: &str, name: Option<&str>) -> Result<usize> {
    let names: Vec<String> = match name {
        Some(n) => vec![n.to_string()],
        None => store.settings(scope, AUTOREPLY).await.map_err(e)?.into_iter().map(|(n, _)| n).collect(),
    };
    let mut removed = 0;
    for n in &names {
        removed += usize::from(store.del_setting(scope, AUTOREPLY, n).await.map_err(e)?);
    }
    Ok(removed)
}

// ---- the company's holidays ----

#[derive(Debug, Clone, Serialize)]
pub struct HolidayView {
    pub name: String,
    #[serde(flatten)]
    pub holiday: Holiday,
}

pub async fn holidays(store: &dyn Store) -> Result<Vec<HolidayView>> {
    let all: Vec<(String, Holiday)> = load(store, SERVER, HOLIDAY).await.map_err(e)?;
    Ok(all.into_iter().map(|(name, holiday)| HolidayView { name, holiday }).collect())
}

/// Adds or replaces a holiday (its first and last day) in `calendar`.
pub async fn set_holiday(store: &dyn Store, name: &str, from: &str, until: &str, calendar: &str) -> Result<Holiday> {
    check_name(name.trim())?;
    for d in [from, until] {
        if !autoreply::valid_moment(d.trim()) {
            return Err(format!("{d:?} is not a date: use YYYY-MM-DD"));
        }
    }
    let calendar = calendar.trim().to_ascii_lowercase();
    let h = Holiday {
        from: from.trim().into(),
        until: until.trim().into(),
        calendar: if calendar.is_empty() { "company".into() } else { calendar },
    };
    save(store, SERVER, HOLIDAY, name.trim(), &h).await.map_err(e)?;
    Ok(h)
}

pub async fn del_holiday(store: &dyn Store, name: &str) -> Result<bool> {
    store.del_setting(SERVER, HOLIDAY, name).await.map_err(e)
}

// ---- mail rules ----

/// A rule as a form (or the CLI's options) gives it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// "Name: value"
    pub header: Vec<String>,
    /// "5M"
    pub larger: Option<String>,
    pub smaller: Option<String>,
    pub attachment: bool,
    pub any: bool,
    pub move_to: Option<String>,
    pub forward: Vec<String>,
    pub no_keep: bool,
    pub mark_read: bool,
    pub flag: bool,
    pub reject: Option<String>,
    pub stop: bool,
}

impl RuleForm {
    pub fn build(self) -> Result<Rule> {
        let mut conditions = Vec::new();
        conditions.extend(filled(self.from).map(Condition::From));
        conditions.extend(filled(self.to).map(Condition::To));
        conditions.extend(filled(self.subject).map(Condition::Subject));
        conditions.extend(filled(self.body).map(Condition::Body));
        for h in self.header.iter().filter(|h| !h.trim().is_empty()) {
            let (name, value) = h.split_once(':').ok_or_else(|| format!("header {h:?}: use \"Name: value\""))?;
            conditions.push(Condition::Header(name.trim().to_string(), value.trim().to_string()));
        }
        let size = |s: String| caravel_config::units::parse_size(&s).map_err(|err| format!("size {s:?}: {err}"));
        if let Some(s) = filled(self.larger) {
            conditions.push(Condition::Larger(size(s)?));
        }
        if let Some(s) = filled(self.smaller) {
            conditions.push(Condition::Smaller(size(s)?));
        }
        if self.attachment {
            conditions.push(Condition::Attachment);
        }
        let forward: Vec<String> =
            self.forward.iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
        let mut actions = Vec::new();
        if let Some(folder) = self.move_to {
            let folder = folder.trim().trim_matches('/').to_string();
            if !folder.is_empty() {
                actions.push(Action::Move(folder));
            }
        }
        for to in &forward {
            Address::parse(to).map_err(|err| format!("forward to {to:?}: {err}"))?;
            actions.push(Action::Forward { to: to.clone(), keep: !self.no_keep });
        }
        if self.mark_read {
            actions.push(Action::MarkRead);
        }
        if self.flag {
            actions.push(Action::Flag);
        }
        if let Some(text) = filled(self.reject) {
            actions.push(Action::Reject(text));
        }
        if self.stop {
            actions.push(Action::Stop);
        }
        if actions.is_empty() {
            return Err("a rule needs an action: move, forward, mark read, flag, reject or stop".into());
        }
        if self.no_keep && forward.is_empty() {
            return Err("\"keep no copy\" goes with forwarding".into());
        }
        Ok(Rule { conditions, any: self.any, actions })
    }
}

/// One rule as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub id: u64,
    /// "if from contains x then move to Y", as `caravel rule list` says it.
    pub description: String,
    #[serde(flatten)]
    pub rule: Rule,
}

impl RuleView {
    fn new(id: &str, rule: Rule) -> RuleView {
        let join = if rule.any { " or " } else { " and " };
        let when: Vec<String> = rule.conditions.iter().map(|c| c.to_string()).collect();
        let what: Vec<String> = rule.actions.iter().map(|a| a.to_string()).collect();
        let when = if when.is_empty() { "always".to_string() } else { when.join(join) };
        RuleView { id: id.parse().unwrap_or(0), description: format!("if {when} then {}", what.join(", ")), rule }
    }
}

pub async fn rules(store: &dyn Store, scope: &str) -> Result<Vec<RuleView>> {
    let all = in_order(load::<Rule>(store, scope, RULE).await.map_err(e)?);
    Ok(all.into_iter().map(|(id, r)| RuleView::new(&id, r)).collect())
}

/// Adds a rule after the others; its number.
pub async fn add_rule(store: &dyn Store, scope: &str, form: RuleForm) -> Result<u64> {
    let rule = form.build()?;
    let existing = load::<Rule>(store, scope, RULE).await.map_err(e)?;
    if existing.len() >= MAX_RULES {
        return Err(format!("there are {MAX_RULES} rules already, the most kept: delete one first"));
    }
    let id = existing.iter().filter_map(|(n, _)| n.parse::<u64>().ok()).max().unwrap_or(0) + 1;
    save(store, scope, RULE, &id.to_string(), &rule).await.map_err(e)?;
    Ok(id)
}

pub async fn del_rule(store: &dyn Store, scope: &str, id: u64) -> Result<bool> {
    store.del_setting(scope, RULE, &id.to_string()).await.map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auto_reply_form_reads_back_as_it_was_given() {
        let form = AutoReplyForm {
            subject: "Away: {subject}".into(),
            text: "Back on Monday.".into(),
            scenario: "after-hours".into(),
            hours: "08:30-17:30".into(),
            workdays: "mon-sat".into(),
            from: Some(" ".into()),
            sender_domains: vec![" Buyer.DE ".into(), "".into()],
            ..AutoReplyForm::default()
        };
        let t = form.build().expect("valid");
        assert_eq!((t.hours.days.len(), t.hours.start.as_str()), (6, "08:30"));
        assert_eq!((t.from, t.senders.clone()), (None, vec!["buyer.de".to_string()]));
        let back = AutoReplyForm::from(&AutoReply { from: None, ..t });
        assert_eq!(
            (back.hours.as_str(), back.workdays.as_str(), back.scenario.as_str()),
            ("08:30-17:30", "mon-sat", "after-hours")
        );
    }

    #[test]
    fn bad_auto_replies_are_refused_in_plain_words() {
        let bad = |f: AutoReplyForm| f.build().expect_err("refused");
        let ok = AutoReplyForm { text: "x".into(), ..AutoReplyForm::default() };
        assert!(bad(AutoReplyForm { scenario: "sometimes".into(), ..ok.clone() }).contains("scenario"));
        assert!(bad(AutoReplyForm { hours: "18:00-09:00".into(), ..ok.clone() }).contains("start before the end"));
        assert!(bad(AutoReplyForm { from: Some("next week".into()), ..ok.clone() }).contains("not a date"));
        assert!(bad(AutoReplyForm { text: " ".into(), ..ok.clone() }).contains("needs a text"));
        assert!(bad(AutoReplyForm { workdays: "someday".into(), ..ok }).contains("workdays"));
    }

    #[test]
    fn rules_need_an_action_and_valid_sizes_and_addresses() {
        let r =
            RuleForm { from: Some("buyer.de".into()), move_to: Some("/Customers/DE/".into()), ..RuleForm::default() };
        let rule = r.build().expect("valid");
        assert_eq!(rule.actions, vec![Action::Move("Customers/DE".into())]);
        let bad = |f: RuleForm| f.build().expect_err("refused");
        assert!(bad(RuleForm { from: Some("x".into()), ..RuleForm::default() }).contains("needs an action"));
        assert!(bad(RuleForm { larger: Some("huge".into()), flag: true, ..RuleForm::default() }).contains("size"));
        assert!(bad(RuleForm { forward: vec!["not an address".into()], ..RuleForm::default() }).contains("forward"));
        assert!(bad(RuleForm { no_keep: true, flag: true, ..RuleForm::default() }).contains("forwarding"));
    }

    #[test]
    fn signatures_need_text_and_a_known_when() {
        let f = SignatureForm {
            text: "Li Na\n".into(),
            when: Some("reply".into()),
            domains: vec![".CN".into()],
            ..Default::default()
        };
        let t = f.build().expect("valid");
        assert_eq!((t.when, t.domains, t.text.as_str()), (When::Reply, vec![".cn".to_string()], "Li Na"));
        assert!(SignatureForm { text: "x".into(), when: Some("later".into()), ..Default::default() }.build().is_err());
        assert!(SignatureForm::default().build().is_err());
        assert!(check_name("a/b").is_err() && check_name("").is_err() && check_name("Reply (CN)").is_ok());
    }
}
