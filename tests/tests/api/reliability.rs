//! A broker that forgets to revoke is worse than none: crashes at random points, downtime past
//! many expiries and a graceful stop lose nothing and repeat nothing. Checked against the Graph
//! test server's ledger of memberships really added and removed.
use std::time::Duration;

use elevate_tests::graph_server::GraphServer;
use rand::Rng;
use serde_json::{Value, json};

use crate::helpers::{BOB, BOT, SECRET, TestApp, seed_graph, token};

const POLICY: &str = r#"
[profiles.Auto]
title = "Approved automatically"
group = "Crash-Auto"
min_duration = "1s"
max_duration = "1h"
eligible = { groups = ["Crashers"] }
approval = { auto_approve = true }

[profiles.Approved]
title = "Approved by Bob"
group = "Crash-Approved"
min_duration = "1s"
max_duration = "1h"
eligible = { groups = ["Crashers"] }
approval = { users = ["bob@example.com"] }
"#;

/// A Graph test server with `n` users in the `Crashers` group (and the usual test users).
async fn graph_with_crashers(n: usize) -> (GraphServer, Vec<String>) {
    let graph = GraphServer::start().await;
    let users: Vec<String> = (0..n).map(|i| format!("user{i}@example.com")).collect();
    let ids: Vec<String> = users.iter().map(|u| graph.add_user(u)).collect();
    graph.add_group("Crashers", &ids.iter().map(String::as_str).collect::<Vec<_>>());
    graph.add_group("Crash-Auto", &[]);
    graph.add_group("Crash-Approved", &[]);
    (graph, users)
}

/// A bot that files requests for users and tolerates a server that dies mid-call.
struct Bot {
    http: reqwest::Client,
    token: String,
}

impl Bot {
    fn new() -> Self {
        Self { http: reqwest::Client::new(), token: token(BOT, &["requester"], Some("delegate"), 3600, SECRET) }
    }

    async fn file(&self, app: &str, user: &str, profile: &str, seconds: i64) {
        let body = json!({ "profile": profile, "duration_seconds": seconds, "requester": user });
        let _ = self.http.post(format!("{app}/api/v1/requests")).bearer_auth(&self.token).json(&body).send().await;
    }
}

/// Approves, as Bob, everything waiting for him; tolerates a dying server.
async fn approve_all(app: &TestApp) {
    let http = reqwest::Client::new();
    let bob = token(BOB, &["approver"], None, 3600, SECRET);
    let Ok(resp) = http.get(format!("{}/api/v1/approvals", app.address)).bearer_auth(&bob).send().await else { return };
    let Ok(list) = resp.json::<Value>().await else { return };
    for r in list["items"].as_array().into_iter().flatten() {
        let url = format!("{}/api/v1/requests/{}/approve", app.address, r["id"].as_str().unwrap_or_default());
        let _ = http.post(url).bearer_auth(&bob).json(&json!({})).send().await;
    }
}

/// Every request, as the admin sees it.
async fn all_requests(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.admin().get("/api/v1/requests?limit=200").await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// Checks what must hold once everything has ended: each request was activated once, expired
/// once and its membership removed once, in the audit log and in the directory.
async fn assert_each_grant_happened_exactly_once(app: &TestApp, requests: &[Value]) {
    let graph = app.graph();
    for r in requests {
        assert_eq!(r["status"], "expired", "{r}");
        assert_eq!(r["membership_outcome"], "removed", "{r}");
        let actions = app.audit_actions(&format!("request:{}", r["id"].as_str().unwrap())).await;
        for (action, n) in [
            ("request.created", 1),
            ("request.approved", 1),
            ("grant.activated", 1),
            ("grant.expired", 1),
            ("membership.removed", 1),
        ] {
            assert_eq!(actions.iter().filter(|a| *a == action).count(), n, "{action} in {actions:?} of {r}");
        }
        let group = if r["profile"] == "Auto" { "Crash-Auto" } else { "Crash-Approved" };
        let user = graph.user_id(r["requester"].as_str().unwrap());
        assert_eq!(graph.membership_changes(group, &user), (1, 1), "adds and removes of {r}");
        assert!(!graph.is_member(group, &user));
    }
    let out = app.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn sigkill_at_random_points_loses_nothing_and_repeats_nothing() {
    let (graph, users) = graph_with_crashers(40).await;
    seed_graph(&graph);
    let mut app = TestApp::builder().policy(POLICY).graph(graph).worker("lease = \"2s\"\n").spawn().await;
    let bot = Bot::new();
    let mut rng = rand::rng();
    for cycle in 0..20 {
        let (a, b) = (&users[2 * cycle], &users[2 * cycle + 1]);
        let seconds = rng.random_range(1..=3);
        let load = async {
            bot.file(&app.address, a, "Auto", seconds).await;
            bot.file(&app.address, b, "Approved", seconds).await;
            approve_all(&app).await;
        };
        let kill_after = Duration::from_millis(rng.random_range(5..300));
        let _ = tokio::time::timeout(kill_after, load).await;
        app.kill().await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..500))).await;
        app.restart().await;
    }
    // Whatever is still waiting gets approved; then everything runs out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let requests = loop {
        approve_all(&app).await;
        let requests = all_requests(&app).await;
        if requests.iter().all(|r| r["ended_at"].is_string()) {
            break requests;
        }
        assert!(tokio::time::Instant::now() < deadline, "not everything ended: {requests:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(requests.len() >= 10, "too few requests got through to test anything: {}", requests.len());
    assert_each_grant_happened_exactly_once(&app, &requests).await;
}

#[tokio::test]
async fn many_expiries_during_downtime_are_revoked_before_serving() {
    let (graph, users) = graph_with_crashers(30).await;
    seed_graph(&graph);
    let mut app = TestApp::builder().policy(POLICY).graph(graph).spawn().await;
    let bot = Bot::new();
    for user in &users {
        bot.file(&app.address, user, "Auto", 3600).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let ids: Vec<String> = loop {
        let requests = all_requests(&app).await;
        if requests.len() == users.len() && requests.iter().all(|r| r["status"] == "active") {
            break requests.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        }
        assert!(tokio::time::Instant::now() < deadline, "not all became active");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Down from now on; every grant ends a second later, while nobody runs.
    app.kill().await;
    app.set_expiry(&ids, chrono::Utc::now().timestamp_millis() + 1000).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let members =
        |app: &TestApp| users.iter().filter(|u| app.graph().is_member("Crash-Auto", &app.graph().user_id(u))).count();
    assert_eq!(members(&app), 30, "nobody removed them while Elevate was down");
    app.restart().await;
    // The first answers after the restart already show every expiry carried out.
    assert_eq!(members(&app), 0);
    let requests = all_requests(&app).await;
    assert_eq!(requests.len(), 30);
    assert_each_grant_happened_exactly_once(&app, &requests).await;
}

#[tokio::test]
async fn sigterm_stops_serving_and_finishes_or_gives_back_running_jobs_in_time() {
    let (graph, users) = graph_with_crashers(6).await;
    seed_graph(&graph);
    let mut app = TestApp::builder().policy(POLICY).graph(graph).worker("shutdown_grace = \"2s\"\n").spawn().await;
    let bot = Bot::new();
    for user in &users {
        bot.file(&app.address, user, "Approved", 60).await;
    }
    // From now on every Graph call takes 3s: the activations are still running (or waiting for
    // a Graph slot) when SIGTERM arrives.
    app.graph()
        .set_faults(elevate_tests::graph_server::Faults { latency: Duration::from_secs(3), ..Default::default() });
    approve_all(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (took, clean) = app.terminate(Duration::from_secs(20)).await;
    assert!(clean, "a graceful stop exits 0");
    assert!(took < Duration::from_secs(8), "stopped in {took:?}: grace 2s plus a Graph call in flight");
    let log = app.log();
    assert!(log.contains("stopping: no new requests") && log.contains("released claimed jobs"), "{log}");
    // No job is left claimed by the stopped process: each finished or was given back.
    let db = app.db().await;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let running =
        entity::jobs::Entity::find().filter(entity::jobs::Column::Status.eq("running")).all(&db).await.unwrap();
    assert!(running.is_empty(), "leases left behind: {running:#?}");
    db.close().await.ok();
    // Started again (with Graph fast), every grant becomes active exactly once.
    app.graph().set_faults(Default::default());
    app.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while all_requests(&app).await.iter().any(|r| r["status"] != "active") {
        assert!(tokio::time::Instant::now() < deadline, "not all became active");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for r in all_requests(&app).await {
        let actions = app.audit_actions(&format!("request:{}", r["id"].as_str().unwrap())).await;
        assert_eq!(actions.iter().filter(|a| *a == "grant.activated").count(), 1, "{actions:?}");
        let user = app.graph().user_id(r["requester"].as_str().unwrap());
        assert_eq!(app.graph().membership_changes("Crash-Approved", &user).0, 1);
    }
}
