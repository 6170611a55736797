//! The `graph` directory: Microsoft Entra ID through Microsoft Graph v1.0, following Graph's
//! documented semantics (adding a member twice, removing a non-member, throttling: see the
//! README, "Microsoft Entra ID").
mod batch;
mod client;
mod pacing;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use super::{DirectoryError, DirectoryProvider, DirectoryUser};
use crate::providers::entra_app::{TokenError, TokenSource};
use crate::{
    config::GraphSettings,
    domain::{GroupId, Upn},
};
use client::{GraphClient, segment};

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Token(#[from] crate::providers::entra_app::TokenError),
    #[error("Graph answered {status}: {code}: {message}")]
    Status { status: u16, code: String, message: String, retry_after: Option<Duration> },
    #[error("Graph is unreachable")]
    Network(#[source] std::sync::Arc<reqwest::Error>),
    /// The request went out in a `$batch` whose sender stopped before the answer came: it may
    /// or may not have been carried out.
    #[error("the answer to a batched Graph request was lost")]
    Abandoned,
    /// The write quota has no turn for this write within a call's patience.
    #[error("Graph's write quota is spent; this write's turn comes in {0:?}")]
    Paced(Duration),
    #[error("the Graph client is shut down")]
    ShutDown,
    #[error("unexpected answer from Graph: {0}")]
    Decode(String),
    #[error("{0}")]
    Credential(String),
}

impl From<GraphError> for DirectoryError {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::Status { status: 429 | 500 | 502 | 503 | 504, code, message, retry_after } => {
                DirectoryError::Transient { message: format!("{code}: {message}"), retry_after, source: None }
            }
            GraphError::Network(e) => DirectoryError::Transient {
                message: "Graph is unreachable".into(),
                retry_after: None,
                source: Some(Box::new(e)),
            },
            e @ GraphError::Abandoned => {
                DirectoryError::Transient { message: e.to_string(), retry_after: None, source: None }
            }
            e @ GraphError::Paced(wait) => {
                DirectoryError::Transient { message: e.to_string(), retry_after: Some(wait), source: None }
            }
            GraphError::Status { code, message, .. } | GraphError::Token(TokenError::Refused { code, message, .. }) => {
                DirectoryError::Permanent { code, message }
            }
            GraphError::Token(TokenError::Network(e)) => DirectoryError::Transient {
                message: "Entra ID is unreachable".into(),
                retry_after: None,
                source: Some(Box::new(e)),
            },
            other => DirectoryError::Failed(Box::new(other)),
        }
    }
}

pub struct GraphDirectory {
    client: GraphClient,
    provisioning: Option<crate::config::ProvisioningSettings>,
}

const USER_FIELDS: &str = "id,userPrincipalName,displayName,mail";

fn is_status(e: &GraphError, want: u16) -> bool {
    matches!(e, GraphError::Status { status, .. } if *status == want)
}

pub(crate) fn user_from(v: &Value) -> Result<DirectoryUser, DirectoryError> {
    let bad = |what: &str| DirectoryError::Permanent {
        code: "Elevate".into(),
        message: format!("Graph user without {what}"),
    };
    let id = v["id"].as_str().ok_or_else(|| bad("id"))?.to_owned();
    let upn = v["userPrincipalName"].as_str().ok_or_else(|| bad("userPrincipalName"))?;
    let upn =
        Upn::parse(upn).map_err(|e| DirectoryError::Permanent { code: "Elevate".into(), message: e.to_string() })?;
    Ok(DirectoryUser {
        id,
        display_name: v["displayName"].as_str().unwrap_or(upn.as_str()).to_owned(),
        mail: v["mail"].as_str().map(str::to_owned),
        upn,
    })
}

impl GraphDirectory {
    pub fn new(settings: &GraphSettings) -> Result<Self, GraphError> {
        let credential = settings.credential().map_err(|e| GraphError::Credential(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout.get())
            .user_agent(concat!("elevate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Network(std::sync::Arc::new(e)))?;
        let tokens = TokenSource::new(
            http.clone(),
            &settings.authority_url,
            &settings.tenant_id,
            &settings.client_id,
            &settings.scope,
            credential,
            "graph.certificate_file",
        )?;
        Ok(Self {
            client: GraphClient::new(http, &settings.base_url, tokens, settings.max_concurrency, settings.max_retries),
            provisioning: settings.provisioning.clone(),
        })
    }

    /// Gets a token: a bad secret, certificate or tenant shows here, at start-up.
    pub async fn check_credentials(&self) -> Result<(), GraphError> {
        self.client.tokens.get().await.map(|_| ()).map_err(GraphError::from)
    }

    async fn group_exists(&self, group: &GroupId) -> Result<bool, GraphError> {
        let url = self.client.url(&format!("/groups/{}?$select=id", segment(group.as_str())));
        match self.client.call(Method::GET, &url, None).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl DirectoryProvider for GraphDirectory {
    async fn resolve_user(&self, upn_or_id: &str) -> Result<DirectoryUser, DirectoryError> {
        let url = self.client.url(&format!("/users/{}?$select={USER_FIELDS}", segment(upn_or_id)));
        match self.client.call(Method::GET, &url, None).await {
            Ok(Some(v)) => user_from(&v),
            Ok(None) => Err(DirectoryError::NotFound(format!("user {upn_or_id}"))),
            Err(e) if is_status(&e, 404) => Err(DirectoryError::NotFound(format!("user {upn_or_id}"))),
            Err(e) => Err(e.into()),
        }
    }

    /// `$filter=mail eq '…' or userPrincipalName eq '…'` (quotes doubled, as OData escapes
    /// them): the user with that mail, or without a mail and with that UPN (as `address` says).
    async fn find_by_mail(&self, mail: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        let quoted = mail.replace('\'', "''");
        let filter = format!("mail eq '{quoted}' or userPrincipalName eq '{quoted}'");
        let filter = percent_encoding::utf8_percent_encode(&filter, percent_encoding::NON_ALPHANUMERIC);
        let url = self.client.url(&format!("/users?$filter={filter}&$select={USER_FIELDS}"));
        let users = self.client.get_all(url).await?;
        let users: Vec<DirectoryUser> = users.iter().map(user_from).collect::<Result<_, _>>()?;
        let addressed = users.into_iter().filter(|u| u.address().eq_ignore_ascii_case(mail)).collect();
        super::only_one(mail, addressed)
    }

    /// Direct membership (what add and remove change): the user's `memberOf`.
    async fn is_member(&self, group: &GroupId, user_id: &str) -> Result<bool, DirectoryError> {
        let url = self.client.url(&format!("/users/{}/memberOf?$select=id&$top=999", segment(user_id)));
        let groups = self.client.get_all(url).await?;
        Ok(groups.iter().any(|g| g["id"].as_str() == Some(group.as_str())))
    }

    async fn add_member(&self, group: &GroupId, user_id: &str) -> Result<(), DirectoryError> {
        let url = self.client.url(&format!("/groups/{}/members/$ref", segment(group.as_str())));
        let body = json!({ "@odata.id": self.client.url(&format!("/directoryObjects/{}", segment(user_id))) });
        match self.client.call(Method::POST, &url, Some(&body)).await {
            Ok(_) => Ok(()),
            // Graph answers 400 for an existing member; only the message tells this case
            // apart from other bad requests, so both code and message are matched.
            Err(GraphError::Status { status: 400, code, message, .. })
                if code == "Request_BadRequest" && message.contains("already exist") =>
            {
                Ok(())
            }
            Err(GraphError::Status { status: 404, message, .. }) => Err(DirectoryError::NotFound(message)),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_member(&self, group: &GroupId, user_id: &str) -> Result<(), DirectoryError> {
        let url = self.client.url(&format!("/groups/{}/members/{}/$ref", segment(group.as_str()), segment(user_id)));
        match self.client.call(Method::DELETE, &url, None).await {
            Ok(_) => Ok(()),
            // Not a member (404, or 400 "do not exist"): done — provided the group exists.
            Err(GraphError::Status { status, code, message, .. })
                if status == 404
                    || (status == 400 && code == "Request_BadRequest" && message.contains("do not exist")) =>
            {
                if self.group_exists(group).await? {
                    Ok(())
                } else {
                    Err(DirectoryError::NotFound(format!("group {group}")))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn list_members(&self, group: &GroupId) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let url =
            self.client.url(&format!("/groups/{}/members?$select={USER_FIELDS}&$top=999", segment(group.as_str())));
        let members = match self.client.get_all(url).await {
            Ok(m) => m,
            Err(e) if is_status(&e, 404) => return Err(DirectoryError::NotFound(format!("group {group}"))),
            Err(e) => return Err(e.into()),
        };
        members.iter().filter(|m| m["@odata.type"] == "#microsoft.graph.user").map(user_from).collect()
    }

    /// `/users/{id | userPrincipalName}/transitiveMemberOf`: one call (per 999 groups) for a
    /// user named either way.
    async fn groups_of(&self, user: &str) -> Result<Vec<GroupId>, DirectoryError> {
        let url = self.client.url(&format!("/users/{}/transitiveMemberOf?$select=id&$top=999", segment(user)));
        let groups = match self.client.get_all(url).await {
            Ok(groups) => groups,
            Err(e) if is_status(&e, 404) => return Err(DirectoryError::NotFound(format!("user {user}"))),
            Err(e) => return Err(e.into()),
        };
        Ok(groups.iter().filter_map(|g| g["id"].as_str()).filter_map(|id| GroupId::parse(id).ok()).collect())
    }

    fn provisions_on_demand(&self) -> bool {
        self.provisioning.is_some()
    }

    /// `provisionOnDemand` of the group with this one member, instead of waiting for the
    /// ~40-minute provisioning cycle (Graph allows 5 such calls per 10 s: 429s are retried).
    async fn provision_now(&self, group: &GroupId, user_id: &str) -> Result<(), DirectoryError> {
        let Some(p) = &self.provisioning else { return Ok(()) };
        let url = self.client.url(&format!(
            "/servicePrincipals/{}/synchronization/jobs/{}/provisionOnDemand",
            segment(&p.service_principal_id),
            segment(&p.job_id)
        ));
        let body = json!({ "parameters": [{
            "ruleId": p.rule_id,
            "subjects": [{
                "objectId": group.as_str(),
                "objectTypeName": "Group",
                "links": { "members": [{ "objectId": user_id, "objectTypeName": "User" }] },
            }],
        }]});
        self.client.call(Method::POST, &url, Some(&body)).await?;
        Ok(())
    }

    async fn group_name(&self, group: &GroupId) -> Result<String, DirectoryError> {
        let url = self.client.url(&format!("/groups/{}?$select=id,displayName", segment(group.as_str())));
        match self.client.call(Method::GET, &url, None).await {
            Ok(v) => Ok(v.and_then(|v| v["displayName"].as_str().map(str::to_owned)).unwrap_or_default()),
            Err(e) if is_status(&e, 404) => Err(DirectoryError::NotFound(format!("group {group}"))),
            Err(e) => Err(e.into()),
        }
    }
}
