//! IAM Identity Center's identity store: the group that mirrors an Entra group there, changed
//! directly so that removal does not wait for the ~40-minute SCIM cycle.
use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_identitystore::{
    Client,
    types::{AlternateIdentifier, MemberId, UniqueAttribute},
};
use aws_smithy_types::Document;

use super::{AwsError, classify};
use crate::{config::AwsSettings, policy::IdentityCenterTarget};

fn unique(path: &str, value: &str) -> Result<AlternateIdentifier, AwsError> {
    let attribute = UniqueAttribute::builder()
        .attribute_path(path)
        .attribute_value(Document::String(value.to_owned()))
        .build()
        .map_err(|e| AwsError::Permanent {
            operation: "identity store",
            code: "Build".into(),
            message: e.to_string(),
        })?;
    Ok(AlternateIdentifier::UniqueAttribute(attribute))
}

/// One identity-store client per region that a profile names.
pub struct IdentityCenter {
    clients: BTreeMap<String, Client>,
    default_region: String,
}

impl IdentityCenter {
    pub async fn new(settings: &AwsSettings, targets: impl Iterator<Item = &IdentityCenterTarget>) -> Self {
        let mut clients = BTreeMap::new();
        for region in targets.map(|t| t.region.clone().unwrap_or_else(|| settings.region.clone())) {
            if clients.contains_key(&region) {
                continue;
            }
            let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.clone()));
            if let Some(url) = &settings.identity_center_endpoint_url {
                loader = loader.endpoint_url(url);
            }
            let config = aws_sdk_identitystore::config::Builder::from(&loader.load().await)
                .interceptor(super::timing::CallTiming)
                .build();
            clients.insert(region, Client::from_conf(config));
        }
        Self { clients, default_region: settings.region.clone() }
    }

    fn client(&self, t: &IdentityCenterTarget) -> Result<&Client, AwsError> {
        let region = t.region.as_deref().unwrap_or(&self.default_region);
        self.clients.get(region).ok_or_else(|| AwsError::UnknownAccount(format!("identity store region {region}")))
    }

    /// The Identity Center group's id: the configured value if it is one, else by display name.
    pub async fn group_id(&self, t: &IdentityCenterTarget) -> Result<String, AwsError> {
        let client = self.client(t)?;
        match client
            .get_group_id()
            .identity_store_id(&t.identity_store_id)
            .alternate_identifier(unique("displayName", &t.group)?)
            .send()
            .await
        {
            Ok(out) => Ok(out.group_id().to_owned()),
            Err(e) => match classify("GetGroupId", "identity store entry", e) {
                AwsError::NotFound(_) => Ok(t.group.clone()),
                other => Err(other),
            },
        }
    }

    /// The user's id in the identity store (user name = UPN), once SCIM has created them.
    pub async fn user_id(&self, t: &IdentityCenterTarget, user_name: &str) -> Result<Option<String>, AwsError> {
        let client = self.client(t)?;
        match client
            .get_user_id()
            .identity_store_id(&t.identity_store_id)
            .alternate_identifier(unique("userName", user_name)?)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.user_id().to_owned())),
            Err(e) => match classify("GetUserId", "identity store entry", e) {
                AwsError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn membership_id(
        &self,
        t: &IdentityCenterTarget,
        group: &str,
        user: &str,
    ) -> Result<Option<String>, AwsError> {
        let out = self
            .client(t)?
            .get_group_membership_id()
            .identity_store_id(&t.identity_store_id)
            .group_id(group)
            .member_id(MemberId::UserId(user.to_owned()))
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(out.membership_id().to_owned())),
            Err(e) => match classify("GetGroupMembershipId", "identity store entry", e) {
                AwsError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Adds the membership unless it is there; true when Elevate added it.
    pub async fn add(&self, t: &IdentityCenterTarget, group: &str, user: &str) -> Result<bool, AwsError> {
        if self.membership_id(t, group, user).await?.is_some() {
            return Ok(false);
        }
        let out = self
            .client(t)?
            .create_group_membership()
            .identity_store_id(&t.identity_store_id)
            .group_id(group)
            .member_id(MemberId::UserId(user.to_owned()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) => match classify("CreateGroupMembership", "identity store entry", e) {
                AwsError::Permanent { code, .. } if code == "ConflictException" => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Removes the membership if it is there; true when there was one.
    pub async fn remove(&self, t: &IdentityCenterTarget, group: &str, user: &str) -> Result<bool, AwsError> {
        let Some(membership) = self.membership_id(t, group, user).await? else { return Ok(false) };
        let out = self
            .client(t)?
            .delete_group_membership()
            .identity_store_id(&t.identity_store_id)
            .membership_id(membership)
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) => match classify("DeleteGroupMembership", "identity store entry", e) {
                AwsError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// The user ids in the group.
    pub async fn members(&self, t: &IdentityCenterTarget, group: &str) -> Result<Vec<String>, AwsError> {
        let memberships = self
            .client(t)?
            .list_group_memberships()
            .identity_store_id(&t.identity_store_id)
            .group_id(group)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("ListGroupMemberships", "identity store entry", e))?;
        Ok(memberships
            .iter()
            .filter_map(|m| match m.member_id() {
                Some(MemberId::UserId(id)) => Some(id.clone()),
                _ => None,
            })
            .collect())
    }
}
