//! Access lasts exactly as long as it was approved, whatever happens: a revoke ends the whole
//! extension chain, an expiry takes pending extensions with it, a crash between Graph's add
//! and its confirmation never lengthens the window, and an add that lands late never
//! outlives the revoke that came before it. Checked against the Graph test server's ledger
//! of memberships really added and removed.
use std::time::{Duration, Instant};

use elevate_tests::graph_server::{Faults, GraphServer};
use serde_json::{Value, json};

use crate::helpers::{ALICE, BOB, TestApp, millis, now_ms, seed_graph};

const POLICY: &str = r#"
[profiles.Auto]
title = "Approved automatically"
group = "Oncall-Admins"
min_duration = "1s"
max_duration = "8h"
eligible = { groups = ["Engineers"] }
approval = { auto_approve = true }

[profiles.Approved]
title = "Approved by Bob"
group = "Change-Admins"
min_duration = "1s"
max_duration = "8h"
eligible = { groups = ["Engineers"] }
approval = { users = ["bob@example.com"] }
"#;

async fn app(worker: &str) -> TestApp {
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    graph.add_group("Oncall-Admins", &[]);
    graph.add_group("Change-Admins", &[]);
    TestApp::builder().policy(POLICY).graph(graph).worker(worker).spawn().await
}

async fn extend(app: &TestApp, id: &str, seconds: i64) -> Value {
    let (status, body) =
        app.engineer().post(&format!("/api/v1/requests/{id}/extend"), json!({ "duration_seconds": seconds })).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Waits until Graph really has `upn` in `group` (the add landed, whatever its answer does).
async fn until_member(app: &TestApp, group: &str, upn: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.is_member(group, upn).await {
        assert!(Instant::now() < deadline, "{upn} never became a member of {group}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a Graph call is in flight (sent, not yet answered).
async fn add_in_flight(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.graph().state().in_flight == 0 {
        assert!(Instant::now() < deadline, "no Graph call was ever in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn revoking_a_request_ends_its_active_extension_at_once() {
    let app = app("").await;
    let id = app.engineer().request("Auto", 3600).await;
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    let ext = extend(&app, &id, 3600).await;
    let ext_id = ext["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&ext_id, "active", Duration::from_secs(10)).await;

    let revoked_at = now_ms();
    let (status, body) = app.admin().act(&id, "revoke").await;
    assert_eq!(status, 200, "{body}");
    for r in [&id, &ext_id] {
        let ended = app.wait_until_ended(r, Duration::from_secs(10)).await;
        assert_eq!(ended["status"], "revoked", "{ended}");
        assert_eq!(ended["membership_outcome"], "removed", "{ended}");
        let lag = millis(&ended["ended_at"]) - revoked_at;
        assert!(lag < 1000, "access ended {lag} ms after the revoke");
    }
    assert!(!app.is_member("Oncall-Admins", ALICE).await);
    let actions = app.audit_actions(&format!("request:{ext_id}")).await;
    assert!(actions.iter().any(|a| a == "request.revoked"), "{actions:?}");
}

#[tokio::test]
async fn revoking_a_request_ends_its_approved_extension_and_cancels_a_pending_one() {
    let app = app("").await;
    let id = app.engineer().request("Approved", 3600).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    let approved = extend(&app, &id, 600).await["id"].as_str().unwrap().to_owned();
    let pending = extend(&app, &id, 900).await["id"].as_str().unwrap().to_owned();
    // The approved extension's add lands at once, but Graph answers it only after 3 s: it
    // is still `approved` when the original is revoked.
    app.graph().set_faults(Faults { slow_add_answer: Duration::from_secs(3), ..Default::default() });
    app.approver(BOB).approve(&approved).await;
    add_in_flight(&app).await;
    let (_, body) = app.admin().get(&format!("/api/v1/requests/{approved}")).await;
    assert_eq!(body["status"], "approved", "{body}");

    let (status, body) = app.admin().act(&id, "revoke").await;
    assert_eq!(status, 200, "{body}");
    let revoked_at = Instant::now();
    for r in [&id, &approved] {
        let ended = app.wait_until_ended(r, Duration::from_secs(15)).await;
        assert_eq!(ended["status"], "revoked", "{ended}");
    }
    let (_, body) = app.admin().get(&format!("/api/v1/requests/{pending}")).await;
    assert_eq!(body["status"], "cancelled", "{body}");
    assert!(!app.is_member("Change-Admins", ALICE).await);
    // Gone once the add in flight answered (3 s), not at the end of any extension.
    let user = app.graph().user_id(ALICE);
    let history = app.graph().membership_history("Change-Admins", &user);
    let (added, removed_at) = (history.first().copied(), history.last().copied());
    assert!(matches!(added, Some((true, _))) && matches!(removed_at, Some((false, _))), "{history:?}");
    let removed_after = removed_at.map(|(_, at)| at.saturating_duration_since(revoked_at)).unwrap_or_default();
    assert!(removed_after < Duration::from_secs(5), "removed {removed_after:?} after the revoke");
}

#[tokio::test]
async fn a_pending_extension_is_cancelled_when_its_grant_expires_and_cannot_be_approved_later() {
    let app = app("").await;
    let id = app.engineer().request("Approved", 3600).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    let ext = extend(&app, &id, 600).await["id"].as_str().unwrap().to_owned();
    app.set_expiry(std::slice::from_ref(&id), now_ms() + 500).await;

    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!((ended["status"].as_str(), ended["membership_outcome"].as_str()), (Some("expired"), Some("removed")));
    let (_, body) = app.admin().get(&format!("/api/v1/requests/{ext}")).await;
    assert_eq!(body["status"], "cancelled", "{body}");
    let (status, body) = app.approver(BOB).act(&ext, "approve").await;
    assert_eq!(status, 409, "a late approval opens no fresh window: {body}");
    assert!(!app.is_member("Change-Admins", ALICE).await);
}

#[tokio::test]
async fn a_crash_after_graph_added_the_member_never_lengthens_access() {
    let mut app = app("").await;
    // Graph takes the add at once and answers a minute later: Elevate is killed in between.
    app.graph().set_faults(Faults { slow_add_answer: Duration::from_secs(60), ..Default::default() });
    let id = app.engineer().request("Auto", 5).await;
    until_member(&app, "Oncall-Admins", ALICE).await;
    app.kill().await;
    app.graph().set_faults(Faults::default());
    app.restart().await;

    let ended = app.wait_until_ended(&id, Duration::from_secs(30)).await;
    assert_eq!(ended["status"], "expired", "{ended}");
    let user = app.graph().user_id(ALICE);
    let history = app.graph().membership_history("Oncall-Admins", &user);
    let [(true, added), (false, removed)] = history[..] else { panic!("one add, one removal: {history:?}") };
    let held = removed.duration_since(added);
    assert!(held <= Duration::from_secs(7), "a 5-second grant kept its member for {held:?}");
    // The window was counted from the first attempt to add, before the crash.
    let window = millis(&ended["expires_at"]) - millis(&ended["activated_at"]);
    assert_eq!(window, 5000, "{ended}");
}

#[tokio::test]
async fn an_add_that_lands_after_a_short_lease_never_outlives_the_revoke() {
    // Leases of 2 s, and Graph takes 5 s to carry out an add: the activation outlives its
    // first lease, and the user revokes meanwhile.
    let app = app("lease = \"2s\"\n").await;
    app.graph().set_faults(Faults { late_add: Duration::from_secs(5), ..Default::default() });
    let id = app.engineer().request("Auto", 3600).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = app.engineer().act(&id, "revoke").await;
    assert_eq!(status, 200, "{body}");

    let ended = app.wait_until_ended(&id, Duration::from_secs(20)).await;
    assert_eq!(ended["status"], "revoked", "{ended}");
    // The add lands late whatever happens (Graph's ledger shows when): then it must be taken
    // back.
    let user = app.graph().user_id(ALICE);
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.graph().membership_history("Oncall-Admins", &user).is_empty() {
        assert!(Instant::now() < deadline, "the late add never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.is_member("Oncall-Admins", ALICE).await {
        let history = app.graph().membership_history("Oncall-Admins", &user);
        assert!(Instant::now() < deadline, "the late add was left behind: {history:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let history = app.graph().membership_history("Oncall-Admins", &user);
    assert!(matches!(history[..], [(true, _), (false, _)]), "{history:?}");
}

/// `elevate_worker_claims_total`: how many times the worker has looked for due jobs.
async fn claims(app: &TestApp) -> u64 {
    let text = reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("elevate_worker_claims_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no elevate_worker_claims_total in:\n{text}"))
}

#[tokio::test]
async fn a_sync_waiting_behind_an_add_in_flight_leaves_the_worker_idle_until_its_turn() {
    // The add lands at once and Graph answers 4 s later. The revoke's sync is due meanwhile
    // but may not run beside the add's (same membership): the worker must wait for its turn,
    // not poll the database in a loop (that starved the add's own commit of SQLite's write
    // lock, and with it the removal).
    let app = app("").await;
    app.graph().set_faults(Faults { slow_add_answer: Duration::from_secs(4), ..Default::default() });
    let id = app.engineer().request("Auto", 3600).await;
    until_member(&app, "Oncall-Admins", ALICE).await;
    let (status, body) = app.engineer().act(&id, "revoke").await;
    assert_eq!(status, 200, "{body}");
    let revoked_at = Instant::now();

    let before = claims(&app).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let looked = claims(&app).await - before;
    assert!(looked <= 5, "the worker looked for due jobs {looked} times in a second while the add was in flight");

    let ended = app.wait_until_ended(&id, Duration::from_secs(20)).await;
    assert_eq!((ended["status"].as_str(), ended["membership_outcome"].as_str()), (Some("revoked"), Some("removed")));
    let user = app.graph().user_id(ALICE);
    let history = app.graph().membership_history("Oncall-Admins", &user);
    let removed_after = match history[..] {
        [(true, _), (false, removed)] => removed.saturating_duration_since(revoked_at),
        _ => panic!("one add, one removal: {history:?}"),
    };
    // The add's answer comes 4 s after it landed; the removal follows it at once.
    assert!(removed_after < Duration::from_secs(6), "removed {removed_after:?} after the revoke");
}

#[tokio::test]
async fn an_extension_filed_while_its_chain_is_revoked_never_outlives_the_revoke() {
    // On PostgreSQL, where filing and revoking really run at the same time (SQLite takes
    // writers one at a time). AzureAD-Developers approves itself, extensions too.
    let app = TestApp::builder().postgres().graph(GraphServer::start().await).spawn().await;
    let alice = app.engineer();
    for round in 0..12 {
        let id = alice.request("AzureAD-Developers", 4).await;
        app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
        let path = format!("/api/v1/requests/{id}/extend");
        let extend = alice.post(&path, json!({ "duration_seconds": 5 }));
        let ((extended, extension), (revoked, body)) = tokio::join!(extend, alice.act(&id, "revoke"));
        assert_eq!(revoked, 200, "round {round}: {body}");
        match extended {
            // Filed first: the revoke found it in the chain and ended it with the rest.
            201 => {
                let ext = extension["id"].as_str().unwrap();
                let (_, now) = alice.get(&format!("/api/v1/requests/{ext}")).await;
                assert_eq!(now["status"], "revoked", "round {round}: an extension outlived the revoke: {now}");
            }
            // Filed after: what it extends is no longer active (seen before filing, or under
            // the lock the filing takes).
            409 => {
                let why = extension["detail"].as_str().unwrap();
                assert!(why.contains("revoked cannot be extended") || why.contains("no longer active"), "{why}");
            }
            other => panic!("round {round}: extend answered {other}: {extension}"),
        }
    }
}
