//! Drift reconciliation: the members of every group a profile maps, compared with the grants.
//! A member without an active grant who is not a permanent member is drift (reported, or in
//! `enforce` mode removed); an active grant whose member is missing gets the membership back.
//! Memberships with an effect in flight are left alone: reconciliation never fights a job.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{Broker, WorkflowError};
use crate::{
    domain::{GroupId, Upn},
    jobs::sync::{self, key as membership_key},
    policy::ReconcileMode,
    providers::directory::DirectoryError,
    store::{
        audit::{self, NewEvent, Subject},
        grants::{self, GrantState},
        jobs::in_flight,
    },
};

/// A job due within this long counts as in flight.
const IN_FLIGHT_MARGIN_MS: i64 = 5_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    pub drift: usize,
    pub restored: usize,
}

struct GroupRule {
    mode: ReconcileMode,
    permanent: BTreeSet<Upn>,
}

/// The strictest mode and all permanent members of the profiles that map each group.
fn rules(broker: &Broker) -> BTreeMap<GroupId, GroupRule> {
    let mut rules: BTreeMap<GroupId, GroupRule> = BTreeMap::new();
    for p in broker.policy.profiles() {
        let rule =
            rules.entry(p.group.clone()).or_insert(GroupRule { mode: ReconcileMode::Off, permanent: BTreeSet::new() });
        rule.mode = rule.mode.max(p.reconcile);
        rule.permanent.extend(p.permanent_members.iter().cloned());
    }
    rules.retain(|_, r| r.mode != ReconcileMode::Off);
    rules
}

pub async fn reconcile_all(broker: &Broker) -> Result<Reconciliation, WorkflowError> {
    let mut outcome = Reconciliation::default();
    for (group, rule) in rules(broker) {
        let members = match broker.directory.list_members(&group).await {
            Ok(m) => m,
            Err(DirectoryError::NotFound(_)) => continue,
            Err(e) => return Err(WorkflowError::Directory(e)),
        };
        let conn = broker.store.conn();
        let held = grants::in_group(conn, group.as_str(), &GrantState::OPEN).await?;
        let holders: BTreeSet<&str> = held.iter().map(|g| g.user_id.as_str()).collect();
        let member_ids: BTreeSet<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let tx = broker.store.begin().await?;
        for member in &members {
            let key = membership_key(&member.id, group.as_str());
            if holders.contains(member.id.as_str())
                || rule.permanent.contains(&member.upn)
                || in_flight(&tx, &key, IN_FLIGHT_MARGIN_MS).await?
            {
                continue;
            }
            let enforce = rule.mode == ReconcileMode::Enforce;
            if !enforce && !broker.first_report(&key) {
                continue;
            }
            outcome.drift += 1;
            let mode = if enforce { "enforce" } else { "report" };
            broker.metrics.drift_found.with_label_values(&[group.as_str(), mode]).inc();
            let details = json!({ "group": group.as_str(), "user": member.upn.as_str(), "mode": if enforce { "enforce" } else { "report" } });
            audit::append(&tx, NewEvent::system("drift.found", Subject::Group(group.as_str()), details)).await?;
            if enforce {
                sync::schedule_drift_removal(&tx, &member.id, group.as_str(), member.upn.as_str()).await?;
            }
        }
        for g in held.iter().filter(|g| g.state == GrantState::Active && !member_ids.contains(g.user_id.as_str())) {
            if in_flight(&tx, &membership_key(&g.user_id, &g.group_id), IN_FLIGHT_MARGIN_MS).await? {
                continue;
            }
            outcome.restored += 1;
            let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id });
            audit::append(&tx, NewEvent::system("drift.missing", Subject::Request(&g.request_id), details)).await?;
            sync::schedule_restore(&tx, &g.user_id, &g.group_id).await?;
        }
        tx.commit().await?;
    }
    if outcome != Reconciliation::default() {
        broker.wake_worker();
    }
    Ok(outcome)
}
