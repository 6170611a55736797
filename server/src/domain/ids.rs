//! Identifiers: request ids, user principal names, profile keys, directory group ids.
use std::fmt;

use super::InvalidValue;

pub use entity::ids::{GrantId, NotAnId, RequestId};

/// An id from outside (a path, a link) that is not one: a 4xx naming the `id`.
impl From<NotAnId> for InvalidValue {
    fn from(e: NotAnId) -> Self {
        InvalidValue::new("id", e.to_string())
    }
}

/// A user principal name (`user@domain`), lower-cased: Entra ID compares UPNs without case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upn(String);

impl Upn {
    /// Entra ID allows at most 113 characters (64 before the `@`, 48 after).
    const MAX_LEN: usize = 113;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        let bad = |reason: &str| InvalidValue::new("upn", format!("{reason} (got {s:?})"));
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(bad("must be 1 to 113 characters"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(bad("must look like user@domain"));
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(bad("must look like user@domain"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._-+'&=!#$%^~@".contains(c);
        if !s.chars().all(allowed) {
            return Err(bad("may only contain letters, digits and . _ - + ' & = ! # $ % ^ ~"));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of an access profile in the policy (`AzureAD-Admins`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileKey(String);

impl ProfileKey {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "profile",
                format!("{s:?} is not a profile key (1 to 64 letters, digits, '-', '_', '.')"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProfileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A directory group id: a Graph object id, or a local group's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(String);

impl GroupId {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = !s.is_empty() && s.len() <= 256 && s.chars().all(|c| c.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new("group", format!("{s:?} is not a group id (1 to 256 visible ASCII characters)")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_is_lower_cased_and_checked() {
        assert_eq!(Upn::parse(" Alice@Example.COM ").map(|u| u.0), Ok("alice@example.com".into()));
        for bad in ["", "alice", "@example.com", "alice@", "a@b@c", "al ice@example.com", "a\u{7}@x.y"] {
            assert!(Upn::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn profile_keys_and_groups_refuse_junk() {
        assert!(ProfileKey::parse("AzureAD-Admins").is_ok());
        assert!(ProfileKey::parse("Azure Admins").is_err());
        assert!(GroupId::parse("AWS-Account1-Administrators").is_ok());
        assert!(GroupId::parse("has space").is_err());
        assert_eq!(RequestId::parse("not-a-uuid").map_err(InvalidValue::from).map_err(|e| e.field), Err("id"));
    }
}
