//! Several replicas on one PostgreSQL database, with no load balancer: clients spread their
//! calls over the three. Each effect happens once, whoever runs it, and a replica killed in
//! the middle changes nothing but timing. (Always on PostgreSQL: that is how Elevate scales.)
use std::time::Duration;

use elevate_tests::graph_server::GraphServer;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use elevate_tests::graph_server::Faults;

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

[profiles.ByBob]
title = "Approved by Bob"
group = "Replica-Auto"
min_duration = "1s"
max_duration = "1h"
eligible = { groups = ["Crowd"] }
approval = { users = ["bob@example.com"] }

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
    let app = TestApp::builder().postgres().policy(POLICY).graph(graph).worker(worker).spawn().await;
    let mut second = app.replica(2).await;
    let third = app.replica(3).await;
    let addresses = [app.address.clone(), second.address.clone(), third.address.clone()];

    // A bot files an hour-long grant for each user, spreading its calls over the three
    // replicas; once all are active, their ends are set to one instant a few seconds ahead
    // (however long the activations took on this machine).
    let http = reqwest::Client::new();
    let bot = token(BOT, &["requester"], Some("delegate"), 3600, SECRET);
    let refused: Vec<String> = stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let (http, bot, address) = (http.clone(), bot.clone(), addresses[i % 3].clone());
            async move {
                let body = json!({ "profile": "Auto", "duration_seconds": 3600, "requester": user });
                let resp = http.post(format!("{address}/api/v1/requests")).bearer_auth(&bot).json(&body).send().await;
                match resp {
                    Ok(r) if r.status() == 201 => None,
                    Ok(r) => Some(format!("{address}: {} {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(e) => Some(format!("{address}: {e:?}")),
                }
            }
        })
        .buffer_unordered(24)
        .filter_map(|refused| async move { refused })
        .collect()
        .await;
    assert!(refused.is_empty(), "not all filed: {refused:#?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let ids: Vec<String> = loop {
        let all = requests(&app).await;
        if all.iter().all(|r| r["status"] == "active") {
            break all.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        }
        assert!(tokio::time::Instant::now() < deadline, "not all became active");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let expiry = chrono::Utc::now().timestamp_millis() + 4000;
    app.set_expiry(&ids, expiry).await;

    // Once the expiries are due, one replica dies.
    let wait = expiry + 500 - chrono::Utc::now().timestamp_millis();
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
    let app = TestApp::builder().postgres().policy(POLICY).graph(graph).spawn().await;
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
            let resp = http.post(url).bearer_auth(t).json(&json!({})).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap_or_default())
        }
    };
    for id in &ids {
        // Bob and Carol at the same moment on different replicas, and Bob twice.
        let (bob_a, carol_b, bob_b) = tokio::join!(
            approve(app.address.clone(), BOB, id.clone()),
            approve(other.address.clone(), CAROL, id.clone()),
            approve(other.address.clone(), BOB, id.clone()),
        );
        assert_eq!(carol_b.0, 200, "Carol's approval: {}", carol_b.1);
        // Bob's second approval is refused, whichever replica took it: as a second decision
        // (409), or, when Bob's first and Carol's had already moved the request on, as not an
        // approver of stage 2 (403).
        let (first, second) = if bob_a.0 == 200 { (&bob_a, &bob_b) } else { (&bob_b, &bob_a) };
        assert_eq!(first.0, 200, "one of Bob's approvals counts: {bob_a:?} {bob_b:?}");
        let refused = second.0 == 409 || (second.0 == 403 && second.1.contains("not an approver of stage 2"));
        assert!(refused, "Bob's second approval is refused: {bob_a:?} {bob_b:?}");
    }
    for id in &ids {
        let (_, r) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!((r["status"].as_str(), r["stage"].as_i64()), (Some("pending"), Some(2)), "{r}");
        let actions = app.audit_actions(&format!("request:{id}")).await;
        assert_eq!(actions.iter().filter(|a| *a == "request.approval_given").count(), 2, "{actions:?}");
        assert_eq!(actions.iter().filter(|a| *a == "request.stage_advanced").count(), 1, "{actions:?}");
    }
}

#[tokio::test]
async fn three_servers_and_the_cli_started_together_on_a_fresh_postgresql_database_all_succeed() {
    crate::starting_together::all_start_together(true).await;
}

/// (job id, lease owner) of every running job.
async fn running_jobs(app: &TestApp) -> Vec<(i64, String)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.db().await;
    let running = entity::jobs::Entity::find()
        .filter(entity::jobs::Column::Status.eq("running"))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j.lease_owner.unwrap_or_default()))
        .collect();
    db.close().await.ok();
    running
}

#[tokio::test]
async fn the_jobs_of_a_killed_replica_are_taken_over_within_ten_seconds_and_no_live_one_loses_its_own() {
    let (graph, users) = crowd(12).await;
    // Default leases (a minute): only liveness makes the takeover fast. Enough slots that the
    // live replicas have room for what the dead one held.
    let app = TestApp::builder().postgres().policy(POLICY).graph(graph).worker("concurrency = 32\n").spawn().await;
    let mut second = app.replica(2).await;
    let third = app.replica(3).await;
    let http = reqwest::Client::new();
    let bot = token(BOT, &["requester"], Some("delegate"), 3600, SECRET);
    let mut ids = Vec::new();
    for user in &users {
        let body = json!({ "profile": "ByBob", "duration_seconds": 3600, "requester": user });
        let resp =
            http.post(format!("{}/api/v1/requests", app.address)).bearer_auth(&bot).json(&body).send().await.unwrap();
        ids.push(resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    // From now on every add lands at once and is answered half a minute later: the
    // activations are all running, spread over the replicas, when one of them dies.
    app.graph().set_faults(Faults { slow_add_answer: Duration::from_secs(30), ..Default::default() });
    let bob = token(BOB, &["approver"], None, 3600, SECRET);
    for (i, id) in ids.iter().enumerate() {
        let address = [&app.address, &second.address, &third.address][i % 3];
        let url = format!("{address}/api/v1/requests/{id}/approve");
        let resp = http.post(url).bearer_auth(&bob).json(&json!({})).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        let running = running_jobs(&app).await;
        let owners: std::collections::BTreeSet<&String> = running.iter().map(|(_, o)| o).collect();
        if owners.len() == 3 {
            break running;
        }
        assert!(tokio::time::Instant::now() < deadline, "not every replica is running jobs: {running:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    second.kill().await;
    let killed_at = tokio::time::Instant::now();
    // The dead replica's jobs move to a live owner; the others stay with theirs.
    let (dead_owner, took) = loop {
        let now: std::collections::BTreeMap<i64, String> = running_jobs(&app).await.into_iter().collect();
        let mut moved = before.iter().filter(|(id, owner)| now.get(id).is_some_and(|o| o != owner));
        if let Some((_, owner)) = moved.next() {
            let owner = owner.clone();
            let all_of_owner_moved =
                before.iter().filter(|(_, o)| *o == owner).all(|(id, o)| now.get(id).is_none_or(|n| n != o));
            if all_of_owner_moved {
                break (owner, killed_at.elapsed());
            }
        }
        assert!(killed_at.elapsed() < Duration::from_secs(30), "nothing was taken over: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(took < Duration::from_secs(10), "the killed replica's jobs were taken over after {took:?}");
    let now: std::collections::BTreeMap<i64, String> = running_jobs(&app).await.into_iter().collect();
    for (id, owner) in before.iter().filter(|(_, o)| *o != dead_owner) {
        assert!(now.get(id).is_none_or(|o| o == owner), "job {id} was taken from its live owner {owner}");
    }
    // Everything activates once, with one real add each.
    app.graph().set_faults(Faults::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while requests(&app).await.iter().any(|r| r["status"] != "active") {
        assert!(tokio::time::Instant::now() < deadline, "not all became active");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for user in &users {
        let id = app.graph().user_id(user);
        assert_eq!(app.graph().membership_changes("Replica-Auto", &id), (1, 0), "{user}");
    }
    drop(third);
}
