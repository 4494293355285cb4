//! What signatures, rules and auto-replies cost per message, in-process:
//! `cargo run --release -p caravel-personal --example personal_cost`.
//! Prints microseconds per message for each step on three shapes of mail.

use std::time::Instant;

use caravel_personal::insert::{insert, Rendered};
use caravel_personal::reply::{facts, may_reply};
use caravel_personal::rules::{apply, Action, Condition, Rule, View};

fn message(attachment: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: Li Na <li@export.test>\r\nTo: hans@kunde.de\r\nSubject: Quotation 2027\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    for _ in 0..20 {
        m.push_str("Dear Hans, please find our prices for 2027 attached. Gr=C3=BC=C3=9Fe.\r\n");
    }
    m.push_str("--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>");
    for _ in 0..20 {
        m.push_str("<p>Dear Hans, please find our prices for 2027 attached.</p>\r\n");
    }
    m.push_str("</body></html>\r\n--alt--\r\n");
    if attachment > 0 {
        m.push_str("--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=p.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        for _ in 0..attachment / 76 {
            m.push_str("JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURlY2\r\n");
        }
    }
    m.push_str("--mix--\r\n");
    m.into_bytes()
}

fn time(label: &str, runs: u32, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    println!("{label:<44} {:>9.1} µs", start.elapsed().as_secs_f64() * 1e6 / f64::from(runs));
}

fn main() {
    let sig = Rendered {
        text: "Li Na\nSales Manager, Shenzhen Export Co.\n电话 +86 755 1234 5678".into(),
        html: Some("<p><b>Li Na</b><br>Sales Manager<br>电话 +86 755 1234 5678</p>".into()),
        separator: true,
    };
    let rules = vec![
        (
            "1".to_string(),
            Rule {
                conditions: vec![Condition::From("buyer.cn".into())],
                any: false,
                actions: vec![Action::Move("客户".into())],
            },
        ),
        (
            "2".to_string(),
            Rule {
                conditions: vec![Condition::Subject("quotation".into()), Condition::Body("prices".into())],
                any: false,
                actions: vec![Action::Flag],
            },
        ),
        (
            "3".to_string(),
            Rule {
                conditions: vec![Condition::Header("x-priority".into(), "1".into())],
                any: false,
                actions: vec![Action::MarkRead],
            },
        ),
    ];
    for (name, size) in [("4 KB text+HTML", 0), ("100 KB with a PDF", 96_000), ("5 MB with a PDF", 5_000_000)] {
        let m = message(size);
        let runs = if size > 1_000_000 { 20 } else { 500 };
        println!("{name} ({} bytes):", m.len());
        time("  signature inserted (parse, splice, check)", runs, || {
            insert(&m, &sig).expect("inserted");
        });
        time("  rules: the message read, 3 rules applied", runs, || {
            apply(&rules, &View::of(&m, "hans@kunde.de"));
        });
        time("  auto-reply: facts read, RFC 3834 checks", runs, || {
            let f = facts(&m);
            let _ = may_reply("hans@kunde.de", &f, &["li@export.test".into()], false);
        });
    }
}
