//! The policy's profiles against AWS: every mapped role exists, trusts the configured SAML
//! provider, and how risky it is; plus when its sessions outlive a grant.
use std::collections::HashMap;

use crate::{
    domain::HumanDuration,
    policy::Policy,
    providers::aws::{AwsError, AwsIam, RiskTier, trusts_saml_provider},
};

pub use crate::broker::AwsMapping;

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
