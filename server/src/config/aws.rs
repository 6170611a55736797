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
    /// Each grant's CloudTrail activity, read from the trail's S3 bucket (`[aws.activity]`).
    pub activity: Option<ActivitySettings>,
}

/// Where CloudTrail records the calls to global services.
pub const GLOBAL_SERVICES_REGION: &str = "us-east-1";

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
        if self.accounts.is_empty() {
            return Err(ConfigError::Key { key: "aws.accounts", reason: "lists no account".into() });
        }
        self.activity.as_ref().map_or(Ok(()), ActivitySettings::check)
    }

    /// The regions whose logs the activity reads: as configured, or else `aws.region` and
    /// `us-east-1`, where CloudTrail logs the global services (IAM, Organizations, STS's
    /// global endpoint) and most console sign-ins.
    pub fn activity_regions(&self) -> Vec<String> {
        match &self.activity {
            Some(a) if !a.regions.is_empty() => a.regions.clone(),
            _ => {
                let mut regions = vec![self.region.clone(), GLOBAL_SERVICES_REGION.to_owned()];
                regions.dedup();
                regions
            }
        }
    }
}

/// Where the organisation's CloudTrail trail delivers its log files, and how Elevate reads them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitySettings {
    pub bucket: String,
    /// The trail's S3 key prefix, if it has one (without the trailing `/`).
    pub prefix: Option<String>,
    /// The organization id of an organization trail (`o-…`): its keys carry it.
    pub organization_id: Option<String>,
    /// The regions whose calls are read (default: `aws.region` and `us-east-1`, where IAM's and
    /// the other global services' calls are logged, and most console sign-ins).
    #[serde(default)]
    pub regions: Vec<String>,
    /// The bucket's region (default: `aws.region`).
    pub bucket_region: Option<String>,
    /// A role to assume for reading the bucket (a log-archive account), from the standard chain.
    pub assume_role_arn: Option<String>,
    /// Another S3 endpoint (a test server, or a VPC endpoint); addressed path-style.
    pub endpoint_url: Option<String>,
    /// How long after a call CloudTrail may deliver its log file: the last collection waits
    /// this long after a grant's end.
    #[serde(default = "default_delivery_delay")]
    pub delivery_delay: HumanDuration,
    /// How often a grant's activity is collected while it lasts.
    #[serde(default = "default_collect_every")]
    pub collect_every: HumanDuration,
    /// Write calls kept in full per grant; the rest are counted.
    #[serde(default = "default_max_write_records")]
    pub max_write_records: usize,
}

fn default_delivery_delay() -> HumanDuration {
    HumanDuration::from_secs(15 * 60)
}
fn default_collect_every() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}
fn default_max_write_records() -> usize {
    500
}

impl ActivitySettings {
    fn check(&self) -> Result<(), ConfigError> {
        let valid_bucket = (3..=63).contains(&self.bucket.len())
            && self.bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(ConfigError::Key {
                key: "aws.activity.bucket",
                reason: format!("{:?} is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')", self.bucket),
            });
        }
        if self.prefix.as_deref().is_some_and(|p| p.is_empty() || p.starts_with('/') || p.ends_with('/')) {
            return Err(ConfigError::Key {
                key: "aws.activity.prefix",
                reason: "is the trail's key prefix without a leading or trailing '/'".into(),
            });
        }
        if self.organization_id.as_deref().is_some_and(|o| !o.starts_with("o-")) {
            return Err(ConfigError::Key {
                key: "aws.activity.organization_id",
                reason: "is an organization id such as o-a1b2c3d4e5".into(),
            });
        }
        if self.collect_every.as_secs() < 1 {
            return Err(ConfigError::Key { key: "aws.activity.collect_every", reason: "must be at least 1s".into() });
        }
        Ok(())
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
