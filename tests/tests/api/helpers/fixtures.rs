//! What every test starts from: the people, the policy, the directory (local or the Graph
//! test server), the configuration, and a fresh database.
use std::path::{Path, PathBuf};

use anyhow::Context;
use elevate_tests::graph_server::{CLIENT_ID, CLIENT_SECRET, GraphServer, TENANT};
use sea_orm::{ConnectionTrait, Database};

/// Credentials for moto, through the standard AWS chain (environment variables).
pub const AWS_TEST_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_REGION", "us-east-1"),
];

pub const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
pub const ADMINS_GROUP: &str = "AWS-Account1-Administrators";
pub const DEVELOPERS_GROUP: &str = "AWS-Account1-Developers";

pub const ALICE: &str = "alice@example.com"; // engineer
pub const BOB: &str = "bob@example.com"; // approver, also an engineer
pub const CAROL: &str = "carol@example.com"; // approver, standing member of the admins group
pub const DAVE: &str = "dave@example.com"; // admin and auditor
pub const ERIN: &str = "erin@example.com"; // second-stage approver
pub const MALLORY: &str = "mallory@example.com"; // in the directory, eligible for nothing
pub const BOT: &str = "chatops-bot@example.com";

pub const POLICY: &str = r#"
[profiles.AzureAD-Admins]
title = "Account 1 administrators"
aws_account = "123456789012"
aws_role_arn = "arn:aws:iam::123456789012:role/AzureAD-Admins"
group = "AWS-Account1-Administrators"
min_duration = "1s"
default_duration = "1h"
max_duration = "8h"
require_justification = true
eligible = { groups = ["Engineers"], users = ["carol@example.com"] }
approval = { groups = ["Approvers"], approvals_required = 1 }
permanent_members = ["carol@example.com"]

[profiles.AzureAD-Developers]
title = "Account 1 developers"
aws_role_arn = "arn:aws:iam::123456789012:role/AzureAD-Developers"
revoke_sessions = true
group = "AWS-Account1-Developers"
min_duration = "1s"
default_duration = "2s"
max_duration = "10s"
eligible = { groups = ["Engineers"] }
approval = { auto_approve = true }
reconcile = "enforce"

[profiles.TwoStage]
title = "Production break-glass with two stages"
group = "Prod-Admins"
min_duration = "1s"
max_duration = "1h"
eligible = { groups = ["Engineers"] }
approval = { groups = ["Approvers"], approvals_required = 2, second_stage = { users = ["erin@example.com"] } }

[profiles.Sensitive]
title = "Needs a recent multi-factor sign-in"
group = "Prod-Admins"
min_duration = "60s"
max_duration = "1h"
require_mfa = true
eligible = { groups = ["Engineers"] }
approval = { auto_approve = true }

[profiles.Orphaned]
title = "Maps to a group the directory does not have"
group = "Deleted-Group"
min_duration = "1s"
max_duration = "1h"
eligible = { users = ["alice@example.com"] }
approval = { auto_approve = true }

[profiles.Ticketed]
title = "Needs a ticket"
group = "Ticketed-Group"
min_duration = "60s"
max_duration = "2h"
require_justification = true
require_ticket = true
decision_timeout = "2s"
eligible = { groups = ["Engineers"] }
approval = { users = ["bob@example.com"] }
"#;

/// The users and groups every test starts with, as (group, members).
pub const USERS: [&str; 6] = [ALICE, BOB, CAROL, DAVE, ERIN, MALLORY];
pub const GROUPS: [(&str, &[&str]); 6] = [
    ("Engineers", &[ALICE, BOB]),
    ("Approvers", &[BOB, CAROL]),
    (ADMINS_GROUP, &[CAROL]),
    (DEVELOPERS_GROUP, &[]),
    ("Prod-Admins", &[]),
    ("Ticketed-Group", &[]),
];

pub(super) fn local_directory() -> String {
    let users: Vec<String> = USERS.iter().map(|u| format!("{{ upn = \"{u}\" }}")).collect();
    let groups: Vec<String> = GROUPS
        .iter()
        .map(|(g, members)| {
            let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
            format!("{{ id = \"{g}\", members = [{}] }}", members.join(", "))
        })
        .collect();
    format!("[directory]\nkind = \"local\"\nusers = [{}]\ngroups = [{}]\n", users.join(", "), groups.join(", "))
}

/// Gives the Graph test server the users and groups every test starts with.
pub fn seed_graph(graph: &GraphServer) {
    for u in USERS {
        graph.add_user(u);
    }
    for (g, members) in GROUPS {
        let ids: Vec<String> = members.iter().map(|m| graph.user_id(m)).collect();
        graph.add_group(g, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

pub(super) fn graph_directory(graph: &GraphServer, max_concurrency: usize) -> String {
    seed_graph(graph);
    format!(
        r#"[directory]
kind = "graph"
[graph]
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
authority_url = "{}"
base_url = "{}"
max_concurrency = {max_concurrency}
max_retries = 3
timeout = "10s"
"#,
        graph.authority_url, graph.base_url
    )
}

pub(super) fn config(db_url: &str, policy: &Path, directory: &str, worker: &str, auth: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
[database]
url = "{db_url}"
max_connections = 5
[policy]
path = "{policy}"
[auth]
token_secret = "{SECRET}"
admins = {{ users = ["{DAVE}"] }}
auditors = {{ users = ["{DAVE}"] }}
{auth}
[worker]
sweep_schedule = "* * * * * *"
backoff_base = "200ms"
backoff_max = "2s"
{worker}
[log]
level = "info"
{directory}
"#,
        policy = policy.display()
    )
}

/// Which database the suite runs against (`ELEVATE_TEST_DB`).
fn postgres_admin_url() -> Option<String> {
    match std::env::var("ELEVATE_TEST_DB").as_deref() {
        Ok("postgres") => Some(postgres_url()),
        _ => None,
    }
}

fn postgres_url() -> String {
    std::env::var("ELEVATE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub(super) async fn fresh_database(dir: &Path, on_postgres: bool) -> anyhow::Result<String> {
    let admin_url = postgres_admin_url().or_else(|| on_postgres.then(postgres_url));
    let Some(admin_url) = admin_url else {
        return Ok(format!("sqlite://{}?mode=rwc", dir.join("elevate.db").display()));
    };
    let name = format!("elevate_t_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await.context("connecting to PostgreSQL")?;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    admin.close().await?;
    let (base, _) = admin_url.rsplit_once('/').context("PostgreSQL URL without a database")?;
    Ok(format!("{base}/{name}"))
}

pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("ELEVATE_BIN") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/elevate");
    assert!(path.exists(), "{} missing: run `cargo build -p elevate` first (scripts/test does)", path.display());
    path
}

/// A configuration on a fresh database (SQLite, or PostgreSQL with `on_postgres` or under
/// `ELEVATE_TEST_DB=postgres`) with the local directory, for tests that start processes
/// themselves; returns the folder and the configuration's path.
pub async fn fresh_config(policy_text: &str, on_postgres: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, policy_text).expect("the policy is written");
    let db_url = fresh_database(dir.path(), on_postgres).await.expect("a fresh database");
    let config_path = dir.path().join("elevate.toml");
    let text = config(&db_url, &policy, &local_directory(), "reconcile_interval = \"1h\"", "");
    std::fs::write(&config_path, text).expect("the configuration is written");
    (dir, config_path)
}
