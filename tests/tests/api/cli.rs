//! The command line and start-up: policy check, configuration errors, tokens, migrations,
//! health, and the OpenAPI document.
use std::process::Command;

use crate::helpers::*;

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args).current_dir(dir).env_remove("ELEVATE_TEST_POSTGRES_URL").env_remove("ELEVATE_TEST_DB");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn policy_check_accepts_a_good_policy_and_names_file_line_and_key_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, POLICY).unwrap();
    let (ok, out) = run(dir.path(), &["policy", "check", good.to_str().unwrap()], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("OK, 6 profile(s)"), "{out}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, POLICY.replace(r#"max_duration = "8h""#, r#"max_duration = "eight hours""#)).unwrap();
    let (ok, out) = run(dir.path(), &["policy", "check", bad.to_str().unwrap()], &[]);
    assert!(!ok);
    let line = POLICY.lines().position(|l| l.contains(r#"max_duration = "8h""#)).unwrap() + 1;
    assert!(out.contains(&format!("bad.toml:{line}: profiles.AzureAD-Admins.max_duration")), "{out}");

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policy.example.toml");
    let (ok, out) = run(dir.path(), &["policy", "check", example.to_str().unwrap()], &[]);
    assert!(ok && out.contains("OK, 2 profile(s)"), "the documented example is valid: {out}");

    let (ok, out) = run(dir.path(), &["policy", "check", "missing.toml"], &[]);
    assert!(!ok && out.contains("missing.toml") && out.contains("cannot read"), "{out}");
}

#[test]
fn configuration_errors_name_the_key_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let cfg = dir.path().join("elevate.toml");
    let write = |text: &str| std::fs::write(&cfg, text).unwrap();
    let serve = |env: &[(&str, &str)]| run(dir.path(), &["--config", cfg.to_str().unwrap(), "serve"], env);

    write(&format!("[policy]\npath = \"{}\"\n[server]\nbind = \"127.0.0.1:0\"\n", policy.display()));
    let (ok, out) = serve(&[]);
    assert!(!ok && out.contains("auth.token_secret"), "{out}");

    write(&format!("[policy]\npath = \"{}\"\n[auth]\ntoken_secret = \"{SECRET}\"\nfoo = 1\n", policy.display()));
    let (ok, out) = serve(&[]);
    assert!(!ok && out.contains("foo"), "{out}");

    write(&format!("[policy]\npath = \"{}\"\n[auth]\ntoken_secret = \"{SECRET}\"\n", policy.display()));
    let (ok, out) = serve(&[("ELEVATE_SERVER__BIND", "not-an-address")]);
    assert!(!ok && out.to_lowercase().contains("server.bind"), "{out}");
    let (ok, out) = serve(&[("ELEVATE_DATABASE__URL", "mysql://root:hunter2@db/x")]);
    assert!(!ok && out.contains("database.url") && !out.contains("hunter2"), "{out}");
    let (ok, out) = serve(&[("ELEVATE_WORKER__CONCURRENCY", "0")]);
    assert!(!ok && out.contains("worker.concurrency"), "{out}");

    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "short\n").unwrap();
    write(&format!(
        "[policy]\npath = \"{}\"\n[auth]\ntoken_secret_file = \"{}\"\n",
        policy.display(),
        secret_file.display()
    ));
    let (ok, out) = serve(&[]);
    assert!(!ok && out.contains("at least 32 bytes") && !out.contains("short"), "{out}");

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/elevate.example.toml");
    let (ok, out) = run(dir.path(), &["--config", example.to_str().unwrap(), "migrate"], &[]);
    assert!(ok && out.contains("migrations applied"), "the documented example configuration loads: {out}");

    let (ok, out) = run(dir.path(), &["--config", "nope.toml", "serve"], &[]);
    assert!(!ok && out.contains("nope.toml"), "{out}");
}

#[tokio::test]
async fn an_issued_token_works_against_the_api_and_is_audited() {
    let app = TestApp::spawn().await;
    let out = app.cli(&["token", "issue", "--subject", ALICE, "--role", "requester", "--ttl", "1h"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (status, body) = app.get_raw("/api/v1/profiles", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.audit_actions(&format!("user:{ALICE}")).await, ["token.issued"]);

    let out = app.cli(&["token", "issue", "--subject", ALICE, "--role", "root"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--role"));
}

#[tokio::test]
async fn health_readiness_migrate_and_the_openapi_document() {
    let app = TestApp::spawn().await;
    let (status, _) = app.get_raw("/healthz", None).await;
    assert_eq!(status, 200);
    let (status, body) = app.get_raw("/readyz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    let out = app.cli(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (status, doc) = app.get_raw("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/requests",
        "/api/v1/requests/{id}/approve",
        "/api/v1/requests/{id}/extend",
        "/api/v1/approvals",
        "/api/v1/audit",
        "/api/v1/profiles",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn the_demo_walks_a_request_from_pending_to_expired_and_refuses_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(dir.path(), &["demo", "--bind", "0.0.0.0:0"], &[]);
    assert!(!ok && out.contains("loopback"), "{out}");

    let mut child = tokio::process::Command::new(binary())
        .args(["demo", "--bind", "127.0.0.1:0", "--dir"])
        .arg(dir.path().join("demo"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut printed = Vec::new();
    let finished = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            printed.push(line.clone());
            if let Some(step) = line.strip_prefix("walkthrough: ") {
                seen.push(step.to_owned());
                if step.starts_with("membership") {
                    return true;
                }
            }
        }
        false
    })
    .await;
    child.kill().await.ok();
    assert_eq!(finished, Ok(true), "{seen:?}");
    let text = seen.join("\n");
    for expected in ["is \"pending\"", "status active", "status expired", "membership \"removed\""] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // It prints a command line to try, naming this very binary.
    let cli_line = format!("{} request new AzureAD-Admins --for 30s", binary().canonicalize().unwrap().display());
    assert!(printed.iter().any(|l| l.contains(&cli_line)), "{cli_line} missing from:\n{}", printed.join("\n"));
}
