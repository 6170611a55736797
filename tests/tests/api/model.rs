//! A model-based test of the core promise. Seeded random sequences of file, approve, deny,
//! cancel, extend, revoke, expire, Graph outages and `kill -9` + restart run against the real
//! binary and the Graph test server; a small reference model says what each call must answer
//! and what each request's status must become. At every quiescent point (nothing due, nothing
//! running) the test asserts the statuses, *member ⇔ some active grant* for every user and
//! group, and, from Graph's ledger, that no membership outlived its approved end by more than
//! 2 s (measured from the end of an outage or downtime when the end fell into one).
//!
//! `ELEVATE_MODEL_SEED` and `ELEVATE_MODEL_STEPS` choose the run (the test command uses a
//! fixed seed); `scripts/soak` runs many random seeds.
use std::time::{Duration, Instant};

use elevate_tests::graph_server::{Faults, GraphServer};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use crate::helpers::{BOB, TestApp, now_ms, seed_graph};

const POLICY: &str = r#"
[profiles.Auto]
title = "Approved automatically"
group = "Model-Auto"
min_duration = "1s"
max_duration = "8h"
eligible = { groups = ["Modelers"] }
approval = { auto_approve = true }

[profiles.Approved]
title = "Approved by Bob"
group = "Model-Approved"
min_duration = "1s"
max_duration = "8h"
eligible = { groups = ["Modelers"] }
approval = { users = ["bob@example.com"] }
"#;

const USERS: [&str; 3] = ["modeler0@example.com", "modeler1@example.com", "modeler2@example.com"];
const PROFILES: [(&str, &str); 2] = [("Auto", "Model-Auto"), ("Approved", "Model-Approved")];
/// How late a removal may be after the approved end (or after the disturbance it fell into).
const SLACK_MS: i64 = 2_000;
/// After an outage or downtime: the worker's retry backoff (at most 2 s here) comes on top.
const DISTURBED_SLACK_MS: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Active,
    Denied,
    Cancelled,
    Expired,
    Revoked,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// What the model knows of one request.
#[derive(Debug)]
struct Req {
    id: String,
    user: &'static str,
    profile: usize,
    extends: Option<usize>,
    status: Status,
    /// Until when its access is approved (Unix ms), once it ended.
    entitled_until: Option<i64>,
}

struct Model {
    reqs: Vec<Req>,
    /// Periods in which nothing could be removed: Elevate down, or Graph out (Unix ms).
    disturbances: Vec<(i64, i64)>,
}

impl Model {
    fn chain(&self, i: usize) -> Vec<usize> {
        let mut root = i;
        while let Some(parent) = self.reqs[root].extends {
            root = parent;
        }
        let mut chain = vec![root];
        let mut k = 0;
        while k < chain.len() {
            let at = chain[k];
            chain.extend((0..self.reqs.len()).filter(|j| self.reqs[*j].extends == Some(at)));
            k += 1;
        }
        chain
    }

    fn with(&self, status: Status) -> Vec<usize> {
        (0..self.reqs.len()).filter(|i| self.reqs[*i].status == status).collect()
    }

    fn end(&mut self, i: usize, status: Status, at: i64) {
        let r = &mut self.reqs[i];
        if r.status == Status::Active {
            r.entitled_until = Some(at);
        }
        r.status = status;
    }

    /// The latest a removal may come for the approved end `at`: `SLACK_MS` later, or, when a
    /// disturbance overlaps that, its end plus `DISTURBED_SLACK_MS` (and so on, for
    /// disturbances that follow each other).
    fn removal_bound(&self, at: i64) -> i64 {
        let mut bound = at + SLACK_MS;
        loop {
            let later = self
                .disturbances
                .iter()
                .filter(|(from, to)| *from <= bound && *to + DISTURBED_SLACK_MS > bound && *to >= at - SLACK_MS)
                .map(|(_, to)| *to + DISTURBED_SLACK_MS)
                .max();
            match later {
                Some(b) => bound = b,
                None => return bound,
            }
        }
    }
}

struct Run {
    app: TestApp,
    model: Model,
    rng: StdRng,
    /// The test's clock against the Graph ledger's `Instant`s.
    epoch: (Instant, i64),
}

impl Run {
    fn ledger_ms(&self, at: Instant) -> i64 {
        self.epoch.1 + i64::try_from(at.duration_since(self.epoch.0).as_millis()).unwrap_or(i64::MAX)
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.random_range(0..from.len())])
    }

    /// Waits until Elevate confirmed the activation of a request the model has active (it may
    /// still be adding the membership, or waiting for Graph to come back): extending or
    /// expiring it means something only then.
    async fn until_active(&self, i: usize) {
        let id = &self.model.reqs[i].id;
        self.app.wait_for(id, Duration::from_secs(30), |r| r["status"] != "approved").await;
    }

    async fn file(&mut self) {
        let user = USERS[self.rng.random_range(0..USERS.len())];
        let profile = self.rng.random_range(0..PROFILES.len());
        let body = json!({ "profile": PROFILES[profile].0, "duration_seconds": 3600, "justification": "model" });
        let (status, body) = self.app.as_user(user, &["requester"]).post("/api/v1/requests", body).await;
        self.filed(status, &body, user, profile, None);
    }

    fn filed(&mut self, status: u16, body: &Value, user: &'static str, profile: usize, extends: Option<usize>) {
        if status == 503 {
            return; // Graph is out: nothing was filed.
        }
        assert_eq!(status, 201, "filing: {body}");
        let status = if profile == 0 { Status::Active } else { Status::Pending };
        let id = body["id"].as_str().expect("an id").to_owned();
        self.model.reqs.push(Req { id, user, profile, extends, status, entitled_until: None });
    }

    async fn decide(&mut self, action: &str) {
        let Some(i) = self.pick(&self.model.with(Status::Pending)) else { return };
        let extended_active = self.model.reqs[i].extends.is_none_or(|e| self.model.reqs[e].status == Status::Active);
        if let (Some(e), true) = (self.model.reqs[i].extends, extended_active && action == "approve") {
            self.until_active(e).await;
        }
        let id = self.model.reqs[i].id.clone();
        let (status, body) = match action {
            "cancel" => self.app.as_user(self.model.reqs[i].user, &["requester"]).act(&id, "cancel").await,
            _ => self.app.approver(BOB).act(&id, action).await,
        };
        let (expected, next) = match action {
            "approve" if extended_active => (200, Status::Active),
            "approve" => (409, Status::Pending),
            "deny" => (200, Status::Denied),
            _ => (200, Status::Cancelled),
        };
        assert_eq!(status, expected, "{action} {id}: {body}");
        self.model.reqs[i].status = next;
    }

    async fn extend(&mut self) {
        let Some(i) = self.pick(&self.model.with(Status::Active)) else { return };
        // An hour each: the profile's 8 hours are never reached.
        if self.model.chain(i).len() >= 6 {
            return;
        }
        self.until_active(i).await;
        let (user, profile, id) = (self.model.reqs[i].user, self.model.reqs[i].profile, self.model.reqs[i].id.clone());
        let body = json!({ "duration_seconds": 600 });
        let (status, body) =
            self.app.as_user(user, &["requester"]).post(&format!("/api/v1/requests/{id}/extend"), body).await;
        self.filed(status, &body, user, profile, Some(i));
    }

    async fn revoke(&mut self) {
        let Some(i) = self.pick(&self.model.with(Status::Active)) else { return };
        let id = self.model.reqs[i].id.clone();
        let (status, body) = self.app.admin().act(&id, "revoke").await;
        assert_eq!(status, 200, "revoke {id}: {body}");
        // The instant Elevate committed the revoke: its removal may land before the answer
        // reaches the test, so the time of the answer would be too late an end.
        let at = crate::helpers::millis(&body["updated_at"]);
        for j in self.model.chain(i) {
            match self.model.reqs[j].status {
                Status::Active => self.model.end(j, Status::Revoked, at),
                Status::Pending => self.model.end(j, Status::Cancelled, at),
                _ => {}
            }
        }
    }

    async fn expire(&mut self) {
        let Some(i) = self.pick(&self.model.with(Status::Active)) else { return };
        self.until_active(i).await;
        let at = now_ms() + 300;
        let id = self.model.reqs[i].id.clone();
        self.app.set_expiry(std::slice::from_ref(&id), at).await;
        // Nothing else happens until the expiry did (a revoke before it would win).
        self.app.wait_for(&id, Duration::from_secs(30), |r| r["status"] == "expired").await;
        self.model.end(i, Status::Expired, at);
        for j in 0..self.model.reqs.len() {
            if self.model.reqs[j].extends == Some(i) && self.model.reqs[j].status == Status::Pending {
                self.model.end(j, Status::Cancelled, at);
            }
        }
    }

    async fn outage(&mut self) {
        let length = Duration::from_millis(self.rng.random_range(500..3000));
        let from = now_ms();
        self.app.graph().set_faults(Faults { outage_until: Some(Instant::now() + length), ..Default::default() });
        self.model.disturbances.push((from, from + i64::try_from(length.as_millis()).unwrap_or(0)));
    }

    async fn crash(&mut self) {
        let from = now_ms();
        self.app.kill().await;
        tokio::time::sleep(Duration::from_millis(self.rng.random_range(0..1000))).await;
        self.app.restart().await;
        self.model.disturbances.push((from, now_ms()));
    }

    /// Waits until nothing is due or running, then compares everything with the model.
    async fn check(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let busy = self.busy_jobs().await;
            let statuses = self.statuses().await;
            let settled = statuses.iter().all(|r| r["status"] != "approved")
                && statuses
                    .iter()
                    .filter(|r| ["expired", "revoked"].contains(&r["status"].as_str().unwrap_or("")))
                    .all(|r| r["ended_at"].is_string());
            if busy == 0 && settled && self.model_matches(&statuses) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no quiescent point within 60 s: {busy} job(s) busy; {:#?}",
                self.diff(&statuses)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let graph = self.app.graph();
        for user in USERS {
            for (k, (_, group)) in PROFILES.iter().enumerate() {
                let wanted =
                    self.model.reqs.iter().any(|r| r.user == user && r.profile == k && r.status == Status::Active);
                let uid = graph.user_id(user);
                assert_eq!(graph.is_member(group, &uid), wanted, "{user} in {group}: model {:#?}", self.model.reqs);
                let mut held_since = None;
                for (added, at) in graph.membership_history(group, &uid) {
                    if added {
                        held_since = Some(self.ledger_ms(at));
                        continue;
                    }
                    let removed = self.ledger_ms(at);
                    let since = held_since.take().unwrap_or(i64::MIN);
                    // The latest approved end of a grant of this membership before the removal.
                    let end = self
                        .model
                        .reqs
                        .iter()
                        .filter(|r| r.user == user && r.profile == k)
                        .filter_map(|r| r.entitled_until)
                        .filter(|e| *e >= since - SLACK_MS && *e <= removed)
                        .max();
                    let bound = end.map_or(removed, |e| self.model.removal_bound(e));
                    assert!(
                        removed <= bound,
                        "{user} left {group} {} ms after the approved end at {}; disturbances {:?}; model {:#?}",
                        removed - end.unwrap_or(removed),
                        end.unwrap_or_default(),
                        self.model.disturbances,
                        self.model.reqs
                    );
                }
            }
        }
    }

    fn model_matches(&self, statuses: &[Value]) -> bool {
        self.diff(statuses).is_empty()
    }

    /// (id, model's status, Elevate's status) where the two differ.
    fn diff(&self, statuses: &[Value]) -> Vec<(String, &'static str, String)> {
        self.model
            .reqs
            .iter()
            .filter_map(|r| {
                let found = statuses
                    .iter()
                    .find(|s| s["id"] == r.id.as_str())
                    .map(|s| s["status"].as_str().unwrap_or("").to_owned());
                let found = found.unwrap_or_default();
                (found != r.status.as_str()).then(|| (r.id.clone(), r.status.as_str(), found))
            })
            .collect()
    }

    async fn statuses(&self) -> Vec<Value> {
        let (status, body) = self.app.admin().get("/api/v1/requests?limit=200").await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Jobs due now or running.
    async fn busy_jobs(&self) -> u64 {
        use entity::jobs::{Column, Entity};
        use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};
        let db = self.app.db().await;
        let busy = Entity::find()
            .filter(
                Condition::any()
                    .add(Column::Status.eq("running"))
                    .add(Condition::all().add(Column::Status.eq("pending")).add(Column::DueAt.lte(now_ms()))),
            )
            .count(&db)
            .await
            .unwrap();
        db.close().await.ok();
        busy
    }
}

#[tokio::test]
async fn random_histories_keep_every_membership_equal_to_the_active_grants() {
    let seed: u64 = std::env::var("ELEVATE_MODEL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(14);
    let steps: usize = std::env::var("ELEVATE_MODEL_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    println!("model seed {seed}, {steps} steps");
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    let ids: Vec<String> = USERS.iter().map(|u| graph.add_user(u)).collect();
    graph.add_group("Modelers", &ids.iter().map(String::as_str).collect::<Vec<_>>());
    for (_, group) in PROFILES {
        graph.add_group(group, &[]);
    }
    let app = TestApp::builder().policy(POLICY).graph(graph).spawn().await;
    let mut run = Run {
        app,
        model: Model { reqs: Vec::new(), disturbances: Vec::new() },
        rng: StdRng::seed_from_u64(seed),
        epoch: (Instant::now(), now_ms()),
    };
    for step in 0..steps {
        let roll = run.rng.random_range(0..100);
        // Shown with a failure: what the run did, when (UTC, as in the server's log).
        println!("{} step {step}: roll {roll}", chrono::Utc::now().format("%H:%M:%S%.3f"));
        match roll {
            0..25 => run.file().await,
            25..40 => run.decide("approve").await,
            40..45 => run.decide("deny").await,
            45..50 => run.decide("cancel").await,
            50..60 => run.extend().await,
            60..70 => run.revoke().await,
            70..80 => run.expire().await,
            80..85 => run.outage().await,
            85..90 => run.crash().await,
            _ => {
                run.app.graph().set_faults(Faults::default());
                run.check().await;
            }
        }
        if step % 15 == 14 {
            run.app.graph().set_faults(Faults::default());
            run.check().await;
        }
    }
    run.app.graph().set_faults(Faults::default());
    run.check().await;
    println!("model seed {seed}: {} requests, all as the model says", run.model.reqs.len());
}
