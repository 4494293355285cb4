//! The facts a signature or an auto-reply fills in: `{name}`, `{title}`,
//! `{company}`, `{phone}`, `{mobile}`, `{website}`, `{address}`. A user's
//! own values come first, their domain's (company, website, address) next.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub name: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub website: Option<String>,
    pub address: Option<String>,
    /// The time zone (IANA name or "+08:00") of working hours and dates.
    pub zone: Option<String>,
}

/// The variable names templates may use.
pub const VARIABLES: [&str; 7] = ["name", "title", "company", "phone", "mobile", "website", "address"];

impl Profile {
    /// This profile's values, the other's where this has none.
    pub fn or(&self, fallback: &Profile) -> Profile {
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().filter(|v| !v.is_empty()).or_else(|| b.clone());
        Profile {
            name: pick(&self.name, &fallback.name),
            title: pick(&self.title, &fallback.title),
            company: pick(&self.company, &fallback.company),
            phone: pick(&self.phone, &fallback.phone),
            mobile: pick(&self.mobile, &fallback.mobile),
            website: pick(&self.website, &fallback.website),
            address: pick(&self.address, &fallback.address),
            zone: pick(&self.zone, &fallback.zone),
        }
    }

    /// Sets the fields `changes` has; an empty value clears one.
    pub fn update(&mut self, changes: &Profile) {
        let set = |field: &mut Option<String>, change: &Option<String>| {
            if let Some(v) = change {
                *field = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            }
        };
        set(&mut self.name, &changes.name);
        set(&mut self.title, &changes.title);
        set(&mut self.company, &changes.company);
        set(&mut self.phone, &changes.phone);
        set(&mut self.mobile, &changes.mobile);
        set(&mut self.website, &changes.website);
        set(&mut self.address, &changes.address);
        set(&mut self.zone, &changes.zone);
    }

    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    pub fn get(&self, variable: &str) -> Option<&str> {
        let v = match variable {
            "name" => &self.name,
            "title" => &self.title,
            "company" => &self.company,
            "phone" => &self.phone,
            "mobile" => &self.mobile,
            "website" => &self.website,
            "address" => &self.address,
            _ => return None,
        };
        v.as_deref().filter(|v| !v.is_empty())
    }
}

/// `template` with `{variable}` replaced by `lookup`'s value (escaped for
/// HTML when `html`). A line whose variables are all empty is left out
/// (no "Mobile: " line for a user without a mobile number); a name that is
/// not a variable stays as written.
pub fn render(template: &str, lookup: &dyn Fn(&str) -> Option<String>, html: bool) -> String {
    let mut out = Vec::new();
    for line in template.split('\n') {
        let (mut text, mut used, mut filled) = (String::new(), 0, 0);
        let mut rest = line;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) if is_name(&after[..close]) => {
                    let name = &after[..close];
                    match lookup(name) {
                        Some(value) => {
                            used += 1;
                            if !value.is_empty() {
                                filled += 1;
                            }
                            text.push_str(&if html { crate::insert::escape_html(&value) } else { value });
                        }
                        None => text.push_str(&rest[open..open + close + 2]),
                    }
                    rest = &after[close + 1..];
                }
                _ => {
                    text.push('{');
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        if used == 0 || filled > 0 {
            out.push(text);
        }
    }
    out.join("\n")
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// A lookup over a profile: known variables give their value or "".
pub fn profile_lookup(p: &Profile) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| VARIABLES.contains(&name).then(|| p.get(name).unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_and_empty_lines_dropped() {
        let p = Profile { name: Some("Li Na".into()), phone: Some("+86 755 1234".into()), ..Default::default() };
        let t = "{name}\nMobile: {mobile}\nTel {phone}\n{unknown} {not closed\n";
        assert_eq!(render(t, &profile_lookup(&p), false), "Li Na\nTel +86 755 1234\n{unknown} {not closed\n");
        let p = Profile { name: Some("A & <B>".into()), ..Default::default() };
        assert_eq!(render("<b>{name}</b>", &profile_lookup(&p), true), "<b>A &amp; &lt;B&gt;</b>");
    }

    #[test]
    fn own_values_come_before_the_domains() {
        let own = Profile { name: Some("Li".into()), company: Some(String::new()), ..Default::default() };
        let domain =
            Profile { company: Some("Export Co.".into()), website: Some("export.test".into()), ..Default::default() };
        let p = own.or(&domain);
        assert_eq!(p.get("company"), Some("Export Co."));
        assert_eq!(p.get("name"), Some("Li"));
        assert_eq!(p.get("mobile"), None);
    }
}
