//! Bad input gets a 4xx problem+json naming the field, never a 500, and changes nothing.
use serde_json::{Value, json};

use crate::helpers::*;

async fn request_count(app: &TestApp) -> usize {
    let (_, all) = app.admin().get("/api/v1/requests?limit=200").await;
    all["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn requests_that_break_the_profiles_rules_are_refused_with_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let kept = alice.request("AzureAD-Admins", 60).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({ "profile": "AzureAD-Admins", "duration_seconds": 0, "justification": "x" }), 400, "duration_seconds"),
        (
            json!({ "profile": "AzureAD-Admins", "duration_seconds": 8 * 3600 + 1, "justification": "x" }),
            400,
            "duration_seconds",
        ),
        (json!({ "profile": "AzureAD-Admins", "duration_seconds": -5, "justification": "x" }), 400, "duration_seconds"),
        (json!({ "profile": "AzureAD-Admins", "duration_seconds": 60 }), 400, "justification"),
        (json!({ "profile": "AzureAD-Admins", "duration_seconds": 60, "justification": "   " }), 400, "justification"),
        (
            json!({ "profile": "AzureAD-Admins", "duration_seconds": 60, "justification": "a\u{1b}[2Jb" }),
            400,
            "justification",
        ),
        (
            json!({ "profile": "AzureAD-Admins", "duration_seconds": 60, "justification": "x".repeat(1001) }),
            400,
            "justification",
        ),
        (json!({ "profile": "Ticketed", "duration_seconds": 60, "justification": "x" }), 400, "ticket"),
        (
            json!({ "profile": "Ticketed", "duration_seconds": 60, "justification": "x", "ticket": "has space" }),
            400,
            "ticket",
        ),
        (json!({ "profile": "NoSuchProfile", "duration_seconds": 60 }), 400, "profile"),
        (json!({ "duration_seconds": 60 }), 400, "profile"),
        (json!({ "profile": "AzureAD-Admins", "duration_seconds": "an hour" }), 400, "duration_seconds"),
        (json!({ "profile": "AzureAD-Admins", "duration_seconds": 60, "colour": "red" }), 400, "colour"),
        (
            json!({ "profile": "AzureAD-Admins", "duration_seconds": 60, "justification": "x", "requester": "not-a-upn" }),
            400,
            "requester",
        ),
        (
            json!({ "profile": "AzureAD-Admins", "duration_seconds": 60, "justification": "x", "requester": BOB }),
            403,
            "",
        ),
    ];
    for (body, expected, field) in cases {
        let (status, answer) = alice.post("/api/v1/requests", body.clone()).await;
        assert_problem(status, &answer, expected, (!field.is_empty()).then_some(field));
    }
    let (status, body) = app.as_user(MALLORY, &["requester"]).try_request("AzureAD-Admins", 60, json!({})).await;
    assert_problem(status, &body, 403, None);
    assert!(body["detail"].as_str().unwrap().contains("not eligible"), "{body}");
    let (status, body) = app.as_user(ALICE, &["auditor"]).try_request("AzureAD-Admins", 60, json!({})).await;
    assert_problem(status, &body, 403, None);

    assert_eq!(request_count(&app).await, 1, "nothing was stored by the refused requests");
    let (_, still) = alice.get(&format!("/api/v1/requests/{kept}")).await;
    assert_eq!(still["status"], "pending");
}

#[tokio::test]
async fn malformed_bodies_paths_and_queries_are_4xx_problems() {
    let app = TestApp::spawn().await;
    let alice = app.engineer();
    let (status, body) = alice.post_raw("/api/v1/requests", "application/json", b"{not json".to_vec()).await;
    assert_problem(status, &body, 400, None);
    let (status, body) = alice.post_raw("/api/v1/requests", "text/plain", b"profile=x".to_vec()).await;
    assert_problem(status, &body, 415, None);
    let huge = json!({ "profile": "AzureAD-Admins", "justification": "x".repeat(100_000) }).to_string();
    let (status, body) = alice.post_raw("/api/v1/requests", "application/json", huge.into_bytes()).await;
    assert_problem(status, &body, 413, None);

    let (status, body) = alice.get("/api/v1/requests/not-a-uuid").await;
    assert_problem(status, &body, 400, Some("id"));
    let (status, body) = alice.get(&format!("/api/v1/requests/{}", uuid::Uuid::now_v7())).await;
    assert_problem(status, &body, 404, None);
    let (status, body) = alice.act("not-a-uuid", "approve").await;
    assert_problem(status, &body, 400, Some("id"));
    let (status, body) = alice.get("/api/v1/requests?status=bogus").await;
    assert_problem(status, &body, 400, Some("status"));
    let (status, body) = alice.get("/api/v1/requests?limit=abc").await;
    assert_problem(status, &body, 400, Some("limit"));
    let (status, body) = alice.get("/api/v1/requests?limit=100000").await;
    assert_problem(status, &body, 400, Some("limit"));
    let (status, body) = alice.get("/api/v1/requests?cursor=zzz").await;
    assert_problem(status, &body, 400, Some("cursor"));
    let (status, body) = app.admin().get("/api/v1/audit?after_seq=-1").await;
    assert_problem(status, &body, 400, Some("after_seq"));
    let (status, body) = alice.get("/api/v1/nowhere").await;
    assert_problem(status, &body, 404, None);

    let id = alice.request("AzureAD-Admins", 60).await;
    let (status, body) =
        app.approver(BOB).post(&format!("/api/v1/requests/{id}/approve"), json!({ "comment": "x".repeat(1001) })).await;
    assert_problem(status, &body, 400, Some("comment"));
    let (status, body) = alice.post(&format!("/api/v1/requests/{id}/extend"), json!({})).await;
    assert_problem(status, &body, 400, Some("duration_seconds"));
    let (_, still) = alice.get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!((still["status"].as_str(), still["decisions"].as_array().map(Vec::len)), (Some("pending"), Some(0)));
}

#[tokio::test]
async fn an_extension_too_large_to_count_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Developers", 10).await;
    let active = app.wait_for_status(&id, "active", std::time::Duration::from_secs(10)).await;
    for seconds in [9_223_372_036_854_776_i64, i64::MAX] {
        let path = format!("/api/v1/requests/{id}/extend");
        let (status, body) = app.engineer().post(&path, json!({ "duration_seconds": seconds })).await;
        assert_problem(status, &body, 400, Some("duration_seconds"));
    }
    let (_, after) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(after["expires_at"], active["expires_at"], "{after}");
    assert_eq!(request_count(&app).await, 1);
}
