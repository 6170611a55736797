//! Reading: one request, lists of requests, the approvals inbox, the audit log. Each read
//! checks the same rules as the changes do.
use std::collections::HashMap;

use entity::{audit_events, decisions::Model as DecisionRow};

use super::{
    Broker, Freshness, WorkflowError,
    authz::{self, Action},
    decide::may_decide,
    identify::{self, Admitted, Claimed},
};
use crate::{
    domain::{Caller, InvalidValue, RequestId, RequestStatus, Upn},
    policy::Profile,
    providers::directory::DirectoryUser,
    store::{audit, decisions, grants, grants::Grant, request_details, requests, requests::Request, reviews},
};

/// A request with what was decided about it and its grant.
pub struct RequestDetails {
    pub request: Request,
    pub decisions: Vec<DecisionRow>,
    pub grant: Option<Grant>,
    /// The after-the-fact review, for a break-glass request that has one.
    pub review: Option<reviews::Review>,
    /// Who can decide it now, for a pending request read on its own (`get_request`).
    pub deciders: Option<Deciders>,
}

/// Who can decide a pending request now, as the requester is shown it.
pub struct Deciders {
    /// The current stage's approvers — and the escalation's, once called in — who have not
    /// decided it yet; never the requester, nor whoever filed it for them.
    pub people: Vec<DirectoryUser>,
    /// When the profile's escalation approvers will be called in, while that is still ahead.
    pub escalates_at: Option<i64>,
}

pub(super) async fn may_see(broker: &Broker, caller: &Caller, request: &Request) -> Result<bool, WorkflowError> {
    match authz::check(broker, caller, Action::Read, Some(request)).await {
        Ok(()) => Ok(true),
        Err(WorkflowError::Forbidden(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One request as it is now (a worker may have moved it on since `request` was read), with
/// what belongs to it: one statement (`request_details::one`), as a change's answer shows it.
pub async fn details(broker: &Broker, request: Request) -> Result<RequestDetails, WorkflowError> {
    let found = request_details::one(broker.store.conn(), &request.id).await?;
    let request_details::Found { request, grant, review, decisions } =
        found.unwrap_or(request_details::Found { request, grant: None, review: None, decisions: Vec::new() });
    Ok(RequestDetails { request, decisions, grant, review, deciders: None })
}

/// Requests with their grants, decisions and reviews: one query per table however many
/// requests there are (a page of a list costs four reads, not four per request), all in one
/// snapshot, so that an answer never mixes two moments (say, a grant's Identity Center
/// removal without the request's `ended_at` that was committed before it).
pub async fn details_of(broker: &Broker, requests: Vec<Request>) -> Result<Vec<RequestDetails>, WorkflowError> {
    let ids: Vec<RequestId> = requests.iter().map(|r| r.id.clone()).collect();
    let snapshot = broker.store.snapshot().await?;
    let mut now: HashMap<_, _> =
        requests::get_many(&snapshot, &ids).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let mut grants: HashMap<_, _> =
        grants::for_requests(&snapshot, &ids).await?.into_iter().map(|g| (g.request_id.clone(), g)).collect();
    let mut reviews: HashMap<_, _> =
        reviews::for_requests(&snapshot, &ids).await?.into_iter().map(|r| (r.request_id.clone(), r)).collect();
    let mut decisions: HashMap<RequestId, Vec<DecisionRow>> = HashMap::new();
    for d in decisions::for_requests(&snapshot, &ids).await? {
        decisions.entry(d.request_id.clone()).or_default().push(d);
    }
    snapshot.commit().await?;
    Ok(requests
        .into_iter()
        .map(|listed| {
            let id = listed.id.clone();
            RequestDetails {
                decisions: decisions.remove(&id).unwrap_or_default(),
                grant: grants.remove(&id),
                review: reviews.remove(&id),
                request: now.remove(&id).unwrap_or(listed),
                deciders: None,
            }
        })
        .collect())
}

/// One request as `caller` may see it, read in one statement (`request_details::one`).
pub async fn get_request(broker: &Broker, caller: &Caller, id: &str) -> Result<RequestDetails, WorkflowError> {
    let id = RequestId::parse(id)?;
    let found = request_details::one(broker.store.conn(), &id).await?;
    shown(broker, caller, &id, found).await
}

/// [`get_request`] for a caller whose token the read's own statement checks against
/// revocations (one round trip instead of two): the caller, once admitted, and the request.
pub async fn get_request_claimed(
    broker: &Broker,
    claimed: Claimed,
    id: &str,
) -> Result<Admitted<RequestDetails>, WorkflowError> {
    let id = match RequestId::parse(id) {
        Ok(id) => id,
        Err(e) => {
            // A revoked token hears that first, whatever it asked for.
            let caller = identify::refuse_revoked(broker, claimed).await?;
            return Ok((caller, Err(e.into())));
        }
    };
    let (revoked, found) = request_details::one_for(broker.store.conn(), &id, &claimed.presented()).await?;
    let caller = claimed.admit(revoked)?;
    let details = shown(broker, &caller, &id, found).await;
    Ok((caller, details))
}

/// The request `found` under `id`, if `caller` may see it.
async fn shown(
    broker: &Broker,
    caller: &Caller,
    id: &RequestId,
    found: Option<request_details::Found>,
) -> Result<RequestDetails, WorkflowError> {
    match found {
        // Someone who may not see a request learns nothing about it, not even that it exists.
        Some(found) if may_see(broker, caller, &found.request).await? => {
            let deciders = deciders(broker, &found.request, &found.decisions).await;
            let request_details::Found { request, grant, review, decisions } = found;
            Ok(RequestDetails { request, decisions, grant, review, deciders })
        }
        _ => Err(WorkflowError::NotFound(format!("request {id}"))),
    }
}

/// Who can decide `request` now (when it is pending), from directory answers as old as
/// `directory.display_cache_ttl` — it is only shown. A directory that cannot answer leaves
/// the list out rather than failing the read.
async fn deciders(broker: &Broker, request: &Request, decisions: &[DecisionRow]) -> Option<Deciders> {
    let profile = broker.profile_of(request).ok().filter(|_| request.status == RequestStatus::Pending)?;
    let stage = profile.approval.stage(request.stage)?;
    let escalated = request.escalated_at.and(profile.escalation.as_ref());
    let mut people = Vec::new();
    for principals in std::iter::once(&stage.approvers).chain(escalated) {
        match broker.people_among_as(principals, Freshness::Display).await {
            Ok(found) => people.extend(found),
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&e), "who can decide a request is not known now");
                return None;
            }
        }
    }
    // Who decided at any stage may not decide again (`decisions::has_decided`, checked by `decide`).
    let decided = |upn: &Upn| decisions.iter().any(|d| d.approver == upn.as_str());
    people.retain(|p| p.upn.as_str() != request.requester && p.upn.as_str() != request.filed_by && !decided(&p.upn));
    people.sort_by(|a, b| a.upn.cmp(&b.upn));
    people.dedup_by(|a, b| a.upn == b.upn);
    let escalates_at = (profile.escalation.is_some() && request.escalated_at.is_none())
        .then(|| request.stage_started_at.unwrap_or(request.created_at) + broker.notifier.escalate_after_ms)
        .filter(|escalates_at| *escalates_at < request.decision_due_at);
    Some(Deciders { people, escalates_at })
}

/// The profiles `caller` is eligible for, to show (filing checks eligibility afresh).
pub async fn requestable_profiles<'b>(broker: &'b Broker, caller: &Caller) -> Result<Vec<&'b Profile>, WorkflowError> {
    let mut profiles = Vec::new();
    for p in broker.policy.profiles() {
        if broker.is_among_as(&caller.upn, &p.eligible, Freshness::Display).await? {
            profiles.push(p);
        }
    }
    Ok(profiles)
}

/// Every audit event about a request, oldest first: its timeline. Call after `get_request`,
/// which decides whether the caller may see the request at all.
pub async fn timeline(broker: &Broker, request_id: &RequestId) -> Result<Vec<audit::Recorded>, WorkflowError> {
    // One snapshot: an event sealed between reading the chain and the entries is seen once.
    let snapshot = broker.store.snapshot().await?;
    Ok(audit::for_subject(&snapshot, &audit::Subject::Request(request_id).to_string()).await?)
}

pub struct ListQuery {
    pub status: Option<String>,
    pub requester: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

pub const MAX_PAGE: u64 = 200;

/// Requests newest first. Admins and auditors see everyone's; a delegate bot those it filed;
/// others their own.
pub async fn list_requests(broker: &Broker, caller: &Caller, q: ListQuery) -> Result<Vec<Request>, WorkflowError> {
    let status = q
        .status
        .map(|s| {
            RequestStatus::parse(&s).ok_or_else(|| {
                let all: Vec<_> = RequestStatus::ALL.iter().map(|s| s.as_str()).collect();
                InvalidValue::new("status", format!("{s:?} is not one of {}", all.join(", ")))
            })
        })
        .transpose()?;
    let requester =
        q.requester.map(|r| Upn::parse(&r).map_err(|e| InvalidValue::new("requester", e.reason))).transpose()?;
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(InvalidValue::new("limit", format!("must be between 1 and {MAX_PAGE}")).into());
    }
    let cursor = q
        .cursor
        .map(|c| RequestId::parse(&c).map_err(|_| InvalidValue::new("cursor", "is not a cursor from a previous page")))
        .transpose()?;
    // The same rule as `Read`: a delegate bot sees what it filed, for whomever, and nothing
    // else (naming a user does not widen that).
    let (requester, filed_by) = match requester {
        requester if authz::allows(caller, Action::ListAll) => (requester, None),
        requester if caller.delegate => (requester, Some(caller.upn.clone())),
        Some(r) if r == caller.upn => (Some(r), None),
        Some(_) => return Err(WorkflowError::Forbidden("you may only list your own requests".into())),
        None => (Some(caller.upn.clone()), None),
    };
    Ok(requests::list(
        broker.store.conn(),
        requests::Filter {
            status,
            requester: requester.map(|r| r.to_string()),
            filed_by: filed_by.map(|f| f.to_string()),
            before_id: cursor.map(|c| c.to_string()),
            limit,
        },
    )
    .await?)
}

/// Pending requests the caller may decide now and has not decided yet.
pub async fn approvals(broker: &Broker, caller: &Caller) -> Result<Vec<Request>, WorkflowError> {
    let mut mine = Vec::new();
    for request in requests::pending(broker.store.conn()).await? {
        if may_decide(broker, caller, &request, Freshness::Display).await.is_ok()
            && !decisions::has_decided(broker.store.conn(), &request.id, caller.upn.as_str()).await?
        {
            mine.push(request);
        }
    }
    Ok(mine)
}

pub async fn audit_log(
    broker: &Broker,
    caller: &Caller,
    after_seq: Option<i64>,
    limit: Option<u64>,
) -> Result<(Vec<audit_events::Model>, u64), WorkflowError> {
    may_read_audit(caller)?;
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(InvalidValue::new("limit", "must be between 1 and 1000").into());
    }
    let after = after_seq.unwrap_or(0);
    if after < 0 {
        return Err(InvalidValue::new("after_seq", "must not be negative").into());
    }
    let unsealed = audit::seal::wait_for_seal(broker.store.conn(), SEAL_WAIT).await?;
    Ok((audit::list(broker.store.conn(), after, limit).await?, unsealed))
}

/// How long a reader of the audit log waits for the events committed before it asked to be
/// chained (`audit.seal_interval` after their commit, normally).
const SEAL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn may_read_audit(caller: &Caller) -> Result<(), WorkflowError> {
    authz::require(caller, Action::ReadAudit)
}

/// An audit search as typed (in a form or a query string): each field is checked here and a
/// bad one named.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AuditSearch {
    pub user: Option<String>,
    pub profile: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl AuditSearch {
    pub fn parse(&self) -> Result<audit::Search, InvalidValue> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let user =
            given(&self.user).map(|u| Upn::parse(&u).map_err(|e| InvalidValue::new("user", e.reason))).transpose()?;
        let profile = given(&self.profile)
            .map(|p| crate::domain::ProfileKey::parse(&p).map_err(|e| InvalidValue::new("profile", e.reason)))
            .transpose()?;
        let action = given(&self.action);
        if let Some(a) = &action
            && (a.len() > 64 || !a.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'))
        {
            return Err(InvalidValue::new(
                "action",
                format!("{a:?} is not an action like request.approved or request"),
            ));
        }
        let from = given(&self.from).map(|f| crate::domain::parse_instant("from", &f)).transpose()?;
        let to = given(&self.to).map(|t| crate::domain::parse_instant("to", &t)).transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            return Err(InvalidValue::new("to", "must be after from"));
        }
        Ok(audit::Search {
            user: user.map(|u| u.to_string()),
            profile: profile.map(|p| p.to_string()),
            action,
            from,
            to,
        })
    }
}

/// A page of an audit search (auditors and admins), once what was committed before it is
/// chained; and how many committed events still wait for the sealer.
pub async fn search_audit(
    broker: &Broker,
    caller: &Caller,
    search: &audit::Search,
    page: audit::Page,
    limit: u64,
) -> Result<(Vec<audit_events::Model>, u64), WorkflowError> {
    may_read_audit(caller)?;
    let unsealed = audit::seal::wait_for_seal(broker.store.conn(), SEAL_WAIT).await?;
    Ok((audit::search(broker.store.conn(), search, page, limit).await?, unsealed))
}

/// The start of an export of the audit log (auditors and admins): everything from `since`
/// (RFC 3339) after sequence number `after_seq`; the search that goes on, the first batch,
/// and how many committed events were not chained yet.
pub async fn start_export(
    broker: &Broker,
    caller: &Caller,
    since: Option<&str>,
    after_seq: i64,
    batch: u64,
) -> Result<(audit::Search, Vec<audit_events::Model>, u64), WorkflowError> {
    let from = since.map(|s| crate::domain::parse_instant("since", s)).transpose()?;
    let search = audit::Search { from, ..Default::default() };
    let (first, unsealed) = search_audit(broker, caller, &search, audit::Page::After(after_seq.max(0)), batch).await?;
    Ok((search, first, unsealed))
}

/// Whether this replica can serve: the database answers and its schema is current.
pub async fn ready(broker: &Broker) -> Result<bool, WorkflowError> {
    Ok(broker.store.ready().await?)
}

/// What the metrics' gauges show, read in one snapshot.
pub async fn live_counts(broker: &Broker) -> Result<crate::metrics::LiveCounts, WorkflowError> {
    let snapshot = broker.store.snapshot().await?;
    let counts = crate::metrics::LiveCounts {
        requests_by_status: requests::count_by_status(&snapshot).await?,
        grants_active: grants::count_active(&snapshot).await?,
        jobs: crate::store::jobs::counts(&snapshot).await?,
    };
    snapshot.commit().await?;
    Ok(counts)
}
