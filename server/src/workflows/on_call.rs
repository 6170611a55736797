//! Approval by being on call: a profile's `on_call` rule asks PagerDuty, when a request is
//! filed, whether the requester is on call right now in one of its schedules or escalation
//! policies. Only a yes approves; no, or no answer, leaves the request to its approvers —
//! never approval by default.
use serde_json::{Value, json};

use super::Broker;
use crate::{
    domain::GrantDuration, policy::Profile, providers::directory::DirectoryUser, providers::pagerduty::Shift,
    telemetry::error_chain,
};

/// What PagerDuty said about a requester.
pub(super) enum OnCall {
    /// The profile has no rule, or the request is longer than it allows.
    NotAsked,
    Now(Shift),
    NotNow,
    /// No answer (down, rate-limited, refused): the request waits for its approvers.
    Unknown(String),
}

/// Asks PagerDuty whether `user` (by directory mail or UPN) is on call now for `profile`.
pub(super) async fn ask(broker: &Broker, profile: &Profile, user: &DirectoryUser, duration: GrantDuration) -> OnCall {
    let Some(rule) = &profile.on_call else { return OnCall::NotAsked };
    if duration.as_secs() > rule.max_duration.as_secs() {
        return OnCall::NotAsked;
    }
    let Some(pagerduty) = &broker.pagerduty else {
        return OnCall::Unknown("no [oncall.pagerduty] is configured".into());
    };
    let mut emails = vec![user.upn.as_str()];
    emails.extend(user.mail.as_deref());
    let asked = pagerduty.on_call_now(&rule.pagerduty_schedules, &rule.pagerduty_escalation_policies, &emails).await;
    match asked {
        Ok(Some(shift)) => OnCall::Now(shift),
        Ok(None) => OnCall::NotNow,
        Err(e) => OnCall::Unknown(error_chain(&e)),
    }
}

/// The audit details of an approval by being on call: the service's answer.
pub(super) fn approval_details(shift: &Shift) -> Value {
    json!({
        "rule": "on_call",
        "service": "pagerduty",
        "user": shift.email,
        "schedule": shift.schedule,
        "escalation_policy": shift.escalation_policy,
        "shift_end": shift.end,
    })
}
