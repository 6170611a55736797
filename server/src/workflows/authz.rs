//! Who may do what: one table, consulted by every workflow, so the API and the web pages
//! (which call the same workflows) can never disagree. A row names who may take an action;
//! a caller who matches none of its entries is refused. Deny by default: an action without
//! a row is allowed to nobody.
use super::{Broker, WorkflowError};
use crate::{
    domain::{Caller, Role},
    store::requests::Request,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ask for access for oneself.
    Ask,
    /// Ask for access for someone else (a bot acting for users).
    AskFor,
    /// See a request, its decisions and timeline.
    Read,
    /// List everyone's requests.
    ListAll,
    /// Approve or deny (and never one's own request: decide.rs checks that first).
    Decide,
    /// Withdraw a pending or scheduled request.
    Cancel,
    /// End an approved, scheduled or active grant early.
    Revoke,
    /// Ask for more time on an active grant.
    Extend,
    /// Read and export the audit log.
    ReadAudit,
    /// Record the after-the-fact review of a break-glass grant.
    Review,
}

/// Who an entry of the table admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Anyone holding the role.
    Role(Role),
    /// A bot whose token has the `delegate` scope.
    Delegate,
    /// The user the request is for.
    Requester,
    /// A bot with the `delegate` scope that filed the request.
    DelegateFiler,
    /// An approver the request's profile names (any stage, or its escalation approvers
    /// once called in), holding the approver role.
    ProfileApprover,
}

use Action as A;
use Role as R;
use Who as W;

/// The table. `docs`/README show it; `tests/tests/api/matrix.rs` walks every route with every
/// kind of caller against it.
pub const TABLE: [(Action, &[Who]); 10] = [
    (A::Ask, &[W::Role(R::Requester)]),
    (A::AskFor, &[W::Delegate]),
    (A::Read, &[W::Requester, W::DelegateFiler, W::ProfileApprover, W::Role(R::Admin), W::Role(R::Auditor)]),
    (A::ListAll, &[W::Role(R::Admin), W::Role(R::Auditor)]),
    (A::Decide, &[W::ProfileApprover]),
    (A::Cancel, &[W::Requester, W::DelegateFiler]),
    (A::Revoke, &[W::Requester, W::DelegateFiler, W::Role(R::Admin)]),
    (A::Extend, &[W::Requester, W::DelegateFiler]),
    (A::ReadAudit, &[W::Role(R::Auditor), W::Role(R::Admin)]),
    (A::Review, &[W::ProfileApprover, W::Role(R::Admin)]),
];

fn row(action: Action) -> &'static [Who] {
    TABLE.iter().find(|(a, _)| *a == action).map_or(&[], |(_, who)| who)
}

/// Does `who` admit `caller`, for `request`? `approver` says (lazily: it asks the directory)
/// whether the caller is one of the request's profile's approvers.
fn admits(who: Who, caller: &Caller, request: Option<&Request>) -> bool {
    match (who, request) {
        (Who::Role(role), _) => caller.has(role),
        (Who::Delegate, _) => caller.delegate,
        (Who::Requester, Some(r)) => caller.upn.as_str() == r.requester,
        (Who::DelegateFiler, Some(r)) => caller.delegate && caller.upn.as_str() == r.filed_by,
        // Needs the directory: settled by `check`.
        (Who::ProfileApprover, _) | (_, None) => false,
    }
}

/// Is `caller` allowed `action` by a row entry that needs no request (a role or the
/// `delegate` scope)?
pub fn allows(caller: &Caller, action: Action) -> bool {
    row(action).iter().any(|who| admits(*who, caller, None))
}

/// [`allows`], or the refusal that names who may.
pub fn require(caller: &Caller, action: Action) -> Result<(), WorkflowError> {
    if allows(caller, action) { Ok(()) } else { Err(WorkflowError::Forbidden(refusal(action, row(action)))) }
}

/// May `caller` take `action` (on `request`)? The refusal names who may.
pub async fn check(
    broker: &Broker,
    caller: &Caller,
    action: Action,
    request: Option<&Request>,
) -> Result<(), WorkflowError> {
    let row = row(action);
    if row.iter().any(|who| admits(*who, caller, request)) {
        return Ok(());
    }
    if let (true, Some(request)) = (row.contains(&Who::ProfileApprover), request)
        && caller.has(Role::Approver)
        && is_profile_approver(broker, caller, request).await?
    {
        return Ok(());
    }
    Err(WorkflowError::Forbidden(refusal(action, row)))
}

/// One of the approvers the request's profile names (any stage; the escalation approvers
/// once the request was escalated).
async fn is_profile_approver(broker: &Broker, caller: &Caller, request: &Request) -> Result<bool, WorkflowError> {
    let profile = broker.profile_of(request)?;
    for stage in [1, 2] {
        if let Some(stage) = profile.approval.stage(stage)
            && broker.is_among(&caller.upn, &stage.approvers).await?
        {
            return Ok(true);
        }
    }
    match (&profile.escalation, request.escalated_at) {
        (Some(escalation), Some(_)) => broker.is_among(&caller.upn, escalation).await,
        _ => Ok(false),
    }
}

fn refusal(action: Action, row: &[Who]) -> String {
    let what = match action {
        Action::Ask => "asking for access",
        Action::AskFor => "asking for access for someone else",
        Action::Read => "seeing this request",
        Action::ListAll => "listing everyone's requests",
        Action::Decide => "deciding this request",
        Action::Cancel => "cancelling this request",
        Action::Revoke => "revoking this grant",
        Action::Extend => "extending this grant",
        Action::ReadAudit => "reading the audit log",
        Action::Review => "reviewing this break-glass grant",
    };
    let who: Vec<String> = row
        .iter()
        .map(|w| match w {
            Who::Role(role) => format!("the {role} role"),
            Who::Delegate => "a token with the `delegate` scope".into(),
            Who::Requester => "its requester".into(),
            Who::DelegateFiler => "the bot that filed it".into(),
            Who::ProfileApprover => "its profile's approvers".into(),
        })
        .collect();
    if who.is_empty() { format!("{what} is allowed to nobody") } else { format!("{what} is for {}", who.join(" or ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_exactly_one_row() {
        for (i, (action, _)) in TABLE.iter().enumerate() {
            assert_eq!(TABLE.iter().filter(|(a, _)| a == action).count(), 1, "{action:?} (row {i})");
        }
    }
}
