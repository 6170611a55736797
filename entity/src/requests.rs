//! Access requests and their lifecycle state (see `RequestStatus` in the server's domain).
use sea_orm::entity::prelude::*;

pub use crate::ids::RequestId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "requests")]
pub struct Model {
    /// UUIDv7, as text.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: RequestId,
    pub profile: String,
    /// UPN of the user who gets the access.
    pub requester: String,
    /// Directory object id of the requester.
    pub requester_id: String,
    /// Who filed it: the requester, or a bot acting on their behalf.
    pub filed_by: String,
    pub status: RequestStatus,
    /// Approval stage the request waits in: 1, or 2 when the profile has a second stage.
    pub stage: i32,
    /// Bumped on every change; signed links name the version they were made for.
    pub version: i32,
    pub duration_seconds: i64,
    pub justification: Option<String>,
    pub ticket: Option<String>,
    pub group_id: String,
    /// Set when this request extends an earlier grant of the same profile.
    pub extends: Option<RequestId>,
    /// For an extension: the instant at which its grant ends.
    pub extends_until: Option<i64>,
    /// Start of the unbroken access this request belongs to (for extensions, the first one's).
    pub coverage_start: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub decision_due_at: i64,
    pub activated_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub status_reason: Option<String>,
    /// When the current approval stage began (`None`: at `created_at`).
    pub stage_started_at: Option<i64>,
    /// When the current stage's approvers were reminded.
    pub reminded_at: Option<i64>,
    /// When the profile's escalation approvers were called in.
    pub escalated_at: Option<i64>,
    /// Activated without approval (break-glass): awaits an after-the-fact review.
    pub break_glass: bool,
    /// Scheduled access: the instant the approved window opens (`None`: at approval). The
    /// window is `start_at .. start_at + duration`; moving it means filing a new request.
    pub start_at: Option<i64>,
}

/// Where a request is in its life (the server's `domain::Lifecycle` says which events move
/// it where). Terminal states never change again.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "approved")]
    Approved,
    /// Approved for a window that has not opened yet (`start_at` ahead).
    #[sea_orm(string_value = "scheduled")]
    Scheduled,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "denied")]
    Denied,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "timed_out")]
    TimedOut,
    #[sea_orm(string_value = "expired")]
    Expired,
    #[sea_orm(string_value = "revoked")]
    Revoked,
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 10] = [
        Self::Pending,
        Self::Approved,
        Self::Scheduled,
        Self::Active,
        Self::Denied,
        Self::Cancelled,
        Self::TimedOut,
        Self::Expired,
        Self::Revoked,
        Self::Failed,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Denied | Self::Cancelled | Self::TimedOut | Self::Expired | Self::Revoked | Self::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
