//! Who is calling, once their token has been checked.
use std::fmt;

use super::Upn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Asks for access for themselves.
    Requester,
    /// Decides requests where a profile names them.
    Approver,
    /// Revokes any grant.
    Admin,
    /// Reads the audit log.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Requester, Role::Approver, Role::Admin, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller: a person, or a bot that may act for people (`delegate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub upn: Upn,
    pub roles: Vec<Role>,
    pub delegate: bool,
    /// When (ms) the caller last proved a second factor, as its credential says: a session's
    /// multi-factor sign-in, an Entra token's `amr`/`acrs`. `None` for Elevate's own tokens,
    /// bots and emailed links, which prove none.
    pub mfa_at: Option<i64>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Proved a second factor no longer than `max_age` before `at`.
    pub fn mfa_within(&self, max_age: std::time::Duration, at: i64) -> bool {
        let max_age = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        self.mfa_at.is_some_and(|mfa| at.saturating_sub(mfa) <= max_age)
    }
}
