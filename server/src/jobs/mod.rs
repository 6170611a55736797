//! The outbox's jobs: the membership sync (`membership`) and the grant transitions that call
//! for it (`grant`), the other effects and the worker that runs them. The periodic sweeps that
//! call workflows live above, in `crate::sweeps`.
pub mod activity;
pub mod audit_forwarder;
pub mod aws_jobs;
pub mod chat;
pub mod effects;
pub mod grant;
pub mod identity_center_jobs;
pub mod membership;
pub mod notifications;
pub mod scheduled;
pub mod sync;
pub mod worker;

pub use entity::jobs::JobKind;
