//! What grants do to memberships: overlap, standing membership, extension, and recovery
//! of expiries that passed while Elevate was down.
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn overlapping_grants_keep_the_membership_until_the_last_one_ends() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let short = alice.request("AzureAD-Developers", 2).await;
    let long = alice.request("AzureAD-Developers", 5).await;
    app.wait_for_status(&short, "active", Duration::from_secs(5)).await;
    app.wait_for_status(&long, "active", Duration::from_secs(5)).await;

    let first = app.wait_until_ended(&short, Duration::from_secs(10)).await;
    assert_eq!(first["status"], "expired");
    assert_eq!(first["membership_outcome"], "kept_overlap");
    assert!(app.is_member(DEVELOPERS_GROUP, ALICE).await, "the first grant's end leaves the membership in place");

    let second = app.wait_until_ended(&long, Duration::from_secs(10)).await;
    assert_eq!(second["membership_outcome"], "removed");
    assert!(!app.is_member(DEVELOPERS_GROUP, ALICE).await, "the last grant's end removes it");
}

#[tokio::test]
async fn a_member_before_the_grant_is_still_a_member_after_it() {
    let app = TestApp::spawn().await;
    assert!(app.is_member(ADMINS_GROUP, CAROL).await, "carol is a standing member (seeded)");
    let carol = app.approver(CAROL);
    let id = carol.request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    let active = app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    assert_eq!(active["standing_membership"], true);
    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!(ended["status"], "expired");
    assert_eq!(ended["membership_outcome"], "kept_standing");
    assert!(app.is_member(ADMINS_GROUP, CAROL).await, "the standing membership survives the grant");
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert!(actions.contains(&"membership.standing_found".to_owned()), "{actions:?}");
    assert_eq!(actions.last().map(String::as_str), Some("membership.kept"));
}

#[tokio::test]
async fn an_extension_needs_approval_where_the_profile_does_and_holds_the_membership_on() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let id = alice.request("AzureAD-Admins", 3).await;
    app.approver(BOB).approve(&id).await;
    let active = app.wait_for_status(&id, "active", Duration::from_secs(5)).await;

    let (status, body) = alice.post(&format!("/api/v1/requests/{id}/extend"), json!({ "duration_seconds": 4 })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "pending", "the admins profile needs approval for an extension too");
    assert_eq!(body["extends"], id.as_str());
    let ext = body["id"].as_str().unwrap().to_owned();
    app.approver(CAROL).approve(&ext).await;
    let ext_active = app.wait_for_status(&ext, "active", Duration::from_secs(5)).await;
    assert_eq!(millis(&ext_active["expires_at"]), millis(&active["expires_at"]) + 4000);

    let first = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!(first["membership_outcome"], "kept_overlap");
    assert!(app.is_member(ADMINS_GROUP, ALICE).await);
    let last = app.wait_until_ended(&ext, Duration::from_secs(10)).await;
    assert_eq!(last["membership_outcome"], "removed");
    assert!(!app.is_member(ADMINS_GROUP, ALICE).await);
}

#[tokio::test]
async fn an_extension_cannot_go_past_the_profiles_max_duration() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let id = alice.request("AzureAD-Developers", 8).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    let (status, body) = alice.post(&format!("/api/v1/requests/{id}/extend"), json!({ "duration_seconds": 5 })).await;
    assert_problem(status, &body, 400, Some("duration_seconds"));
    let (status, body) = alice.post(&format!("/api/v1/requests/{id}/extend"), json!({ "duration_seconds": 2 })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "approved", "auto-approved profile: extension approved at once");
}

#[tokio::test]
async fn an_expiry_that_passed_while_elevate_was_down_is_revoked_at_start_up() {
    let mut app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    let active = app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    app.kill().await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(app.is_member(ADMINS_GROUP, ALICE).await, "nobody removed it while Elevate was down");

    app.restart().await;
    // The very first answer after the restart already shows the revocation: start-up runs
    // overdue jobs before it serves.
    let (status, body) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "expired", "{body}");
    assert_eq!(body["membership_outcome"], "removed");
    assert!(millis(&body["ended_at"]) > millis(&active["expires_at"]));
    assert!(!app.is_member(ADMINS_GROUP, ALICE).await);
}
