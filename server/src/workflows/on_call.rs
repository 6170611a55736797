//! Approval by being on call: a profile's `on_call` rule asks PagerDuty and Opsgenie, when a
//! request is filed, whether the requester is on call right now in one of its schedules or
//! escalation policies. Only a yes for the whole of the access approves; no, a shift that ends
//! sooner, or no answer, leaves the request to its approvers — never approval by default.
use serde_json::{Value, json};

use super::Broker;
use crate::{
    domain::{GrantDuration, now, parse_rfc3339},
    policy::Profile,
    providers::{directory::DirectoryUser, oncall::Shift},
    telemetry::error_chain,
};

/// What PagerDuty said about a requester.
pub(super) enum OnCall {
    /// The profile has no rule, or the request is longer than it allows.
    NotAsked,
    Now(Shift),
    /// On call now, but the shift ends before the access would: being on call cannot approve
    /// access beyond it, so the approvers decide.
    OutlastsShift(Shift),
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
            Ok(Some(shift)) => return within(shift, duration),
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
            Ok(Some(shift)) => return within(shift, duration),
            Ok(None) => {}
            Err(e) => unknown.push(format!("opsgenie: {}", error_chain(&e))),
        }
    }
    match unknown.is_empty() {
        true => OnCall::NotNow,
        false => OnCall::Unknown(unknown.join("; ")),
    }
}

/// On call now for the whole of `duration`, as far as the service says when the shift ends
/// (Opsgenie's who-is-on-call does not say: its shift is taken as covering the access, within
/// the rule's `max_duration`).
fn within(shift: Shift, duration: GrantDuration) -> OnCall {
    let ends = shift.end.as_deref().and_then(|end| parse_rfc3339("shift_end", end).ok());
    match ends {
        Some(ends) if now().saturating_add(duration.as_millis()) > ends => OnCall::OutlastsShift(shift),
        _ => OnCall::Now(shift),
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
