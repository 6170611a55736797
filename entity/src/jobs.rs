//! The outbox: every effect on the outside world is a durable job row.
use sea_orm::entity::prelude::*;

pub use crate::ids::GrantId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: JobKind,
    pub grant_id: Option<GrantId>,
    /// Jobs with the same key (one user in one group) never run at the same time, so that an
    /// add and a remove of one membership cannot overtake each other.
    pub lock_key: Option<String>,
    /// Job-specific arguments as JSON text.
    pub payload: String,
    pub status: JobStatus,
    pub due_at: i64,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The process (`processes.id`) that claimed it; it renews `lease_until` while alive.
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum JobStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "done")]
    Done,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

/// What a job does (see the server's `jobs` module for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum JobKind {
    /// Read the grant's CloudTrail activity from the trail's S3 bucket (again, until complete).
    #[sea_orm(string_value = "collect_activity")]
    CollectActivity,
    /// Open a scheduled request's window: start its grant at `start_at`.
    #[sea_orm(string_value = "start_scheduled")]
    StartScheduled,
    /// Make one user's membership of one group match what the grants say it should be.
    #[sea_orm(string_value = "sync_membership")]
    SyncMembership,
    /// Push a membership change to the provisioned app (IAM Identity Center) now.
    #[sea_orm(string_value = "provision_now")]
    Provision,
    /// Deny the user's live AWS sessions of a role issued before their membership ended.
    #[sea_orm(string_value = "revoke_aws_sessions")]
    RevokeSessions,
    /// Drop revocation statements that can no longer match a live session.
    #[sea_orm(string_value = "prune_aws_revocations")]
    PruneRevocations,
    /// Add the Identity Center membership if SCIM has not brought it yet.
    #[sea_orm(string_value = "identity_center_ensure")]
    IdentityCenterEnsure,
    /// Remove the Identity Center membership directly, without waiting for SCIM.
    #[sea_orm(string_value = "identity_center_remove")]
    IdentityCenterRemove,
    /// Remove an Identity Center member that no grant accounts for.
    #[sea_orm(string_value = "identity_center_remove_drift")]
    IdentityCenterRemoveDrift,
    /// Find a notice's recipients and write one delivery job each.
    #[sea_orm(string_value = "notify")]
    Notify,
    /// Send one mail to one person.
    #[sea_orm(string_value = "send_mail")]
    SendMail,
    /// Send one chat message (a Teams card, a Slack message) to one approver or channel.
    #[sea_orm(string_value = "send_chat")]
    SendChat,
    /// Bring a request's chat messages up to date with its decisions.
    #[sea_orm(string_value = "refresh_chat")]
    RefreshChat,
    /// Post one chat message to one webhook.
    #[sea_orm(string_value = "call_webhook")]
    CallWebhook,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CollectActivity => "collect_activity",
            Self::StartScheduled => "start_scheduled",
            Self::SyncMembership => "sync_membership",
            Self::Provision => "provision_now",
            Self::RevokeSessions => "revoke_aws_sessions",
            Self::PruneRevocations => "prune_aws_revocations",
            Self::IdentityCenterEnsure => "identity_center_ensure",
            Self::IdentityCenterRemove => "identity_center_remove",
            Self::IdentityCenterRemoveDrift => "identity_center_remove_drift",
            Self::Notify => "notify",
            Self::SendMail => "send_mail",
            Self::CallWebhook => "call_webhook",
            Self::SendChat => "send_chat",
            Self::RefreshChat => "refresh_chat",
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
