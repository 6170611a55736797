//! `elevate login`: the device authorization grant (RFC 8628) against a real identity provider
//! (node oidc-provider, standing in for Entra ID and issuing its kind of access tokens). The
//! command shows a code, a person signs in with it in a browser, and `elevate request` then
//! acts with the token kept for it — as the directory object the token names.
use std::{os::unix::fs::PermissionsExt, path::PathBuf, process::Stdio, time::Duration};

use elevate_tests::graph_server::{GraphServer, TENANT};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::{browser::Browser, entra_tokens::AUDIENCE, helpers::*};

/// node oidc-provider with the device flow on, started with `tests/oidc/device-oidc.mjs`.
struct DeviceProvider {
    issuer: String,
    _child: Child,
}

impl DeviceProvider {
    /// `users`: UPN → the `oid` and app `roles` its tokens carry.
    async fn start(users: &Value) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc/device-oidc.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .args([AUDIENCE.to_owned(), TENANT.to_owned(), users.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node (scripts/test installs oidc-provider into tests/oidc)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let Ok(Ok(Some(line))) = ready else { panic!("oidc-provider did not start: {ready:?}") };
        let issuer = line.strip_prefix("ready ").expect("ready <issuer>").trim().to_owned();
        // It goes on logging to standard output: read on, or a closed pipe would stop it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { issuer, _child: child }
    }
}

/// An Elevate that accepts the provider's access tokens as Entra ID ones.
async fn spawn(idp: &DeviceProvider, graph: GraphServer) -> TestApp {
    let entra = format!(
        "[auth.entra]\ntenant_id = \"{TENANT}\"\nissuer = \"{0}\"\njwks_url = \"{0}/jwks\"\naudience = \"{AUDIENCE}\"\n",
        idp.issuer
    );
    TestApp::builder().graph(graph).config(&entra).spawn().await
}

/// `elevate login` running for the app's user, with the address it asks to open.
struct Login {
    child: Child,
    url: String,
    /// What it says on standard error after the address.
    rest: tokio::task::JoinHandle<String>,
}

async fn start_login(app: &TestApp, idp: &DeviceProvider) -> Login {
    let mut child = app
        .engineer_cli()
        .args(["login", "--issuer", &idp.issuer, "--client-id", "elevate-cli", "--scope", "openid Elevate.Access"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
    let url = first.strip_prefix("To sign in, open ").expect("the address to open").trim().to_owned();
    // Read on, so that the command never blocks on a full pipe.
    let rest = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    Login { child, url, rest }
}

/// Waits for the command to finish: its exit code, standard output and standard error.
async fn finished(login: Login) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), login.child.wait_with_output()).await.unwrap().unwrap();
    let said = login.rest.await.unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), said)
}

/// The provider's confirmation page: the browser lands on it after the code was sent.
async fn confirmation(browser: &Browser, url: &str) {
    browser.open(url).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !browser.text().await.contains("Confirm Device") {
        assert!(tokio::time::Instant::now() < deadline, "no confirmation page: {}", browser.text().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_person_signs_in_with_the_shown_code_and_the_cli_then_acts_as_them() {
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    // The token names the user by object id only: the UPN comes from the directory.
    let users = json!({ ALICE: { "oid": graph.user_id(ALICE), "roles": ["Elevate.Requester"] } });
    let idp = DeviceProvider::start(&users).await;
    let app = spawn(&idp, graph).await;
    let login = start_login(&app, &idp).await;
    let url = login.url.clone();
    assert!(url.starts_with(&idp.issuer) && url.contains("user_code="), "{url}");

    // Alice opens the address in her browser, confirms the code, signs in and consents.
    let browser = Browser::start(&idp.issuer).await;
    confirmation(&browser, &url).await;
    browser.press("Continue").await;
    browser.find("input[name=login]").await.send_keys(ALICE).await.unwrap();
    browser.find("input[name=password]").await.send_keys("any").await.unwrap();
    browser.press("Sign-in").await;
    browser.press("Continue").await;
    assert!(browser.text().await.contains("Sign-in Success"), "{}", browser.text().await);
    browser.close().await;

    let (code, said, stderr) = finished(login).await;
    assert_eq!(code, Some(0), "{said}{stderr}");
    let kept = app.dir.path().join(".config/elevate/token");
    assert!(said.contains(&kept.display().to_string()), "{said}");
    let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token is readable by its owner only");

    // Without ELEVATE_TOKEN, `elevate request` uses it, as Alice.
    let out = app
        .engineer_cli()
        .args(["request", "new", "AzureAD-Admins", "--why", "signed in by device code", "--json"])
        .env("ELEVATE_URL", &app.address)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let filed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((filed["requester"].as_str(), filed["status"].as_str()), (Some(ALICE), Some("pending")), "{filed}");
}

#[tokio::test]
async fn a_sign_in_refused_in_the_browser_ends_the_command_with_a_clear_error_and_keeps_no_token() {
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    let idp = DeviceProvider::start(&json!({})).await;
    let app = spawn(&idp, graph).await;
    let login = start_login(&app, &idp).await;
    let browser = Browser::start(&idp.issuer).await;
    confirmation(&browser, &login.url).await;
    browser.press("[ Abort ]").await;
    browser.close().await;
    let (code, _, said) = finished(login).await;
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("the sign-in was refused"), "{said}");
    assert!(!app.dir.path().join(".config/elevate/token").exists());
}
