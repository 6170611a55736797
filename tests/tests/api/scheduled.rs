//! Scheduled access: a request for a window that opens later is decided ahead, waits as
//! `scheduled`, opens at its `start_at` and ends at `start_at` + duration — asserted on the
//! recorded instants and on the Graph test server's ledger of memberships really added.
//! Cancelled or revoked before it opens, it never grants anything.
use std::time::Duration;

use elevate_tests::graph_server::GraphServer;
use serde_json::{Value, json};

use crate::helpers::{ALICE, BOB, TestApp, assert_problem, millis, now_ms, seed_graph};

const POLICY: &str = r#"
[profiles.Approved]
title = "Approved by Bob"
group = "Change-Admins"
min_duration = "1s"
max_duration = "8h"
decision_timeout = "1h"
eligible = { groups = ["Engineers"] }
approval = { users = ["bob@example.com"] }

[profiles.Auto]
title = "Approved automatically"
group = "Oncall-Admins"
min_duration = "1s"
max_duration = "8h"
max_advance = "1d"
eligible = { groups = ["Engineers"] }
approval = { auto_approve = true }

[profiles.NowOnly]
title = "Never scheduled ahead"
group = "Oncall-Admins"
min_duration = "1s"
max_duration = "8h"
max_advance = "0s"
eligible = { groups = ["Engineers"] }
approval = { auto_approve = true }
"#;

const HOUR_MS: i64 = 3_600_000;

async fn app() -> TestApp {
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    graph.add_group("Oncall-Admins", &[]);
    graph.add_group("Change-Admins", &[]);
    TestApp::builder().policy(POLICY).graph(graph).spawn().await
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Alice asks for `profile` for `seconds`, from `start_at`; the server's answer.
async fn schedule(app: &TestApp, profile: &str, seconds: i64, start_at: i64) -> Value {
    let (status, body) = app.engineer().try_request(profile, seconds, json!({ "start_at": rfc3339(start_at) })).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// How many start jobs are still waiting to run.
async fn start_jobs_pending(app: &TestApp) -> u64 {
    use entity::jobs::{Column, Entity, JobKind, JobStatus};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let db = app.db().await;
    let pending = Entity::find()
        .filter(Column::Kind.eq(JobKind::StartScheduled))
        .filter(Column::Status.ne(JobStatus::Done))
        .count(&db)
        .await
        .unwrap();
    db.close().await.ok();
    pending
}

#[tokio::test]
async fn approved_ahead_it_waits_as_scheduled_then_lasts_exactly_its_window() {
    let app = app().await;
    let filed = schedule(&app, "Approved", 10, now_ms() + HOUR_MS).await;
    let id = filed["id"].as_str().unwrap().to_owned();
    assert_eq!(filed["status"], "pending");
    // Nobody decides past the start: the decision is due by then at the latest.
    assert!(millis(&filed["decision_due_at"]) <= millis(&filed["start_at"]), "{filed}");

    let approved = app.approver(BOB).approve(&id).await;
    assert_eq!(approved["status"], "scheduled", "{approved}");
    assert!(approved["activated_at"].is_null() && approved["expires_at"].is_null(), "{approved}");
    let user = app.graph().user_id(ALICE);
    assert!(app.graph().membership_history("Change-Admins", &user).is_empty(), "nothing granted ahead of the window");

    // The window is moved to open in five seconds (as if it had been asked for then): more than
    // the worker's idle poll, so it is waiting for exactly that instant when it comes.
    let start = now_ms() + 5_000;
    app.set_start(std::slice::from_ref(&id), start).await;
    let active = app.wait_for_status(&id, "active", Duration::from_secs(60)).await;
    let activated = millis(&active["activated_at"]);
    assert!(
        (start..start + 1_000).contains(&activated),
        "opened at {activated}, {} ms after {start}",
        activated - start
    );
    assert_eq!(millis(&active["expires_at"]), start + 10_000, "ends where it was approved to: {active}");
    assert!(app.is_member("Change-Admins", ALICE).await);

    let ended = app.wait_until_ended(&id, Duration::from_secs(60)).await;
    assert_eq!(ended["status"], "expired");
    let lag = millis(&ended["ended_at"]) - (start + 10_000);
    assert!((0..1_000).contains(&lag), "the membership went {lag} ms after the window closed");
    assert!(!app.is_member("Change-Admins", ALICE).await);
    let actions = app.audit_actions(&format!("request:{id}")).await;
    for action in ["request.created", "request.approved", "request.started", "grant.activated", "grant.expired"] {
        assert!(actions.iter().any(|a| a == action), "{action} missing from {actions:?}");
    }
}

#[tokio::test]
async fn cancelled_or_revoked_before_it_opens_a_scheduled_request_never_grants() {
    let app = app().await;
    let ahead = now_ms() + HOUR_MS;
    let by_bob = schedule(&app, "Approved", 60, ahead).await["id"].as_str().unwrap().to_owned();
    app.approver(BOB).approve(&by_bob).await;
    // An automatic approval for later is scheduled just the same.
    let auto = schedule(&app, "Auto", 60, ahead).await;
    assert_eq!(auto["status"], "scheduled", "{auto}");
    let auto = auto["id"].as_str().unwrap().to_owned();

    let (status, cancelled) = app.engineer().act(&by_bob, "cancel").await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    let (status, revoked) = app.admin().act(&auto, "revoke").await;
    assert_eq!((status, revoked["status"].as_str()), (200, Some("revoked")), "{revoked}");

    // Their start instants come; the jobs that would have opened them run and open nothing.
    app.set_start(&[by_bob.clone(), auto.clone()], now_ms()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while start_jobs_pending(&app).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the start jobs never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let user = app.graph().user_id(ALICE);
    for (id, status, group) in [(&by_bob, "cancelled", "Change-Admins"), (&auto, "revoked", "Oncall-Admins")] {
        let (_, now) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!(now["status"], status, "{now}");
        assert!(now["activated_at"].is_null(), "{now}");
        assert!(app.graph().membership_history(group, &user).is_empty(), "{group} was touched");
        assert!(!app.audit_actions(&format!("request:{id}")).await.iter().any(|a| a == "request.started"));
    }
}

#[tokio::test]
async fn at_its_start_the_approval_is_checked_again_and_a_requester_no_longer_eligible_gets_nothing() {
    let app = app().await;
    let id = schedule(&app, "Auto", 60, now_ms() + HOUR_MS).await["id"].as_str().unwrap().to_owned();
    // Alice leaves the engineers before her window opens.
    let user = app.graph().user_id(ALICE);
    app.graph().set_member("Engineers", &user, false);
    app.set_start(std::slice::from_ref(&id), now_ms()).await;
    let failed = app.wait_for_status(&id, "failed", Duration::from_secs(60)).await;
    let reason = failed["status_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no longer eligible for profile Auto"), "{failed}");
    assert!(failed["activated_at"].is_null(), "{failed}");
    assert!(app.graph().membership_history("Oncall-Admins", &user).is_empty(), "nothing was granted");
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert!(actions.iter().any(|a| a == "request.failed") && !actions.iter().any(|a| a == "request.started"));
}

#[tokio::test]
async fn a_window_that_passed_before_elevate_could_open_it_ends_without_granting_anything() {
    let app = app().await;
    let id = schedule(&app, "Auto", 60, now_ms() + HOUR_MS).await["id"].as_str().unwrap().to_owned();
    // As if Elevate had been down from before the start until after the end.
    app.set_start(std::slice::from_ref(&id), now_ms() - 120_000).await;
    let expired = app.wait_for_status(&id, "expired", Duration::from_secs(60)).await;
    assert!(expired["activated_at"].is_null() && expired["expires_at"].is_null(), "{expired}");
    assert!(expired["status_reason"].as_str().unwrap_or_default().contains("window passed"), "{expired}");
    let user = app.graph().user_id(ALICE);
    assert!(app.graph().membership_history("Oncall-Admins", &user).is_empty(), "nothing was granted");
}

#[tokio::test]
async fn a_start_in_the_past_too_far_ahead_unzoned_or_for_break_glass_is_refused_and_nothing_is_stored() {
    let app = app().await;
    let now = now_ms();
    let cases = [
        ("Approved", json!({ "start_at": rfc3339(now - 60_000) }), "must be in the future"),
        ("Approved", json!({ "start_at": rfc3339(now + 8 * 24 * HOUR_MS) }), "at most 7days ahead"),
        ("Auto", json!({ "start_at": rfc3339(now + 2 * 24 * HOUR_MS) }), "at most 1day ahead"),
        ("NowOnly", json!({ "start_at": rfc3339(now + HOUR_MS) }), "does not schedule access ahead"),
        ("Approved", json!({ "start_at": "2026-12-24T08:00" }), "RFC 3339"),
        ("Approved", json!({ "start_at": "tomorrow" }), "RFC 3339"),
        (
            "Approved",
            json!({ "start_at": rfc3339(now + HOUR_MS), "break_glass": true }),
            "break-glass access starts now",
        ),
    ];
    for (profile, extra, says) in cases {
        let (status, body) = app.engineer().try_request(profile, 60, extra.clone()).await;
        assert_problem(status, &body, 400, Some("start_at"));
        assert!(body["detail"].as_str().unwrap_or_default().contains(says), "{extra}: {body}");
    }
    let (_, mine) = app.engineer().get("/api/v1/requests").await;
    assert_eq!(mine["items"], json!([]), "nothing was filed");
}

#[tokio::test]
async fn left_undecided_a_scheduled_request_times_out_when_its_window_would_have_opened() {
    let app = app().await;
    // Lead enough that filing comes first on the busiest machine.
    let start = now_ms() + 10_000;
    let filed = schedule(&app, "Approved", 60, start).await;
    let id = filed["id"].as_str().unwrap();
    // decision_timeout is an hour; the start comes first.
    assert_eq!(millis(&filed["decision_due_at"]), start, "{filed}");
    let timed_out = app.wait_for_status(id, "timed_out", Duration::from_secs(60)).await;
    assert!(millis(&timed_out["updated_at"]) >= start, "{timed_out}");
    // Too late to approve it now.
    let (status, body) = app.approver(BOB).act(id, "approve").await;
    assert_problem(status, &body, 409, None);
    assert!(!app.is_member("Change-Admins", ALICE).await);
}

#[tokio::test]
async fn without_the_script_the_form_reads_utc_and_the_grants_page_lists_what_is_scheduled() {
    use crate::{
        helpers::DAVE,
        pages::{csrf_of, demo_sign_in, page, post_form},
    };
    // The demo sign-in stands in for OpenID Connect: it needs the built-in directory.
    let app = TestApp::builder().policy(POLICY).spawn().await;
    let alice = demo_sign_in(&app, ALICE).await;
    let (_, form) = page(&app, "/requests/new?profile=Auto", &alice).await;
    assert!(form.contains("Start at (optional, <span data-zone>UTC</span>)"), "{form}");
    // Two hours ahead, on the minute: within the profile's `max_advance` (1d) whatever the
    // time of day the test runs at.
    let start = chrono::Utc::now() + chrono::Duration::hours(2);
    let (minute, end) = (start.format("%Y-%m-%dT%H:%M"), (start + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M"));
    let start_at = minute.to_string();
    let fields = [
        ("csrf", csrf_of(&form)),
        ("profile", "Auto".into()),
        ("duration_seconds", "3600".into()),
        ("start_at", start_at),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, location) = post_form(&app, "/requests/new", &alice, &fields).await;
    assert_eq!(status, 303);
    let id = location.unwrap().trim_start_matches("/requests/").to_owned();
    let (_, request) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(
        (request["status"].as_str(), request["start_at"].as_str()),
        (Some("scheduled"), Some(&*format!("{minute}:00.000Z")))
    );

    // On the grants page, under "Scheduled": Alice may cancel hers, Dave revoke it.
    let (_, html) = page(&app, "/grants", &alice).await;
    let (_, scheduled) = html.split_once("<h2>Scheduled</h2>").expect("a Scheduled section");
    assert!(scheduled.contains(&id) && scheduled.contains(&format!("{end}:00.000Z")), "{scheduled}");
    assert!(scheduled.contains(&format!("/requests/{id}/cancel")) && scheduled.contains(">Cancel<"), "{scheduled}");
    let dave = demo_sign_in(&app, DAVE).await;
    let (_, html) = page(&app, "/grants", &dave).await;
    let (in_force, scheduled) = html.split_once("<h2>Scheduled</h2>").expect("a Scheduled section");
    assert!(!in_force.contains(&id), "not in force yet: {in_force}");
    assert!(scheduled.contains(ALICE) && scheduled.contains(&format!("/requests/{id}/revoke")), "{scheduled}");
}
