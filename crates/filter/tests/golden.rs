//! Golden messages (tests/golden, made by make.py; README.md there says what
//! each holds): every charset and encoding decodes to the expected text, and
//! the expected rules fire, no more.

use caravel_filter::content::Content;
use caravel_filter::default_rules;
use caravel_filter::keywords::{Action, KeywordRule, KeywordSet, Place};
use caravel_filter::normalize::fold;

fn golden(name: &str) -> Content {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    Content::parse(&std::fs::read(&path).expect("golden file"))
}

/// The default rules and some an administrator might add.
fn rules() -> KeywordSet {
    let mut rules = default_rules::rules();
    let mut add = |name: &str, pattern: &str, place| {
        rules.push(KeywordRule { name: name.into(), pattern: pattern.into(), place, action: Action::Junk })
    };
    add("T_PROMO_SUBJECT", "促销", Place::Subject);
    add("T_SALE_JA", "セール", Place::Any);
    add("T_FREE_MONEY", "free money", Place::Body);
    add("T_KR_FREE", "무료", Place::Any);
    add("T_RU_DISCOUNT", "скидки", Place::Subject);
    add("T_RU_FREE", "бесплатная", Place::Body);
    add("T_EXE", "/\\.exe$/", Place::Any);
    add("T_PAYPAL_LOOKALIKE", "/paypa[1i]/", Place::Any);
    add("T_CASINO", "casino", Place::Any);
    KeywordSet::new(rules, caravel_filter::keywords::pattern_limit("")).expect("rules")
}

fn tags(c: &Content) -> Vec<String> {
    let mut t: Vec<String> = rules().matches(c).into_iter().map(|(r, _)| r.name.clone()).collect();
    t.sort();
    t.dedup();
    t
}

struct Case {
    file: &'static str,
    subject: &'static str,
    body: &'static str,
    attachments: &'static [&'static str],
    tags: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        file: "gbk-subject.eml",
        subject: "本周促销：全场五折",
        body: "尊敬的客户，本周促销活动开始了，加微信了解详情。",
        attachments: &[],
        tags: &["CN_PROMOTION", "CN_WECHAT_CONTACT", "T_PROMO_SUBJECT"],
    },
    Case {
        file: "big5-subject.eml",
        subject: "代開發票 優惠",
        body: "本公司代開發票，價格優惠。",
        attachments: &[],
        tags: &["CN_INVOICE_FRAUD"],
    },
    Case {
        file: "gb2312-body.eml",
        subject: "Invoice service",
        body: "发票代开，联系我们。",
        attachments: &[],
        tags: &["CN_INVOICE_FRAUD"],
    },
    Case {
        file: "iso2022jp-subject.eml",
        subject: "【広告】特別セール",
        body: "特別セールのご案内です。",
        attachments: &[],
        tags: &["JP_AD_SUBJECT", "T_SALE_JA"],
    },
    Case {
        file: "shiftjis-body.eml",
        subject: "Sale",
        // Half-width katakana and full-width Latin are folded.
        body: "セール開催中 free money",
        attachments: &[],
        tags: &["T_FREE_MONEY", "T_SALE_JA"],
    },
    Case {
        file: "euckr-body.eml", subject: "Hello", body: "무료 광고 상품", attachments: &[], tags: &["T_KR_FREE"]
    },
    Case {
        file: "koi8r-subject.eml",
        subject: "Скидки только сегодня",
        body: "Only today, see our catalogue.",
        attachments: &[],
        tags: &["T_RU_DISCOUNT"],
    },
    Case {
        file: "win1251-body.eml",
        subject: "Newsletter",
        body: "Бесплатная рассылка",
        attachments: &[],
        tags: &["T_RU_FREE"],
    },
    Case {
        file: "html-only.eml",
        subject: "Your order",
        body: "Click here for VIAGRA & more 促销",
        attachments: &[],
        // "casino" is only inside <script>: no T_CASINO.
        tags: &["CN_PROMOTION", "EN_PILLS"],
    },
    Case {
        file: "rfc2231-attachment.eml",
        subject: "Order",
        body: "Please see the attached order.",
        attachments: &["发票代开.pdf"],
        tags: &["CN_INVOICE_FRAUD"],
    },
    Case {
        file: "encoded-attachment-name.eml",
        subject: "Quotation",
        body: "Please find our quotation attached.",
        attachments: &["报价单_invoice.exe"],
        tags: &["T_EXE"],
    },
    Case {
        file: "plain-ham.eml",
        subject: "Quotation request: 500 x LED panel 600x600",
        body: "FOB Shanghai",
        attachments: &[],
        tags: &[],
    },
    Case {
        file: "compat-forms.eml",
        subject: "𝐅𝐑𝐄𝐄 𝐆𝐈𝐅𝐓 ㈱",
        body: "ﾊﾟｽﾎﾟｰﾄ ①号 ﬁnance™ don´t",
        attachments: &[],
        tags: &[],
    },
    Case {
        file: "multipart-alternative.eml",
        subject: "Limited offer",
        body: "Limited offer just for you",
        attachments: &[],
        tags: &["T_PAYPAL_LOOKALIKE"],
    },
];

#[test]
fn every_golden_message_decodes_and_tags_as_expected() {
    for case in CASES {
        let c = golden(case.file);
        assert_eq!(c.subject, fold(case.subject), "{}: subject", case.file);
        assert!(c.body.contains(&fold(case.body)), "{}: body {:?}", case.file, c.body);
        let names: Vec<String> = case.attachments.iter().map(|a| fold(a)).collect();
        assert_eq!(c.attachments, names, "{}: attachment names", case.file);
        assert_eq!(tags(&c), case.tags, "{}: tags", case.file);
    }
}

#[test]
fn compatibility_forms_are_read_as_their_letters() {
    let c = golden("compat-forms.eml");
    assert_eq!(c.subject, "free gift (株)");
    assert_eq!(c.body, "パスポート 1号 financetm don´t");
}

#[test]
fn html_text_keeps_links_and_drops_scripts() {
    let c = golden("html-only.eml");
    assert!(!c.body.contains("casino") && !c.body.contains("color"), "{}", c.body);
    assert_eq!(c.link_hosts, ["cheap-pills.example"]);
    assert_eq!(c.html_parts, 1);
    assert_eq!(c.text_parts, 0);
}

#[test]
fn the_from_display_name_is_read() {
    let c = golden("multipart-alternative.eml");
    assert_eq!(c.from_name, "paypal");
    assert_eq!(c.from_address, "service@paypa1-secure.example");
}
