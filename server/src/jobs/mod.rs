//! The outbox's jobs: what each kind does (`effects`), how grants schedule them (`grant`),
//! the worker that runs them, and the periodic sweeps.
pub mod audit_forwarder;
pub mod aws_jobs;
pub mod effects;
pub mod grant;
pub mod identity_center_jobs;
pub mod notifications;
pub mod sweeps;
pub mod worker;

/// Add the requester to the profile's group, then start the grant's clock.
pub const ACTIVATE: &str = "activate_grant";
/// End a grant at its `expires_at`.
pub const EXPIRE: &str = "expire_grant";
/// Decide what an ended grant means for the membership, and remove it if nothing else holds it.
pub const REMOVE: &str = "remove_membership";
/// Push a membership change to the provisioned app (IAM Identity Center) now.
pub const PROVISION: &str = "provision_now";
/// Deny the user's live AWS sessions of the profile's role issued before the grant ended.
pub const REVOKE_SESSIONS: &str = "revoke_aws_sessions";
/// Drop revocation statements that can no longer match a live session.
pub const PRUNE_REVOCATIONS: &str = "prune_aws_revocations";
/// Add the Identity Center membership if SCIM has not brought it yet.
pub const IC_ENSURE: &str = "identity_center_ensure";
/// Remove the Identity Center membership directly, without waiting for SCIM.
pub const IC_REMOVE: &str = "identity_center_remove";
/// Remove an Identity Center member that no grant accounts for.
pub const IC_REMOVE_DRIFT: &str = "identity_center_remove_drift";
/// Put back the membership of an active grant that someone removed by hand.
pub const RESTORE: &str = "restore_membership";
/// Remove a member that no grant and no `permanent_members` entry accounts for.
pub const REMOVE_DRIFT: &str = "remove_drift";
/// Find a notice's recipients and write one delivery job each.
pub const NOTIFY: &str = "notify";
/// Send one mail to one person.
pub const SEND_MAIL: &str = "send_mail";
/// Post one chat message to one webhook.
pub const CALL_WEBHOOK: &str = "call_webhook";
