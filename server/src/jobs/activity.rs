//! Collecting each grant's CloudTrail activity (`[aws.activity]`): one job per grant, due
//! `collect_every` after the grant became active, again every `collect_every` while it lasts,
//! and a last time once it ended and CloudTrail's delivery delay has passed. A collection
//! reads the files its predecessors had not settled (those written less than the delivery
//! delay before), adds them to the settled sum and replaces what was stored, so a long grant's
//! collections each read minutes of logs, and a retry or a crash never counts a call twice.
//! A collection that cannot read the logs records why (the page and the API show it) and is
//! tried again, without holding up anything else.
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{JobKind, effects::EffectError};
use crate::{
    broker::Broker,
    domain::{format_millis, now},
    providers::aws::{
        activity::{Activity, Progress, SessionWindow},
        parse_role_arn,
    },
    store::{
        StoreError,
        activity::{self, GrantActivity},
        audit::{self, NewEvent, Subject},
        grants::{self, Grant, GrantState},
        jobs::{self, Job, Lease, NewJob},
    },
};

/// One collection at a time, across replicas: a long window's reading never holds more than
/// one of the worker's slots, which membership syncs and revocations need.
const LOCK_KEY: &str = "aws-activity";

/// When the grant became active: its first collection, if its profile maps an AWS role and
/// `[aws.activity]` is configured. The role and session name are fixed now, so that a later
/// change of the policy does not change whose calls this grant is shown.
pub async fn schedule(broker: &Broker, c: &impl ConnectionTrait, g: &Grant, profile: &str) -> Result<(), StoreError> {
    let Some(aws) = &broker.aws else { return Ok(()) };
    let Some(logs) = &aws.activity else { return Ok(()) };
    let Some(role_arn) = broker.policy.find(profile).and_then(|p| p.aws_role_arn.clone()) else { return Ok(()) };
    let session_name = super::aws_jobs::session_name(aws, c, &g.user_id, &g.upn).await?;
    let job = NewJob {
        kind: JobKind::CollectActivity,
        grant_id: Some(g.id.clone()),
        lock_key: Some(LOCK_KEY.to_owned()),
        payload: json!({ "role_arn": role_arn, "session_name": session_name }),
        due_at: now().saturating_add(logs.collect_every_ms()),
    };
    jobs::enqueue(c, job).await
}

pub async fn collect(broker: &Broker, job: &Job, lease: &Lease) -> Result<(), EffectError> {
    let logs = broker.aws.as_ref().and_then(|aws| aws.activity.as_ref());
    let Some(logs) = logs else { return Err(EffectError::permanent("[aws.activity] is no longer configured")) };
    let Some(grant_id) = &job.grant_id else { return Err(EffectError::permanent("the job names no grant")) };
    let Some(g) = grants::get(broker.store.conn(), grant_id).await? else { return Ok(()) };
    let Some(from) = g.activated_at else { return Ok(()) };
    let payload: serde_json::Value = serde_json::from_str(&job.payload).map_err(EffectError::permanent)?;
    let (role_arn, session) = match (payload["role_arn"].as_str(), payload["session_name"].as_str()) {
        (Some(r), Some(s)) => (r.to_owned(), s.to_owned()),
        _ => return Err(EffectError::permanent("payload without role_arn or session_name")),
    };
    let (account, role) = parse_role_arn(&role_arn).map_err(EffectError::permanent)?;
    let at = now();
    let ended = (g.state == GrantState::Ended).then_some(g.ended_at).flatten();
    let to = ended.unwrap_or(at);
    let last = ended.is_some_and(|end| at >= end.saturating_add(logs.delivery_delay_ms()));
    let window = SessionWindow { account, role, session: session.clone(), from, to };
    let previous = activity::of_grant(broker.store.conn(), &g.id).await?;
    if previous.as_ref().is_some_and(|p| p.complete) {
        return Ok(()); // A rerun after the last collection committed.
    }
    let progress: Progress = previous
        .as_ref()
        .and_then(|p| p.progress.as_deref())
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    // Every file written before this is in the bucket by now.
    let settle_before = at.saturating_sub(logs.delivery_delay_ms());
    let found = match logs.collect(window, progress, settle_before).await {
        Ok(found) => found,
        // Whatever S3 said, it may say otherwise later (a permission granted, a bucket
        // created): retried for ever, and shown meanwhile.
        Err(e) => {
            // Kept with what the last good collection found, and tried again by the worker.
            let message = logs.explain(&e);
            let failed = match previous {
                Some(p) => GrantActivity { last_error: Some(message), failed_at: Some(at), ..p },
                None => GrantActivity {
                    grant_id: g.id.clone(),
                    request_id: g.request_id.clone(),
                    window_from: from,
                    window_to: to,
                    collected_at: None,
                    complete: false,
                    summary: None,
                    progress: None,
                    last_error: Some(message),
                    failed_at: Some(at),
                },
            };
            activity::save(broker.store.conn(), failed).await?;
            return Err(EffectError::Retry { message: e.to_string(), after: None });
        }
    };
    let tx = broker.store.begin().await?;
    if !jobs::fence(&tx, lease).await? {
        return Err(EffectError::Fenced);
    }
    let row = GrantActivity {
        grant_id: g.id.clone(),
        request_id: g.request_id.clone(),
        window_from: from,
        window_to: to,
        collected_at: Some(at),
        complete: last,
        summary: Some(serde_json::to_string(&found.activity).map_err(EffectError::permanent)?),
        progress: Some(serde_json::to_string(&found.progress).map_err(EffectError::permanent)?),
        last_error: None,
        failed_at: None,
    };
    activity::save(&tx, row).await?;
    if last {
        audit::append(
            &tx,
            NewEvent::system(
                "grant.activity",
                Subject::Request(&g.request_id),
                audited(&g, &role_arn, &session, &found.activity),
            ),
        )
        .await?;
    } else {
        let due = match ended {
            Some(end) => end.saturating_add(logs.delivery_delay_ms()),
            None => at.saturating_add(logs.collect_every_ms()),
        };
        // A rerun of this attempt (after a crash before its outcome was recorded) wrote a
        // next collection already: one chain per grant.
        jobs::cancel_pending(&tx, &g.id, JobKind::CollectActivity).await?;
        let again = NewJob {
            kind: JobKind::CollectActivity,
            grant_id: Some(g.id.clone()),
            lock_key: Some(LOCK_KEY.to_owned()),
            payload,
            due_at: due,
        };
        jobs::enqueue(&tx, again).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The `grant.activity` audit event: the counts, the errors and the sensitive writes (the
/// full write records stay on the grant's page and in the API).
fn audited(g: &Grant, role_arn: &str, session: &str, a: &Activity) -> serde_json::Value {
    let sensitive: Vec<_> = a
        .actions
        .iter()
        .filter(|x| x.sensitive)
        .map(|x| json!({ "action": format!("{}:{}", x.service, x.action), "calls": x.calls, "errors": x.errors }))
        .collect();
    json!({
        "grant": g.id, "user": g.upn, "role": role_arn, "session_name": session,
        "window_from": g.activated_at.map(format_millis), "window_to": g.ended_at.map(format_millis),
        "calls": a.calls, "reads": a.reads, "writes": a.writes, "console_sign_ins": a.console_sign_ins,
        "errors": a.errors, "sensitive_writes": sensitive, "source_ips": a.source_ips.keys().collect::<Vec<_>>(),
        "first_call_at": a.first_call_at.map(format_millis), "last_call_at": a.last_call_at.map(format_millis),
        "files_read": a.files_read, "unreadable_files": a.unreadable_files,
    })
}
