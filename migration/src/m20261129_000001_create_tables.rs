//! The broker core's tables. Instants are Unix milliseconds (`big_integer`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(string(Users::Id).primary_key())
                .col(string_uniq(Users::Upn))
                .col(string(Users::DisplayName))
                .col(string_null(Users::Mail))
                .col(big_integer(Users::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LocalGroups::Table)
                .col(string(LocalGroups::Id).primary_key())
                .col(string(LocalGroups::DisplayName))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LocalGroupMembers::Table)
                .col(string(LocalGroupMembers::GroupId))
                .col(string(LocalGroupMembers::UserId))
                .col(big_integer(LocalGroupMembers::AddedAt))
                .primary_key(Index::create().col(LocalGroupMembers::GroupId).col(LocalGroupMembers::UserId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Requests::Table)
                .col(string(Requests::Id).primary_key())
                .col(string(Requests::Profile))
                .col(string(Requests::Requester))
                .col(string(Requests::RequesterId))
                .col(string(Requests::FiledBy))
                .col(string(Requests::Status))
                .col(integer(Requests::Stage))
                .col(integer(Requests::Version))
                .col(big_integer(Requests::DurationSeconds))
                .col(text_null(Requests::Justification))
                .col(string_null(Requests::Ticket))
                .col(string(Requests::GroupId))
                .col(string_null(Requests::Extends))
                .col(big_integer_null(Requests::ExtendsUntil))
                .col(big_integer_null(Requests::CoverageStart))
                .col(big_integer(Requests::CreatedAt))
                .col(big_integer(Requests::UpdatedAt))
                .col(big_integer(Requests::DecisionDueAt))
                .col(big_integer_null(Requests::ActivatedAt))
                .col(big_integer_null(Requests::ExpiresAt))
                .col(big_integer_null(Requests::EndedAt))
                .col(text_null(Requests::StatusReason))
                .to_owned(),
        )
        .await?;
        index(m, "idx_requests_status", Requests::Table, &[Requests::Status]).await?;
        index(m, "idx_requests_requester", Requests::Table, &[Requests::Requester]).await?;
        m.create_table(
            Table::create()
                .table(Decisions::Table)
                .col(pk_auto(Decisions::Id).big_integer())
                .col(string(Decisions::RequestId))
                .col(string(Decisions::Approver))
                .col(integer(Decisions::Stage))
                .col(string(Decisions::Decision))
                .col(text_null(Decisions::Comment))
                .col(big_integer(Decisions::DecidedAt))
                .to_owned(),
        )
        .await?;
        // One decision per approver and request, enforced by the database so that two racing
        // replicas cannot both record one.
        m.create_index(
            Index::create()
                .name("uq_decisions_request_approver")
                .table(Decisions::Table)
                .col(Decisions::RequestId)
                .col(Decisions::Approver)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Grants::Table)
                .col(string(Grants::Id).primary_key())
                .col(string_uniq(Grants::RequestId))
                .col(string(Grants::UserId))
                .col(string(Grants::Upn))
                .col(string(Grants::GroupId))
                .col(string(Grants::State))
                .col(boolean_null(Grants::Standing))
                .col(big_integer_null(Grants::ActivatedAt))
                .col(big_integer_null(Grants::ExpiresAt))
                .col(big_integer_null(Grants::EndedAt))
                .col(string_null(Grants::EndOutcome))
                .to_owned(),
        )
        .await?;
        index(m, "idx_grants_user_group", Grants::Table, &[Grants::UserId, Grants::GroupId]).await?;
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(pk_auto(Jobs::Id).big_integer())
                .col(string(Jobs::Kind))
                .col(string_null(Jobs::GrantId))
                .col(string_null(Jobs::LockKey))
                .col(text(Jobs::Payload))
                .col(string(Jobs::Status))
                .col(big_integer(Jobs::DueAt))
                .col(integer(Jobs::Attempts))
                .col(text_null(Jobs::LastError))
                .col(string_null(Jobs::LeaseOwner))
                .col(big_integer_null(Jobs::LeaseUntil))
                .col(big_integer(Jobs::CreatedAt))
                .col(big_integer(Jobs::UpdatedAt))
                .to_owned(),
        )
        .await?;
        index(m, "idx_jobs_status_due", Jobs::Table, &[Jobs::Status, Jobs::DueAt]).await?;
        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(big_integer(AuditEvents::Seq).primary_key())
                .col(big_integer(AuditEvents::At))
                .col(string(AuditEvents::Actor))
                .col(string(AuditEvents::Action))
                .col(string(AuditEvents::Subject))
                .col(text(AuditEvents::Details))
                .col(string(AuditEvents::PrevHash))
                .col(string(AuditEvents::Hash))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsedLinkTokens::Table)
                .col(string(UsedLinkTokens::Jti).primary_key())
                .col(big_integer(UsedLinkTokens::UsedAt))
                .col(big_integer(UsedLinkTokens::ExpiresAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UsedLinkTokens::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            Jobs::Table.into_iden(),
            Grants::Table.into_iden(),
            Decisions::Table.into_iden(),
            Requests::Table.into_iden(),
            LocalGroupMembers::Table.into_iden(),
            LocalGroups::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn index<T: Iden + Copy + 'static, C: Iden + Copy + 'static>(
    m: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[C],
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for col in cols {
        idx.col(*col);
    }
    m.create_index(idx.to_owned()).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Upn,
    DisplayName,
    Mail,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum LocalGroups {
    Table,
    Id,
    DisplayName,
}

#[derive(DeriveIden, Clone, Copy)]
enum LocalGroupMembers {
    Table,
    GroupId,
    UserId,
    AddedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Requests {
    Table,
    Id,
    Profile,
    Requester,
    RequesterId,
    FiledBy,
    Status,
    Stage,
    Version,
    DurationSeconds,
    Justification,
    Ticket,
    GroupId,
    Extends,
    ExtendsUntil,
    CoverageStart,
    CreatedAt,
    UpdatedAt,
    DecisionDueAt,
    ActivatedAt,
    ExpiresAt,
    EndedAt,
    StatusReason,
}

#[derive(DeriveIden, Clone, Copy)]
enum Decisions {
    Table,
    Id,
    RequestId,
    Approver,
    Stage,
    Decision,
    Comment,
    DecidedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Table,
    Id,
    RequestId,
    UserId,
    Upn,
    GroupId,
    State,
    Standing,
    ActivatedAt,
    ExpiresAt,
    EndedAt,
    EndOutcome,
}

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Id,
    Kind,
    GrantId,
    LockKey,
    Payload,
    Status,
    DueAt,
    Attempts,
    LastError,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Seq,
    At,
    Actor,
    Action,
    Subject,
    Details,
    PrevHash,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsedLinkTokens {
    Table,
    Jti,
    UsedAt,
    ExpiresAt,
}
