//! The outbox's jobs: the membership sync (`membership`) and the grant transitions that call
//! for it (`grant`), the other effects, the worker that runs them, and the periodic sweeps.
pub mod audit_forwarder;
pub mod aws_jobs;
pub mod effects;
pub mod grant;
pub mod identity_center_jobs;
pub mod membership;
pub mod notifications;
pub mod sweeps;
pub mod worker;

pub use entity::jobs::JobKind;
