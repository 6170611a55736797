//! What a policy says once parsed: profiles, their approval stages and principals.
use serde::Deserialize;

use crate::domain::{GroupId, HumanDuration, ProfileKey, Upn};

/// Users and groups of the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    pub groups: Vec<GroupId>,
    pub users: Vec<Upn>,
}

impl Principals {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.users.is_empty()
    }

    /// Do these name `upn`, by name or through one of `groups` (the user's transitive groups)?
    pub fn include(&self, upn: &Upn, groups: &[GroupId]) -> bool {
        self.users.contains(upn) || self.groups.iter().any(|g| groups.contains(g))
    }
}

/// One approval stage: who may approve and how many distinct approvals it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub approvers: Principals,
    pub required: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalRule {
    /// Approved as soon as it is filed (the request still goes through the audit log).
    Automatic,
    Approvers {
        first: Stage,
        second: Option<Stage>,
    },
}

impl ApprovalRule {
    pub fn stage(&self, number: i32) -> Option<&Stage> {
        match (self, number) {
            (Self::Approvers { first, .. }, 1) => Some(first),
            (Self::Approvers { second, .. }, 2) => second.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub key: ProfileKey,
    pub title: String,
    pub description: Option<String>,
    pub aws_account: Option<String>,
    pub aws_role_arn: Option<String>,
    pub group: GroupId,
    pub min_duration: HumanDuration,
    pub default_duration: HumanDuration,
    pub max_duration: HumanDuration,
    pub decision_timeout: HumanDuration,
    /// How far ahead a request may schedule its window (`start_at`); `0s`: not at all.
    pub max_advance: HumanDuration,
    pub require_justification: bool,
    pub require_ticket: bool,
    pub require_mfa: bool,
    pub eligible: Principals,
    pub approval: ApprovalRule,
    /// What reconciliation does about members of `group` that hold no grant.
    pub reconcile: ReconcileMode,
    /// Members of `group` who belong there without a grant (never drift).
    pub permanent_members: Vec<Upn>,
    /// Deny the user's live AWS sessions of the role when a grant ends. `None`: decided by
    /// the role's risk tier (on for high risk) once AWS has been asked.
    pub revoke_sessions: Option<bool>,
    /// IAM Identity Center: the group that mirrors `group` there (`aws_target = "identity_center"`).
    pub identity_center: Option<IdentityCenterTarget>,
    /// Approvers called in (and allowed to decide) when a stage stays undecided for
    /// `notify.escalate_after`.
    pub escalation: Option<Principals>,
    /// Overrides `links.require_sign_in` for this profile's emailed links.
    pub require_sign_in_for_links: Option<bool>,
    /// Break-glass (`break_glass = true`): these users may activate at once, without
    /// approval, with a justification; every approver and admin is told, and the grant awaits
    /// an after-the-fact review.
    pub break_glass: Option<Vec<Upn>>,
    /// Auto-approval of a requester who is on call right now (`on_call`).
    pub on_call: Option<OnCallRule>,
}

/// Whoever is on call now in these PagerDuty schedules or escalation policies, or Opsgenie
/// schedules, is approved without waiting, for at most `max_duration`; anyone else, or when
/// the services cannot say, waits for the approvers as usual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCallRule {
    pub pagerduty_schedules: Vec<String>,
    pub pagerduty_escalation_policies: Vec<String>,
    /// Opsgenie schedules by id (a UUID) or name.
    pub opsgenie_schedules: Vec<String>,
    pub max_duration: HumanDuration,
}

/// Where an Identity Center profile's membership also lives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityCenterTarget {
    pub identity_store_id: String,
    /// The Identity Center group's id or display name.
    pub group: String,
    pub region: Option<String>,
}

/// Drift handling for a profile's group: a member without an active grant who is not a
/// permanent member is drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileMode {
    /// Not looked at.
    Off,
    /// Recorded in the audit log.
    #[default]
    Report,
    /// Recorded and removed.
    Enforce,
}
