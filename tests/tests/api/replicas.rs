//! Several replicas on one PostgreSQL database, with no load balancer: clients spread their
//! calls over the three. Each effect happens once, whoever runs it, and a replica killed in
//! the middle changes nothing but timing. (Always on PostgreSQL: that is how Elevate scales.)
use std::time::Duration;

use elevate_tests::graph_server::GraphServer;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::helpers::{BOB, BOT, CAROL, SECRET, TestApp, seed_graph, token};

const GRANTS: usize = 1000;

const POLICY: &str = r#"
[profiles.Auto]
title = "Approved automatically"
group = "Replica-Auto"
min_duration = "1s"
max_duration = "1h"
eligible = { groups = ["Crowd"] }
approval = { auto_approve = true }

[profiles.Quorum]
title = "Two approvals, then a second stage"
group = "Replica-Quorum"
min_duration = "1s"
max_duration = "1h"
eligible = { groups = ["Crowd"] }
approval = { users = ["bob@example.com", "carol@example.com"], approvals_required = 2, second_stage = { users = ["erin@example.com"] } }
"#;

async fn crowd(n: usize) -> (GraphServer, Vec<String>) {
    let graph = GraphServer::start().await;
    let users: Vec<String> = (0..n).map(|i| format!("member{i}@example.com")).collect();
    let ids: Vec<String> = users.iter().map(|u| graph.add_user(u)).collect();
    graph.add_group("Crowd", &ids.iter().map(String::as_str).collect::<Vec<_>>());
    graph.add_group("Replica-Auto", &[]);
    graph.add_group("Replica-Quorum", &[]);
    seed_graph(&graph);
    (graph, users)
}

async fn requests(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app.admin().get(&format!("/api/v1/requests?limit=200{cursor}")).await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

#[tokio::test]
async fn three_replicas_revoke_a_thousand_simultaneous_expiries_exactly_once() {
    let (graph, users) = crowd(GRANTS).await;
    let worker = "lease = \"5s\"\nconcurrency = 16\n";
    let app = TestApp::spawn_on_postgres(POLICY, graph, worker).await;
    let mut second = app.replica(2).await;
    let third = app.replica(3).await;
    let addresses = [app.address.clone(), second.address.clone(), third.address.clone()];

    // A bot files a grant for each user, spreading its calls over the three replicas; all
    // expire 25 seconds after their activation, so within the few seconds filing takes.
    let http = reqwest::Client::new();
    let bot = token(BOT, &["requester"], Some("delegate"), 3600, SECRET);
    let filed: Vec<u16> = stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let (http, bot, address) = (http.clone(), bot.clone(), addresses[i % 3].clone());
            async move {
                let body = json!({ "profile": "Auto", "duration_seconds": 25, "requester": user });
                let resp = http.post(format!("{address}/api/v1/requests")).bearer_auth(&bot).json(&body).send().await;
                resp.map(|r| r.status().as_u16()).unwrap_or(0)
            }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    assert!(filed.iter().all(|s| *s == 201), "not all filed: {:?}", filed.iter().filter(|s| **s != 201).count());

    // Once the first expiries are due, one replica dies.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let first_expiry = loop {
        let all = requests(&app).await;
        if all.iter().all(|r| r["status"] == "active") {
            break all.iter().map(|r| crate::helpers::millis(&r["expires_at"])).min().unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "not all became active");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let wait = first_expiry + 500 - chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
    second.kill().await;

    let all = loop {
        let all = requests(&app).await;
        if all.iter().all(|r| r["ended_at"].is_string()) {
            break all;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all ended");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(all.len(), GRANTS);
    let graph = app.graph();
    for r in &all {
        assert_eq!(r["status"], "expired", "{r}");
        assert_eq!(r["membership_outcome"], "removed", "{r}");
        let user = graph.user_id(r["requester"].as_str().unwrap());
        assert_eq!(graph.membership_changes("Replica-Auto", &user), (1, 1), "one real add and one real remove: {r}");
    }
    let out = app.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    drop(third);
}

#[tokio::test]
async fn approvals_sent_to_different_replicas_at_once_never_double_count() {
    let (graph, users) = crowd(20).await;
    let app = TestApp::spawn_on_postgres(POLICY, graph, "").await;
    let other = app.replica(2).await;
    let http = reqwest::Client::new();
    let bot = token(BOT, &["requester"], Some("delegate"), 3600, SECRET);
    let mut ids = Vec::new();
    for user in &users {
        let body = json!({ "profile": "Quorum", "duration_seconds": 60, "requester": user });
        let resp =
            http.post(format!("{}/api/v1/requests", app.address)).bearer_auth(&bot).json(&body).send().await.unwrap();
        ids.push(resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    let approve = |address: String, who: &'static str, id: String| {
        let http = http.clone();
        async move {
            let t = token(who, &["approver"], None, 3600, SECRET);
            let url = format!("{address}/api/v1/requests/{id}/approve");
            http.post(url).bearer_auth(t).json(&json!({})).send().await.unwrap().status().as_u16()
        }
    };
    for id in &ids {
        // Bob and Carol at the same moment on different replicas, and Bob twice.
        let (bob_a, carol_b, bob_b) = tokio::join!(
            approve(app.address.clone(), BOB, id.clone()),
            approve(other.address.clone(), CAROL, id.clone()),
            approve(other.address.clone(), BOB, id.clone()),
        );
        assert_eq!(carol_b, 200);
        let mut bobs = [bob_a, bob_b];
        bobs.sort_unstable();
        assert_eq!(bobs, [200, 409], "Bob's second approval is refused, whichever replica took it");
    }
    for id in &ids {
        let (_, r) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!((r["status"].as_str(), r["stage"].as_i64()), (Some("pending"), Some(2)), "{r}");
        let actions = app.audit_actions(&format!("request:{id}")).await;
        assert_eq!(actions.iter().filter(|a| *a == "request.approval_given").count(), 2, "{actions:?}");
        assert_eq!(actions.iter().filter(|a| *a == "request.stage_advanced").count(), 1, "{actions:?}");
    }
}
