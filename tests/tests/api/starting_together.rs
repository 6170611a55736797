//! Replicas, the CLI and the test harness start at the same instant on fresh databases in
//! real deployments: migrations are taken in turns, commands that do not migrate wait for the
//! schema, and a command against a database nobody migrates says what to do.
use std::{path::Path, process::Stdio, time::Duration};

use tokio::process::Command;

use crate::helpers::{POLICY, binary, fresh_config, launch};

fn cli(config: &Path, dir: &Path, args: &[&str]) -> tokio::process::Child {
    Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ELEVATE_TEST_POSTGRES_URL")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs")
}

/// Three `serve` and five CLI commands at the same instant on a fresh database (PostgreSQL
/// with `on_postgres`; the replica tests run that one).
pub async fn all_start_together(on_postgres: bool) {
    let (dir, config) = fresh_config(POLICY, on_postgres).await;
    let commands: [&[&str]; 5] = [
        &["migrate"],
        &["migrate"],
        &["token", "issue", "--subject", "alice@example.com"],
        &["token", "issue", "--subject", "bob@example.com", "--role", "approver"],
        &["audit", "verify"],
    ];
    let logs: Vec<String> = (1..=3).map(|n| format!("serve-{n}.log")).collect();
    let children: Vec<_> = commands.iter().map(|args| cli(&config, dir.path(), args)).collect();
    let servers = futures_util::future::join_all(logs.iter().map(|log| launch(&config, dir.path(), log, &[])));
    let outputs = futures_util::future::join_all(children.into_iter().map(|c| c.wait_with_output()));
    let (servers, outputs) = tokio::time::timeout(Duration::from_secs(90), async { tokio::join!(servers, outputs) })
        .await
        .expect("everything started within 90 s");
    for (n, server) in servers.into_iter().enumerate() {
        let log = std::fs::read_to_string(dir.path().join(format!("serve-{}.log", n + 1))).unwrap_or_default();
        let (address, _child) = server.unwrap_or_else(|e| panic!("server {} did not start: {e}\n{log}", n + 1));
        let ready = reqwest::get(format!("{address}/readyz")).await.expect("the server answers");
        assert_eq!(ready.status(), 200, "server {} is ready", n + 1);
    }
    for (args, output) in commands.iter().zip(outputs) {
        let output = output.expect("the command ran");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "`elevate {}` failed: {stderr}", args.join(" "));
    }
}

#[tokio::test]
async fn three_servers_and_the_cli_started_together_on_a_fresh_sqlite_file_all_succeed() {
    all_start_together(false).await;
}

#[tokio::test]
async fn a_command_on_a_database_nobody_migrated_says_to_run_migrate_and_writes_nothing() {
    let (dir, config) = fresh_config(POLICY, false).await;
    let started = std::time::Instant::now();
    let output = cli(&config, dir.path(), &["audit", "verify"]).wait_with_output().await.expect("the command ran");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run `elevate migrate`"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "it gave up waiting for a migration in time");
    let output = cli(&config, dir.path(), &["migrate"]).wait_with_output().await.expect("the command ran");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = cli(&config, dir.path(), &["audit", "verify"]).wait_with_output().await.expect("the command ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("0 event(s)"), "verify wrote nothing: {stdout}");
}
