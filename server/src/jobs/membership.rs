//! The one place that decides a directory membership. What must be true is a function of the
//! database alone: *the user is a member ⇔ the membership is standing (held before Elevate
//! added it) ∨ some grant of that user and group is active now*. Every transition only
//! changes grant rows and schedules a sync of the membership's key; `sync` then reads the
//! desired state, calls the directory until the real state matches, and records the outcome,
//! pass after pass until nothing is left to do. A late, repeated or crashed sync therefore
//! never leaves access behind: the next pass corrects it.
//!
//! Syncs of one key never run at once (the job lock key), and each commit proves the job's
//! lease still holds (`jobs::fence`), so a worker that lost its lease cannot write a result.
use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use serde_json::json;

use super::{
    effects::{EffectError, Finished},
    grant::{self, EndOutcome},
    sync::{self, Purpose},
};
use crate::{
    broker::Broker,
    domain::{GroupId, now},
    providers::directory::DirectoryError,
    store::{
        audit,
        audit::{NewEvent, Subject},
        grants::{Grant, GrantState},
        jobs::{self, Job, JobStatus, Lease},
        memberships::{self, Membership},
    },
};

/// Passes one sync makes at most before it hands over to a fresh job (the grants kept
/// changing under it).
const MAX_PASSES: usize = 16;

/// One sync, as the worker runs it.
struct Sync<'a> {
    broker: &'a Broker,
    lease: &'a Lease,
    /// When the job was due: kept when the last commit records it done.
    due_at: i64,
    user_id: String,
    group: GroupId,
    /// The add has failed for `worker.max_attempts` attempts: fail the activations.
    give_up_adds: bool,
}

/// What one pass left to do.
enum Step {
    Again,
    Done,
    /// Done, and the pass's last commit recorded the job done (`Sync::finish`).
    Finished,
}

pub async fn sync(broker: &Broker, job: &Job, lease: &Lease, give_up_adds: bool) -> Result<Finished, EffectError> {
    let (user_id, group_id) = sync::target(job)?;
    let group = GroupId::parse(&group_id).map_err(EffectError::permanent)?;
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
    let mut purpose = Purpose::of(&payload);
    let s = Sync { broker, lease, due_at: job.due_at, user_id, group, give_up_adds };
    for _ in 0..MAX_PASSES {
        match s.pass(&purpose).await? {
            Step::Done => return Ok(Finished::ToRecord),
            Step::Finished => return Ok(Finished::Recorded),
            // A purpose is served by the pass that saw it; later passes only converge.
            Step::Again => purpose = Purpose::Converge,
        }
    }
    Err(EffectError::Retry { message: "the membership's grants kept changing; syncing again".into(), after: None })
}

impl Sync<'_> {
    fn group_id(&self) -> &str {
        self.group.as_str()
    }

    /// Commits `write` only while the job's lease holds (`Store::commit_shared`: on SQLite in a
    /// transaction shared with other syncs' writes, so a mass expiry or a burst of activations
    /// makes one synced commit per batch rather than one per membership).
    async fn commit<T, F>(&self, write: F) -> Result<T, EffectError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, EffectError>> + Send + 'static,
    {
        self.commit_fenced(false, write).await
    }

    /// `commit`, recording the job done in the same writes: for a pass's last commit, after
    /// which nothing is left to do (the pass returns `Step::Finished`).
    async fn finish<F>(&self, write: F) -> Result<(), EffectError>
    where
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<(), EffectError>> + Send + 'static,
    {
        self.commit_fenced(true, write).await
    }

    async fn commit_fenced<T, F>(&self, done: bool, write: F) -> Result<T, EffectError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, EffectError>> + Send + 'static,
    {
        let (lease, due_at) = (self.lease.clone(), self.due_at);
        let result = self
            .broker
            .store
            .commit_shared(move |tx| {
                Box::pin(async move {
                    let held = match done {
                        true => jobs::settle(tx, &lease, JobStatus::Done, due_at, None).await?,
                        false => jobs::fence(tx, &lease).await?,
                    };
                    if !held {
                        return Err(EffectError::Fenced);
                    }
                    write(tx).await
                })
            })
            .await;
        self.broker.wake_worker();
        result
    }

    async fn pass(&self, purpose: &Purpose) -> Result<Step, EffectError> {
        let at = now();
        let (found, open) =
            memberships::with_grants(self.broker.store.conn(), &self.user_id, self.group_id(), &GrantState::OPEN)
                .await?;
        let m = found.unwrap_or_else(|| Membership {
            user_id: self.user_id.clone(),
            group_id: self.group_id().to_owned(),
            upn: open.first().map(|g| g.upn.clone()).unwrap_or_default(),
            standing: None,
            added_at: None,
            updated_at: now(),
        });
        // Time is up first: an expired grant wants nothing, whatever else it was doing.
        let due: Vec<&Grant> = open
            .iter()
            .filter(|g| GrantState::WANTING.contains(&g.state) && g.expires_at.is_some_and(|e| e <= at))
            .collect();
        if !due.is_empty() {
            return self.expire(m, &open, &due).await;
        }
        let wanting: Vec<&Grant> = open.iter().filter(|g| GrantState::WANTING.contains(&g.state)).collect();
        let ending: Vec<&Grant> = open.iter().filter(|g| g.state == GrantState::Ending).collect();
        if wanting.is_empty() {
            self.unwanted(purpose, m, &ending).await
        } else {
            self.wanted(purpose, m, &wanting, &ending).await
        }
    }

    /// Some grant wants the membership now.
    async fn wanted(
        &self,
        purpose: &Purpose,
        mut m: Membership,
        wanting: &[&Grant],
        ending: &[&Grant],
    ) -> Result<Step, EffectError> {
        let starting: Vec<&Grant> = wanting.iter().copied().filter(|g| g.state == GrantState::Activating).collect();
        // Asked once, before Elevate's first add, and remembered: after a retried add the user
        // is a member because of us, which must not be mistaken for standing access.
        let found = match m.standing {
            Some(_) => None,
            None => Some(self.broker.directory.is_member(&self.group, &self.user_id).await?),
        };
        if let Some(member) = found {
            m.standing = Some(member);
            m.updated_at = now();
        }
        let standing_found = found.filter(|member| *member).map(|_| {
            let first = wanting[0];
            let details = json!({ "group": m.group_id, "user": m.upn, "grant": first.id });
            NewEvent::system("membership.standing_found", Subject::Request(&first.request_id), details)
        });
        let standing = m.standing == Some(true);
        if found.is_some() && (starting.is_empty() || !ending.is_empty()) {
            self.commit(move |tx| {
                Box::pin(async move {
                    audit::append_all(tx, standing_found.into_iter().collect()).await?;
                    memberships::save(tx, m).await?;
                    Ok(())
                })
            })
            .await?;
            return Ok(Step::Again);
        }
        if !ending.is_empty() {
            let outcome = if standing { EndOutcome::KeptStanding } else { EndOutcome::KeptOverlap };
            self.settle(ending, outcome, None).await?;
            return Ok(Step::Again);
        }
        if starting.is_empty() {
            if *purpose == Purpose::Restore {
                self.restore(wanting).await?;
            }
            // Whatever happened before, the next change of the desired state (the earliest
            // end) has a sync waiting for it.
            let Some(next) = wanting.iter().filter_map(|g| g.expires_at).min() else { return Ok(Step::Done) };
            let (user, group) = (self.user_id.clone(), self.group_id().to_owned());
            self.finish(move |tx| Box::pin(async move { Ok(sync::schedule(tx, &user, &group, next).await?) })).await?;
            return Ok(Step::Finished);
        }
        // Each window opens at the first attempt to add, recorded before the call (with the
        // standing membership just found, in the same commit).
        let unopened: Vec<&Grant> = starting.iter().copied().filter(|g| g.expires_at.is_none()).collect();
        let first_add = !standing && m.added_at.is_none();
        if found.is_some() || !unopened.is_empty() || first_add {
            let at = now();
            let unopened = owned(&unopened);
            let save = (found.is_some() || first_add).then(|| Membership {
                added_at: m.added_at.or(first_add.then_some(at)),
                updated_at: at,
                ..m
            });
            self.commit(move |tx| {
                Box::pin(async move {
                    audit::append_all(tx, standing_found.into_iter().collect()).await?;
                    for g in &unopened {
                        grant::open_window(tx, g, at).await?;
                    }
                    if let Some(m) = save {
                        memberships::save(tx, m).await?;
                    }
                    Ok(())
                })
            })
            .await?;
            return Ok(Step::Again);
        }
        // A standing member is added too (Graph answers "already exists", which counts as
        // success): the membership the grant promises is confirmed, not assumed.
        match self.broker.directory.add_member(&self.group, &self.user_id).await {
            Ok(()) => {}
            Err(DirectoryError::Transient { message, .. }) if self.give_up_adds => {
                return self.fail(&starting, &message).await;
            }
            Err(e @ (DirectoryError::NotFound(_) | DirectoryError::Permanent { .. } | DirectoryError::Failed(_))) => {
                return self.fail(&starting, &e.to_string()).await;
            }
            Err(e) => return Err(e.into()),
        }
        match self.confirm(&starting, standing).await {
            Err(EffectError::Fenced) if !standing => {
                // Our add landed, but another worker owns the membership now and may have
                // decided it should go: make sure the late add is not left behind.
                let tx = self.broker.store.begin().await?;
                sync::enqueue(&tx, &self.user_id, self.group_id(), Purpose::LateAdd, now()).await?;
                tx.commit().await?;
                self.broker.wake_worker();
                Err(EffectError::Fenced)
            }
            // Each window opened has its sync due at its end (`grant::open_window`), and a
            // change made meanwhile (a revocation) scheduled its own: nothing is left to do.
            other => other.map(|()| Step::Finished),
        }
    }

    async fn confirm(&self, starting: &[&Grant], standing: bool) -> Result<(), EffectError> {
        let at = now();
        let (broker, starting) = (self.broker.clone(), owned(starting));
        self.finish(move |tx| {
            Box::pin(async move {
                for g in &starting {
                    grant::confirm(&broker, tx, g, standing, at).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn fail(&self, starting: &[&Grant], error: &str) -> Result<Step, EffectError> {
        let (broker, starting, error) = (self.broker.clone(), owned(starting), error.to_owned());
        self.commit(move |tx| {
            Box::pin(async move {
                for g in &starting {
                    grant::fail(&broker, tx, g, &error).await?;
                }
                Ok(())
            })
        })
        .await?;
        Ok(Step::Again)
    }

    /// Reconciliation found an active grant's member missing (someone removed it by hand).
    async fn restore(&self, wanting: &[&Grant]) -> Result<(), EffectError> {
        if self.broker.directory.is_member(&self.group, &self.user_id).await? {
            return Ok(());
        }
        self.broker.directory.add_member(&self.group, &self.user_id).await?;
        let wanting = owned(wanting);
        self.commit(move |tx| {
            Box::pin(async move {
                for g in &wanting {
                    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id });
                    let subject = Subject::Request(&g.request_id);
                    audit::append(tx, NewEvent::system("membership.restored", subject, details)).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// No grant wants the membership now.
    async fn unwanted(&self, purpose: &Purpose, m: Membership, ending: &[&Grant]) -> Result<Step, EffectError> {
        if ending.is_empty() {
            match purpose {
                Purpose::RemoveDrift { upn } => self.remove_drift(upn).await?,
                Purpose::LateAdd if m.standing != Some(true) => self.undo_late_add(&m).await?,
                _ => {}
            }
            return Ok(Step::Done);
        }
        let outcome = self.end_membership(&m).await?;
        self.settle(ending, outcome, Some(m)).await?;
        Ok(Step::Again)
    }

    /// Grants whose time is up. When no other grant wants the membership, the directory is
    /// told first and the ends, the removal and the job's end are recorded in one commit (a
    /// crash before it repeats the call, which finds the member gone), and the sync is done: no
    /// grant of the membership is left open (one opened meanwhile has a sync of its own
    /// waiting). When the directory cannot be reached, the ends are recorded alone, and the
    /// removal is retried.
    async fn expire(&self, m: Membership, open: &[Grant], due: &[&Grant]) -> Result<Step, EffectError> {
        let others_want =
            open.iter().any(|g| GrantState::WANTING.contains(&g.state) && !due.iter().any(|d| d.id == g.id));
        let (removed, failed) = match others_want {
            true => (None, None),
            false => match self.end_membership(&m).await {
                Ok(outcome) => (Some((outcome, m)), None),
                Err(e) => (None, Some(e)),
            },
        };
        let at = now();
        let ending: Vec<Grant> = open.iter().filter(|g| g.state == GrantState::Ending).cloned().collect();
        let (broker, due) = (self.broker.clone(), owned(due));
        let finished = removed.is_some();
        self.commit_fenced(finished, move |tx| {
            Box::pin(async move {
                let removal = removed.as_ref().map(|(outcome, _)| (*outcome, at));
                for g in &due {
                    grant::expire(&broker, tx, g, removal).await?;
                }
                if let Some((outcome, m)) = removed {
                    for g in &ending {
                        grant::settle(&broker, tx, g, outcome, at).await?;
                    }
                    memberships::save(tx, Membership { standing: None, added_at: None, updated_at: at, ..m }).await?;
                }
                Ok(())
            })
        })
        .await?;
        match failed {
            Some(e) => Err(e),
            None if finished => Ok(Step::Finished),
            None => Ok(Step::Again),
        }
    }

    /// Makes the directory match "no grant wants this membership": what that took.
    async fn end_membership(&self, m: &Membership) -> Result<EndOutcome, EffectError> {
        Ok(match (m.standing, m.added_at) {
            (Some(true), _) => EndOutcome::KeptStanding,
            (_, None) => EndOutcome::NotAdded,
            (_, Some(_)) => match self.broker.directory.remove_member(&self.group, &self.user_id).await {
                Ok(()) => EndOutcome::Removed,
                // No group, so no membership left to remove: done, and said in the audit log.
                Err(DirectoryError::NotFound(_)) => EndOutcome::GroupMissing,
                Err(e) => return Err(e.into()),
            },
        })
    }

    /// Records the end of `ending` grants. With `forget` (no grant wants the membership any
    /// more) the membership's row is reset: the next grant asks the directory afresh whether
    /// the user is a standing member.
    async fn settle(
        &self,
        ending: &[&Grant],
        outcome: EndOutcome,
        forget: Option<Membership>,
    ) -> Result<(), EffectError> {
        let at = now();
        let (broker, ending) = (self.broker.clone(), owned(ending));
        self.commit(move |tx| {
            Box::pin(async move {
                for g in &ending {
                    grant::settle(&broker, tx, g, outcome, at).await?;
                }
                if let Some(m) = forget {
                    memberships::save(tx, Membership { standing: None, added_at: None, updated_at: at, ..m }).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// An add that landed after its membership's grants ended: removed again.
    async fn undo_late_add(&self, m: &Membership) -> Result<(), EffectError> {
        let outcome = match self.broker.directory.remove_member(&self.group, &self.user_id).await {
            Ok(()) => "removed",
            Err(DirectoryError::NotFound(_)) => "already_gone",
            Err(e) => return Err(e.into()),
        };
        let details = json!({ "group": self.group_id(), "user": m.upn, "outcome": outcome, "reason": "an add landed after the grant ended" });
        let event = NewEvent::system("membership.removed", Subject::Group(self.group_id()), details);
        self.commit(move |tx| Box::pin(async move { Ok(audit::append(tx, event).await?) })).await
    }

    /// A member that no grant and no `permanent_members` entry accounts for.
    async fn remove_drift(&self, upn: &str) -> Result<(), EffectError> {
        let permanent = self
            .broker
            .policy
            .profiles()
            .any(|p| p.group == self.group && p.permanent_members.iter().any(|m| m.as_str() == upn));
        if permanent {
            return Ok(());
        }
        let outcome = match self.broker.directory.remove_member(&self.group, &self.user_id).await {
            Ok(()) => "removed",
            Err(DirectoryError::NotFound(_)) => "already_gone",
            Err(e) => return Err(e.into()),
        };
        let details = json!({ "group": self.group_id(), "user": upn, "outcome": outcome });
        let event = NewEvent::system("drift.removed", Subject::Group(self.group_id()), details);
        let (broker, user, group, upn) =
            (self.broker.clone(), self.user_id.clone(), self.group_id().to_owned(), upn.to_owned());
        self.commit(move |tx| {
            Box::pin(async move {
                audit::append(tx, event).await?;
                if outcome == "removed" {
                    super::aws_jobs::schedule_drift_revocations(&broker, tx, &group, &user, &upn, now()).await?;
                }
                Ok(())
            })
        })
        .await
    }
}

/// Grants to move into a write that outlives this pass's borrows.
fn owned(grants: &[&Grant]) -> Vec<Grant> {
    grants.iter().map(|g| (*g).clone()).collect()
}
