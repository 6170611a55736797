//! AWS (`[aws]`): the accounts whose roles the profiles grant, for mapping checks, discovery
//! and the revocation of live role sessions.
use serde::Deserialize;

use super::{AccountId, ConfigError, SamlProviderArn};
use crate::domain::HumanDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    #[serde(default = "default_aws_region")]
    pub region: String,
    /// What the SAML `RoleSessionName` carries: the user's `upn` (the Entra AWS app's
    /// default) or `mail`.
    #[serde(default)]
    pub session_name: SessionNameClaim,
    /// How often revocation statements that can no longer match a live session are pruned.
    #[serde(default = "default_prune_interval")]
    pub prune_interval: HumanDuration,
    pub accounts: Vec<AwsAccount>,
    /// Another Identity Store endpoint (a test server) for Identity Center profiles.
    pub identity_center_endpoint_url: Option<String>,
    /// How long after a grant's Entra membership Elevate waits for SCIM (and its own
    /// provisioning push) before adding the Identity Center membership itself.
    #[serde(default = "default_identity_center_wait")]
    pub identity_center_wait: HumanDuration,
}

fn default_aws_region() -> String {
    "us-east-1".into()
}
fn default_prune_interval() -> HumanDuration {
    HumanDuration::from_secs(3600)
}
fn default_identity_center_wait() -> HumanDuration {
    HumanDuration::from_secs(30)
}

impl AwsSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        match self.accounts.is_empty() {
            true => Err(ConfigError::Key { key: "aws.accounts", reason: "lists no account".into() }),
            false => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SessionNameClaim {
    #[default]
    Upn,
    Mail,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAccount {
    pub account_id: AccountId,
    /// The Entra ID SAML identity provider in IAM.
    pub saml_provider_arn: SamlProviderArn,
    /// A role to assume in this account (cross-account), from the standard credential chain.
    pub assume_role_arn: Option<String>,
    /// Another IAM endpoint (a test server, or a VPC endpoint).
    pub endpoint_url: Option<String>,
}
