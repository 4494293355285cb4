//! Auto-replies with the semantics of Sieve's vacation (RFC 5230) and the
//! discipline of RFC 3834, without Sieve: named templates per user, each
//! for a scenario (out of office between two dates, the company's
//! holidays, outside working hours in the user's time zone, or an
//! acknowledgement of every new inquiry to a shared address), chosen by
//! the sender's domain or the message's language.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::signature::domain_matches;

/// When a template answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Between `from` and `until` (either may be open).
    #[default]
    OutOfOffice,
    /// On the days of the holiday calendar.
    Holidays,
    /// Outside the working hours (and on holidays).
    AfterHours,
    /// Every new message (not a reply): a shared address's acknowledgement.
    Acknowledge,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scenario::OutOfOffice => "out-of-office",
            Scenario::Holidays => "holidays",
            Scenario::AfterHours => "after-hours",
            Scenario::Acknowledge => "acknowledge",
        })
    }
}

impl Scenario {
    pub fn parse(s: &str) -> Option<Scenario> {
        Some(match s {
            "out-of-office" | "vacation" => Scenario::OutOfOffice,
            "holidays" | "holiday" => Scenario::Holidays,
            "after-hours" => Scenario::AfterHours,
            "acknowledge" | "ack" => Scenario::Acknowledge,
            _ => return None,
        })
    }
}

/// Working hours: these weekdays, from `start` to `end` (local time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<i8>,
    /// "09:00"
    pub start: String,
    /// "18:00"
    pub end: String,
}

impl Default for Hours {
    fn default() -> Hours {
        Hours { days: vec![1, 2, 3, 4, 5], start: "09:00".into(), end: "18:00".into() }
    }
}

/// A named auto-reply template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoReply {
    /// The reply's subject; `{subject}` is the original's. Without it, the
    /// original subject follows after a colon.
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub scenario: Scenario,
    /// First and last day (or "YYYY-MM-DDTHH:MM"), in the user's zone.
    pub from: Option<String>,
    pub until: Option<String>,
    pub hours: Hours,
    /// The holiday calendar; None: every holiday of the server.
    pub calendar: Option<String>,
    /// Chosen for senders in these domains (`.de`, `buyer.com`).
    pub senders: Vec<String>,
    /// Chosen for messages in this language (`zh`, `en`, `ja` …).
    pub language: Option<String>,
    /// One reply per sender per this many days (RFC 5230 §4.2: default 7).
    pub days: u32,
}

impl Default for AutoReply {
    fn default() -> AutoReply {
        AutoReply {
            subject: String::new(),
            text: String::new(),
            html: None,
            scenario: Scenario::default(),
            from: None,
            until: None,
            hours: Hours::default(),
            calendar: None,
            senders: Vec::new(),
            language: None,
            days: 7,
        }
    }
}

/// One holiday of a calendar: its first and last day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub from: String,
    pub until: String,
    #[serde(default = "company")]
    pub calendar: String,
}

fn company() -> String {
    "company".into()
}

/// A day or a moment ("2027-02-06" or "2027-02-06T18:00"); a day's end is
/// the end of that day when `end`.
fn parse_moment(s: &str, end: bool) -> Option<DateTime> {
    if s.contains(['T', 't', ' ']) {
        return s.replace(' ', "T").parse::<DateTime>().ok();
    }
    let d: Date = s.parse().ok()?;
    Some(if end { d.to_datetime(Time::MAX) } else { d.to_datetime(Time::midnight()) })
}

/// Checks a date or moment as the CLI takes it.
pub fn valid_moment(s: &str) -> bool {
    parse_moment(s, false).is_some()
}

/// The zone named (IANA name, or a fixed offset like "+08:00"); UTC when
/// unknown.
pub fn zone(name: Option<&str>) -> TimeZone {
    let Some(name) = name.filter(|n| !n.is_empty()) else { return TimeZone::UTC };
    if let Ok(tz) = TimeZone::get(name) {
        return tz;
    }
    fixed_offset(name).map(TimeZone::fixed).unwrap_or(TimeZone::UTC)
}

/// "+08:00", "-0500", "+8": a fixed offset from UTC.
fn fixed_offset(s: &str) -> Option<jiff::tz::Offset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        n => (digits[..n - 2].parse::<i32>().ok()?, digits[n - 2..].parse::<i32>().ok()?),
    };
    if h > 14 || m > 59 {
        return None;
    }
    jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

/// A day or moment ("2027-02-06", "2027-02-06T18:00") in UTC, as Unix
/// seconds (a search's "since").
pub fn utc_seconds(s: &str) -> Option<i64> {
    let at = parse_moment(s.trim(), false)?;
    Some(at.to_zoned(TimeZone::UTC).ok()?.timestamp().as_second())
}

/// Whether `name` is a zone we know (IANA or a fixed offset).
pub fn valid_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok() || fixed_offset(name).is_some()
}

/// Working hours whose start and end read, the start first.
pub fn valid_hours(h: &Hours) -> bool {
    matches!((parse_time(&h.start), parse_time(&h.end)), (Some(s), Some(e)) if s < e)
}

fn parse_time(s: &str) -> Option<Time> {
    s.parse::<Time>().ok()
}

impl AutoReply {
    /// Whether it answers at `now`.
    pub fn active(&self, now: Timestamp, tz: &TimeZone, holidays: &[Holiday]) -> bool {
        let local = now.to_zoned(tz.clone()).datetime();
        let after_start = self.from.as_deref().and_then(|f| parse_moment(f, false)).is_none_or(|f| local >= f);
        let before_end = self.until.as_deref().and_then(|u| parse_moment(u, true)).is_none_or(|u| local <= u);
        if !(after_start && before_end) {
            return false;
        }
        let holiday = || {
            holidays.iter().filter(|h| self.calendar.as_ref().is_none_or(|c| c.eq_ignore_ascii_case(&h.calendar))).any(
                |h| match (parse_moment(&h.from, false), parse_moment(&h.until, true)) {
                    (Some(f), Some(u)) => local >= f && local <= u,
                    _ => false,
                },
            )
        };
        match self.scenario {
            Scenario::OutOfOffice | Scenario::Acknowledge => true,
            Scenario::Holidays => holiday(),
            Scenario::AfterHours => !self.working(local) || holiday(),
        }
    }

    fn working(&self, local: DateTime) -> bool {
        let (Some(start), Some(end)) = (parse_time(&self.hours.start), parse_time(&self.hours.end)) else {
            return true;
        };
        let day = local.date().weekday().to_monday_one_offset();
        self.hours.days.contains(&day) && local.time() >= start && local.time() < end
    }

    /// When the office next opens after `now`, as "Monday 2027-02-08
    /// 09:00" in `tz` (for `{opens}` in after-hours text).
    pub fn next_opening(&self, now: Timestamp, tz: &TimeZone, holidays: &[Holiday]) -> Option<jiff::Zoned> {
        let start = parse_time(&self.hours.start)?;
        let today = now.to_zoned(tz.clone()).date();
        for offset in 0..60 {
            let day = today.checked_add(jiff::Span::new().days(offset)).ok()?;
            if !self.hours.days.contains(&day.weekday().to_monday_one_offset()) {
                continue;
            }
            let at = day.to_datetime(start).to_zoned(tz.clone()).ok()?;
            let probe = AutoReply { scenario: Scenario::Holidays, from: None, until: None, ..self.clone() };
            if at.timestamp() > now && !probe.active(at.timestamp(), tz, holidays) {
                return Some(at);
            }
        }
        None
    }
}

/// What is known of the incoming message when choosing a template.
pub struct Incoming<'a> {
    pub sender_domain: &'a str,
    /// The message's language, if known (`zh`, `en` …).
    pub language: Option<&'a str>,
    /// It answers an earlier message (In-Reply-To or References).
    pub is_reply: bool,
}

/// The active template that fits the message best: out of office or a
/// holiday before after hours before an acknowledgement; within those, one
/// for the sender's domain before one for its language before a general
/// one (ties: first by name).
pub fn choose<'a>(
    templates: &'a [(String, AutoReply)],
    m: &Incoming<'_>,
    now: Timestamp,
    tz: &TimeZone,
    holidays: &[Holiday],
) -> Option<&'a (String, AutoReply)> {
    let mut best: Option<(u32, &(String, AutoReply))> = None;
    for t in templates {
        let r = &t.1;
        if r.scenario == Scenario::Acknowledge && m.is_reply {
            continue;
        }
        let by_sender = match r.senders.is_empty() {
            true => 0,
            false if r.senders.iter().any(|p| domain_matches(m.sender_domain, p)) => 4,
            false => continue,
        };
        let by_language = match &r.language {
            None => 0,
            Some(l) if m.language.is_some_and(|ml| ml.eq_ignore_ascii_case(l)) => 2,
            Some(_) => continue,
        };
        if !r.active(now, tz, holidays) {
            continue;
        }
        // The scenario first (an absence says more than an acknowledgement),
        // then the sender's domain, then the language.
        let rank = match r.scenario {
            Scenario::OutOfOffice | Scenario::Holidays => 300,
            Scenario::AfterHours => 200,
            Scenario::Acknowledge => 100,
        };
        let score = rank + by_sender + by_language;
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, t));
        }
    }
    best.map(|(_, t)| t)
}

/// The language of a text by its script, for the scripts whose language
/// it tells (CJK, Cyrillic, Arabic …); `en` for Latin text; None when
/// there are no letters. A Content-Language header comes first.
pub fn detect_language(text: &str) -> Option<&'static str> {
    let (mut han, mut kana, mut hangul, mut cyrillic, mut arabic, mut thai, mut latin) = (0, 0, 0, 0, 0, 0, 0);
    for c in text.chars().take(4000) {
        match c as u32 {
            0x3040..=0x30FF => kana += 1,
            0x4E00..=0x9FFF | 0x3400..=0x4DBF => han += 1,
            0xAC00..=0xD7AF => hangul += 1,
            0x0400..=0x04FF => cyrillic += 1,
            0x0600..=0x06FF => arabic += 1,
            0x0E00..=0x0E7F => thai += 1,
            _ if c.is_ascii_alphabetic() => latin += 1,
            _ => {}
        }
    }
    // Japanese text mixes kana with kanji; Chinese has no kana.
    let scores = [
        (kana * 3, "ja"),
        (han, "zh"),
        (hangul, "ko"),
        (cyrillic, "ru"),
        (arabic, "ar"),
        (thai, "th"),
        (latin / 3, "en"),
    ];
    scores.iter().filter(|(n, _)| *n > 0).max_by_key(|(n, _)| *n).map(|(_, l)| *l)
}

/// Whether the weekday list text ("mon-fri", "1-5", "mon,wed,sat") reads;
/// the ISO numbers.
pub fn parse_days(s: &str) -> Option<Vec<i8>> {
    let day = |w: &str| -> Option<i8> {
        let w = w.trim().to_ascii_lowercase();
        if let Ok(n) = w.parse::<i8>() {
            return (1..=7).contains(&n).then_some(n);
        }
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        names.iter().position(|n| w.starts_with(n)).map(|i| i as i8 + 1)
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    out.push(d);
                    if d == b {
                        break;
                    }
                    d = d % 7 + 1;
                }
            }
            None => out.push(day(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// ISO weekday numbers as `parse_days` reads them: runs as "mon-fri",
/// others by name ("mon,wed,sat").
pub fn format_days(days: &[i8]) -> String {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let name = |d: i8| NAMES.get(usize::try_from(d - 1).unwrap_or(usize::MAX)).copied().unwrap_or("?");
    let mut parts = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => name(days[i]).to_string(),
            1 => format!("{},{}", name(days[i]), name(days[j])),
            _ => format!("{}-{}", name(days[i]), name(days[j])),
        });
        i = j + 1;
    }
    parts.join(",")
}

/// "Monday" … for `{opens}`.
pub fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_as_utc_seconds() {
        assert_eq!(utc_seconds("1970-01-02"), Some(86_400));
        assert_eq!(utc_seconds("2027-02-06T18:00"), Some(1_801_936_800));
        assert_eq!(utc_seconds("someday"), None);
    }

    #[test]
    fn weekday_lists_read_back_as_written() {
        for text in ["mon-fri", "mon-sat", "mon,wed,sat", "mon,tue", "sun", "mon-wed,fri-sun"] {
            let days = parse_days(text).expect(text);
            assert_eq!(format_days(&days), text);
        }
    }

    fn at(s: &str, tz: &TimeZone) -> Timestamp {
        s.parse::<DateTime>().expect("datetime").to_zoned(tz.clone()).expect("zoned").timestamp()
    }

    #[test]
    fn out_of_office_between_two_days_in_the_users_zone() {
        let tz = zone(Some("Asia/Shanghai"));
        let r = AutoReply { from: Some("2027-02-06".into()), until: Some("2027-02-12".into()), ..Default::default() };
        assert!(!r.active(at("2027-02-05T23:59", &tz), &tz, &[]));
        assert!(r.active(at("2027-02-06T00:00", &tz), &tz, &[]));
        assert!(r.active(at("2027-02-12T23:59", &tz), &tz, &[]));
        assert!(!r.active(at("2027-02-13T00:00", &tz), &tz, &[]));
    }

    #[test]
    fn after_hours_follows_the_working_week_and_holidays() {
        let tz = zone(Some("Europe/Berlin"));
        let r = AutoReply { scenario: Scenario::AfterHours, ..Default::default() };
        // 2027-03-01 is a Monday.
        assert!(!r.active(at("2027-03-01T09:00", &tz), &tz, &[]));
        assert!(r.active(at("2027-03-01T08:59", &tz), &tz, &[]));
        assert!(r.active(at("2027-03-01T18:00", &tz), &tz, &[]));
        assert!(r.active(at("2027-03-06T11:00", &tz), &tz, &[]), "Saturday");
        let holidays =
            vec![Holiday { from: "2027-03-01".into(), until: "2027-03-02".into(), calendar: "company".into() }];
        assert!(r.active(at("2027-03-01T11:00", &tz), &tz, &holidays), "a holiday is after hours");
        // Friday evening: opens Monday 09:00.
        let opens = r.next_opening(at("2027-03-05T19:00", &tz), &tz, &[]).expect("opens");
        assert_eq!(opens.datetime().to_string(), "2027-03-08T09:00:00");
        let opens = r.next_opening(at("2027-02-26T19:00", &tz), &tz, &holidays).expect("opens");
        assert_eq!(opens.datetime().to_string(), "2027-03-03T09:00:00", "after the holiday");
        // Summer time: 09:00 in Berlin is 07:00 UTC in July.
        assert!(!r.active(at("2027-07-05T07:30", &TimeZone::UTC), &tz, &[]));
    }

    #[test]
    fn holidays_scenario_uses_its_calendar() {
        let tz = zone(Some("+08:00"));
        let holidays = vec![
            Holiday { from: "2027-02-06".into(), until: "2027-02-12".into(), calendar: "china".into() },
            Holiday { from: "2027-12-25".into(), until: "2027-12-25".into(), calendar: "germany".into() },
        ];
        let r = AutoReply { scenario: Scenario::Holidays, calendar: Some("china".into()), ..Default::default() };
        assert!(r.active(at("2027-02-08T10:00", &tz), &tz, &holidays));
        assert!(!r.active(at("2027-12-25T10:00", &tz), &tz, &holidays));
        assert!(!r.active(at("2027-02-13T10:00", &tz), &tz, &holidays));
    }

    #[test]
    fn the_sender_domain_then_the_language_then_the_general_template() {
        let tz = TimeZone::UTC;
        let now = at("2027-01-01T00:00", &tz);
        let all = vec![
            ("a-general".to_string(), AutoReply::default()),
            ("b-chinese".to_string(), AutoReply { language: Some("zh".into()), ..Default::default() }),
            ("c-german".to_string(), AutoReply { senders: vec![".de".into()], ..Default::default() }),
        ];
        let pick = |domain: &str, lang: Option<&str>| {
            let m = Incoming { sender_domain: domain, language: lang, is_reply: false };
            choose(&all, &m, now, &tz, &[]).map(|t| t.0.clone())
        };
        assert_eq!(pick("buyer.com", Some("en")).as_deref(), Some("a-general"));
        assert_eq!(pick("buyer.cn", Some("zh")).as_deref(), Some("b-chinese"));
        assert_eq!(pick("kunde.de", Some("zh")).as_deref(), Some("c-german"));
        // An absence notice beats an acknowledgement, whatever its name.
        let all = vec![
            ("a-ack".to_string(), AutoReply { scenario: Scenario::Acknowledge, ..Default::default() }),
            ("z-away".to_string(), AutoReply::default()),
        ];
        let m = Incoming { sender_domain: "buyer.com", language: None, is_reply: false };
        assert_eq!(choose(&all, &m, now, &tz, &[]).map(|t| t.0.as_str()), Some("z-away"));
    }

    #[test]
    fn zones_by_name_or_offset() {
        assert!(valid_zone("Asia/Shanghai") && valid_zone("+08:00") && valid_zone("-0500") && valid_zone("+8"));
        assert!(!valid_zone("Mars/Olympus") && !valid_zone("+25:00") && !valid_zone("8"));
        let now = at("2027-01-01T12:00", &TimeZone::UTC);
        assert_eq!(now.to_zoned(zone(Some("-05:30"))).datetime().to_string(), "2027-01-01T06:30:00");
    }

    #[test]
    fn languages_and_days() {
        assert_eq!(detect_language("您好，请报价"), Some("zh"));
        assert_eq!(detect_language("お見積もりをお願いします"), Some("ja"));
        assert_eq!(detect_language("Please send the offer"), Some("en"));
        assert_eq!(detect_language("Пришлите предложение"), Some("ru"));
        assert_eq!(detect_language("123"), None);
        assert_eq!(parse_days("mon-fri"), Some(vec![1, 2, 3, 4, 5]));
        assert_eq!(parse_days("sun-tue,sat"), Some(vec![1, 2, 6, 7]));
        assert_eq!(parse_days("xyz"), None);
    }
}
