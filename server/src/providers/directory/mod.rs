//! The directory: where users and group memberships live (Entra ID, or Elevate's own
//! database). The trait follows Microsoft Graph's semantics so that every implementation
//! behaves alike: adding an existing member and removing a non-member both succeed.
pub mod graph;
pub mod local;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{GroupId, Upn};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The directory's object id.
    pub id: String,
    pub upn: Upn,
    pub display_name: String,
    pub mail: Option<String>,
}

impl DirectoryUser {
    /// Where to write to them: their mail, or their UPN when the directory has no mail.
    pub fn address(&self) -> String {
        self.mail.clone().unwrap_or_else(|| self.upn.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0} does not exist in the directory")]
    NotFound(String),
    /// Worth retrying, after `retry_after` when the directory said so.
    #[error("directory temporarily unavailable: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
        /// What failed underneath (the connection, the database), when something did.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Retrying will not help (bad request, forbidden, quota).
    #[error("directory refused: {code}: {message}")]
    Permanent { code: String, message: String },
    /// Retrying will not help either: the provider failed in a way of its own (a credential,
    /// an answer that does not decode), kept whole.
    #[error("the directory failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The one user of `found`, or none; two or more is refused.
pub fn only_one(mail: &str, mut found: Vec<DirectoryUser>) -> Result<Option<DirectoryUser>, DirectoryError> {
    match found.len() {
        0 | 1 => Ok(found.pop()),
        n => Err(DirectoryError::Permanent {
            code: "AmbiguousMail".into(),
            message: format!("{n} users of the directory have the mail {mail}"),
        }),
    }
}

#[async_trait]
pub trait DirectoryProvider: Send + Sync {
    /// Finds a user by UPN or object id.
    async fn resolve_user(&self, upn_or_id: &str) -> Result<DirectoryUser, DirectoryError>;
    /// The one user whose mail is `mail` (Slack names people by their confirmed email);
    /// `None` when nobody has it. Two users with one mail is an error: never a guess.
    async fn find_by_mail(&self, mail: &str) -> Result<Option<DirectoryUser>, DirectoryError>;
    /// Direct membership of a user in a group (what `add_member` and `remove_member` change).
    async fn is_member(&self, group: &GroupId, user_id: &str) -> Result<bool, DirectoryError>;
    /// Adds a member; succeeds when the user already is one.
    async fn add_member(&self, group: &GroupId, user_id: &str) -> Result<(), DirectoryError>;
    /// Removes a member; succeeds when the user is not one (the group must exist).
    async fn remove_member(&self, group: &GroupId, user_id: &str) -> Result<(), DirectoryError>;
    /// Every member of a group.
    async fn list_members(&self, group: &GroupId) -> Result<Vec<DirectoryUser>, DirectoryError>;
    /// The groups a user (by object id or UPN) belongs to, transitively; `NotFound` when the
    /// directory has no such user.
    async fn groups_of(&self, user: &str) -> Result<Vec<GroupId>, DirectoryError>;
    /// A group's display name; `NotFound` when the group does not exist.
    async fn group_name(&self, group: &GroupId) -> Result<String, DirectoryError>;
    /// Whether membership changes should be pushed to a provisioned app at once.
    fn provisions_on_demand(&self) -> bool {
        false
    }
    /// Asks the directory to provision this user's membership in this group now.
    async fn provision_now(&self, _group: &GroupId, _user_id: &str) -> Result<(), DirectoryError> {
        Ok(())
    }
}
