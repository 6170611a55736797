//! Which roles Entra ID federates into (`sts:AssumeRoleWithSAML` from the configured SAML
//! provider), what they allow, and how risky handing them out is.
use serde_json::Value;

use super::{AccountClient, AwsError, classify, decode_policy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    Low,
    Medium,
    High,
}

impl RiskTier {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "low",
            RiskTier::Medium => "medium",
            RiskTier::High => "high",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DiscoveredRole {
    pub name: String,
    pub arn: String,
    pub max_session_secs: i64,
    pub attached: Vec<String>,
    pub inline: Vec<String>,
    pub risk: RiskTier,
}

/// A JSON value that may be one string or a list of strings.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => vec![],
    }
}

/// Does this trust policy let `provider_arn` federate into the role over SAML?
pub fn trusts_saml_provider(trust: &Value, provider_arn: &str) -> bool {
    statements(trust).iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"]).contains(&"sts:AssumeRoleWithSAML")
            && strings(&s["Principal"]["Federated"]).contains(&provider_arn)
    })
}

/// High: administrator or IAM-administrator access, or `*` on `*` inline. Medium: another
/// full-access or power-user policy. Low: the rest.
pub fn risk(attached: &[String], inline_documents: &[Value]) -> RiskTier {
    let star_on_star = inline_documents.iter().flat_map(statements).any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"]).iter().any(|a| *a == "*" || *a == "*:*")
            && strings(&s["Resource"]).contains(&"*")
    });
    if star_on_star || attached.iter().any(|p| p == "AdministratorAccess" || p == "IAMFullAccess") {
        RiskTier::High
    } else if attached.iter().any(|p| p.ends_with("FullAccess") || p == "PowerUserAccess") {
        RiskTier::Medium
    } else {
        RiskTier::Low
    }
}

impl AccountClient {
    /// The attached policies' names, the inline policies' names and documents, and the risk.
    pub async fn role_policies(&self, role: &str) -> Result<(Vec<String>, Vec<String>, RiskTier), AwsError> {
        let attached = self
            .client
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("ListAttachedRolePolicies", role, e))?;
        let attached: Vec<String> = attached.iter().filter_map(|p| p.policy_name().map(str::to_owned)).collect();
        let inline = self.inline_policy_names(role).await?;
        let mut documents = Vec::new();
        for name in inline.iter().filter(|n| n.as_str() != super::revocation::POLICY_NAME) {
            documents.push(self.inline_policy(role, name).await?);
        }
        let risk = risk(&attached, &documents);
        Ok((attached, inline, risk))
    }

    /// Every role of the account that the configured SAML provider federates into.
    pub async fn discover(&self) -> Result<Vec<DiscoveredRole>, AwsError> {
        let roles = self
            .client
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("ListRoles", "roles", e))?;
        let mut found = Vec::new();
        for role in roles {
            let trust = role.assume_role_policy_document().map(decode_policy).unwrap_or(Value::Null);
            if !trusts_saml_provider(&trust, &self.settings.saml_provider_arn) {
                continue;
            }
            let (attached, inline, risk) = self.role_policies(role.role_name()).await?;
            found.push(DiscoveredRole {
                name: role.role_name().to_owned(),
                arn: role.arn().to_owned(),
                max_session_secs: i64::from(role.max_session_duration().unwrap_or(3600)),
                attached,
                inline,
                risk,
            });
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn trust_and_risk() {
        let saml = "arn:aws:iam::123456789012:saml-provider/AzureAD";
        let trust = json!({ "Statement": [{ "Effect": "Allow", "Principal": { "Federated": saml }, "Action": "sts:AssumeRoleWithSAML" }] });
        assert!(trusts_saml_provider(&trust, saml));
        assert!(!trusts_saml_provider(&trust, "arn:aws:iam::123456789012:saml-provider/Other"));
        assert_eq!(risk(&["AdministratorAccess".into()], &[]), RiskTier::High);
        assert_eq!(risk(&["AmazonS3FullAccess".into()], &[]), RiskTier::Medium);
        assert_eq!(risk(&["ReadOnlyAccess".into()], &[]), RiskTier::Low);
        let star = json!({ "Statement": { "Effect": "Allow", "Action": "*", "Resource": "*" } });
        assert_eq!(risk(&[], &[star]), RiskTier::High);
    }
}
