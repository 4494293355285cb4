//! The stages of the filter pipeline run at the end of DATA. Milestone 1
//! has sender authentication (SPF, DKIM, DMARC, ARC); spam scoring and the
//! antivirus scan come as more stages.

pub mod auth_results;
pub mod authentication;
pub mod hops;
pub mod org_domain;

pub use authentication::AuthenticationStage;
pub use hops::HopLimit;
