//! Credentials Elevate can take back: browser sessions live on the server (sign-out and
//! `elevate session revoke` end them at once; their roles are read from the directory again),
//! and API tokens are listed and revoked — one by its id, or every token of a user issued
//! until then — with every use checked against what was revoked.
use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use crate::{
    helpers::*,
    pages::{csrf_of, demo_sign_in, page, post_form},
};

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `jti` a token carries.
fn jti_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

/// How the API answers `token`: the list of requests. One request (`request`, an unknown id,
/// a malformed one), whose read checks the token in its own statement, answers alike: a token
/// refused there is refused here, with the same challenge.
async fn answers(app: &TestApp, token: &str, request: &str) -> (u16, Value) {
    let (status, problem) = app.get_raw("/api/v1/requests", Some(token)).await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    for id in [request, unknown, "not-an-id"] {
        let path = format!("/api/v1/requests/{id}");
        let answer =
            reqwest::Client::new().get(format!("{}{path}", app.address)).bearer_auth(token).send().await.unwrap();
        let (one, challenge) = (answer.status().as_u16(), answer.headers().get("www-authenticate").cloned());
        let body: Value = answer.json().await.unwrap();
        if status == 401 {
            assert_eq!(one, 401, "{path}: {body}");
            assert_eq!(body["detail"], problem["detail"], "{path}");
            assert!(challenge.is_some_and(|c| c.to_str().unwrap().contains("invalid_token")), "{path}");
        } else {
            assert_ne!(one, 401, "{path}: {body}");
        }
    }
    (status, problem)
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server_so_a_copied_cookie_opens_nothing() {
    let app = TestApp::spawn().await;
    let alice = demo_sign_in(&app, ALICE).await;
    let copied = alice.clone();
    let (status, html) = page(&app, "/requests", &alice).await;
    assert_eq!(status, 200);
    let (status, _) = post_form(&app, "/signout", &alice, &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(status, 303);
    assert_eq!(page(&app, "/requests", &copied).await.0, 303, "sent to sign in: the session has ended");
    assert!(app.audit_actions(&format!("user:{ALICE}")).await.contains(&"user.signed_out".to_owned()));
}

#[tokio::test]
async fn an_administrator_ends_every_session_of_a_user_at_once() {
    let app = TestApp::spawn().await;
    let laptop = demo_sign_in(&app, ALICE).await;
    let phone = demo_sign_in(&app, ALICE).await;
    let bob = demo_sign_in(&app, BOB).await;
    assert_eq!(page(&app, "/requests", &laptop).await.0, 200);

    let said = stdout(&app.cli(&["session", "revoke", "--user", "Alice@Example.com"]));
    assert!(said.contains("ended 2 session(s) of alice@example.com"), "{said}");
    for session in [&laptop, &phone] {
        assert_eq!(page(&app, "/requests", session).await.0, 303, "ended at once");
    }
    assert_eq!(page(&app, "/requests", &bob).await.0, 200, "nobody else's");
    let events = app.audit_events(&format!("user:{ALICE}")).await;
    let revoked = events.iter().find(|e| e["action"] == "session.revoked").expect("audited");
    assert_eq!(revoked["details"]["sessions"], 2);
    assert!(revoked["actor"].as_str().unwrap().starts_with("cli:"), "{revoked}");
}

#[tokio::test]
async fn a_session_loses_the_admin_pages_soon_after_the_directory_stops_naming_its_user_an_admin() {
    // The harness reads a session's roles again after a second (auth.session_roles_ttl).
    let app = TestApp::spawn().await;
    let dave = demo_sign_in(&app, DAVE).await;
    assert_eq!(page(&app, "/audit", &dave).await.0, 200, "auth.admins names Dave");
    // The directory no longer has Dave (the built-in directory keeps its users in a table):
    // auth.admins' "dave@example.com" is nobody now.
    let db = app.db().await;
    db.execute_unprepared(&format!("DELETE FROM users WHERE upn = '{DAVE}'")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = page(&app, "/audit", &dave).await;
        if status == 403 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still an admin's pages: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(page(&app, "/requests", &dave).await.0, 200, "still signed in, as a requester");
}

#[tokio::test]
async fn a_revoked_api_token_is_refused_at_once_and_revoking_a_user_takes_every_token_issued_until_then() {
    let app = TestApp::spawn().await;
    let issue = || stdout(&app.cli(&["token", "issue", "--subject", ALICE, "--ttl", "1h"])).trim().to_owned();
    let (first, second) = (issue(), issue());
    let filed = app.with_token(&first).request("AzureAD-Admins", 3600).await;
    let status_with = |token: &str| {
        let (app, token, filed) = (&app, token.to_owned(), filed.clone());
        async move { answers(app, &token, &filed).await }
    };
    let listed = stdout(&app.cli(&["token", "list", "--subject", ALICE]));
    assert!(listed.contains(&jti_of(&first)) && listed.contains(&jti_of(&second)), "{listed}");
    assert_eq!(status_with(&first).await.0, 200);

    let said = stdout(&app.cli(&["token", "revoke", &jti_of(&first)]));
    assert!(said.contains(&jti_of(&first)), "{said}");
    let (status, problem) = status_with(&first).await;
    assert_eq!(status, 401, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("revoked"), "{problem}");
    assert_eq!(status_with(&second).await.0, 200, "only that token");
    let listed = stdout(&app.cli(&["token", "list", "--subject", ALICE]));
    let line = listed.lines().find(|l| l.contains(&jti_of(&first))).unwrap();
    assert!(!line.trim_end().ends_with('-'), "listed as revoked: {line}");

    // A token Elevate never listed (signed with the secret, as tokens were before the list),
    // and the listed one: revoking Alice takes both; Bob's token is untouched.
    let unlisted = token(ALICE, &["requester"], None, 3600, SECRET);
    let bob = token(BOB, &["requester"], None, 3600, SECRET);
    assert_eq!(status_with(&unlisted).await.0, 200);
    // Tokens say when they were issued in whole seconds: revoke in a later one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let said = stdout(&app.cli(&["token", "revoke", "--subject", ALICE]));
    assert!(said.contains("1 listed token(s) were live"), "{said}");
    for revoked in [&unlisted, &second] {
        assert_eq!(status_with(revoked).await.0, 401);
    }
    assert_eq!(status_with(&bob).await.0, 200);
    assert_eq!(status_with(&issue()).await.0, 200, "a token issued afterwards works");

    let unknown = app.cli(&["token", "revoke", "00000000-0000-0000-0000-000000000000"]);
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success() && err.contains("token list"), "{err}");
    let actions = app.audit_actions(&format!("user:{ALICE}")).await;
    assert_eq!(actions.iter().filter(|a| *a == "token.issued").count(), 3, "{actions:?}");
    assert!(actions.contains(&"token.revoked".to_owned()), "{actions:?}");
    assert!(app.audit_actions(&format!("token:{}", jti_of(&first))).await.contains(&"token.revoked".to_owned()));
}
