//! The policy: the catalog of access profiles (README, "Policy"). Parsed once from TOML;
//! every error names the file, the line and the key.
use std::{collections::BTreeMap, path::Path};

use crate::domain::ProfileKey;

mod error;
mod model;
mod on_call;
mod parser;

pub use error::PolicyError;
pub use model::{ApprovalRule, IdentityCenterTarget, OnCallRule, Principals, Profile, ReconcileMode, Stage};

#[derive(Debug, Clone, Default)]
pub struct Policy {
    profiles: BTreeMap<ProfileKey, Profile>,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: path.to_owned(),
            line: None,
            key: String::new(),
            message: format!("cannot read the policy file: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// The policy in `text`, read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, PolicyError> {
        parser::parse(path, text).map(|profiles| Self { profiles })
    }

    pub fn get(&self, key: &ProfileKey) -> Option<&Profile> {
        self.profiles.get(key)
    }

    pub fn find(&self, key: &str) -> Option<&Profile> {
        ProfileKey::parse(key).ok().and_then(|k| self.profiles.get(&k))
    }

    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }
}
