//! A requester sees who can decide their request now — on its page and in the API — never
//! themselves, and less whoever already decided.
use serde_json::Value;

use crate::{
    helpers::*,
    pages::{demo_sign_in, page},
};

/// The mail addresses `GET /api/v1/requests/{id}` names as able to decide.
async fn deciders(app: &TestApp, id: &str) -> Option<Vec<String>> {
    let (status, body) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let people = body["approvers"].as_array()?;
    Some(people.iter().map(|p| p["mail"].as_str().expect("a mail").to_owned()).collect())
}

#[tokio::test]
async fn a_pending_request_names_who_can_decide_it_stage_by_stage() {
    let app = TestApp::spawn().await;
    // Two approvals from the Approvers group (Bob, Carol), then Erin.
    let id = app.engineer().request("TwoStage", 600).await;
    assert_eq!(deciders(&app, &id).await, Some(vec![BOB.to_owned(), CAROL.to_owned()]));
    let (_, body) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(body["escalates_at"], Value::Null, "the profile has no escalation: {body}");
    app.approver(BOB).approve(&id).await;
    assert_eq!(deciders(&app, &id).await, Some(vec![CAROL.to_owned()]), "Bob has decided");
    app.approver(CAROL).approve(&id).await;
    assert_eq!(deciders(&app, &id).await, Some(vec![ERIN.to_owned()]), "stage 2");
    // Its page says the same to the requester.
    let alice = demo_sign_in(&app, ALICE).await;
    let (_, html) = page(&app, &format!("/requests/{id}"), &alice).await;
    let mailto = |who: &str| format!("mailto:{who}");
    assert!(html.contains("Who can decide") && html.contains(&mailto(ERIN)), "{html}");
    assert!(!html.contains(&mailto(CAROL)) && !html.contains(&mailto(ALICE)), "{html}");
    // Once decided, nobody is named.
    app.approver(ERIN).approve(&id).await;
    assert_eq!(deciders(&app, &id).await, None);
    let (_, html) = page(&app, &format!("/requests/{id}"), &alice).await;
    assert!(!html.contains("Who can decide"), "{html}");
}

#[tokio::test]
async fn a_requester_who_is_an_approver_is_never_named_as_one() {
    let app = TestApp::spawn().await;
    let id = app.approver(BOB).request("AzureAD-Admins", 600).await;
    assert_eq!(deciders(&app, &id).await, Some(vec![CAROL.to_owned()]));
    // Lists do not carry the names (each would ask the directory).
    let (_, list) = app.approver(BOB).get("/api/v1/requests").await;
    assert!(list["items"].as_array().unwrap().iter().all(|r| r.get("approvers").is_none()), "{list}");
}
