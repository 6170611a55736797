//! Who may do what: tokens, self-approval, double decisions, delegation, audit access.
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn missing_and_bad_tokens_are_refused_with_401() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let claims = |over: serde_json::Value| {
        let mut c = json!({ "iss": "elevate", "aud": "elevate-api", "sub": ALICE, "iat": now, "nbf": now, "exp": now + 600, "jti": "t", "roles": ["requester"] });
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let good_body = sign(&claims(json!({})), SECRET).split('.').nth(1).unwrap().to_owned();
    let bad_tokens = [
        "garbage".to_owned(),
        token(ALICE, &["requester"], None, 600, "another-secret-that-is-long-enough-0000"),
        token(ALICE, &["requester"], None, -3600, SECRET),
        sign(&claims(json!({ "aud": "someone-else" })), SECRET),
        sign(&claims(json!({ "iss": "https://evil.example.com" })), SECRET),
        sign(&claims(json!({ "nbf": now + 3600 })), SECRET),
        sign(&claims(json!({ "sub": "not a upn" })), SECRET),
        sign(&claims(json!({ "roles": ["superuser"] })), SECRET),
        // alg "none", no signature.
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{good_body}."),
    ];
    let (status, body) = app.get_raw("/api/v1/profiles", None).await;
    assert_problem(status, &body, 401, None);
    for t in bad_tokens {
        let (status, body) = app.get_raw("/api/v1/profiles", Some(&t)).await;
        assert_problem(status, &body, 401, None);
    }
    let (status, body) = app.engineer().get("/api/v1/profiles").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_requester_can_never_approve_their_own_request_even_as_an_approver() {
    let app = TestApp::spawn().await;
    let bob = app.approver(BOB);
    let id = bob.request("AzureAD-Admins", 60).await;
    let (status, body) = bob.act(&id, "approve").await;
    assert_problem(status, &body, 403, None);
    assert!(body["detail"].as_str().unwrap().contains("own request"), "{body}");
    let (_, still) = bob.get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(still["status"], "pending");
    assert_eq!(still["decisions"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn an_approver_decides_once_and_only_where_the_profile_names_them() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("TwoStage", 60).await;
    app.approver(BOB).approve(&id).await;
    let (status, body) = app.approver(BOB).act(&id, "approve").await;
    assert_problem(status, &body, 409, None);
    assert!(body["detail"].as_str().unwrap().contains("already decided"), "{body}");
    // Dave is an admin, not an approver of this profile; a role alone is not enough.
    let (status, body) = app.as_user(DAVE, &["admin", "approver"]).act(&id, "approve").await;
    assert_problem(status, &body, 403, None);
    // Carol is named by the profile but her token lacks the approver role.
    let (status, body) = app.as_user(CAROL, &["requester"]).act(&id, "approve").await;
    assert_problem(status, &body, 403, None);
    let (_, still) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!((still["status"].as_str(), still["decisions"].as_array().map(Vec::len)), (Some("pending"), Some(1)));
}

#[tokio::test]
async fn a_bot_with_the_delegate_scope_files_for_a_user_and_one_without_it_cannot() {
    let app = TestApp::spawn().await;
    let bot = app.with_token(&token(BOT, &[], Some("delegate"), 600, SECRET));
    let (status, body) = bot.try_request("AzureAD-Admins", 60, json!({ "requester": ALICE })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["requester"].as_str(), body["filed_by"].as_str()), (Some(ALICE), Some(BOT)));
    let id = body["id"].as_str().unwrap();
    let (status, _) = bot.get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(status, 200);
    // The delegate still cannot get access for someone who is not eligible.
    let (status, body) = bot.try_request("AzureAD-Admins", 60, json!({ "requester": MALLORY })).await;
    assert_problem(status, &body, 403, None);
    let plain = app.with_token(&token(BOT, &["requester"], None, 600, SECRET));
    let (status, body) = plain.try_request("AzureAD-Admins", 60, json!({ "requester": ALICE })).await;
    assert_problem(status, &body, 403, None);
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert_eq!(actions, ["request.created"]);
}

#[tokio::test]
async fn only_auditors_and_admins_read_the_audit_log_and_strangers_see_no_requests() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 60).await;
    let (status, body) = app.engineer().get("/api/v1/audit").await;
    assert_problem(status, &body, 403, None);
    let (status, body) = app.as_user(ERIN, &["auditor"]).get("/api/v1/audit").await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["items"].as_array().unwrap().is_empty());
    let (status, body) = app.as_user(MALLORY, &["requester"]).get(&format!("/api/v1/requests/{id}")).await;
    assert_problem(status, &body, 404, None);
    let (status, _) = app.approver(CAROL).get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(status, 200, "an approver of the profile sees it");
}

#[tokio::test]
async fn profiles_lists_only_what_the_caller_may_request() {
    let app = TestApp::spawn().await;
    let (_, alices) = app.engineer().get("/api/v1/profiles").await;
    let keys: Vec<_> = alices.as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["AzureAD-Admins", "AzureAD-Developers", "Orphaned", "Sensitive", "Ticketed", "TwoStage"]);
    let (_, carols) = app.approver(CAROL).get("/api/v1/profiles").await;
    let keys: Vec<_> = carols.as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["AzureAD-Admins"]);
    let (_, none) = app.as_user(MALLORY, &["requester"]).get("/api/v1/profiles").await;
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn a_bot_decides_only_for_a_human_approver_it_names_and_never_a_request_it_filed() {
    // The policy even names the chat-ops bot among the approvers: whoever drives it could
    // otherwise file for a colleague and approve at once, or approve as nobody in particular.
    let policy = POLICY.replace(
        r#"approval = { groups = ["Approvers"], approvals_required = 1 }"#,
        &format!(r#"approval = {{ groups = ["Approvers"], users = ["{BOT}"], approvals_required = 1 }}"#),
    );
    assert_ne!(policy, POLICY, "the test policy names the bot");
    let app = TestApp::builder().policy(&policy).spawn().await;
    let bot = app.with_token(&token(BOT, &["approver"], Some("delegate"), 600, SECRET));
    let decide = |id: &str, body: serde_json::Value| {
        let (bot, path) = (&bot, format!("/api/v1/requests/{id}/approve"));
        async move { bot.post(&path, body).await }
    };

    // What it filed, it cannot carry a decision on, for anyone.
    let (status, filed) = bot.try_request("AzureAD-Admins", 600, json!({ "requester": ALICE })).await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_str().unwrap();
    let (status, body) = decide(id, json!({ "on_behalf_of": BOB })).await;
    assert_problem(status, &body, 403, None);
    assert!(body["detail"].as_str().unwrap().contains("this bot filed the request"), "{body}");

    // Alice's own request: not as nobody, not as the requester, not as someone who may not
    // decide, not as someone the directory does not know.
    let other = app.engineer().request("AzureAD-Admins", 600).await;
    let (status, body) = decide(&other, json!({})).await;
    assert_problem(status, &body, 400, Some("on_behalf_of"));
    let (status, body) = decide(&other, json!({ "on_behalf_of": ALICE })).await;
    assert_problem(status, &body, 403, None);
    let (status, body) = decide(&other, json!({ "on_behalf_of": MALLORY })).await;
    assert_problem(status, &body, 403, None);
    let (status, body) = decide(&other, json!({ "on_behalf_of": "nobody@example.com" })).await;
    assert_problem(status, &body, 400, Some("on_behalf_of"));
    // A person decides as themselves: naming someone else is refused.
    let (status, body) =
        app.approver(CAROL).post(&format!("/api/v1/requests/{other}/approve"), json!({ "on_behalf_of": BOB })).await;
    assert_problem(status, &body, 400, Some("on_behalf_of"));
    let (_, still) = app.admin().get(&format!("/api/v1/requests/{other}")).await;
    assert_eq!((still["status"].as_str(), still["decisions"].as_array().map(Vec::len)), (Some("pending"), Some(0)));

    // For Bob, an approver of the stage: the decision is Bob's, and the log names the bot too.
    let (status, body) = decide(&other, json!({ "on_behalf_of": BOB, "comment": "approved in chat" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decisions"][0]["approver"], BOB, "{body}");
    let given = app.audit_events(&format!("request:{other}")).await;
    let given = given.iter().find(|e| e["action"] == "request.approval_given").expect("audited");
    assert_eq!((given["actor"].as_str(), given["details"]["bot"].as_str()), (Some(BOB), Some(BOT)), "{given}");
    assert_eq!(given["details"]["via"], "bot");
}
