//! `elevate request`: an engineer asks for access from a terminal, an approver decides from
//! another, and scripts read the JSON — all through the server's API, with its refusals
//! printed as one line.
use std::process::Output;

use serde_json::Value;

use crate::helpers::*;

/// `elevate request ARGS` as `upn` with these roles, against the app (URL and token from the
/// environment, as a script would set them).
async fn request_cli(app: &TestApp, upn: &str, roles: &[&str], args: &[&str]) -> Output {
    let token = token(upn, roles, None, 3600, SECRET);
    app.engineer_cli()
        .arg("request")
        .args(args)
        .env("ELEVATE_URL", &app.address)
        .env("ELEVATE_TOKEN", token)
        .output()
        .await
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn an_engineer_asks_from_the_terminal_and_an_approver_decides_from_another() {
    let app = TestApp::spawn().await;
    let alice = ["requester"];
    let out =
        request_cli(&app, ALICE, &alice, &["new", "AzureAD-Admins", "--for", "1h", "--why", "rotate keys", "--json"])
            .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let filed: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let id = filed["id"].as_str().unwrap().to_owned();
    assert_eq!((filed["status"].as_str(), filed["duration_seconds"].as_i64()), (Some("pending"), Some(3600)));

    // Alice sees it in her list and, on its own, who can decide it.
    let list = stdout(&request_cli(&app, ALICE, &alice, &["list"]).await);
    assert!(list.lines().any(|l| l.starts_with(&id) && l.contains("pending")), "{list}");
    let shown = stdout(&request_cli(&app, ALICE, &alice, &["show", &id]).await);
    assert!(shown.contains("deciders") && shown.contains(BOB) && shown.contains(CAROL), "{shown}");

    // Bob finds it among what he may decide, and approves it; the grant becomes active.
    let inbox = stdout(&request_cli(&app, BOB, &["requester", "approver"], &["list", "--to-decide"]).await);
    assert!(inbox.lines().any(|l| l.starts_with(&id)), "{inbox}");
    let mallorys = stdout(&request_cli(&app, MALLORY, &["requester", "approver"], &["list", "--to-decide"]).await);
    assert!(!mallorys.contains(&id), "{mallorys}");
    let out = request_cli(&app, BOB, &["requester", "approver"], &["approve", &id, "--comment", "ok"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("approved") || stdout(&out).contains("active"), "{}", stdout(&out));
    app.wait_for_status(&id, "active", std::time::Duration::from_secs(15)).await;

    // Alice ends it early.
    let out = request_cli(&app, ALICE, &alice, &["revoke", &id]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.engineer().get(&format!("/api/v1/requests/{id}")).await.1["status"], "revoked");
}

#[tokio::test]
async fn wait_follows_a_request_until_it_is_active_or_refused() {
    let app = TestApp::spawn().await;
    // An auto-approved profile: active without anyone deciding.
    let out = request_cli(&app, ALICE, &["requester"], &["new", "AzureAD-Developers", "--for", "10s", "--wait"]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).lines().any(|l| l.contains(": active until")), "{}", stdout(&out));

    // A request denied while the requester waits: the command says so and fails.
    let waiting = {
        let app_address = app.address.clone();
        let token = token(ALICE, &["requester"], None, 3600, SECRET);
        app.engineer_cli()
            .args(["request", "new", "AzureAD-Admins", "--for", "1h", "--why", "deploy", "--wait", "--json"])
            .env("ELEVATE_URL", app_address)
            .env("ELEVATE_TOKEN", token)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs")
    };
    let id = loop {
        let (_, mine) = app.engineer().get("/api/v1/requests?status=pending").await;
        if let Some(id) = mine["items"][0]["id"].as_str() {
            break id.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    app.approver(BOB).act(&id, "deny").await;
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), waiting.wait_with_output())
        .await
        .expect("the command stops once the request is denied")
        .expect("output");
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("\"denied\""), "{}", stdout(&out));
}

#[tokio::test]
async fn refusals_are_one_clear_line_and_nothing_is_sent_without_a_server_or_token() {
    let app = TestApp::spawn().await;
    let out = request_cli(&app, ALICE, &["requester"], &["new", "No-Such-Profile", "--for", "1h"]).await;
    assert_eq!(out.status.code(), Some(2), "an error, not a refused request (1)");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: 400 Invalid input:") && err.contains("No-Such-Profile"), "{err}");
    // Mallory may not approve: 403, named as such.
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let err = stderr(&request_cli(&app, MALLORY, &["requester", "approver"], &["approve", &id]).await);
    assert!(err.starts_with("error: 403 Not allowed:"), "{err}");
    // Ids and statuses are checked before they go into a URL.
    let err = stderr(&request_cli(&app, ALICE, &["requester"], &["show", "../tokens"]).await);
    assert!(err.contains("is not a request id"), "{err}");
    let err = stderr(&request_cli(&app, ALICE, &["requester"], &["list", "--status", "pending&requester=x"]).await);
    assert!(err.contains("--status") && err.contains("expected one of"), "{err}");
    // A bad duration is caught before anything is sent.
    let err = stderr(&request_cli(&app, ALICE, &["requester"], &["new", "AzureAD-Admins", "--for", "soon"]).await);
    assert!(err.contains("--for") && err.contains("soon"), "{err}");
    // No server configured anywhere: told where to set one.
    let out = app.engineer_cli().args(["request", "list"]).output().await.unwrap();
    assert!(!out.status.success() && stderr(&out).contains("ELEVATE_URL"), "{}", stderr(&out));
    // Plain http to another machine would carry the token in clear: refused.
    let out = app
        .engineer_cli()
        .args(["request", "list", "--url", "http://elevate.example.com", "--token", "t"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("https://"), "{}", stderr(&out));
}

#[tokio::test]
async fn the_cli_file_names_the_server_and_a_token_file() {
    let app = TestApp::spawn().await;
    let config = app.dir.path().join(".config/elevate");
    std::fs::create_dir_all(&config).unwrap();
    let token_file = app.dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", token(ALICE, &["requester"], None, 3600, SECRET))).unwrap();
    std::fs::write(
        config.join("cli.toml"),
        format!("url = \"{}\"\ntoken_file = \"{}\"\n", app.address, token_file.display()),
    )
    .unwrap();
    let out = app.engineer_cli().args(["request", "list", "--json"]).output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let page: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert!(page["items"].is_array(), "{page}");
}

#[tokio::test]
async fn start_at_schedules_the_access_from_now_or_at_an_instant_and_a_bad_one_is_named() {
    let app = TestApp::spawn().await;
    let alice = ["requester"];
    // From now: an auto-approved profile is scheduled at once, and says from when.
    let before = chrono::Utc::now().timestamp_millis();
    let out =
        request_cli(&app, ALICE, &alice, &["new", "AzureAD-Developers", "--for", "10s", "--start-at", "+2h"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out).lines().next().unwrap_or_default().to_owned();
    assert!(first.contains("scheduled from "), "{first}");
    let id = first.split_whitespace().next().unwrap();
    let (_, request) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
    let ahead = millis(&request["start_at"]) - before;
    assert!((7_200_000..7_260_000).contains(&ahead), "{request}");

    // At an instant with its own zone: stored in UTC.
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let args = ["new", "AzureAD-Admins", "--why", "drill", "--start-at", &format!("{at}T09:00:00+01:00"), "--json"];
    let out = request_cli(&app, ALICE, &alice, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let filed: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(filed["start_at"], format!("{at}T08:00:00.000Z"), "{filed}");

    // Without a zone it is not guessed; nothing is sent.
    let out = request_cli(&app, ALICE, &alice, &["new", "AzureAD-Admins", "--start-at", &format!("{at}T09:00")]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("--start-at") && stderr(&out).contains("RFC 3339"), "{}", stderr(&out));
    let (_, mine) = app.engineer().get("/api/v1/requests").await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(2), "{mine}");
}
