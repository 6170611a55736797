//! Approval by being on call: a profile's `on_call` rule asks PagerDuty and Opsgenie, when a
//! request is filed, whether the requester is on call right now in one of its schedules or
//! escalation policies. Only a yes approves; no, or no answer, leaves the request to its
//! approvers — never approval by default.
use serde_json::{Value, json};

use super::Broker;
use crate::{
    domain::GrantDuration,
    policy::Profile,
    providers::{directory::DirectoryUser, oncall::Shift},
    telemetry::error_chain,
};

/// What PagerDuty said about a requester.
pub(super) enum OnCall {
    /// The profile has no rule, or the request is longer than it allows.
    NotAsked,
    Now(Shift),
    NotNow,
    /// No answer from a service asked (down, rate-limited, refused), and no yes from another:
    /// the request waits for its approvers. Each service's error, named.
    Unknown(String),
}

/// Asks PagerDuty whether `user` (by directory mail or UPN) is on call now for `profile`.
pub(super) async fn ask(broker: &Broker, profile: &Profile, user: &DirectoryUser, duration: GrantDuration) -> OnCall {
    let Some(rule) = &profile.on_call else { return OnCall::NotAsked };
    if duration.as_secs() > rule.max_duration.as_secs() {
        return OnCall::NotAsked;
    }
    let mut emails = vec![user.upn.as_str()];
    emails.extend(user.mail.as_deref());
    let mut unknown = Vec::new();
    if !rule.pagerduty_schedules.is_empty() || !rule.pagerduty_escalation_policies.is_empty() {
        let asked = match &broker.pagerduty {
            Some(pd) => pd.on_call_now(&rule.pagerduty_schedules, &rule.pagerduty_escalation_policies, &emails).await,
            None => Ok(None),
        };
        match asked {
            Ok(Some(shift)) => return OnCall::Now(shift),
            Ok(None) => {}
            Err(e) => unknown.push(format!("pagerduty: {}", error_chain(&e))),
        }
    }
    if !rule.opsgenie_schedules.is_empty() {
        let asked = match &broker.opsgenie {
            Some(og) => og.on_call_now(&rule.opsgenie_schedules, &emails).await,
            None => Ok(None),
        };
        match asked {
            Ok(Some(shift)) => return OnCall::Now(shift),
            Ok(None) => {}
            Err(e) => unknown.push(format!("opsgenie: {}", error_chain(&e))),
        }
    }
    match unknown.is_empty() {
        true => OnCall::NotNow,
        false => OnCall::Unknown(unknown.join("; ")),
    }
}

/// The audit details of an approval by being on call: the service's answer.
pub(super) fn approval_details(shift: &Shift) -> Value {
    json!({
        "rule": "on_call",
        "service": shift.service,
        "user": shift.email,
        "schedule": shift.schedule,
        "escalation_policy": shift.escalation_policy,
        "shift_end": shift.end,
    })
}
