//! The API's JSON shapes.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::{RequestStatus, format_millis},
    policy::{ApprovalRule, Profile},
    workflows::{aws_mapping::AwsMapping, queries::RequestDetails},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Profile key, e.g. `AzureAD-Admins`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "AzureAD-Admins")]
    pub profile: String,
    /// How long the access should last; the profile's default when absent.
    #[schema(minimum = 1, example = 3600)]
    pub duration_seconds: Option<i64>,
    /// Why the access is needed (no control characters).
    #[schema(max_length = 1000)]
    pub justification: Option<String>,
    /// A change or incident reference, e.g. `CHG-1234`.
    #[schema(max_length = 64, pattern = "^[^\\s]+$")]
    pub ticket: Option<String>,
    /// UPN of the user the request is for; only with the `delegate` scope.
    pub requester: Option<String>,
    /// Scheduled access: when the window opens (RFC 3339 with a zone, in the future, at most
    /// the profile's `max_advance` ahead). Decided ahead as usual; once approved the request
    /// is `scheduled` until then, and its access ends at `start_at` + duration. Absent: the
    /// access starts once approved.
    #[schema(format = DateTime, example = "2026-12-04T08:00:00Z")]
    pub start_at: Option<String>,
    /// Break the glass: active at once without approval, for the users a `break_glass` profile
    /// names; needs a justification; every approver and admin is told; reviewed afterwards.
    #[serde(default)]
    pub break_glass: bool,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
    /// Approve and deny by a chat-ops bot (`delegate` scope): the UPN of the human approver
    /// it decides for (required of a bot, refused otherwise).
    pub on_behalf_of: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// How much longer the access should last.
    #[schema(minimum = 1, example = 1800)]
    pub duration_seconds: i64,
    #[schema(max_length = 1000)]
    pub justification: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    pub approver: String,
    pub stage: i32,
    /// `approve` or `deny`.
    pub decision: String,
    pub comment: Option<String>,
    pub decided_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub profile: String,
    pub requester: String,
    /// Who filed it: the requester, or the bot acting for them.
    pub filed_by: String,
    pub status: RequestStatus,
    /// The approval stage the request is in (1 or 2).
    pub stage: i32,
    pub version: i32,
    pub duration_seconds: i64,
    pub justification: Option<String>,
    pub ticket: Option<String>,
    /// The request whose grant this one extends.
    pub extends: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub decision_due_at: String,
    /// Scheduled access: when the approved window opens (it ends at `start_at` + duration).
    pub start_at: Option<String>,
    pub activated_at: Option<String>,
    pub expires_at: Option<String>,
    /// When the grant's end was carried out (membership removed, or kept for a stated reason).
    pub ended_at: Option<String>,
    pub status_reason: Option<String>,
    /// The user was a member before this grant: ending it leaves that membership alone.
    pub standing_membership: Option<bool>,
    /// What ending the grant did: `removed`, `kept_standing`, `kept_overlap`, `not_added`,
    /// `group_missing`.
    pub membership_outcome: Option<String>,
    /// When the Identity Center membership was confirmed removed (Identity Center profiles).
    pub identity_center_ended_at: Option<String>,
    pub decisions: Vec<DecisionView>,
    /// Activated without approval (break-glass).
    pub break_glass: bool,
    /// The after-the-fact review of a break-glass request, once given.
    pub review: Option<ReviewView>,
    /// Who can decide it now: the current stage's approvers (and the escalation's, once
    /// called in) who have not decided yet, never the requester. Only on a pending request
    /// read on its own, and only when the directory could be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<PersonView>>,
    /// When the profile's escalation approvers will be called in, while that is still ahead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalates_at: Option<String>,
}

/// Someone of the directory, as a requester is shown them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub name: String,
    /// Their mail address (their UPN when the directory has none).
    pub mail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    /// `justified` or `unjustified`.
    pub outcome: String,
    pub reviewer: String,
    pub comment: Option<String>,
    pub reviewed_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// `justified` or `unjustified`.
    #[schema(pattern = "^(justified|unjustified)$", example = "justified")]
    pub outcome: String,
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

impl From<RequestDetails> for RequestView {
    fn from(d: RequestDetails) -> Self {
        let r = d.request;
        Self {
            status: r.status,
            created_at: format_millis(r.created_at),
            updated_at: format_millis(r.updated_at),
            decision_due_at: format_millis(r.decision_due_at),
            start_at: r.start_at.map(format_millis),
            activated_at: r.activated_at.map(format_millis),
            expires_at: r.expires_at.map(format_millis),
            ended_at: r.ended_at.map(format_millis),
            standing_membership: d.grant.as_ref().and_then(|g| g.standing),
            identity_center_ended_at: d.grant.as_ref().and_then(|g| g.ic_ended_at).map(format_millis),
            membership_outcome: d.grant.and_then(|g| g.end_outcome),
            break_glass: r.break_glass,
            approvers: d.deciders.as_ref().map(|d| {
                d.people.iter().map(|p| PersonView { name: p.display_name.clone(), mail: p.address() }).collect()
            }),
            escalates_at: d.deciders.as_ref().and_then(|d| d.escalates_at).map(format_millis),
            review: d.review.map(|v| ReviewView {
                outcome: v.outcome,
                reviewer: v.reviewer,
                comment: v.comment,
                reviewed_at: format_millis(v.reviewed_at),
            }),
            decisions: d
                .decisions
                .into_iter()
                .map(|x| DecisionView {
                    approver: x.approver,
                    stage: x.stage,
                    decision: x.decision,
                    comment: x.comment,
                    decided_at: format_millis(x.decided_at),
                })
                .collect(),
            id: r.id.to_string(),
            profile: r.profile,
            requester: r.requester,
            filed_by: r.filed_by,
            stage: r.stage,
            version: r.version,
            duration_seconds: r.duration_seconds,
            justification: r.justification,
            ticket: r.ticket,
            extends: r.extends.map(String::from),
            status_reason: r.status_reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestPage {
    pub items: Vec<RequestView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub key: String,
    pub title: String,
    pub description: Option<String>,
    pub aws_account: Option<String>,
    pub aws_role_arn: Option<String>,
    pub min_duration_seconds: i64,
    pub default_duration_seconds: i64,
    pub max_duration_seconds: i64,
    pub require_justification: bool,
    pub require_ticket: bool,
    pub require_mfa: bool,
    pub auto_approve: bool,
    /// Approvals needed in each stage (empty when approved automatically).
    pub approvals_required: Vec<u32>,
    /// Risk of the AWS role (`low`, `medium`, `high`), when `[aws]` is configured.
    pub risk_tier: Option<String>,
    /// Whether ending a grant also ends the user's live AWS sessions of the role.
    pub revoke_sessions: bool,
}

impl ProfileView {
    pub fn new(p: &Profile, aws: Option<&AwsMapping>) -> Self {
        let approvals_required = match &p.approval {
            ApprovalRule::Automatic => vec![],
            ApprovalRule::Approvers { first, second } => {
                std::iter::once(first).chain(second.as_ref()).map(|s| s.required).collect()
            }
        };
        Self {
            key: p.key.to_string(),
            title: p.title.clone(),
            description: p.description.clone(),
            aws_account: p.aws_account.clone(),
            aws_role_arn: p.aws_role_arn.clone(),
            min_duration_seconds: p.min_duration.as_secs(),
            default_duration_seconds: p.default_duration.as_secs(),
            max_duration_seconds: p.max_duration.as_secs(),
            require_justification: p.require_justification,
            require_ticket: p.require_ticket,
            require_mfa: p.require_mfa,
            auto_approve: p.approval == ApprovalRule::Automatic,
            approvals_required,
            risk_tier: aws.and_then(|a| a.risk.get(p.key.as_str())).map(|r| r.as_str().to_owned()),
            revoke_sessions: aws.is_some_and(|a| a.revokes_sessions(p)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<entity::audit_events::Model> for AuditEventView {
    fn from(e: entity::audit_events::Model) -> Self {
        Self {
            seq: e.seq,
            at: format_millis(e.at),
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::String(e.details)),
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `after_seq` for the next page.
    pub next_after_seq: Option<i64>,
    /// Events committed but not yet chained when the page was read (the sealer chains them
    /// within `audit.seal_interval`; a later page has them).
    pub unsealed: u64,
}
