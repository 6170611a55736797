//! The policy's profiles against AWS: every mapped role exists, trusts the configured SAML
//! provider, and how risky it is; plus when its sessions outlive a grant.
use std::collections::HashMap;

use crate::{
    config::SessionNameClaim,
    domain::HumanDuration,
    policy::{Policy, Profile},
    providers::aws::{AwsError, AwsIam, RiskTier, identity_center::IdentityCenter, trusts_saml_provider},
};

/// What start-up (and `elevate policy check --aws`) learned about the mapped roles.
pub struct AwsMapping {
    pub iam: AwsIam,
    /// The identity store, when a profile targets IAM Identity Center.
    pub identity_center: Option<IdentityCenter>,
    /// How long to wait for SCIM before adding an Identity Center membership directly.
    pub identity_center_wait_ms: i64,
    pub session_name: SessionNameClaim,
    /// Risk tier of each profile's role, by profile key.
    pub risk: HashMap<String, RiskTier>,
}

impl AwsMapping {
    /// Whether ending a grant of this profile revokes the user's live sessions: as the
    /// profile says, or else for high-risk roles.
    pub fn revokes_sessions(&self, profile: &Profile) -> bool {
        profile.aws_role_arn.is_some()
            && profile.revoke_sessions.unwrap_or_else(|| self.risk.get(profile.key.as_str()) == Some(&RiskTier::High))
    }
}

#[derive(Debug, Default)]
pub struct MappingReport {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub risk: HashMap<String, RiskTier>,
}

/// Checks every profile that names an AWS role. Transient AWS failures are errors too: a
/// check that could not look is not a pass.
pub async fn check(iam: &AwsIam, policy: &Policy) -> MappingReport {
    let mut report = MappingReport::default();
    for p in policy.profiles() {
        let Some(arn) = &p.aws_role_arn else { continue };
        let key = p.key.as_str();
        let (account, role) = match iam.role(arn).await {
            Ok(found) => found,
            Err(AwsError::NotFound(_)) => {
                report.errors.push(format!("profile {key}: role {arn} does not exist"));
                continue;
            }
            Err(e) => {
                report.errors.push(format!("profile {key}: {e}"));
                continue;
            }
        };
        let provider = &account.settings.saml_provider_arn;
        if !trusts_saml_provider(&role.trust_policy, provider) {
            report.errors.push(format!("profile {key}: role {arn} does not trust {provider} (sts:AssumeRoleWithSAML)"));
        }
        let risk = match account.role_policies(&role.name).await {
            Ok((_, _, risk)) => risk,
            Err(e) => {
                report.errors.push(format!("profile {key}: {e}"));
                continue;
            }
        };
        report.risk.insert(key.to_owned(), risk);
        let session = HumanDuration::from_secs(u64::try_from(role.max_session_secs).unwrap_or(0));
        if session > p.min_duration && !p.revoke_sessions.unwrap_or(risk == RiskTier::High) {
            report.warnings.push(format!(
                "profile {key}: a session of {} may last {session} (MaxSessionDuration), longer than a grant of {}; \
                 set revoke_sessions = true to end sessions with the grant",
                role.name, p.min_duration
            ));
        }
    }
    report
}
