//! `elevate aws inventory`: the read-only review of an account before it moves to Entra ID
//! federation — IAM users, groups, roles, customer-managed policies and SAML providers — with
//! the findings the reference guidance calls risky.
use aws_sdk_iam::types::PolicyScopeType;
use serde::Serialize;
use serde_json::Value;

use super::{AccountClient, AwsError, classify, decode_policy};

#[derive(Debug, Serialize)]
pub struct Inventory {
    pub account_id: String,
    pub users: Vec<UserEntry>,
    pub groups: Vec<GroupEntry>,
    pub service_linked_roles: Vec<RoleEntry>,
    pub custom_roles: Vec<RoleEntry>,
    pub customer_policies: Vec<PolicyEntry>,
    pub saml_providers: Vec<String>,
    pub findings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct UserEntry {
    pub name: String,
    /// Days since the console password was set; `None` without console access.
    pub password_age_days: Option<i64>,
    pub access_keys: Vec<AccessKeyEntry>,
    pub mfa: bool,
    pub groups: Vec<String>,
    pub attached_policies: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AccessKeyEntry {
    pub id: String,
    pub age_days: i64,
    pub active: bool,
}

#[derive(Debug, Serialize)]
pub struct GroupEntry {
    pub name: String,
    pub members: Vec<String>,
    pub attached_policies: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RoleEntry {
    pub name: String,
    pub attached_policies: Vec<String>,
    pub trust: Value,
}

#[derive(Debug, Serialize)]
pub struct PolicyEntry {
    pub name: String,
    pub arn: String,
    pub attached_to: Vec<String>,
}

const ADMIN: &str = "AdministratorAccess";

fn age_secs(created: Option<&aws_sdk_iam::primitives::DateTime>, now: i64) -> i64 {
    created.map_or(0, |c| now - c.secs())
}

impl AccountClient {
    /// Reads everything; `max_key_age_secs` is the age from which an access key is a finding.
    pub async fn inventory(&self, max_key_age_secs: i64) -> Result<Inventory, AwsError> {
        let now = chrono::Utc::now().timestamp();
        let c = &self.client;
        let mut findings = Vec::new();

        let mut users = Vec::new();
        let all_users = c
            .list_users()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("ListUsers", "users", e))?;
        for u in all_users {
            let name = u.user_name().to_owned();
            let password_age_days = match c.get_login_profile().user_name(&name).send().await {
                Ok(out) => out.login_profile().map(|p| age_secs(Some(p.create_date()), now) / 86_400),
                Err(e) => match classify("GetLoginProfile", &name, e) {
                    AwsError::NotFound(_) => None,
                    other => return Err(other),
                },
            };
            let keys =
                c.list_access_keys().user_name(&name).send().await.map_err(|e| classify("ListAccessKeys", &name, e))?;
            let access_keys: Vec<AccessKeyEntry> = keys
                .access_key_metadata()
                .iter()
                .map(|k| AccessKeyEntry {
                    id: k.access_key_id().unwrap_or_default().to_owned(),
                    age_days: age_secs(k.create_date(), now) / 86_400,
                    active: k.status().is_some_and(|s| s.as_str() == "Active"),
                })
                .collect();
            for k in keys.access_key_metadata() {
                let age = age_secs(k.create_date(), now);
                if age > max_key_age_secs {
                    findings.push(format!(
                        "user {name}: access key {} is {} days old",
                        k.access_key_id().unwrap_or_default(),
                        age / 86_400
                    ));
                }
            }
            let mfa = !c
                .list_mfa_devices()
                .user_name(&name)
                .send()
                .await
                .map_err(|e| classify("ListMFADevices", &name, e))?
                .mfa_devices()
                .is_empty();
            if !mfa {
                let console = if password_age_days.is_some() { " (has console access)" } else { "" };
                findings.push(format!("user {name}: no MFA device{console}"));
            }
            let groups: Vec<String> = c
                .list_groups_for_user()
                .user_name(&name)
                .send()
                .await
                .map_err(|e| classify("ListGroupsForUser", &name, e))?
                .groups()
                .iter()
                .map(|g| g.group_name().to_owned())
                .collect();
            let attached: Vec<String> = c
                .list_attached_user_policies()
                .user_name(&name)
                .send()
                .await
                .map_err(|e| classify("ListAttachedUserPolicies", &name, e))?
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_owned))
                .collect();
            if attached.iter().any(|p| p == ADMIN) {
                findings.push(format!("user {name}: holds {ADMIN} directly"));
            }
            users.push(UserEntry { name, password_age_days, access_keys, mfa, groups, attached_policies: attached });
        }

        let mut groups = Vec::new();
        let all_groups = c
            .list_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("ListGroups", "groups", e))?;
        for g in all_groups {
            let name = g.group_name().to_owned();
            let members: Vec<String> = c
                .get_group()
                .group_name(&name)
                .send()
                .await
                .map_err(|e| classify("GetGroup", &name, e))?
                .users()
                .iter()
                .map(|u| u.user_name().to_owned())
                .collect();
            let attached: Vec<String> = c
                .list_attached_group_policies()
                .group_name(&name)
                .send()
                .await
                .map_err(|e| classify("ListAttachedGroupPolicies", &name, e))?
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_owned))
                .collect();
            if attached.iter().any(|p| p == ADMIN) {
                findings.push(format!(
                    "group {name}: grants {ADMIN} to {}",
                    if members.is_empty() { "nobody yet".into() } else { members.join(", ") }
                ));
            }
            groups.push(GroupEntry { name, members, attached_policies: attached });
        }

        let (mut service_linked_roles, mut custom_roles) = (Vec::new(), Vec::new());
        let roles = c
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("ListRoles", "roles", e))?;
        for r in roles {
            let (attached, _, _) = self.role_policies(r.role_name()).await?;
            let entry = RoleEntry {
                name: r.role_name().to_owned(),
                attached_policies: attached,
                trust: r.assume_role_policy_document().map(decode_policy).unwrap_or(Value::Null),
            };
            if r.path().starts_with("/aws-service-role/") {
                service_linked_roles.push(entry);
            } else {
                custom_roles.push(entry);
            }
        }

        let mut customer_policies = Vec::new();
        let policies = c
            .list_policies()
            .scope(PolicyScopeType::Local)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("ListPolicies", "policies", e))?;
        for p in policies {
            let arn = p.arn().unwrap_or_default().to_owned();
            let entities = c
                .list_entities_for_policy()
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| classify("ListEntitiesForPolicy", &arn, e))?;
            let attached_to = entities
                .policy_users()
                .iter()
                .filter_map(|u| u.user_name().map(|n| format!("user {n}")))
                .chain(entities.policy_groups().iter().filter_map(|g| g.group_name().map(|n| format!("group {n}"))))
                .chain(entities.policy_roles().iter().filter_map(|r| r.role_name().map(|n| format!("role {n}"))))
                .collect();
            customer_policies.push(PolicyEntry {
                name: p.policy_name().unwrap_or_default().to_owned(),
                arn,
                attached_to,
            });
        }

        let saml_providers: Vec<String> = c
            .list_saml_providers()
            .send()
            .await
            .map_err(|e| classify("ListSAMLProviders", "SAML providers", e))?
            .saml_provider_list()
            .iter()
            .filter_map(|p| p.arn().map(str::to_owned))
            .collect();
        if saml_providers.len() > 1 {
            findings.push(format!(
                "{} SAML providers (expected one, Entra ID's): {}",
                saml_providers.len(),
                saml_providers.join(", ")
            ));
        }

        Ok(Inventory {
            account_id: self.settings.account_id.to_string(),
            users,
            groups,
            service_linked_roles,
            custom_roles,
            customer_policies,
            saml_providers,
            findings,
        })
    }
}
