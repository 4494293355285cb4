//! The rules every server starts with (`[spam] default_rules = false` turns
//! them off): words that are almost never in business mail but common in
//! spam to trading companies, in English and Chinese. Each adds points;
//! none files a message as junk alone, except invoice-selling (发票代开 and
//! its variants), which is always fraud.

use crate::keywords::{Action, KeywordRule, Place};

const RULES: &[(&str, &str, Place, f64)] = &[
    ("CN_INVOICE_FRAUD", "发票代开", Place::Any, 6.0),
    ("CN_INVOICE_FRAUD", "代开发票", Place::Any, 6.0),
    ("CN_INVOICE_FRAUD", "代開發票", Place::Any, 6.0),
    ("CN_INVOICE_FRAUD", "發票代開", Place::Any, 6.0),
    ("CN_INVOICE_FRAUD", "代开增值税", Place::Any, 6.0),
    ("CN_AD_SUBJECT", "广告", Place::Subject, 2.0),
    ("CN_AD_SUBJECT", "廣告", Place::Subject, 2.0),
    ("JP_AD_SUBJECT", "【広告】", Place::Subject, 2.0),
    ("KR_AD_SUBJECT", "(광고)", Place::Subject, 2.0),
    ("CN_PROMOTION", "促销", Place::Any, 1.5),
    ("CN_WECHAT_CONTACT", "加微信", Place::Any, 2.0),
    ("CN_WECHAT_CONTACT", "加qq", Place::Any, 2.0),
    ("CN_PRIZE", "恭喜您中奖", Place::Any, 3.0),
    ("CN_EASY_MONEY", "日赚", Place::Any, 2.5),
    ("CN_GAMBLING", "博彩", Place::Any, 3.0),
    ("CN_GAMBLING", "赌场", Place::Any, 3.0),
    ("CN_LOAN", "无抵押贷款", Place::Any, 3.0),
    ("EN_PILLS", "/(?-u:\\b)(viagra|cialis|levitra|xanax|valium)(?-u:\\b)/", Place::Any, 3.0),
    ("EN_CASINO", "online casino", Place::Any, 2.5),
    ("EN_LOTTERY", "/(?-u:\\b)you (have )?won(?-u:\\b).{0,40}(?-u:\\b)(lottery|prize|million)/", Place::Any, 3.0),
    (
        "EN_ADVANCE_FEE",
        "/(?-u:\\b)(next of kin|beneficiary of|confidential business proposal)(?-u:\\b)/",
        Place::Body,
        2.5,
    ),
    ("EN_MONEY_MAKING", "/(?-u:\\b)(make|earn) \\$?\\d[\\d,]* (a|per) (day|week)(?-u:\\b)/", Place::Any, 2.0),
    ("EN_GUARANTEE", "100% guaranteed", Place::Any, 1.5),
    ("EN_RISK_FREE", "risk-free", Place::Any, 1.0),
    ("EN_ACT_NOW", "act now", Place::Any, 1.0),
    ("EN_CREDIT", "/(?-u:\\b)(bad credit|credit repair|debt consolidation)(?-u:\\b)/", Place::Any, 2.0),
    ("EN_WEIGHT_LOSS", "/(?-u:\\b)lose (up to )?\\d+ (lbs|pounds)(?-u:\\b)/", Place::Any, 2.0),
    ("EN_REMOVE_LIST", "/to be removed from (our|this) (mailing )?list/", Place::Body, 1.5),
    ("EN_VERIFY_ACCOUNT", "/(?-u:\\b)(verify|confirm) your (account|password|identity)(?-u:\\b)/", Place::Any, 1.5),
];

/// The patterns use ASCII word boundaries (`(?-u:\b)`): they match English
/// words, and a Unicode `\b` would make the regex engine leave its fast
/// path on every non-ASCII text.
pub fn rules() -> Vec<KeywordRule> {
    RULES
        .iter()
        .map(|(name, pattern, place, score)| KeywordRule {
            name: name.to_string(),
            pattern: pattern.to_string(),
            place: *place,
            action: Action::Score(*score),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_rules_compile() {
        crate::keywords::KeywordSet::new(super::rules(), crate::keywords::pattern_limit("")).expect("default rules");
    }
}
