//! Filing a request: checked against the profile (eligibility, duration bounds, ticket and
//! justification rules), stored as pending, or approved at once when the profile says so.
use sea_orm::DatabaseTransaction;
use serde_json::json;

use super::{
    Broker, Freshness, WorkflowError,
    authz::{self, Action},
    identify::{Admitted, Claimed},
    on_call::{self, OnCall},
    queries::RequestDetails,
};
use crate::{
    domain::{
        Caller, GrantDuration, InvalidValue, Justification, RequestId, RequestStatus, Ticket, Upn, format_millis, now,
    },
    jobs::{grant, notifications},
    notify::Notice,
    policy::{ApprovalRule, Profile},
    providers::directory::{DirectoryError, DirectoryUser},
    store::{
        audit,
        audit::{NewEvent, Subject},
        credentials,
        grants::Grant,
        requests,
        requests::Request,
        users,
    },
};

/// What the caller asks for, as received (parsed here).
#[derive(Debug, Default)]
pub struct NewRequest {
    pub profile: String,
    pub duration_seconds: Option<i64>,
    pub justification: Option<String>,
    pub ticket: Option<String>,
    /// Only for bots with the `delegate` scope: the user the request is for.
    pub requester: Option<String>,
    /// Activate at once, without approval (profiles with `break_glass`, named users only).
    pub break_glass: bool,
    /// Scheduled access: when the window opens (Unix ms; `None`: once approved).
    pub start_at: Option<i64>,
}

/// When a request extends an active grant.
pub(super) struct Extension {
    pub extends: RequestId,
    pub until: i64,
    pub coverage_start: i64,
}

/// How a request comes about.
pub(super) enum Kind {
    /// Asked for, decided by the profile's rule.
    Ask,
    /// The same, for a window that opens at the given instant.
    Scheduled(i64),
    /// More time on an active grant.
    Extend(Extension),
    /// Break-glass: active at once, told to everyone who could have decided, reviewed later.
    BreakGlass,
}

/// A request as its filing stored it, with its grant when it was approved at once and starts
/// now: the filing's answer, as committed (read back, it would cost a round trip and tell
/// nothing more; a worker that moved it on since shows in the next read).
pub struct Filed {
    pub request: Request,
    pub grant: Option<Grant>,
}

impl From<Filed> for RequestDetails {
    fn from(Filed { request, grant }: Filed) -> Self {
        // Nobody has decided a request just filed; a break-glass review comes later.
        Self { request, decisions: Vec::new(), grant, review: None, deciders: None }
    }
}

pub async fn request_access(broker: &Broker, caller: &Caller, input: NewRequest) -> Result<Filed, WorkflowError> {
    let checked = check(broker, caller, input).await?;
    file(broker, caller, checked).await
}

/// [`request_access`] for a caller whose token is checked against revocations alongside the
/// checks and directory lookups, which store nothing (a round trip fewer before the filing's
/// commit): a revoked token hears that before anything else, and nothing is filed for it.
pub async fn request_access_claimed(
    broker: &Broker,
    claimed: Claimed,
    input: NewRequest,
) -> Result<Admitted<Filed>, WorkflowError> {
    let presented = claimed.presented();
    let (revoked, checked) =
        tokio::join!(credentials::is_revoked(broker.store.conn(), &presented), check(broker, claimed.claims(), input));
    let caller = claimed.admit(revoked?)?;
    let filed = match checked {
        Ok(checked) => file(broker, &caller, checked).await,
        Err(e) => Err(e),
    };
    Ok((caller, filed))
}

/// The request checked against its profile and the directory, ready to file.
async fn check(broker: &Broker, caller: &Caller, input: NewRequest) -> Result<Checked, WorkflowError> {
    let profile = broker
        .policy
        .find(&input.profile)
        .ok_or_else(|| InvalidValue::new("profile", format!("there is no profile {:?}", input.profile)))?
        .clone();
    let requester = requester_for(caller, input.requester.as_deref())?;
    let duration = match input.duration_seconds {
        Some(secs) => secs,
        None => profile.default_duration.as_secs(),
    };
    let duration = grant_duration(&profile, duration)?;
    let (justification, ticket) = check_texts(&profile, input.justification.as_deref(), input.ticket.as_deref())?;
    let start_at = check_start(&profile, input.start_at, input.break_glass)?;
    if input.break_glass {
        // Named people only, for themselves, and never without saying why.
        let named = profile.break_glass.as_ref().is_some_and(|users| users.contains(&requester));
        if !named || requester != caller.upn {
            return Err(WorkflowError::Forbidden(format!(
                "{requester} may not break the glass of profile {}: only the users its break_glass_users name, for themselves",
                profile.key
            )));
        }
        if justification.is_none() {
            return Err(InvalidValue::new("justification", "is required to break the glass").into());
        }
        let (user, approvers) = resolve_with_approvers(broker, &profile, &requester).await?;
        return Ok(Checked { profile, kind: Kind::BreakGlass, user, approvers, duration, justification, ticket });
    }
    let kind = match start_at {
        Some(at) => Kind::Scheduled(at),
        None => Kind::Ask,
    };
    // The directory's answers about the requester and the approvers, asked at once rather
    // than in turn.
    let (user, eligible, approvers) = tokio::join!(
        resolve(broker, &requester),
        broker.is_among(&requester, &profile.eligible),
        check_someone_can_approve(broker, &profile, &requester),
    );
    let (user, eligible) = (user?, eligible?);
    if !eligible {
        return Err(WorkflowError::Forbidden(format!("{requester} is not eligible for profile {}", profile.key)));
    }
    Ok(Checked { profile, kind, user, approvers, duration, justification, ticket })
}

/// A window asked to open later: ahead of now, within the profile's `max_advance`, and never
/// for break-glass (which is for now or not at all).
fn check_start(profile: &Profile, start_at: Option<i64>, break_glass: bool) -> Result<Option<i64>, InvalidValue> {
    let Some(start_at) = start_at else { return Ok(None) };
    if break_glass {
        return Err(InvalidValue::new("start_at", "break-glass access starts now: leave start_at out"));
    }
    let advance = profile.max_advance.as_millis();
    if advance == 0 {
        return Err(InvalidValue::new(
            "start_at",
            format!("profile {} does not schedule access ahead (its max_advance is 0s)", profile.key),
        ));
    }
    let at = now();
    if start_at <= at {
        return Err(InvalidValue::new(
            "start_at",
            format!("must be in the future (got {}, now is {})", format_millis(start_at), format_millis(at)),
        ));
    }
    if start_at - at > advance {
        return Err(InvalidValue::new(
            "start_at",
            format!(
                "may be at most {} ahead for profile {} (got {})",
                profile.max_advance,
                profile.key,
                format_millis(start_at)
            ),
        ));
    }
    Ok(Some(start_at))
}

/// The user the request is for: the caller, or (for a delegate bot) the named user.
pub(super) fn requester_for(caller: &Caller, named: Option<&str>) -> Result<Upn, WorkflowError> {
    let requester = match named {
        Some(upn) => Upn::parse(upn).map_err(|e| InvalidValue::new("requester", e.reason))?,
        None => caller.upn.clone(),
    };
    let action = if requester == caller.upn { Action::Ask } else { Action::AskFor };
    authz::require(caller, action)?;
    Ok(requester)
}

/// A `require_mfa` profile is filed, extended or broken into only by its requester, who
/// proved a second factor within `auth.mfa_max_age`: never by a bot for them (no credential
/// of a bot proves the requester's presence), never with Elevate's own API tokens.
pub fn require_mfa(broker: &Broker, caller: &Caller, profile: &Profile, requester: &Upn) -> Result<(), WorkflowError> {
    if !profile.require_mfa {
        return Ok(());
    }
    if caller.upn != *requester {
        return Err(WorkflowError::MfaRequired(format!(
            "profile {} requires its requester's own multi-factor sign-in: {requester} asks for it on the web",
            profile.key
        )));
    }
    if caller.mfa_within(broker.mfa_max_age, now()) {
        return Ok(());
    }
    Err(WorkflowError::MfaRequired(format!(
        "profile {} requires a multi-factor sign-in within the last {}: sign in again with MFA \
         (/signin?mfa=1) and ask on the web, or call with an Entra token that carries it",
        profile.key,
        crate::domain::HumanDuration::from_secs(broker.mfa_max_age.as_secs()),
    )))
}

/// `duration_seconds` as a grant of `profile` may last.
fn grant_duration(profile: &Profile, secs: i64) -> Result<GrantDuration, InvalidValue> {
    GrantDuration::within(secs, profile.min_duration, profile.max_duration).ok_or_else(|| {
        let (min, max) = (profile.min_duration.as_secs(), profile.max_duration.as_secs());
        InvalidValue::new(
            "duration_seconds",
            format!("must be between {min} and {max} seconds for profile {} (got {secs})", profile.key),
        )
    })
}

pub(super) fn check_texts(
    profile: &Profile,
    justification: Option<&str>,
    ticket: Option<&str>,
) -> Result<(Option<Justification>, Option<Ticket>), InvalidValue> {
    let justification = justification.filter(|s| !s.trim().is_empty()).map(Justification::parse).transpose()?;
    let ticket = ticket.filter(|s| !s.trim().is_empty()).map(Ticket::parse).transpose()?;
    if profile.require_justification && justification.is_none() {
        return Err(InvalidValue::new("justification", format!("is required for profile {}", profile.key)));
    }
    if profile.require_ticket && ticket.is_none() {
        return Err(InvalidValue::new("ticket", format!("is required for profile {}", profile.key)));
    }
    Ok((justification, ticket))
}

/// The requester as the directory knows them, and whether Elevate's record of them (`users`,
/// read alongside the directory's answer) already says the same.
pub(super) struct Requester {
    pub user: DirectoryUser,
    /// The filing writes nothing to `users` for them: the common case, a round trip less.
    pub recorded: bool,
}

async fn resolve(broker: &Broker, upn: &Upn) -> Result<Requester, WorkflowError> {
    let (found, stored) = tokio::join!(
        broker.directory.resolve_user(upn.as_str()),
        users::by_upn_or_id(broker.store.conn(), upn.as_str())
    );
    let user = match found {
        Ok(user) => user,
        Err(DirectoryError::NotFound(_)) => {
            return Err(InvalidValue::new("requester", format!("{upn} is not a user of the directory")).into());
        }
        Err(e) => return Err(WorkflowError::Directory(e)),
    };
    // A change is recorded with the filing, in its transaction: one commit per filing.
    let recorded = stored?.is_some_and(|row| users::records(&row, &user));
    Ok(Requester { user, recorded })
}

/// The requester as the directory knows them, and who else can approve: asked at once.
pub(super) async fn resolve_with_approvers(
    broker: &Broker,
    profile: &Profile,
    requester: &Upn,
) -> Result<(Requester, Approvers), WorkflowError> {
    let (user, approvers) =
        tokio::join!(resolve(broker, requester), check_someone_can_approve(broker, profile, requester));
    Ok((user?, approvers))
}

/// Who else can approve, or why nobody can: asked with the other lookups, told only once the
/// checks before it (eligibility, a second factor) passed.
pub(super) type Approvers = Result<Vec<DirectoryUser>, WorkflowError>;

/// Refuses a request nobody could approve (only the requester, or empty approver groups),
/// rather than leaving it to time out; returns who can approve it (the requester is told).
/// The approvers may be a few seconds old ([`Freshness::Recent`]): this only spares a
/// hopeless request, and whoever decides is checked afresh.
async fn check_someone_can_approve(
    broker: &Broker,
    profile: &Profile,
    requester: &Upn,
) -> Result<Vec<DirectoryUser>, WorkflowError> {
    let ApprovalRule::Approvers { first, .. } = &profile.approval else { return Ok(Vec::new()) };
    let mut approvers =
        broker.people_among_as(&first.approvers, Freshness::Recent).await.map_err(WorkflowError::Directory)?;
    approvers.retain(|a| &a.upn != requester);
    if (approvers.len() as u64) < u64::from(first.required) {
        return Err(WorkflowError::Conflict(format!(
            "profile {} needs {} approval(s) but only {} approver(s) other than {requester} exist",
            profile.key,
            first.required,
            approvers.len()
        )));
    }
    Ok(approvers)
}

/// A request as checked before it is filed: its profile and kind, the requester the directory
/// knows, who else can approve (see [`check_someone_can_approve`]), and the values parsed.
pub(super) struct Checked {
    pub profile: Profile,
    pub kind: Kind,
    pub user: Requester,
    pub approvers: Approvers,
    pub duration: GrantDuration,
    pub justification: Option<Justification>,
    pub ticket: Option<Ticket>,
}

/// Stores a checked request, auto-approving it when the profile says so.
pub(super) async fn file(broker: &Broker, caller: &Caller, checked: Checked) -> Result<Filed, WorkflowError> {
    let Checked { profile, kind, user: Requester { user, recorded }, approvers, duration, justification, ticket } =
        checked;
    let (profile, user) = (&profile, &user);
    let extension = match &kind {
        Kind::Extend(extension) => Some(extension),
        Kind::Ask | Kind::Scheduled(_) | Kind::BreakGlass => None,
    };
    let start_at = match kind {
        Kind::Scheduled(at) => Some(at),
        Kind::Ask | Kind::Extend(_) | Kind::BreakGlass => None,
    };
    let break_glass = matches!(kind, Kind::BreakGlass);
    require_mfa(broker, caller, profile, &user.upn)?;
    let approvers = approvers?;
    // Only the person on call, asking for themselves, now: a bot filing for them gets no
    // approval by their shift (they did nothing), a shift now says nothing of a window later,
    // and extensions and break-glass have rules of their own.
    let on_call = match &kind {
        Kind::Ask if caller.upn == user.upn => on_call::ask(broker, profile, user, duration).await,
        Kind::Ask | Kind::Scheduled(_) | Kind::Extend(_) | Kind::BreakGlass => OnCall::NotAsked,
    };
    let at = now();
    if let Some(start_at) = start_at.filter(|start_at| *start_at <= at) {
        // The directory took long enough for the start to pass.
        return Err(
            InvalidValue::new("start_at", format!("must be in the future (got {})", format_millis(start_at))).into()
        );
    }
    let request = Request {
        id: RequestId::new(),
        profile: profile.key.to_string(),
        requester: user.upn.to_string(),
        requester_id: user.id.clone(),
        filed_by: caller.upn.to_string(),
        status: RequestStatus::Pending,
        stage: 1,
        version: 1,
        duration_seconds: duration.as_secs(),
        justification: justification.map(|j| j.as_str().to_owned()),
        ticket: ticket.map(|t| t.as_str().to_owned()),
        group_id: profile.group.to_string(),
        extends: extension.map(|e| e.extends.clone()),
        extends_until: extension.map(|e| e.until),
        coverage_start: extension.map(|e| e.coverage_start),
        created_at: at,
        updated_at: at,
        // Undecided by the time its window should open, a scheduled request times out.
        decision_due_at: (at + profile.decision_timeout.as_millis()).min(start_at.unwrap_or(i64::MAX)),
        activated_at: None,
        expires_at: None,
        ended_at: None,
        status_reason: None,
        stage_started_at: Some(at),
        reminded_at: None,
        escalated_at: None,
        break_glass,
        start_at,
    };
    let subject = Subject::Request(&request.id);
    let decided = if break_glass {
        Decided::BreakGlass
    } else if let Some(rule) = match (&profile.approval, &on_call) {
        (ApprovalRule::Automatic, _) => Some(json!({ "rule": "auto_approve" })),
        (_, OnCall::Now(shift)) => Some(on_call::approval_details(shift)),
        _ => None,
    } {
        Decided::Approved(rule)
    } else {
        let note = match &on_call {
            OnCall::Unknown(error) => {
                let details = json!({ "error": error, "fallback": "approvers decide" });
                Some(NewEvent::system("request.on_call_unknown", subject, details))
            }
            OnCall::OutlastsShift(shift) => {
                let details = json!({ "shift": on_call::approval_details(shift), "fallback": "approvers decide" });
                Some(NewEvent::system("request.on_call_shift_too_short", subject, details))
            }
            OnCall::NotAsked | OnCall::Now(_) | OnCall::NotNow => None,
        };
        // The requester hears who can decide (never themselves, nor the bot that filed) and
        // when escalation calls in more.
        let deciders: Vec<String> = approvers
            .iter()
            .filter(|a| a.upn.as_str() != request.filed_by)
            .map(|a| format!("{} <{}>", a.display_name, a.address()))
            .collect();
        // Not after the decision is due: a request timed out calls nobody in.
        let escalates_at = profile
            .escalation
            .as_ref()
            .map(|_| at + broker.notifier.escalate_after_ms)
            .filter(|escalates_at| *escalates_at < request.decision_due_at);
        Decided::Waits { note, waits: Notice::AwaitingDecision { deciders, escalates_at } }
    };
    let filing = Filing {
        filer: caller.upn.to_string(),
        // Written only when `users` does not record them as the directory answered.
        user: (!recorded).then(|| user.clone()),
        extends: extension.map(|e| e.extends.clone()),
        request,
        decided,
        at,
    };
    let queues_jobs = filing.decided.queues_jobs(broker.notifier.is_enabled());
    let b = broker.clone();
    let filed = broker.store.commit_shared(move |tx| Box::pin(async move { filing.store(&b, tx).await })).await?;
    // A wake-up costs the worker a claim and a look at what falls due next: only for a
    // filing that gave it something to do.
    if queues_jobs {
        broker.wake_worker();
    }
    Ok(filed)
}

/// What becomes of a request as it is filed, decided before it is stored.
enum Decided {
    BreakGlass,
    /// Approved at once, by this rule.
    Approved(serde_json::Value),
    /// Waits for its approvers (with a note of why, when on call could not approve it).
    Waits {
        note: Option<NewEvent>,
        waits: Notice,
    },
}

impl Decided {
    /// Does storing it queue jobs (an activation, notices)? Waiting for approvers queues only
    /// notices, and none when nobody is notified.
    fn queues_jobs(&self, notifying: bool) -> bool {
        match self {
            Self::BreakGlass | Self::Approved(_) => true,
            Self::Waits { .. } => notifying,
        }
    }
}

/// A checked request, ready to store.
struct Filing {
    filer: String,
    /// The requester, to record in `users`.
    user: Option<DirectoryUser>,
    /// The request extended, when this is an extension.
    extends: Option<RequestId>,
    request: Request,
    decided: Decided,
    at: i64,
}

impl Filing {
    /// Stores the request with its audit events, its notices and, when approved at once, its
    /// grant, in one transaction (`Store::commit_shared`: on SQLite shared with other small
    /// writes, so a burst of filings makes one synced commit per batch, not per request).
    async fn store(self, broker: &Broker, tx: &DatabaseTransaction) -> Result<Filed, WorkflowError> {
        let Self { filer, user, extends, request, decided, at } = self;
        if let Some(user) = &user {
            users::upsert(tx, user).await?;
        }
        if let Some(extends) = &extends {
            // The request extended, locked until this one is stored: a revoke of its chain
            // either ran first (then it is no longer active, refused here) or waits, and then
            // finds this extension in the chain it ends.
            let extended = requests::get_for_update(tx, extends).await?;
            let status = extended.as_ref().map_or("gone", |r| r.status.as_str());
            if status != RequestStatus::Active.as_str() {
                return Err(WorkflowError::Conflict(format!(
                    "the request this extends is {status}, no longer active: file a new request instead"
                )));
            }
        }
        let cap = broker.max_pending_per_user;
        if !requests::insert_within_cap(tx, request.clone(), cap).await? {
            return Err(WorkflowError::Conflict(format!(
                "{} already has {cap} pending request(s), the most allowed: cancel one or wait for a decision",
                request.requester
            )));
        }
        let subject = Subject::Request(&request.id);
        let details = json!({
            "profile": request.profile, "requester": request.requester,
            "duration_seconds": request.duration_seconds,
            "justification": request.justification, "ticket": request.ticket, "extends": request.extends,
            "start_at": request.start_at.map(format_millis),
            "on_behalf": (filer != request.requester).then(|| filer.clone()),
        });
        let action = if request.extends.is_some() { "request.extension_filed" } else { "request.created" };
        let filed = NewEvent::new(filer.as_str(), action, subject, details);
        Ok(match decided {
            Decided::BreakGlass => {
                let (approved, grant) = grant::approve(tx, &request).await?;
                let details = json!({
                    "justification": approved.justification,
                    "review": "required: every approver and admin has been told",
                });
                let break_glass = NewEvent::new(filer.as_str(), "request.break_glass", subject, details);
                audit::append_all(tx, vec![filed, break_glass]).await?;
                notifications::notify(broker, tx, &approved, Notice::BreakGlass, at).await?;
                Filed { request: approved, grant }
            }
            Decided::Approved(rule) => {
                let (approved, grant) = grant::approve(tx, &request).await?;
                audit::append_all(tx, vec![filed, NewEvent::system("request.approved", subject, rule)]).await?;
                notifications::notify(broker, tx, &approved, Notice::Approved, at).await?;
                Filed { request: approved, grant }
            }
            Decided::Waits { note, waits } => {
                audit::append_all(tx, [filed].into_iter().chain(note).collect()).await?;
                let ask = Notice::ApprovalNeeded { stage: request.stage, version: request.version };
                notifications::notify(broker, tx, &request, ask, at).await?;
                notifications::notify(broker, tx, &request, waits, at).await?;
                Filed { request, grant: None }
            }
        })
    }
}
