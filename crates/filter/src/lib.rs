//! The filter pipeline run at the end of DATA and its stages: sender
//! authentication (SPF, DKIM, DMARC, ARC), mail loops, and spam (allow and
//! block lists, keyword rules in any charset, a learning classifier).

pub mod antivirus;
pub mod auth_results;
pub mod authentication;
pub mod charset;
pub mod content;
pub mod default_rules;
pub mod dnsbl;
pub mod greylist;
pub mod hops;
pub mod html;
pub mod keywords;
pub mod lists;
pub mod logistic;
pub mod model_cache;
pub mod model_file;
pub mod normalize;
pub mod org_domain;
pub mod pipeline;
pub mod rules;
pub mod spam;
pub mod thresholds;
pub mod tokens;
pub mod verdict_fields;

pub use authentication::AuthenticationStage;
pub use hops::HopLimit;
pub use spam::{SpamFilter, SpamSettings};
