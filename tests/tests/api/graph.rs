//! The `graph` directory against the Graph test server: the lifecycle end to end, Graph's
//! semantics (duplicates, missing members, paging, nested groups), throttling, an outage,
//! token refresh, and bad credentials.
use std::time::{Duration, Instant};

use elevate_tests::graph_server::{Faults, GraphServer, WriteQuota};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_grant_adds_and_its_expiry_removes_the_entra_membership_exactly_once() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let graph = app.graph();
    let alice_id = graph.user_id(ALICE);
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    assert!(graph.is_member(ADMINS_GROUP, &alice_id));

    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!((ended["status"].as_str(), ended["membership_outcome"].as_str()), (Some("expired"), Some("removed")));
    let lag = millis(&ended["ended_at"]) - millis(&ended["expires_at"]);
    assert!((0..1000).contains(&lag), "removed {lag} ms after expiry");
    assert!(!graph.is_member(ADMINS_GROUP, &alice_id));
    let adds = graph.successful("POST", &format!("/groups/{ADMINS_GROUP}/members/$ref"));
    let removes = graph.successful("DELETE", &format!("/groups/{ADMINS_GROUP}/members/{alice_id}/$ref"));
    assert_eq!((adds.len(), removes.len()), (1, 1));
    assert_eq!(graph.state().tokens_issued, 1, "the token is cached");
}

#[tokio::test]
async fn a_member_before_the_grant_stays_one_and_graph_is_never_asked_to_remove_them() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let graph = app.graph();
    let carol = graph.user_id(CAROL);
    let id = app.approver(CAROL).request("AzureAD-Admins", 1).await;
    app.approver(BOB).approve(&id).await;
    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!(ended["membership_outcome"], "kept_standing");
    assert!(graph.is_member(ADMINS_GROUP, &carol));
    assert!(graph.successful("DELETE", &carol).is_empty());
    // Graph's "already exist" answer to the (idempotent) add counted as success.
    assert_eq!(graph.state().calls.iter().filter(|c| c.method == "POST" && c.status == 400).count(), 1);
}

#[tokio::test]
async fn a_member_removed_by_hand_before_expiry_ends_cleanly() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let graph = app.graph();
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    graph.set_member(ADMINS_GROUP, &graph.user_id(ALICE), false);
    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!((ended["status"].as_str(), ended["membership_outcome"].as_str()), (Some("expired"), Some("removed")));
    assert_eq!(graph.count_status(404), 1, "Graph's 404 for the missing member was taken as done");
}

/// One auto-approved profile of the developers group, up to an hour: long enough that an add
/// delayed by faults still lands inside its window.
/// `n` engineers (`engineer{i}@example.com`), eligible through the Engineers group.
fn add_engineers(graph: &GraphServer, n: usize) -> Vec<String> {
    let engineers: Vec<String> = (0..n).map(|i| format!("engineer{i}@example.com")).collect();
    for upn in &engineers {
        let id = graph.add_user(upn);
        graph.state().groups.get_mut("Engineers").unwrap().1.insert(id);
    }
    engineers
}

fn hour_long_policy() -> String {
    format!(
        r#"
[profiles.Throttled]
title = "Developers, for an hour"
group = "{DEVELOPERS_GROUP}"
min_duration = "1s"
max_duration = "1h"
eligible = {{ groups = ["Engineers"] }}
approval = {{ auto_approve = true }}
"#
    )
}

#[tokio::test]
async fn with_thirty_percent_of_calls_throttled_every_grant_and_revocation_completes_once() {
    // Hour-long grants whose ends are then set to one instant: every add lands inside its
    // window however slowly the throttled calls go (a 3-second grant whose add failed all its
    // retries would rightly end before it was ever added).
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    let app = TestApp::builder().policy(&hour_long_policy()).graph(graph).spawn().await;
    let graph = app.graph();
    let engineers = add_engineers(graph, 8);
    graph.set_faults(Faults { throttle_share: 0.3, ..Default::default() });
    let mut ids = Vec::new();
    for upn in &engineers {
        ids.push(app.as_user(upn, &["requester"]).request_patiently("Throttled", 3600).await);
    }
    for id in &ids {
        app.wait_for_status(id, "active", Duration::from_secs(60)).await;
    }
    app.set_expiry(&ids, chrono::Utc::now().timestamp_millis() + 500).await;
    for id in &ids {
        let ended = app.wait_until_ended(id, Duration::from_secs(60)).await;
        assert_eq!(ended["membership_outcome"], "removed", "{ended}");
    }
    assert!(graph.count_status(429) > 0, "the test server did throttle");
    for upn in &engineers {
        let user = graph.user_id(upn);
        assert!(!graph.is_member(DEVELOPERS_GROUP, &user));
        let removes = graph.successful("DELETE", &format!("/members/{user}/$ref"));
        assert_eq!(removes.len(), 1, "{upn} removed exactly once");
    }
    let adds = graph.successful("POST", &format!("/groups/{DEVELOPERS_GROUP}/members/$ref"));
    assert_eq!(adds.len(), engineers.len(), "every membership added exactly once");
}

#[tokio::test]
async fn an_expiry_during_a_ten_second_outage_is_revoked_within_seconds_of_recovery() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let graph = app.graph();
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    let outage_end = Instant::now() + Duration::from_secs(10);
    graph.set_faults(Faults { outage_until: Some(outage_end), ..Default::default() });
    let ended = app.wait_until_ended(&id, Duration::from_secs(30)).await;
    assert!(Instant::now() >= outage_end, "nothing could be removed during the outage");
    let removed_at = graph.successful("DELETE", "/$ref").first().map(|c| c.at).expect("a successful removal");
    let after_recovery = removed_at.duration_since(outage_end);
    assert!(after_recovery < Duration::from_secs(5), "removed {after_recovery:?} after Graph came back");
    assert_eq!(ended["membership_outcome"], "removed");
    assert!(graph.count_status(503) > 0);
    let membership = format!("membership:{ADMINS_GROUP}:{}", graph.user_id(ALICE));
    let actions = app.audit_actions(&membership).await;
    assert!(actions.iter().any(|a| a == "job.attempt_failed"), "failed attempts are audited: {actions:?}");
}

async fn grant_of(app: &TestApp, request_id: &str) -> String {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.db().await;
    let grant = entity::grants::Entity::find()
        .filter(entity::grants::Column::RequestId.eq(request_id))
        .one(&db)
        .await
        .unwrap()
        .expect("a grant");
    grant.id.to_string()
}

#[tokio::test]
async fn eligibility_follows_nested_groups_and_listings_follow_paging() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let graph = app.graph();
    graph.state().page_size = 1;
    // Mallory is in SRE, and SRE is a member of Engineers: eligible transitively.
    graph.add_group("SRE", &[&graph.user_id(MALLORY)]);
    graph.state().groups.get_mut("Engineers").unwrap().1.insert("SRE".into());
    let (status, body) = app.as_user(MALLORY, &["requester"]).try_request("AzureAD-Admins", 60, json!({})).await;
    assert_eq!(status, 201, "{body}");
    // TwoStage needs two approvers besides the requester: found across two pages of members.
    let (status, body) = app.engineer().try_request("TwoStage", 60, json!({})).await;
    assert_eq!(status, 201, "{body}");
    let paged = graph.state().calls.iter().filter(|c| c.path.ends_with("/members") && c.method == "GET").count();
    assert!(paged >= 2, "the members listing was read page by page ({paged} calls)");
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_and_the_call_goes_through() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let graph = app.graph();
    let first = app.engineer().request("AzureAD-Admins", 60).await;
    graph.revoke_tokens();
    app.approver(BOB).approve(&first).await;
    app.wait_for_status(&first, "active", Duration::from_secs(5)).await;
    assert_eq!(graph.state().tokens_issued, 2);
    assert_eq!(graph.count_status(401), 1);
}

fn graph_config(dir: &std::path::Path, graph: &GraphServer, secret: &str, tenant: &str) -> std::path::PathBuf {
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let cfg = dir.join("elevate.toml");
    let text = format!(
        "[policy]\npath = \"{}\"\n[auth]\ntoken_secret = \"{SECRET}\"\n[database]\nurl = \"sqlite://{}?mode=rwc\"\n\
         [directory]\nkind = \"graph\"\n[graph]\ntenant_id = \"{tenant}\"\nclient_id = \"{}\"\nclient_secret = \"{secret}\"\n\
         authority_url = \"{}\"\nbase_url = \"{}\"\n",
        policy.display(),
        dir.join("e.db").display(),
        elevate_tests::graph_server::CLIENT_ID,
        graph.authority_url,
        graph.base_url
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// Runs the binary without blocking the runtime that serves the Graph test server.
async fn elevate(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(binary()).args(args).current_dir(dir).output().await.unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn bad_credentials_stop_start_up_and_directory_check_shows_what_works() {
    let graph = GraphServer::start().await;
    graph.add_user(ALICE);
    for (g, _) in GROUPS {
        graph.add_group(g, &[]);
    }
    let dir = tempfile::tempdir().unwrap();
    let tenant = elevate_tests::graph_server::TENANT;
    let good = elevate_tests::graph_server::CLIENT_SECRET;

    let cfg = graph_config(dir.path(), &graph, "wrong-secret", tenant);
    let (ok, out) = elevate(dir.path(), &["--config", cfg.to_str().unwrap(), "serve"]).await;
    assert!(!ok && out.contains("AADSTS7000215") && out.contains("Microsoft Graph"), "{out}");
    assert!(!out.contains("wrong-secret"), "the secret is never printed: {out}");

    let cfg = graph_config(dir.path(), &graph, good, "00000000-0000-0000-0000-000000000000");
    let (ok, out) = elevate(dir.path(), &["--config", cfg.to_str().unwrap(), "directory", "check"]).await;
    assert!(!ok && out.contains("AADSTS90002"), "{out}");

    let cfg = graph_config(dir.path(), &graph, good, tenant);
    let (ok, out) =
        elevate(dir.path(), &["--config", cfg.to_str().unwrap(), "directory", "check", "--user", ALICE]).await;
    assert!(!ok, "the Orphaned profile's group is missing: {out}");
    assert!(out.contains("credentials: ok"), "{out}");
    assert!(out.contains(&format!("group {ADMINS_GROUP} ({ADMINS_GROUP}), mapped by AzureAD-Admins: ok")), "{out}");
    assert!(out.contains("group Deleted-Group, mapped by Orphaned: FAILED"), "{out}");
    assert!(out.contains(&format!("user {ALICE}: ok")), "{out}");
    graph.add_group("Deleted-Group", &[]);
    let (ok, out) =
        elevate(dir.path(), &["--config", cfg.to_str().unwrap(), "directory", "check", "--user", "nobody@example.com"])
            .await;
    assert!(!ok && out.contains("user nobody@example.com: FAILED"), "{out}");
}

#[tokio::test]
async fn reconciliation_reports_or_removes_drift_and_restores_a_missing_grant() {
    let app = TestApp::builder().graph(GraphServer::start().await).worker("reconcile_interval = \"1s\"").spawn().await;
    let graph = app.graph();
    let mallory = graph.user_id(MALLORY);
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    // By hand, behind Elevate's back: Mallory into both groups, Alice out of hers.
    graph.set_member(ADMINS_GROUP, &mallory, true);
    graph.set_member(DEVELOPERS_GROUP, &mallory, true);
    graph.set_member(ADMINS_GROUP, &graph.user_id(ALICE), false);

    let deadline = Instant::now() + Duration::from_secs(15);
    while graph.is_member(DEVELOPERS_GROUP, &mallory) || !graph.is_member(ADMINS_GROUP, &graph.user_id(ALICE)) {
        assert!(Instant::now() < deadline, "reconciliation did not act");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(graph.is_member(ADMINS_GROUP, &mallory), "report mode leaves the member in place");
    assert!(graph.is_member(ADMINS_GROUP, &graph.user_id(CAROL)), "a permanent member is not drift");

    // Several more passes: report mode says it once, not on every pass.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let admins = app.audit_events(&format!("group:{ADMINS_GROUP}")).await;
    let found: Vec<_> =
        admins.iter().filter(|e| e["action"] == "drift.found").map(|e| e["details"]["user"].clone()).collect();
    assert_eq!(found, [json!(MALLORY)], "{admins:?}");
    assert!(admins.iter().all(|e| e["action"] != "drift.removed"));
    let (_, metrics) = app.get_raw("/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains(&format!("elevate_drift_found_total{{group=\"{ADMINS_GROUP}\",mode=\"report\"}} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("elevate_drift_found_total{{group=\"{DEVELOPERS_GROUP}\",mode=\"enforce\"}}")),
        "{metrics}"
    );
    app.wait_for_audit(&format!("group:{DEVELOPERS_GROUP}"), "drift.removed", 1).await;
    app.wait_for_audit(&format!("request:{id}"), "membership.restored", 1).await;
    let developers = app.audit_actions(&format!("group:{DEVELOPERS_GROUP}")).await;
    assert!(
        developers.contains(&"drift.found".to_owned()) && developers.contains(&"drift.removed".to_owned()),
        "{developers:?}"
    );
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert!(
        actions.contains(&"drift.missing".to_owned()) && actions.contains(&"membership.restored".to_owned()),
        "{actions:?}"
    );
}

/// A self-signed certificate and key made with openssl: (combined PEM, x5t#S256, public key PEM).
fn certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String, String) {
    use base64::Engine;
    use sha2::Digest;
    let (key, cert) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.crt")));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=elevate-test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let public =
        std::process::Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in"]).arg(&cert).output().unwrap();
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let b64: String = cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
    let combined = dir.join(format!("{name}.pem"));
    std::fs::write(&combined, format!("{cert_pem}{}", std::fs::read_to_string(&key).unwrap())).unwrap();
    (combined, thumbprint, String::from_utf8(public.stdout).unwrap())
}

#[tokio::test]
async fn a_certificate_credential_signs_a_client_assertion_entra_accepts() {
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    let dir = tempfile::tempdir().unwrap();
    let (registered, thumbprint, public_key) = certificate(dir.path(), "registered");
    graph.trust_certificate(&thumbprint, &public_key);
    let (stranger, _, _) = certificate(dir.path(), "stranger");
    let tenant = elevate_tests::graph_server::TENANT;

    let cfg = graph_config(dir.path(), &graph, "unused", tenant);
    let with_cert = |pem: &std::path::Path| {
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("client_secret = \"unused\"", &format!("certificate_file = \"{}\"", pem.display()));
        std::fs::write(&cfg, text).unwrap();
    };
    with_cert(&stranger);
    let (ok, out) = elevate(dir.path(), &["--config", cfg.to_str().unwrap(), "directory", "check"]).await;
    assert!(!ok && out.contains("AADSTS700027"), "an unregistered certificate is refused: {out}");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg).unwrap().replace(stranger.to_str().unwrap(), registered.to_str().unwrap()),
    )
    .unwrap();
    let (ok, out) =
        elevate(dir.path(), &["--config", cfg.to_str().unwrap(), "directory", "check", "--user", ALICE]).await;
    assert!(out.contains("credentials: ok") && out.contains(&format!("user {ALICE}: ok")), "{out}");
    assert!(!ok, "only the Orphaned profile's missing group fails: {out}");
    assert_eq!(graph.state().tokens_issued, 1);
}

fn provisioning() -> String {
    use elevate_tests::graph_server::{PROVISIONING_JOB, PROVISIONING_RULE, PROVISIONING_SP};
    format!(
        "[graph.provisioning]\nservice_principal_id = \"{PROVISIONING_SP}\"\njob_id = \"{PROVISIONING_JOB}\"\nrule_id = \"{PROVISIONING_RULE}\"\n"
    )
}

#[tokio::test]
async fn membership_changes_are_provisioned_on_demand_without_waiting_for_the_cycle() {
    let app = TestApp::builder().graph(GraphServer::start().await).config(&provisioning()).spawn().await;
    let graph = app.graph();
    let alice = graph.user_id(ALICE);
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    app.wait_until_ended(&id, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while graph.state().provisioned.len() < 2 {
        assert!(Instant::now() < deadline, "provisioned: {:?}", graph.state().provisioned);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pushed = graph.state().provisioned.clone();
    assert_eq!(
        pushed,
        [(ADMINS_GROUP.to_owned(), alice.clone()), (ADMINS_GROUP.to_owned(), alice)],
        "after the add and after the removal"
    );
    app.wait_for_audit(&format!("request:{id}"), "membership.provisioned", 2).await;
}

#[tokio::test]
async fn a_failing_provisioning_push_never_blocks_the_grant() {
    let app = TestApp::builder()
        .graph(GraphServer::start().await)
        .worker("max_attempts = 2")
        .config(&provisioning())
        .spawn()
        .await;
    let graph = app.graph();
    graph.state().provisioning_forbidden = true;
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!(ended["membership_outcome"], "removed");
    assert!(graph.state().provisioned.is_empty());
    let grant = grant_of(&app, &id).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let failed = app.audit_events(&format!("grant:{grant}")).await;
        if failed.iter().any(|e| e["details"]["kind"] == "provision_now" && e["details"]["final"] == true) {
            break;
        }
        assert!(Instant::now() < deadline, "the push was neither retried nor given up: {failed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_token_is_refreshed_before_it_expires_not_after_a_refusal() {
    let graph = GraphServer::start().await;
    graph.state().token_lifetime_secs = 3;
    let app = TestApp::builder().graph(graph).spawn().await;
    let graph = app.graph();
    // An approver reading a request is authorized by asking Graph each time (the catalog
    // would be answered from the display cache).
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let (status, body) = app.approver(BOB).get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(graph.state().tokens_issued >= 2, "a new token was fetched as the first neared its end");
    assert_eq!(graph.count_status(401), 0, "Graph never saw an expired token");
}

#[tokio::test]
async fn calls_to_graph_stay_within_max_concurrency_during_a_mass_expiry() {
    let graph = GraphServer::start().await;
    let app = TestApp::builder().graph(graph).spawn().await;
    let graph = app.graph();
    let engineers = add_engineers(graph, 12);
    let mut ids = Vec::new();
    for upn in &engineers {
        ids.push(app.as_user(upn, &["requester"]).request("AzureAD-Developers", 2).await);
    }
    graph.set_faults(Faults { latency: Duration::from_millis(150), ..Default::default() });
    for id in &ids {
        let ended = app.wait_until_ended(id, Duration::from_secs(30)).await;
        assert_eq!(ended["membership_outcome"], "removed");
    }
    let max = graph.state().max_in_flight;
    assert!(max <= 4, "graph.max_concurrency = 4, yet {max} calls ran at once");
    assert!(max >= 2, "the removals did run side by side ({max})");
}

#[tokio::test]
async fn removals_waiting_for_a_graph_slot_go_out_together_in_one_batch() {
    // Twelve syncs (worker.concurrency 16) share two Graph slots: those that wait for a slot
    // go out in `$batch` requests, and each removal is still carried out once.
    let graph = GraphServer::start().await;
    let app = TestApp::builder()
        .policy(&hour_long_policy())
        .graph(graph)
        .graph_slots(2)
        .worker("concurrency = 16")
        .spawn()
        .await;
    let graph = app.graph();
    let engineers = add_engineers(graph, 12);
    let mut ids = Vec::new();
    for upn in &engineers {
        ids.push(app.as_user(upn, &["requester"]).request("Throttled", 3600).await);
    }
    for id in &ids {
        app.wait_for_status(id, "active", Duration::from_secs(30)).await;
    }
    graph.set_faults(Faults { latency: Duration::from_millis(200), ..Default::default() });
    app.set_expiry(&ids, now_ms()).await;
    for id in &ids {
        let ended = app.wait_until_ended(id, Duration::from_secs(30)).await;
        assert_eq!(ended["membership_outcome"], "removed");
    }
    let s = graph.state();
    assert!(s.batches >= 1 && s.batched_requests >= 2, "{} batches carried {} requests", s.batches, s.batched_requests);
    assert!(s.max_in_flight <= 2, "graph.max_concurrency = 2, yet {} requests ran at once", s.max_in_flight);
    drop(s);
    for upn in &engineers {
        let (added, removed) = graph.membership_changes(DEVELOPERS_GROUP, &graph.user_id(upn));
        assert_eq!((added, removed), (1, 1), "{upn} added and removed once");
    }
}

#[tokio::test]
async fn with_the_write_quota_spent_removals_land_first_and_no_write_is_refused_twice() {
    // Another application has spent the tenant's write quota: Graph's bucket is empty and
    // refills at its documented 3,000 writes per 150 s. Thirty grants end at once while five
    // start. Removals (high priority) go as soon as tokens come back; additions wait until a
    // tenth of the bucket is back; Elevate paces itself from the first refusal on, so Graph
    // refuses each write at most once instead of a storm of retries.
    let graph = GraphServer::start().await;
    let app = TestApp::builder().policy(&hour_long_policy()).graph(graph).spawn().await;
    let graph = app.graph();
    let engineers = add_engineers(graph, 35);
    let mut ending = Vec::new();
    for upn in &engineers[..30] {
        ending.push(app.as_user(upn, &["requester"]).request("Throttled", 3600).await);
    }
    for id in &ending {
        app.wait_for_status(id, "active", Duration::from_secs(30)).await;
    }
    graph.set_faults(Faults { write_quota: Some(WriteQuota::GRAPH), ..Default::default() });
    graph.spend_write_quota();
    app.set_expiry(&ending, now_ms()).await;
    let mut starting = Vec::new();
    for upn in &engineers[30..] {
        starting.push(app.as_user(upn, &["requester"]).request("Throttled", 3600).await);
    }
    // The other application goes on writing until Graph refuses one of Elevate's writes: on a
    // busy machine Elevate's first writes could otherwise trickle out slower than the bucket
    // refills, and nothing would be refused (the case under test would not happen).
    let spending = Instant::now();
    while graph.count_status(429) == 0 {
        assert!(spending.elapsed() < Duration::from_secs(60), "no write of Elevate's reached Graph in 60 s");
        graph.spend_write_quota();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for id in &ending {
        let ended = app.wait_until_ended(id, Duration::from_secs(60)).await;
        assert_eq!(ended["membership_outcome"], "removed");
    }
    for id in &starting {
        app.wait_for_status(id, "active", Duration::from_secs(90)).await;
    }
    let landed = |upns: &[String], added: bool| -> Vec<Instant> {
        upns.iter()
            .flat_map(|upn| graph.membership_history(DEVELOPERS_GROUP, &graph.user_id(upn)))
            .filter(|(a, _)| *a == added)
            .map(|(_, at)| at)
            .collect()
    };
    let last_removal = landed(&engineers[..30], false).into_iter().max().expect("removals");
    let first_addition = landed(&engineers[30..], true).into_iter().min().expect("additions");
    assert!(last_removal < first_addition, "every removal landed before the additions that waited with them");
    let refused = graph.count_status(429);
    assert!(refused <= 35, "35 writes, {refused} refusals: no write was refused twice");
}

#[tokio::test]
async fn a_retry_after_past_all_reason_delays_an_add_no_longer_than_backoff_max() {
    // Graph's answer asks for 2^64 - 1 seconds: it overflowed the clock once; now the wait is
    // bounded by worker.backoff_max (2 s in the tests' configuration), so the add lands soon
    // after Graph relents.
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    let app = TestApp::builder().policy(&hour_long_policy()).graph(graph).spawn().await;
    let graph = app.graph();
    graph.set_faults(Faults {
        throttle_share: 1.0,
        throttle_writes_only: true,
        retry_after: Some("18446744073709551615".into()),
        ..Default::default()
    });
    let id = app.engineer().request("Throttled", 3600).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !graph.state().calls.iter().any(|c| c.status == 429) {
        assert!(Instant::now() < deadline, "Graph was never asked to add");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    graph.set_faults(Faults::default());
    // Capped at the 5-minute Retry-After ceiling alone, the add would wait 300 s.
    app.wait_for_status(&id, "active", Duration::from_secs(30)).await;
    assert!(app.is_member(DEVELOPERS_GROUP, ALICE).await);
    assert_eq!(app.admin().get("/api/v1/requests").await.0, 200, "still answering");
}

#[tokio::test]
async fn reloading_the_inbox_does_not_spend_graph_calls_but_deciding_asks_afresh() {
    let graph = GraphServer::start().await;
    seed_graph(&graph);
    let app = TestApp::builder().graph(graph).spawn().await;
    let graph = app.graph();
    let mut ids = Vec::new();
    for i in 0..20 {
        let upn = format!("engineer{i}@example.com");
        let id = graph.add_user(&upn);
        graph.state().groups.get_mut("Engineers").unwrap().1.insert(id);
        ids.push(app.as_user(&upn, &["requester"]).request("AzureAD-Admins", 600).await);
    }
    let bob = app.approver(BOB);
    let calls_before = graph.state().calls.len();
    for _ in 0..50 {
        let (status, inbox) = bob.get("/api/v1/approvals").await;
        assert_eq!(status, 200, "{inbox}");
        assert_eq!(inbox["items"].as_array().map(Vec::len), Some(20), "{inbox}");
    }
    let calls = graph.state().calls.len() - calls_before;
    // Bob's user and groups, once (again only after directory.display_cache_ttl; the rest is
    // room for the worker's own calls meanwhile). Asked per request and per load, it was
    // 2 calls × 20 requests × 50 loads = 2,000.
    println!("{calls} Graph calls for 50 loads of an inbox of 20");
    assert!(calls <= 20, "{calls} Graph calls for 50 loads of an inbox of 20");

    // Bob leaves the approvers: the inbox may show his cached view for a while, but a
    // decision asks the directory and is refused at once.
    let bob_id = graph.user_id(BOB);
    graph.state().groups.get_mut("Approvers").unwrap().1.remove(&bob_id);
    let (status, body) = bob.act(&ids[0], "approve").await;
    assert_problem(status, &body, 403, None);
    // And that fresh answer is what the inbox shows from then on.
    let (_, inbox) = bob.get("/api/v1/approvals").await;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(0), "{inbox}");
}

/// Alice's row in Elevate's record of users: display name and when it was last written.
async fn recorded_alice(app: &TestApp) -> (String, i64) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.db().await;
    let row = entity::users::Entity::find()
        .filter(entity::users::Column::Upn.eq(ALICE))
        .one(&db)
        .await
        .expect("users query")
        .expect("the filing recorded Alice");
    db.close().await.ok();
    (row.display_name, row.updated_at)
}

#[tokio::test]
async fn a_filing_records_a_user_renamed_in_the_directory_and_leaves_an_unchanged_one_alone() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let graph = app.graph();
    app.engineer().request("AzureAD-Admins", 60).await;
    let (first_name, first_written) = recorded_alice(&app).await;
    assert_eq!(first_name, "alice");

    // Unchanged in the directory: the next filing does not write the row again. (It files
    // 20 ms later, so a rewrite would show in `updated_at`, kept to the millisecond.)
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.engineer().request("AzureAD-Developers", 5).await;
    assert_eq!(recorded_alice(&app).await, (first_name, first_written));

    let alice_id = graph.user_id(ALICE);
    graph.state().users.get_mut(&alice_id).expect("Alice in the directory").display_name = "Alice Liddell".into();
    app.engineer().request("AzureAD-Admins", 60).await;
    let (renamed, written) = recorded_alice(&app).await;
    assert_eq!(renamed, "Alice Liddell");
    assert!(written > first_written, "rewritten at {written}, first written at {first_written}");
}
