//! A request's life: pending → approved → active → expired, and the other ways it can end.
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_three_second_grant_is_approved_activated_and_revoked_within_a_second_of_expiry() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let id = alice.request("AzureAD-Admins", 3).await;
    assert!(!app.is_member(ADMINS_GROUP, ALICE).await);

    let approved = app.approver(BOB).approve(&id).await;
    assert!(["approved", "active"].contains(&approved["status"].as_str().unwrap()), "{approved}");
    let active = app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    assert!(app.is_member(ADMINS_GROUP, ALICE).await, "the membership is added while active");
    let expires = millis(&active["expires_at"]);
    assert_eq!(expires - millis(&active["activated_at"]), 3000);

    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!(ended["status"], "expired");
    assert_eq!(ended["membership_outcome"], "removed");
    let lag = millis(&ended["ended_at"]) - expires;
    assert!((0..1000).contains(&lag), "membership removed {lag} ms after expires_at");
    assert!(!app.is_member(ADMINS_GROUP, ALICE).await, "the membership is gone after expiry");

    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert_eq!(
        actions,
        [
            "request.created",
            "request.approval_given",
            "request.approved",
            "grant.activated",
            "grant.expired",
            "membership.removed"
        ]
    );
}

#[tokio::test]
async fn a_denied_request_never_grants_anything() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 60).await;
    let (status, body) = app.approver(CAROL).act(&id, "deny").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "denied");
    assert_eq!(body["decisions"][0]["decision"], "deny");
    assert_eq!(body["decisions"][0]["approver"], CAROL);
    let (status, body) = app.approver(BOB).act(&id, "approve").await;
    assert_problem(status, &body, 409, None);
    assert!(!app.is_member(ADMINS_GROUP, ALICE).await);
}

#[tokio::test]
async fn the_requester_cancels_a_pending_request_and_it_can_no_longer_be_approved() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let id = alice.request("AzureAD-Admins", 60).await;
    let (status, body) = app.approver(BOB).act(&id, "cancel").await;
    assert_problem(status, &body, 403, None);
    let (status, body) = alice.act(&id, "cancel").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let (status, body) = app.approver(BOB).act(&id, "approve").await;
    assert_problem(status, &body, 409, None);
    assert!(body["detail"].as_str().unwrap().contains("cancelled"), "{body}");
    let (status, body) = alice.act(&id, "cancel").await;
    assert_problem(status, &body, 409, None);
}

#[tokio::test]
async fn two_approvals_then_a_second_stage_are_needed() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("TwoStage", 60).await;
    let after_bob = app.approver(BOB).approve(&id).await;
    assert_eq!((after_bob["status"].as_str(), after_bob["stage"].as_i64()), (Some("pending"), Some(1)));
    // Erin approves stage 2 only: she is not a stage-1 approver.
    let (status, body) = app.approver(ERIN).act(&id, "approve").await;
    assert_problem(status, &body, 403, None);
    let after_carol = app.approver(CAROL).approve(&id).await;
    assert_eq!((after_carol["status"].as_str(), after_carol["stage"].as_i64()), (Some("pending"), Some(2)));
    // Stage-1 approvers have no say in stage 2.
    let (status, body) = app.approver(BOB).act(&id, "approve").await;
    assert_problem(status, &body, 403, None);
    assert!(body["detail"].as_str().unwrap().contains("stage 2"), "{body}");
    let done = app.approver(ERIN).approve(&id).await;
    assert_eq!(done["decisions"].as_array().map(Vec::len), Some(3));
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    assert!(app.is_member("Prod-Admins", ALICE).await);
}

#[tokio::test]
async fn an_auto_approved_profile_activates_at_once() {
    let app = TestApp::spawn().await;
    let (status, body) = app.engineer().try_request("AzureAD-Developers", 5, json!({})).await;
    assert_eq!(status, 201, "{body}");
    // Approved at once; the worker may already have activated it by the time of the answer.
    assert!(["approved", "active"].contains(&body["status"].as_str().unwrap()), "{body}");
    let id = body["id"].as_str().unwrap();
    app.wait_for_status(id, "active", Duration::from_secs(5)).await;
    assert!(app.is_member(DEVELOPERS_GROUP, ALICE).await);
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert_eq!(actions[..2], ["request.created", "request.approved"]);
}

#[tokio::test]
async fn the_requester_or_an_admin_revokes_early_and_nobody_else_can() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let first = alice.request("AzureAD-Developers", 10).await;
    let second = alice.request("AzureAD-Admins", 600).await;
    app.approver(BOB).approve(&second).await;
    app.wait_for_status(&first, "active", Duration::from_secs(5)).await;
    app.wait_for_status(&second, "active", Duration::from_secs(5)).await;

    let (status, body) = app.as_user(MALLORY, &["requester", "approver"]).act(&first, "revoke").await;
    assert_problem(status, &body, 403, None);
    let (status, body) = app.approver(BOB).act(&first, "revoke").await;
    assert_problem(status, &body, 403, None);

    let (status, body) = alice.act(&first, "revoke").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("revoked")), "{body}");
    let (status, body) = app.admin().act(&second, "revoke").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("revoked")), "{body}");
    app.wait_until_ended(&first, Duration::from_secs(5)).await;
    app.wait_until_ended(&second, Duration::from_secs(5)).await;
    assert!(!app.is_member(DEVELOPERS_GROUP, ALICE).await);
    assert!(!app.is_member(ADMINS_GROUP, ALICE).await);
    let (status, body) = alice.act(&first, "revoke").await;
    assert_problem(status, &body, 409, None);
}

#[tokio::test]
async fn an_undecided_request_times_out() {
    let app = TestApp::spawn().await;
    let (status, body) = app.engineer().try_request("Ticketed", 60, json!({ "ticket": "CHG-1" })).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    let timed_out = app.wait_for_status(id, "timed_out", Duration::from_secs(10)).await;
    assert!(millis(&timed_out["updated_at"]) >= millis(&timed_out["decision_due_at"]));
    let (status, body) = app.approver(BOB).act(id, "approve").await;
    assert_problem(status, &body, 409, None);
}

#[tokio::test]
async fn the_approvals_inbox_lists_what_the_caller_may_decide() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 60).await;
    let bobs_own = app.approver(BOB).request("AzureAD-Admins", 60).await;
    let (_, inbox) = app.approver(BOB).get("/api/v1/approvals").await;
    let ids: Vec<_> = inbox["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()], "bob sees alice's request and not his own");
    let (_, inbox) = app.approver(CAROL).get("/api/v1/approvals").await;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(2));
    let (_, inbox) = app.engineer().get("/api/v1/approvals").await;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(0));
    app.approver(CAROL).approve(&bobs_own).await;
    let (_, inbox) = app.approver(CAROL).get("/api/v1/approvals").await;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn requests_are_listed_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(alice.request("AzureAD-Admins", 60).await);
    }
    app.approver(BOB).request("AzureAD-Admins", 60).await;
    let (status, page) = alice.get("/api/v1/requests?limit=3").await;
    assert_eq!(status, 200, "{page}");
    let first: Vec<_> =
        page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(first, [ids[4].clone(), ids[3].clone(), ids[2].clone()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = alice.get(&format!("/api/v1/requests?limit=3&cursor={cursor}")).await;
    let rest: Vec<_> = page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(rest, [ids[1].clone(), ids[0].clone()]);
    assert!(page["next_cursor"].is_null());
    let (_, all) = app.admin().get("/api/v1/requests?status=pending").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(6), "admins see everyone's");
    let (status, body) = alice.get(&format!("/api/v1/requests?requester={BOB}")).await;
    assert_problem(status, &body, 403, None);
}

#[tokio::test]
async fn a_membership_the_directory_refuses_fails_the_request_with_the_reason() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("Orphaned", 60).await;
    let failed = app.wait_for_status(&id, "failed", Duration::from_secs(10)).await;
    assert!(failed["status_reason"].as_str().unwrap().contains("Deleted-Group"), "{failed}");
    assert!(failed["activated_at"].is_null());
    // The clean-up that follows a failure settles too, instead of retrying for ever.
    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!(ended["membership_outcome"], "group_missing");
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert!(actions.contains(&"grant.failed".to_owned()), "{actions:?}");
    let (status, body) = app.engineer().act(&id, "revoke").await;
    assert_problem(status, &body, 409, None);
}

#[tokio::test]
async fn approvals_given_at_the_same_time_are_all_counted_once() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let id = app.engineer().request("TwoStage", 60).await;
        let (bob, carol) = (app.approver(BOB), app.approver(CAROL));
        let (a, b) = tokio::join!(bob.act(&id, "approve"), carol.act(&id, "approve"));
        assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
        let (_, now) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!((now["status"].as_str(), now["stage"].as_i64()), (Some("pending"), Some(2)), "{now}");
        assert_eq!(now["decisions"].as_array().map(Vec::len), Some(2));
        let actions = app.audit_actions(&format!("request:{id}")).await;
        assert_eq!(actions.iter().filter(|a| *a == "request.stage_advanced").count(), 1, "{actions:?}");
    }
}

#[tokio::test]
async fn a_delegate_bot_lists_only_the_requests_it_filed() {
    let app = TestApp::spawn().await;
    let own = app.engineer().request("AzureAD-Admins", 600).await;
    let bot = app.with_token(&token(BOT, &["requester"], Some("delegate"), 3600, SECRET));
    let (status, filed) = bot.try_request("AzureAD-Admins", 600, json!({ "requester": ALICE })).await;
    assert_eq!(status, 201, "{filed}");
    let filed = filed["id"].as_str().unwrap().to_owned();
    let other = app.with_token(&token("other-bot@example.com", &["requester"], Some("delegate"), 3600, SECRET));

    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
    };
    // Naming Alice does not show the bot what Alice filed herself.
    let (status, page) = bot.get(&format!("/api/v1/requests?requester={ALICE}")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), vec![filed.clone()]);
    let (_, page) = bot.get("/api/v1/requests").await;
    assert_eq!(ids(&page), vec![filed.clone()], "what it filed, for whomever");
    // Another delegate bot sees none of it, as `GET /api/v1/requests/{id}` already said.
    let (_, page) = other.get(&format!("/api/v1/requests?requester={ALICE}")).await;
    assert_eq!(ids(&page), Vec::<String>::new());
    assert_eq!(other.get(&format!("/api/v1/requests/{own}")).await.0, 404);
    // Alice still sees both of hers.
    let (_, page) = app.engineer().get("/api/v1/requests").await;
    assert_eq!(ids(&page), [filed, own]);
}

#[tokio::test]
async fn an_approver_of_another_profile_learns_nothing_about_a_request_it_may_not_decide() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let (status, _) = app.approver(BOB).act(&id, "deny").await;
    assert_eq!(status, 200);
    // Erin approves for another profile: she is refused before the request's state or
    // profile is looked at, and the refusal names neither.
    let (status, body) = app.as_user(ERIN, &["approver"]).act(&id, "approve").await;
    assert_problem(status, &body, 403, None);
    let detail = body["detail"].as_str().unwrap();
    assert!(!detail.contains("denied") && !detail.contains("AzureAD-Admins"), "{detail}");
    // Its own approver still hears why: the request is no longer pending.
    let (status, body) = app.approver(BOB).act(&id, "approve").await;
    assert_problem(status, &body, 409, None);
}
