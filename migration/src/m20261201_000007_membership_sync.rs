//! Level-triggered memberships: one `memberships` row per (user, group) that holds what used
//! to live on each grant (standing access, whether Elevate may have added the user), process
//! heartbeats for leases that follow liveness, and the old edge jobs (add, expire, remove,
//! restore, drift removal) turned into syncs of the same membership key.
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD_KINDS: [&str; 5] =
    ["activate_grant", "expire_grant", "remove_membership", "restore_membership", "remove_drift"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Memberships::Table)
                .col(string(Memberships::UserId))
                .col(string(Memberships::GroupId))
                .col(string(Memberships::Upn))
                .col(boolean_null(Memberships::Standing))
                .col(big_integer_null(Memberships::AddedAt))
                .col(big_integer(Memberships::UpdatedAt))
                .primary_key(Index::create().col(Memberships::UserId).col(Memberships::GroupId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Processes::Table)
                .col(string(Processes::Id).primary_key())
                .col(string(Processes::Host))
                .col(big_integer(Processes::Pid))
                .col(big_integer(Processes::StartedAt))
                .col(big_integer(Processes::SeenAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_grants_membership")
                .table(Grants::Table)
                .col(Grants::UserId)
                .col(Grants::GroupId)
                .to_owned(),
        )
        .await?;
        carry_over_memberships(m).await?;
        let db = m.get_connection();
        let kinds: Vec<Expr> = OLD_KINDS.iter().map(|k| Expr::val(*k)).collect();
        let update = Query::update()
            .table(Jobs::Table)
            .value(Jobs::Kind, "sync_membership")
            .and_where(Expr::col(Jobs::Kind).is_in(kinds))
            .to_owned();
        db.execute(&update).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("idx_grants_membership").table(Grants::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Processes::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Memberships::Table).to_owned()).await
    }
}

/// One row per membership that an open grant holds, with the standing access the grants
/// learnt and, where Elevate may have added the user, since when.
async fn carry_over_memberships(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let select = Query::select()
        .columns([Grants::UserId, Grants::GroupId, Grants::Upn, Grants::Standing, Grants::ActivatedAt])
        .from(Grants::Table)
        .and_where(Expr::col(Grants::State).is_in(["activating", "active", "ending"]))
        .to_owned();
    let rows = db.query_all(&select).await?;
    for row in rows {
        let user: String = row.try_get("", "user_id")?;
        let group: String = row.try_get("", "group_id")?;
        let upn: String = row.try_get("", "upn")?;
        let standing: Option<bool> = row.try_get("", "standing")?;
        let activated: Option<i64> = row.try_get("", "activated_at")?;
        let added_at = match standing {
            Some(false) => Some(activated.unwrap_or(0)),
            _ => None,
        };
        let insert = Query::insert()
            .into_table(Memberships::Table)
            .columns([
                Memberships::UserId,
                Memberships::GroupId,
                Memberships::Upn,
                Memberships::Standing,
                Memberships::AddedAt,
                Memberships::UpdatedAt,
            ])
            .values_panic([
                user.into(),
                group.into(),
                upn.into(),
                standing.into(),
                added_at.into(),
                activated.unwrap_or(0).into(),
            ])
            .on_conflict(OnConflict::columns([Memberships::UserId, Memberships::GroupId]).do_nothing().to_owned())
            .to_owned();
        db.execute(&insert).await?;
    }
    Ok(())
}

#[derive(DeriveIden, Clone, Copy)]
enum Memberships {
    Table,
    UserId,
    GroupId,
    Upn,
    Standing,
    AddedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Processes {
    Table,
    Id,
    Host,
    Pid,
    StartedAt,
    SeenAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Table,
    UserId,
    GroupId,
    Upn,
    State,
    Standing,
    ActivatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Kind,
}
