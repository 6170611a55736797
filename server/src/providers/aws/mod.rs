//! AWS IAM: the roles Entra ID federates into, their risk, and revocation of live role
//! sessions when a grant ends. One IAM client per configured account (cross-account through
//! `assume_role_arn`); credentials from the standard chain.
pub mod activity;
mod discovery;
pub mod identity_center;
mod inventory;
pub mod revocation;
mod timing;

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region, sts::AssumeRoleProvider};
use aws_sdk_iam::{Client, error::ProvideErrorMetadata, error::SdkError};
use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::config::{AwsAccount, AwsSettings};
pub use discovery::{DiscoveredRole, RiskTier, trusts_saml_provider};
pub use inventory::Inventory;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("AWS account {0} is not configured in [aws]")]
    UnknownAccount(String),
    #[error("{0} is not an IAM role ARN")]
    BadArn(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// Worth retrying (throttling, a network fault, IAM unavailable).
    #[error("AWS {operation} failed, will retry: {message}")]
    Transient { operation: &'static str, message: String },
    #[error("AWS {operation} refused: {code}: {message}")]
    Permanent { operation: &'static str, code: String, message: String },
}

/// One classification for every AWS SDK error (IAM and the identity store share the SDK's
/// error type): what does not exist, what is worth retrying, what is refused for good.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
    what: &str,
    err: SdkError<E, R>,
) -> AwsError {
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            match code.as_str() {
                "NoSuchEntity" | "ResourceNotFoundException" => AwsError::NotFound(what.to_owned()),
                "Throttling"
                | "ThrottlingException"
                | "ServiceFailure"
                | "InternalServerException"
                | "RequestExpired"
                | "SlowDown"
                | "InternalError"
                | "ServiceUnavailable" => AwsError::Transient { operation, message: format!("{code}: {message}") },
                _ => AwsError::Permanent { operation, code, message },
            }
        }
        _ => AwsError::Transient { operation, message: aws_sdk_iam::error::DisplayErrorContext(&err).to_string() },
    }
}

/// A role as IAM describes it.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub arn: String,
    /// `RoleId` (`AROA…`): the first half of a role session's `aws:userid`.
    pub id: String,
    pub max_session_secs: i64,
    pub trust_policy: Value,
}

/// Account id and role name of a role ARN (`arn:aws:iam::123456789012:role/path/Name`).
pub fn parse_role_arn(arn: &str) -> Result<(String, String), AwsError> {
    let bad = || AwsError::BadArn(arn.to_owned());
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, "iam", _, account, resource] = parts.as_slice() else { return Err(bad()) };
    let name =
        resource.strip_prefix("role/").and_then(|r| r.rsplit('/').next()).filter(|n| !n.is_empty()).ok_or_else(bad)?;
    Ok(((*account).to_owned(), name.to_owned()))
}

/// IAM returns policy documents URL-encoded.
pub fn decode_policy(text: &str) -> Value {
    let decoded = percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or(Value::Null)
}

pub struct AccountClient {
    pub settings: AwsAccount,
    client: Client,
}

pub struct AwsIam {
    accounts: BTreeMap<String, AccountClient>,
}

impl AwsIam {
    pub async fn new(settings: &AwsSettings) -> Self {
        let mut accounts = BTreeMap::new();
        for account in &settings.accounts {
            let loader = || {
                let loader =
                    aws_config::defaults(BehaviorVersion::latest()).region(Region::new(settings.region.clone()));
                match &account.endpoint_url {
                    Some(url) => loader.endpoint_url(url),
                    None => loader,
                }
            };
            let mut config = loader().load().await;
            if let Some(role) = &account.assume_role_arn {
                let provider =
                    AssumeRoleProvider::builder(role).session_name("elevate").configure(&config).build().await;
                config = loader().credentials_provider(provider).load().await;
            }
            accounts.insert(
                account.account_id.to_string(),
                AccountClient {
                    settings: account.clone(),
                    client: Client::from_conf(
                        aws_sdk_iam::config::Builder::from(&config).interceptor(timing::CallTiming).build(),
                    ),
                },
            );
        }
        Self { accounts }
    }

    pub fn accounts(&self) -> impl Iterator<Item = &AccountClient> {
        self.accounts.values()
    }

    pub fn account(&self, id: &str) -> Result<&AccountClient, AwsError> {
        self.accounts.get(id).ok_or_else(|| AwsError::UnknownAccount(id.to_owned()))
    }

    /// The role an ARN names, in the account it belongs to.
    pub async fn role(&self, arn: &str) -> Result<(&AccountClient, Role), AwsError> {
        let (account_id, name) = parse_role_arn(arn)?;
        let account = self.account(&account_id)?;
        Ok((account, account.role(&name).await?))
    }

    /// Denies `session_name`'s sessions of the role issued before `before`, in the role's
    /// Elevate-managed inline policy (merged, pruned, kept within IAM's size limit).
    pub async fn revoke_sessions(
        &self,
        role_arn: &str,
        session_name: &str,
        before: DateTime<Utc>,
    ) -> Result<usize, AwsError> {
        let (account, role) = self.role(role_arn).await?;
        let userid = format!("{}:{session_name}", role.id);
        account.update_revocations(&role, |s| revocation::add(s, &userid, before)).await
    }

    /// Removes the statements of a role's policy that can no longer match a live session.
    pub async fn prune(&self, role_arn: &str) -> Result<usize, AwsError> {
        let (account, role) = self.role(role_arn).await?;
        account.update_revocations(&role, |s| s).await
    }
}

impl AccountClient {
    pub async fn role(&self, name: &str) -> Result<Role, AwsError> {
        let out = self
            .client
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify("GetRole", &format!("role {name}"), e))?;
        let role = out.role().ok_or_else(|| AwsError::NotFound(format!("role {name}")))?;
        Ok(Role {
            name: role.role_name().to_owned(),
            arn: role.arn().to_owned(),
            id: role.role_id().to_owned(),
            max_session_secs: i64::from(role.max_session_duration().unwrap_or(3600)),
            trust_policy: role.assume_role_policy_document().map(decode_policy).unwrap_or(Value::Null),
        })
    }

    /// Reads Elevate's inline policy of `role`, applies `change`, prunes what can no longer
    /// match, and writes it back (or deletes it when empty). Returns the statements kept.
    async fn update_revocations(
        &self,
        role: &Role,
        change: impl FnOnce(Vec<Value>) -> Vec<Value>,
    ) -> Result<usize, AwsError> {
        let current =
            match self.client.get_role_policy().role_name(&role.name).policy_name(revocation::POLICY_NAME).send().await
            {
                Ok(out) => Some(decode_policy(out.policy_document())),
                Err(e) => match classify("GetRolePolicy", "policy", e) {
                    AwsError::NotFound(_) => None,
                    other => return Err(other),
                },
            };
        let max_session = chrono::Duration::seconds(role.max_session_secs);
        let statements = revocation::prune(change(revocation::statements(current.as_ref())), Utc::now(), max_session);
        let kept = statements.len();
        if statements.is_empty() {
            if current.is_some() {
                self.client
                    .delete_role_policy()
                    .role_name(&role.name)
                    .policy_name(revocation::POLICY_NAME)
                    .send()
                    .await
                    .map_err(|e| classify("DeleteRolePolicy", "policy", e))?;
            }
            return Ok(0);
        }
        let budget = revocation::ROLE_INLINE_LIMIT.saturating_sub(self.other_inline_size(&role.name).await?);
        let document = revocation::document(statements, budget);
        self.client
            .put_role_policy()
            .role_name(&role.name)
            .policy_name(revocation::POLICY_NAME)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| classify("PutRolePolicy", &format!("role {}", role.name), e))?;
        Ok(kept)
    }

    /// Characters used by the role's other inline policies (IAM counts them all together).
    async fn other_inline_size(&self, role: &str) -> Result<usize, AwsError> {
        let mut total = 0;
        for name in self.inline_policy_names(role).await? {
            if name != revocation::POLICY_NAME {
                total += self.inline_policy(role, &name).await?.to_string().len();
            }
        }
        Ok(total)
    }

    pub async fn inline_policy_names(&self, role: &str) -> Result<Vec<String>, AwsError> {
        let out = self
            .client
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| classify("ListRolePolicies", role, e))?;
        Ok(out.policy_names().to_vec())
    }

    pub async fn inline_policy(&self, role: &str, name: &str) -> Result<Value, AwsError> {
        let out = self
            .client
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| classify("GetRolePolicy", name, e))?;
        Ok(decode_policy(out.policy_document()))
    }
}
