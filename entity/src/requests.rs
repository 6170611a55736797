//! Access requests and their lifecycle state (see `RequestStatus` in the server's domain).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "requests")]
pub struct Model {
    /// UUIDv7, as text.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub profile: String,
    /// UPN of the user who gets the access.
    pub requester: String,
    /// Directory object id of the requester.
    pub requester_id: String,
    /// Who filed it: the requester, or a bot acting on their behalf.
    pub filed_by: String,
    pub status: String,
    /// Approval stage the request waits in: 1, or 2 when the profile has a second stage.
    pub stage: i32,
    /// Bumped on every change; signed links name the version they were made for.
    pub version: i32,
    pub duration_seconds: i64,
    pub justification: Option<String>,
    pub ticket: Option<String>,
    pub group_id: String,
    /// Set when this request extends an earlier grant of the same profile.
    pub extends: Option<String>,
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
