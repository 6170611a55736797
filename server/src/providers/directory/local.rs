//! The `local` directory: users, groups and memberships in Elevate's own database, seeded
//! from the configuration (or by `elevate demo`). Groups are flat.
use async_trait::async_trait;

use super::{DirectoryError, DirectoryProvider, DirectoryUser};
use crate::{
    config::DirectorySettings,
    domain::{GroupId, InvalidValue, Upn},
    store::{Store, StoreError, audit, local_directory, users},
};

pub struct LocalDirectory {
    store: Store,
}

impl LocalDirectory {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        DirectoryError::Transient { message: "local directory".into(), retry_after: None, source: Some(Box::new(e)) }
    }
}

fn user_from(row: entity::users::Model) -> Result<DirectoryUser, DirectoryError> {
    let upn = Upn::parse(&row.upn)
        .map_err(|e| DirectoryError::Permanent { code: "BadUser".into(), message: e.to_string() })?;
    Ok(DirectoryUser { id: row.id, upn, display_name: row.display_name, mail: row.mail })
}

#[async_trait]
impl DirectoryProvider for LocalDirectory {
    async fn resolve_user(&self, upn_or_id: &str) -> Result<DirectoryUser, DirectoryError> {
        match users::by_upn_or_id(self.store.conn(), upn_or_id).await? {
            Some(row) => user_from(row),
            None => Err(DirectoryError::NotFound(format!("user {upn_or_id}"))),
        }
    }

    async fn find_by_mail(&self, mail: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        let rows = users::by_mail(self.store.conn(), mail).await?;
        super::only_one(mail, rows.into_iter().map(user_from).collect::<Result<_, _>>()?)
    }

    async fn is_member(&self, group: &GroupId, user_id: &str) -> Result<bool, DirectoryError> {
        Ok(local_directory::is_member(self.store.conn(), group.as_str(), user_id).await?)
    }

    async fn add_member(&self, group: &GroupId, user_id: &str) -> Result<(), DirectoryError> {
        if !local_directory::group_exists(self.store.conn(), group.as_str()).await? {
            return Err(DirectoryError::NotFound(format!("group {group}")));
        }
        local_directory::add_member(self.store.conn(), group.as_str(), user_id).await?;
        Ok(())
    }

    async fn remove_member(&self, group: &GroupId, user_id: &str) -> Result<(), DirectoryError> {
        if !local_directory::group_exists(self.store.conn(), group.as_str()).await? {
            return Err(DirectoryError::NotFound(format!("group {group}")));
        }
        local_directory::remove_member(self.store.conn(), group.as_str(), user_id).await?;
        Ok(())
    }

    async fn list_members(&self, group: &GroupId) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let ids = local_directory::member_ids(self.store.conn(), group.as_str()).await?;
        users::by_ids(self.store.conn(), ids).await?.into_iter().map(user_from).collect()
    }

    async fn group_name(&self, group: &GroupId) -> Result<String, DirectoryError> {
        local_directory::group_name(self.store.conn(), group.as_str())
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("group {group}")))
    }

    async fn groups_of(&self, user: &str) -> Result<Vec<GroupId>, DirectoryError> {
        let user = self.resolve_user(user).await?;
        let ids = local_directory::group_ids_of(self.store.conn(), &user.id).await?;
        Ok(ids.iter().filter_map(|g| GroupId::parse(g).ok()).collect())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("configuration key `directory.{key}`: {source}")]
    Invalid { key: String, source: InvalidValue },
    #[error("configuration key `directory.groups[{group}].members`: {member} is not listed in directory.users")]
    UnknownMember { group: String, member: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes the configured users, groups and standing memberships into the local directory
/// (adding what is missing, never removing), with an audit event for each membership added.
pub async fn seed(store: &Store, settings: &DirectorySettings) -> Result<(), SeedError> {
    let mut parsed = Vec::new();
    for (i, u) in settings.users.iter().enumerate() {
        let upn = Upn::parse(&u.upn).map_err(|source| SeedError::Invalid { key: format!("users[{i}].upn"), source })?;
        parsed.push(DirectoryUser {
            id: upn.as_str().to_owned(),
            display_name: u.display_name.clone().unwrap_or_else(|| upn.as_str().to_owned()),
            mail: u.mail.clone().or_else(|| Some(upn.as_str().to_owned())),
            upn,
        });
    }
    let tx = store.begin().await?;
    for user in &parsed {
        users::upsert(&tx, user).await?;
    }
    for (i, g) in settings.groups.iter().enumerate() {
        let id =
            GroupId::parse(&g.id).map_err(|source| SeedError::Invalid { key: format!("groups[{i}].id"), source })?;
        local_directory::upsert_group(&tx, id.as_str(), g.display_name.as_deref().unwrap_or(id.as_str())).await?;
        for member in &g.members {
            let upn = Upn::parse(member)
                .map_err(|source| SeedError::Invalid { key: format!("groups[{i}].members"), source })?;
            if !parsed.iter().any(|u| u.upn == upn) {
                return Err(SeedError::UnknownMember { group: g.id.clone(), member: member.clone() });
            }
            if local_directory::add_member(&tx, id.as_str(), upn.as_str()).await? {
                let details =
                    serde_json::json!({ "group": id.as_str(), "user": upn.as_str(), "source": "configuration" });
                audit::append(
                    &tx,
                    audit::NewEvent::system("directory.member_seeded", audit::Subject::Group(id.as_str()), details),
                )
                .await?;
            }
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
