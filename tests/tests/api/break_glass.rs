//! Break-glass: a named user activates at once with a justification; every approver and admin
//! hears of it immediately; the grant waits for one after-the-fact review, which only the
//! profile's approvers and admins (never the requester) may record, once.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::*,
    notify_peers::SmtpSink,
    pages::{demo_sign_in, page},
};

fn policy() -> String {
    format!(
        r#"{POLICY}
[profiles.Emergency]
title = "Production emergency access"
group = "Prod-Admins"
min_duration = "1m"
max_duration = "2h"
eligible = {{ groups = ["Engineers"] }}
approval = {{ groups = ["Approvers"] }}
escalation = {{ users = ["erin@example.com"] }}
break_glass = true
break_glass_users = ["alice@example.com"]
"#
    )
}

/// How many break-glass requests wait for `actor`'s review.
async fn waiting(actor: Actor<'_>) -> usize {
    actor.get("/api/v1/reviews").await.1["items"].as_array().unwrap().len()
}

fn glass(justification: Option<&str>) -> Value {
    json!({ "profile": "Emergency", "duration_seconds": 1800, "break_glass": true, "justification": justification })
}

#[tokio::test]
async fn a_named_user_breaks_the_glass_everyone_is_told_and_one_approver_reviews_it() {
    let sink = SmtpSink::start().await;
    // Dave is an admin in every test's configuration (auth.admins).
    let app = TestApp::builder().policy(&policy()).config(&sink.config()).spawn().await;

    // Without a justification, or by someone the profile does not name: refused, nothing filed.
    let (status, body) = app.engineer().post("/api/v1/requests", glass(None)).await;
    assert_problem(status, &body, 400, Some("justification"));
    let (status, body) = app.approver(BOB).post("/api/v1/requests", glass(Some("db on fire"))).await;
    assert_problem(status, &body, 403, None);

    // Alice breaks the glass: active at once, no approval asked.
    let (status, filed) = app.engineer().post("/api/v1/requests", glass(Some("db on fire, INC-9"))).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["break_glass"], true);
    let id = filed["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    assert!(app.is_member("Prod-Admins", ALICE).await);
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert!(actions.contains(&"request.break_glass".to_owned()), "{actions:?}");
    assert!(!actions.iter().any(|a| a == "request.approval_given"), "{actions:?}");

    // Every approver (both stages' and the escalation's) and every admin is told at once.
    let told = sink.wait_for(4, |m| m.subject.starts_with("BREAK-GLASS")).await;
    let mut to: Vec<&str> = told.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, [BOB, CAROL, DAVE, ERIN]);
    assert!(told[0].text.contains("db on fire, INC-9") && told[0].text.contains(ALICE), "{}", told[0].text);

    // The page says so, prominently.
    let bob = demo_sign_in(&app, BOB).await;
    let (_, html) = page(&app, &format!("/requests/{id}"), &bob).await;
    assert!(html.contains("Break-glass") && html.contains("awaiting review"), "{html}");

    // Reviews: awaited by the profile's approvers and admins, not by the requester.
    assert_eq!(waiting(app.approver(BOB)).await, 1);
    assert_eq!(waiting(app.admin()).await, 1);
    assert_eq!(waiting(app.engineer()).await, 0);
    let review = |body: Value| json!({ "outcome": body["outcome"], "comment": body["comment"] });
    let path = format!("/api/v1/requests/{id}/review");
    let (status, _) = app.engineer().post(&path, review(json!({ "outcome": "justified" }))).await;
    assert_eq!(status, 403, "nobody reviews their own");
    let (status, _) = app.as_user(MALLORY, &["approver"]).post(&path, review(json!({ "outcome": "justified" }))).await;
    assert_eq!(status, 403, "not one of the profile's approvers");
    let (status, body) = app.approver(BOB).post(&path, review(json!({ "outcome": "maybe" }))).await;
    assert_problem(status, &body, 400, Some("outcome"));
    let (status, reviewed) =
        app.approver(BOB).post(&path, review(json!({ "outcome": "justified", "comment": "INC-9 confirmed" }))).await;
    assert_eq!(status, 200, "{reviewed}");
    assert_eq!((&reviewed["review"]["outcome"], &reviewed["review"]["reviewer"]), (&json!("justified"), &json!(BOB)));
    let (status, body) = app.approver(CAROL).post(&path, review(json!({ "outcome": "unjustified" }))).await;
    assert_problem(status, &body, 409, None);
    assert_eq!(waiting(app.approver(BOB)).await, 0);
    let events = app.audit_events(&format!("request:{id}")).await;
    let recorded =
        events.iter().find(|e| e["action"] == "request.break_glass_reviewed").expect("the review is audited");
    assert_eq!((&recorded["actor"], &recorded["details"]["outcome"]), (&json!(BOB), &json!("justified")));

    // An ordinary request has nothing to review.
    let ordinary = app.engineer().request("AzureAD-Admins", 600).await;
    let (status, _) =
        app.approver(BOB).post(&format!("/api/v1/requests/{ordinary}/review"), json!({ "outcome": "justified" })).await;
    assert_eq!(status, 409);
}
