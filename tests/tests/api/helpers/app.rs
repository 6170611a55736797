//! The app under test: the real `elevate` binary started on a random port with its own
//! database, chosen with `TestApp::builder()`; replicas, restarts, crashes and the CLI.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use elevate_tests::graph_server::GraphServer;
use sea_orm::{Database, DatabaseConnection, EntityTrait};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use super::fixtures::{AWS_TEST_ENV, POLICY, binary, config, fresh_database, graph_directory, local_directory};

pub struct TestApp {
    pub address: String,
    pub db_url: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The Graph test server, when the app runs with `directory.kind = "graph"`.
    pub graph: Option<GraphServer>,
    pub(super) http: reqwest::Client,
    /// AWS credentials of the server's processes other than moto's `testing` ones.
    aws_credentials: Vec<(&'static str, String)>,
    child: Option<Child>,
}

/// What a test chooses about its app; everything else is the tests' default (the policy
/// above, the local directory, SQLite unless `ELEVATE_TEST_DB=postgres`).
#[must_use]
pub struct TestAppBuilder {
    policy: String,
    graph: Option<GraphServer>,
    /// `graph.max_concurrency`.
    graph_slots: usize,
    worker: String,
    extra: String,
    postgres: bool,
    aws_credentials: Vec<(&'static str, String)>,
}

impl TestApp {
    /// The app with the tests' policy and its local directory, on a fresh database.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            policy: POLICY.to_owned(),
            graph: None,
            graph_slots: 4,
            worker: String::new(),
            extra: String::new(),
            postgres: false,
            aws_credentials: Vec::new(),
        }
    }
}

impl TestAppBuilder {
    pub fn policy(mut self, text: &str) -> Self {
        text.clone_into(&mut self.policy);
        self
    }

    /// `directory.kind = "graph"` against this Graph test server (seeded with the tests' people).
    pub fn graph(mut self, graph: GraphServer) -> Self {
        self.graph = Some(graph);
        self
    }

    /// `graph.max_concurrency` (4 unless set).
    pub fn graph_slots(mut self, slots: usize) -> Self {
        self.graph_slots = slots;
        self
    }

    /// Extra `[worker]` settings (TOML lines).
    pub fn worker(mut self, settings: &str) -> Self {
        self.worker.push_str(settings);
        self.worker.push('\n');
        self
    }

    /// Extra configuration at the end (TOML lines, e.g. `[aws]`, or keys of `[graph]`).
    pub fn config(mut self, extra: &str) -> Self {
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    /// On PostgreSQL, whatever `ELEVATE_TEST_DB` says (replicas share a database only there).
    pub fn postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// The server signs its AWS calls as this moto IAM user (an access key of its own), rather
    /// than with the `testing` key that moto accepts while it does not enforce IAM.
    pub fn aws_credentials(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.aws_credentials = vec![
            ("AWS_ACCESS_KEY_ID", access_key_id.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret_access_key.to_owned()),
        ];
        self
    }

    pub async fn spawn(self) -> TestApp {
        self.try_spawn().await.expect("the app should start")
    }

    async fn try_spawn(self) -> anyhow::Result<TestApp> {
        let Self {
            policy: policy_text,
            graph,
            graph_slots,
            worker,
            extra: graph_extra,
            postgres: on_postgres,
            aws_credentials,
        } = self;
        let dir = tempfile::tempdir()?;
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, &policy_text)?;
        let db_url = fresh_database(dir.path(), on_postgres).await?;
        let config_path = dir.path().join("elevate.toml");
        let directory = graph.as_ref().map_or_else(local_directory, |g| graph_directory(g, graph_slots)) + &graph_extra;
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
        let mut app = TestApp {
            address: String::new(),
            db_url,
            dir,
            config_path,
            graph,
            http: reqwest::Client::new(),
            aws_credentials,
            child: None,
        };
        app.start().await?;
        Ok(app)
    }
}

impl TestApp {
    pub fn graph(&self) -> &GraphServer {
        self.graph.as_ref().expect("this app runs against the Graph test server")
    }

    /// A CLI invocation of the binary with this app's configuration.
    /// The command line as an engineer whose home is the app's folder would run it: with no
    /// server, token or CLI file but what the test gives it (`ELEVATE_URL`, `ELEVATE_TOKEN`,
    /// `~/.config/elevate/`).
    pub fn engineer_cli(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary());
        command
            .env("HOME", self.dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("ELEVATE_URL")
            .env_remove("ELEVATE_TOKEN");
        command
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with_env(args, &[])
    }

    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        std::process::Command::new(binary())
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .envs(AWS_TEST_ENV)
            .envs(env.iter().copied())
            .env_remove("ELEVATE_TEST_POSTGRES_URL")
            .current_dir(self.dir.path())
            .output()
            .expect("the binary runs")
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let (address, child) = launch(&self.config_path, self.dir.path(), "server.log", &self.aws_credentials).await?;
        self.address = address;
        self.child = Some(child);
        Ok(())
    }

    /// Another `elevate serve` on the same configuration and database (its log in
    /// `replica-N.log`).
    pub async fn replica(&self, n: usize) -> Replica {
        let (address, child) =
            launch(&self.config_path, self.dir.path(), &format!("replica-{n}.log"), &self.aws_credentials)
                .await
                .expect("the replica starts");
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

    /// Moves the end of these requests' grants to `at` (Unix ms), as if they had been filed for
    /// exactly that long: tests that need many grants to end together set the instant instead
    /// of racing a short duration against the machine's speed (the benchmark does the same).
    pub async fn set_expiry(&self, request_ids: &[String], at: i64) {
        let db = self.db().await;
        elevate_tests::expiry::set(&db, request_ids, at).await.expect("the expiry moves");
        db.close().await.ok();
    }

    /// Moves the start of these scheduled requests to `at` (Unix ms), with the jobs that open
    /// them: a test sees a window open at a known instant without waiting out a real schedule.
    pub async fn set_start(&self, request_ids: &[String], at: i64) {
        let db = self.db().await;
        elevate_tests::expiry::set_start(&db, request_ids, at).await.expect("the start moves");
        db.close().await.ok();
    }
}

/// Starts `elevate serve` and waits until it listens; returns its address.
pub async fn launch(
    config: &Path,
    dir: &Path,
    log_name: &str,
    aws_credentials: &[(&str, String)],
) -> anyhow::Result<(String, Child)> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(log_name))?;
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .arg("serve")
        .envs(AWS_TEST_ENV)
        .envs(aws_credentials.iter().map(|(k, v)| (*k, v.as_str())))
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
