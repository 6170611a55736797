//! The audit log as evidence: the JSON-lines export of the API, signed checkpoints that catch
//! a rewritten chain, configuration changes and API-token use in the log, and no configured
//! secret in any log line or event.
use std::{path::Path, process::Command, time::Duration};

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryOrder};
use serde_json::Value;
use sha2::{Digest, Sha256};

use elevate_tests::graph_server::{CLIENT_SECRET, GraphServer};

use crate::{
    helpers::*,
    notify_peers::{OidcProvider, WebhookReceiver},
};

async fn export(app: &TestApp, query: &str, token_of: &str, roles: &[&str]) -> (u16, String, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/audit/export{query}", app.address))
        .bearer_auth(token(token_of, roles, None, 3600, SECRET))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let kind = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, resp.text().await.unwrap())
}

#[tokio::test]
async fn the_api_streams_the_audit_log_as_json_lines_since_an_instant() {
    let app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;

    let (status, kind, body) = export(&app, "", DAVE, &["auditor"]).await;
    assert_eq!((status, kind.as_str()), (200, "application/x-ndjson"));
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let (_, page) = app.admin().get("/api/v1/audit?limit=1000").await;
    let listed = page["items"].as_array().unwrap();
    // Read after the export: the list may hold events appended since (never fewer).
    assert!(!lines.is_empty() && listed.len() >= lines.len(), "{} exported, {} listed", lines.len(), listed.len());
    for (line, event) in lines.iter().zip(listed) {
        assert_eq!(line, event, "the export and the API show the same events");
    }
    for pair in lines.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "oldest first, chained");
    }
    // Since an instant: only what happened from then on; a later instant, nothing.
    let approved = lines.iter().find(|e| e["action"] == "request.approved").unwrap();
    let since = approved["at"].as_str().unwrap();
    let (_, _, body) = export(&app, &format!("?since={since}"), DAVE, &["auditor"]).await;
    let first: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert!(first["at"].as_str().unwrap() >= since && !body.contains("request.created"), "{body}");
    assert_eq!(export(&app, "?since=2999-01-01T00:00:00Z", DAVE, &["auditor"]).await.2, "");
    // Resuming after a sequence number.
    let (_, _, body) = export(&app, &format!("?after_seq={}", lines[0]["seq"]), DAVE, &["admin"]).await;
    let resumed: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(resumed[0], lines[1]);
    assert!(resumed.iter().all(|e| e["seq"].as_i64() > lines[0]["seq"].as_i64()));
    // Bad input is named; a requester may not read the log.
    let (status, _, body) = export(&app, "?since=last-tuesday", DAVE, &["auditor"]).await;
    assert_problem(status, &serde_json::from_str(&body).unwrap(), 400, Some("since"));
    assert_eq!(export(&app, "", ALICE, &["requester"]).await.0, 403);
}

/// An Ed25519 key pair made with openssl: (private PEM path, public PEM path).
fn ed25519_keys(dir: &Path, name: &str) -> (String, String) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let ok = Command::new("openssl").args(["genpkey", "-algorithm", "ed25519", "-out"]).arg(&private).status();
    assert!(ok.unwrap().success(), "openssl genpkey");
    let ok =
        Command::new("openssl").arg("pkey").arg("-in").arg(&private).arg("-pubout").arg("-out").arg(&public).status();
    assert!(ok.unwrap().success(), "openssl pkey -pubout");
    (private.display().to_string(), public.display().to_string())
}

fn run(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = app.cli(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The chain's hash as Elevate computes it (the JSON array of the fields, with the entry the
/// event was sealed from).
fn chained(prev: &str, e: &entity::audit_events::Model) -> String {
    let canonical = match e.entry {
        None => serde_json::json!([prev, e.seq, e.at, e.actor, e.action, e.subject, e.details]),
        Some(entry) => serde_json::json!([prev, e.seq, e.at, e.actor, e.action, e.subject, e.details, entry]),
    }
    .to_string();
    Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_signed_checkpoint_catches_a_chain_rewritten_with_fresh_hashes() {
    let mut app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    app.kill().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = ed25519_keys(dir.path(), "checkpoint");
    let (_, other_public) = ed25519_keys(dir.path(), "other");
    let file = dir.path().join("checkpoint.jws").display().to_string();

    let (ok, out) = run(&app, &["audit", "checkpoint", "--key", &key, "--out", &file]);
    assert!(ok, "{out}");
    let (ok, out) = run(&app, &["audit", "verify", "--from-checkpoint", &file, "--public-key", &public]);
    assert!(ok && out.contains("matches"), "{out}");
    // Signed by someone else's key: refused.
    let (ok, out) = run(&app, &["audit", "verify", "--from-checkpoint", &file, "--public-key", &other_public]);
    assert!(!ok && out.contains("not genuine"), "{out}");

    // Someone with database access rewrites who approved, and recomputes every hash after it.
    let db = app.db().await;
    let events =
        entity::audit_events::Entity::find().order_by_asc(entity::audit_events::Column::Seq).all(&db).await.unwrap();
    let approval = events.iter().position(|e| e.action == "request.approval_given").unwrap();
    let mut prev = events[approval].prev_hash.clone();
    for (i, event) in events.iter().enumerate().skip(approval) {
        let mut forged = event.clone();
        if i == approval {
            forged.actor = MALLORY.into();
        }
        forged.prev_hash = prev.clone();
        forged.hash = chained(&prev, &forged);
        prev = forged.hash.clone();
        let mut row: entity::audit_events::ActiveModel = event.clone().into();
        row.actor = Set(forged.actor);
        row.prev_hash = Set(forged.prev_hash);
        row.hash = Set(forged.hash);
        row.update(&db).await.unwrap();
    }
    let (ok, out) = run(&app, &["audit", "verify"]);
    assert!(ok, "the rewritten chain is consistent in itself: {out}");
    let (ok, out) = run(&app, &["audit", "verify", "--from-checkpoint", &file, "--public-key", &public]);
    assert!(!ok && out.contains("does not match the checkpoint"), "{out}");
}

#[tokio::test]
async fn serve_signs_a_checkpoint_periodically_while_the_log_grows() {
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = ed25519_keys(keys.path(), "checkpoint");
    let folder = keys.path().join("checkpoints");
    let config = format!(
        "[audit]\ncheckpoint_key_file = \"{key}\"\ncheckpoint_dir = \"{}\"\ncheckpoint_interval = \"1s\"\n",
        folder.display()
    );
    let mut app = TestApp::builder().config(&config).spawn().await;
    app.engineer().request("AzureAD-Admins", 600).await;
    let files = |n: usize| {
        let folder = folder.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let mut found: Vec<_> =
                    std::fs::read_dir(&folder).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
                found.sort();
                if found.len() >= n || tokio::time::Instant::now() > deadline {
                    return found;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let first = files(1).await;
    assert_eq!(first.len(), 1, "{first:?}");
    // Idle: no new checkpoint (the last one already covers everything but itself).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(files(1).await.len(), 1);
    // More activity: another one.
    app.engineer().request("AzureAD-Admins", 600).await;
    let both = files(2).await;
    assert_eq!(both.len(), 2, "{both:?}");
    app.kill().await;
    let newest = both[1].display().to_string();
    let (ok, out) = run(&app, &["audit", "verify", "--from-checkpoint", &newest, "--public-key", &public]);
    assert!(ok && out.contains("matches"), "{out}");
}

#[tokio::test]
async fn configuration_changes_and_api_token_use_are_in_the_audit_log() {
    let mut app = TestApp::spawn().await;
    let loaded = app.audit_events("config").await;
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0]["action"], "config.loaded");
    // The first use of a token is recorded once, whoever it acts for.
    let bob = app.approver(BOB);
    for _ in 0..3 {
        assert_eq!(bob.get("/api/v1/approvals").await.0, 200);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let used = loop {
        let (_, page) = app.admin().get("/api/v1/audit?limit=1000").await;
        let used: Vec<Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "token.used" && e["actor"] == BOB)
            .cloned()
            .collect();
        if !used.is_empty() || tokio::time::Instant::now() > deadline {
            break used;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(used[0]["details"]["roles"][0], "requester");

    // The same configuration again: nothing new. A changed policy: recorded as such.
    app.kill().await;
    app.restart().await;
    assert_eq!(app.audit_events("config").await.len(), 1);
    app.kill().await;
    let policy = app.dir.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap().replace("max_duration = \"8h\"", "max_duration = \"4h\"");
    std::fs::write(&policy, text).unwrap();
    app.restart().await;
    let events = app.audit_events("config").await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["action"], "config.changed");
    assert_eq!(
        (&events[1]["details"]["policy_changed"], &events[1]["details"]["settings_changed"]),
        (&true.into(), &false.into())
    );
}

#[tokio::test]
async fn no_configured_secret_reaches_a_log_line_or_an_audit_event() {
    const WEBHOOK_SECRET: &str = "whsec-7f3a9c1e55d24b0b61";
    const HOOK_PATH_TOKEN: &str = "slackpathtoken94c1d2e7";
    let (idp, hooks) = (OidcProvider::start().await, WebhookReceiver::start().await);
    let extra = format!(
        "{}\n[[notify.webhook]]\nurl = \"{}/services/T000/B000/{HOOK_PATH_TOKEN}\"\nformat = \"generic\"\nsecret = \"{WEBHOOK_SECRET}\"\n",
        idp.config(),
        hooks.url
    );
    let app = TestApp::builder().graph(GraphServer::start().await).config(&extra).spawn().await;

    // A grant's whole life, webhooks included, a browser sign-in, and refused credentials.
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    app.wait_until_ended(&id, Duration::from_secs(15)).await;
    hooks.wait_for(&format!("/services/T000/B000/{HOOK_PATH_TOKEN}"), |p| p.body.contains("expired")).await;
    crate::signin::sign_in(&app, CAROL, "/requests").await;
    let forged = token(ALICE, &["admin"], None, 3600, "not-the-secret-0123456789abcdef0123");
    assert_eq!(app.get_raw("/api/v1/audit", Some(&forged)).await.0, 401);
    let engineer_token = token(ALICE, &["requester"], None, 3600, SECRET);
    assert_eq!(app.get_raw("/api/v1/requests", Some(&engineer_token)).await.0, 200);

    let (_, _, audit) = export(&app, "", DAVE, &["auditor"]).await;
    let log = app.log();
    assert!(log.contains("request") && audit.contains("grant.expired"), "the log and the export were read");
    for secret in
        [SECRET, CLIENT_SECRET, "oidc-test-client-secret", WEBHOOK_SECRET, HOOK_PATH_TOKEN, &engineer_token, &forged]
    {
        assert!(!log.contains(secret), "{secret} is in the log");
        assert!(!audit.contains(secret), "{secret} is in the audit log");
    }
}
