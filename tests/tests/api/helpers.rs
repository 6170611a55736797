//! The test harness: `TestApp::spawn()` starts the real `elevate` binary on a random port
//! with its own database (a fresh SQLite file, or a fresh PostgreSQL database when
//! `ELEVATE_TEST_DB=postgres`), and helpers that speak the domain's language.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use elevate_tests::graph_server::{CLIENT_ID, CLIENT_SECRET, GraphServer, TENANT};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

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

fn local_directory() -> String {
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

fn graph_directory(graph: &GraphServer) -> String {
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
max_concurrency = 4
max_retries = 3
timeout = "10s"
"#,
        graph.authority_url, graph.base_url
    )
}

fn config(db_url: &str, policy: &Path, directory: &str, worker: &str, auth: &str) -> String {
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

async fn fresh_database(dir: &Path, on_postgres: bool) -> anyhow::Result<String> {
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

pub struct TestApp {
    pub address: String,
    pub db_url: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The Graph test server, when the app runs with `directory.kind = "graph"`.
    pub graph: Option<GraphServer>,
    http: reqwest::Client,
    child: Option<Child>,
}

impl TestApp {
    /// The app with its built-in (local) directory.
    pub async fn spawn() -> Self {
        Self::try_spawn(POLICY, None, "", "", false).await.expect("the app should start")
    }

    /// The app with `directory.kind = "graph"`, against a fresh Graph test server.
    pub async fn spawn_with_graph() -> Self {
        Self::try_spawn(POLICY, Some(GraphServer::start().await), "", "", false).await.expect("the app should start")
    }

    /// The app with its local directory, extra `[worker]` settings, and extra configuration
    /// at the end (e.g. `[aws]`).
    pub async fn spawn_with(worker: &str, extra: &str) -> Self {
        Self::try_spawn(POLICY, None, worker, extra, false).await.expect("the app should start")
    }

    /// The app against a Graph test server the test has prepared.
    pub async fn spawn_on(graph: GraphServer) -> Self {
        Self::try_spawn(POLICY, Some(graph), "", "", false).await.expect("the app should start")
    }

    /// Like `spawn_with_graph`, with extra `[worker]` settings and extra configuration at the
    /// end of `[graph]` (TOML lines).
    pub async fn spawn_with_graph_and(worker: &str, graph_extra: &str) -> Self {
        Self::try_spawn(POLICY, Some(GraphServer::start().await), worker, graph_extra, false)
            .await
            .expect("the app should start")
    }

    /// Everything chosen by the test: the policy, the Graph test server (or the local
    /// directory), extra `[worker]` settings and extra configuration at the end.
    pub async fn spawn_custom(policy: &str, graph: Option<GraphServer>, worker: &str, extra: &str) -> Self {
        Self::try_spawn(policy, graph, worker, extra, false).await.expect("the app should start")
    }

    /// Like `spawn_custom`, always on PostgreSQL (several replicas share one database only
    /// there), whatever `ELEVATE_TEST_DB` says.
    pub async fn spawn_on_postgres(policy: &str, graph: GraphServer, worker: &str) -> Self {
        Self::try_spawn(policy, Some(graph), worker, "", true).await.expect("the app should start on PostgreSQL")
    }

    async fn try_spawn(
        policy_text: &str,
        graph: Option<GraphServer>,
        worker: &str,
        graph_extra: &str,
        on_postgres: bool,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, policy_text)?;
        let db_url = fresh_database(dir.path(), on_postgres).await?;
        let config_path = dir.path().join("elevate.toml");
        let directory = graph.as_ref().map_or_else(local_directory, graph_directory) + graph_extra;
        let worker = if worker.contains("reconcile_interval") {
            worker.to_owned()
        } else {
            format!("reconcile_interval = \"1h\"\n{worker}")
        };
        // The demo sign-in (loopback, local directory only) lets tests sign in as anyone.
        // Sessions read their roles again after a second (the Graph tests count Graph's calls:
        // there the default).
        let auth = if graph.is_none() { "demo_sign_in = true\nsession_roles_ttl = \"1s\"" } else { "" };
        // Tests drive hundreds of requests from one address and user: no abuse limits, unless
        // the test sets its own.
        let limits = if graph_extra.contains("[limits]") {
            ""
        } else {
            "[limits]\nper_ip_per_second = 0\nper_caller_per_second = 0\nmax_pending_per_user = 0\n"
        };
        let worker = format!("{worker}\n{limits}");
        std::fs::write(&config_path, config(&db_url, &policy, &directory, &worker, auth))?;
        let mut app =
            Self { address: String::new(), db_url, dir, config_path, graph, http: reqwest::Client::new(), child: None };
        app.start().await?;
        Ok(app)
    }

    pub fn graph(&self) -> &GraphServer {
        self.graph.as_ref().expect("this app runs against the Graph test server")
    }

    /// A CLI invocation of the binary with this app's configuration.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with_env(args, &[])
    }

    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        std::process::Command::new(binary())
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .envs(env.iter().copied())
            .envs(AWS_TEST_ENV)
            .env_remove("ELEVATE_TEST_POSTGRES_URL")
            .current_dir(self.dir.path())
            .output()
            .expect("the binary runs")
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let (address, child) = launch(&self.config_path, self.dir.path(), "server.log").await?;
        self.address = address;
        self.child = Some(child);
        Ok(())
    }

    /// Another `elevate serve` on the same configuration and database (its log in
    /// `replica-N.log`).
    pub async fn replica(&self, n: usize) -> Replica {
        let (address, child) =
            launch(&self.config_path, self.dir.path(), &format!("replica-{n}.log")).await.expect("the replica starts");
        Replica { address, child: Some(child) }
    }

    /// Kills the server as a crash would (SIGKILL): no graceful anything.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Sends SIGTERM and waits (up to `bound`) for the process to exit; returns how long it
    /// took and whether it exited successfully.
    pub async fn terminate(&mut self, bound: Duration) -> (Duration, bool) {
        let mut child = self.child.take().expect("the app is running");
        let pid = child.id().expect("a running child has a pid").to_string();
        let started = std::time::Instant::now();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(bound, child.wait()).await.expect("the app exits in time").expect("wait");
        (started.elapsed(), status.success())
    }

    pub async fn restart(&mut self) {
        self.start().await.expect("the app should start again");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn as_user(&self, upn: &str, roles: &[&str]) -> Actor<'_> {
        Actor { app: self, token: token(upn, roles, None, 3600, SECRET) }
    }

    pub fn engineer(&self) -> Actor<'_> {
        self.as_user(ALICE, &["requester"])
    }

    pub fn approver(&self, upn: &str) -> Actor<'_> {
        self.as_user(upn, &["requester", "approver"])
    }

    pub fn admin(&self) -> Actor<'_> {
        self.as_user(DAVE, &["admin", "auditor"])
    }

    pub fn with_token(&self, token: &str) -> Actor<'_> {
        Actor { app: self, token: token.to_owned() }
    }

    pub async fn get_raw(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        response(req.send().await.expect("the server answers")).await
    }

    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(&self.db_url).await.expect("the test database opens")
    }

    /// Is `upn` a member of `group` in the directory right now?
    pub async fn is_member(&self, group: &str, upn: &str) -> bool {
        if let Some(graph) = &self.graph {
            return graph.is_member(group, &graph.user_id(upn));
        }
        let db = self.db().await;
        let row = entity::local_group_members::Entity::find_by_id((group.to_owned(), upn.to_owned()))
            .one(&db)
            .await
            .expect("membership query");
        db.close().await.ok();
        row.is_some()
    }

    /// Polls a request (as the admin) until `done` says yes, or fails after `timeout`.
    pub async fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let admin = self.admin();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (status, body) = admin.get(&format!("/api/v1/requests/{id}")).await;
            assert_eq!(status, 200, "{body}");
            if done(&body) {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "request {id} did not get there in {timeout:?}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, |b| b["status"] == status).await
    }

    /// Until the grant's end has been carried out (`ended_at` set).
    pub async fn wait_until_ended(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, |b| b["ended_at"].is_string()).await
    }

    /// The audit events about `subject` (read as the admin), oldest first.
    pub async fn audit_events(&self, subject: &str) -> Vec<Value> {
        let (status, body) = self.admin().get("/api/v1/audit?limit=1000").await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().into_iter().flatten().filter(|e| e["subject"] == subject).cloned().collect()
    }

    /// Waits until the audit log has `count` events `action` about `subject` (an effect is
    /// audited just after the outside system confirmed it); returns all events about it.
    pub async fn wait_for_audit(&self, subject: &str, action: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let events = self.audit_events(subject).await;
            if events.iter().filter(|e| e["action"] == action).count() >= count {
                return events;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {count} × {action} about {subject}: {events:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The actions of the audit events about `subject`, oldest first.
    pub async fn audit_actions(&self, subject: &str) -> Vec<String> {
        self.audit_events(subject).await.iter().map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect()
    }
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

impl TestApp {
    /// Moves the end of these requests' grants to `at` (Unix ms), as if they had been filed for
    /// exactly that long: tests that need many grants to end together set the instant instead
    /// of racing a short duration against the machine's speed (the benchmark does the same).
    pub async fn set_expiry(&self, request_ids: &[String], at: i64) {
        let db = self.db().await;
        elevate_tests::expiry::set(&db, request_ids, at).await.expect("the expiry moves");
        db.close().await.ok();
    }
}

/// Starts `elevate serve` and waits until it listens; returns its address.
pub async fn launch(config: &Path, dir: &Path, log_name: &str) -> anyhow::Result<(String, Child)> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(log_name))?;
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .arg("serve")
        .envs(AWS_TEST_ENV)
        .env_remove("ELEVATE_TEST_POSTGRES_URL")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(addr) = line.strip_prefix("listening on ") {
                return Ok(addr.trim().to_owned());
            }
        }
        bail!("the server exited before listening; see {}", dir.join(log_name).display())
    })
    .await??;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((address, child))
}

/// A second (third, …) `elevate serve` of a `TestApp`.
pub struct Replica {
    pub address: String,
    child: Option<Child>,
}

impl Replica {
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", self.log());
        }
    }
}

/// Signs a token the way `elevate token issue` does (or, with other arguments, the way it
/// must not be accepted).
pub fn token(sub: &str, roles: &[&str], scope: Option<&str>, ttl_secs: i64, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "elevate", "aud": "elevate-api", "sub": sub, "iat": now, "nbf": now, "exp": now + ttl_secs,
        "jti": uuid::Uuid::new_v4().to_string(), "roles": roles, "scope": scope,
    });
    sign(&claims, secret)
}

pub fn sign(claims: &Value, secret: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).expect("key");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key).expect("token")
}

async fn response(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Someone calling the API with a token.
pub struct Actor<'a> {
    app: &'a TestApp,
    pub token: String,
}

impl Actor<'_> {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.app.get_raw(path, Some(&self.token)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.app.http.post(format!("{}{path}", self.app.address)).bearer_auth(&self.token).json(&body);
        response(req.send().await.expect("the server answers")).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let req = self
            .app
            .http
            .post(format!("{}{path}", self.app.address))
            .bearer_auth(&self.token)
            .header("Content-Type", content_type)
            .body(body);
        response(req.send().await.expect("the server answers")).await
    }

    /// Files a request and returns the server's answer.
    pub async fn try_request(&self, profile: &str, seconds: i64, extra: Value) -> (u16, Value) {
        let mut body =
            json!({ "profile": profile, "duration_seconds": seconds, "justification": "investigating an incident" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/v1/requests", body).await
    }

    /// Like `try_request`, but, as a well-behaved bot would, tries again while Elevate says
    /// the directory is temporarily unavailable (503).
    pub async fn request_patiently(&self, profile: &str, seconds: i64) -> String {
        for _ in 0..20 {
            let (status, body) = self.try_request(profile, seconds, json!({})).await;
            if status == 201 {
                return body["id"].as_str().expect("id").to_owned();
            }
            assert_eq!(status, 503, "{body}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the directory stayed unavailable");
    }

    /// Files a request that must be accepted; returns its id.
    pub async fn request(&self, profile: &str, seconds: i64) -> String {
        let (status, body) = self.try_request(profile, seconds, json!({})).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn act(&self, id: &str, action: &str) -> (u16, Value) {
        self.post(&format!("/api/v1/requests/{id}/{action}"), json!({ "comment": format!("{action} by test") })).await
    }

    pub async fn approve(&self, id: &str) -> Value {
        let (status, body) = self.act(id, "approve").await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Milliseconds since the epoch of an RFC 3339 instant from the API.
pub fn millis(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("an instant")).expect("RFC 3339").timestamp_millis()
}

/// The shape every error must have: problem+json with a status and a detail.
pub fn assert_problem(status: u16, body: &Value, expected: u16, field: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
}
