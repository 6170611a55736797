//! On-call services, read-only: who is on call right now (PagerDuty, Opsgenie). Each names a
//! person by email; Elevate matches it to the requester's directory mail or UPN.
pub mod opsgenie;
pub mod pagerduty;

/// A shift of someone who is on call now, as the service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// `pagerduty` or `opsgenie`.
    pub service: &'static str,
    /// The on-call person's email at the service.
    pub email: String,
    pub schedule: Option<String>,
    pub escalation_policy: Option<String>,
    /// When the shift ends (RFC 3339), when the service says (PagerDuty's `end`; Opsgenie's
    /// who-is-on-call does not); `None` from PagerDuty: a permanent on-call.
    pub end: Option<String>,
}

/// Whether `email` is one of `emails`, compared as mail addresses are (without regard to case).
fn one_of(emails: &[&str], email: &str) -> bool {
    emails.iter().any(|m| m.eq_ignore_ascii_case(email))
}
