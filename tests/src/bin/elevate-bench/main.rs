//! `scripts/bench`: starts Elevate (release build) against the Graph test server (each Graph
//! call delayed by `--latency-ms`, 50 ms by default, to stand for the real Graph), on SQLite
//! and on PostgreSQL, and measures API throughput and latency, grant lag, revocation lag for
//! mass and steady expiries, start-up time and memory. Prints a Markdown report.
//!
//! The load generator is a few lines of tokio + reqwest rather than wrk or oha: the calls
//! need per-call tokens, bodies and ids taken from earlier answers.
use std::{
    future::Future,
    path::Path,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

mod activity;

use anyhow::{Context, bail};
use elevate_tests::graph_server::{CLIENT_ID, CLIENT_SECRET, Faults, GraphServer, TENANT, WriteQuota};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TransactionTrait};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";
const APPROVER: &str = "approver@example.com";
const POLICY: &str = r#"
[profiles.Auto]
title = "Approved automatically"
group = "Bench-Auto"
min_duration = "1s"
max_duration = "8h"
eligible = { groups = ["Crowd"] }
approval = { auto_approve = true }

[profiles.Manual]
title = "Approved by the approver"
group = "Bench-Manual"
min_duration = "1s"
max_duration = "8h"
eligible = { groups = ["Crowd"] }
approval = { users = ["approver@example.com"] }
"#;

struct Options {
    backends: Vec<String>,
    latency: Duration,
    load_seconds: u64,
    concurrency: usize,
    mass: Vec<usize>,
    graph_concurrency: usize,
    /// `worker.concurrency`: more jobs than Graph slots, so that calls waiting for a slot go
    /// out together in `$batch` requests.
    worker_concurrency: usize,
    /// Approvals measured for the grant lag (the first this many requests filed).
    burst: usize,
    /// Grants expiring at one instant with Graph's write quota enforced (0: not run).
    paced: usize,
    postgres: String,
    /// `api` (everything through Elevate's API, on each backend) and `activity` (reading a
    /// day of CloudTrail logs from moto's S3).
    parts: Vec<String>,
    /// The synthetic day of CloudTrail logs: files, and records in each.
    activity_files: usize,
    activity_per_file: usize,
    /// An earlier build to measure in the same run, before the current one, and its name.
    baseline: Option<(String, String)>,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        backends: vec!["sqlite".into(), "postgres".into()],
        latency: Duration::from_millis(50),
        load_seconds: 10,
        concurrency: 32,
        mass: vec![1000, 10000],
        graph_concurrency: 64,
        worker_concurrency: 256,
        burst: 1536,
        paced: 10000,
        postgres: std::env::var("ELEVATE_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        parts: vec!["api".into(), "activity".into()],
        activity_files: 5000,
        activity_per_file: 200,
        baseline: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [name, value] = pair else { bail!("every option takes a value") };
        match name.as_str() {
            "--db" => o.backends = value.split(',').map(str::to_owned).collect(),
            "--latency-ms" => o.latency = Duration::from_millis(value.parse()?),
            "--load-seconds" => o.load_seconds = value.parse()?,
            "--concurrency" => o.concurrency = value.parse()?,
            "--mass" => o.mass = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--graph-concurrency" => o.graph_concurrency = value.parse()?,
            "--worker-concurrency" => o.worker_concurrency = value.parse()?,
            "--burst" => o.burst = value.parse()?,
            "--paced" => o.paced = value.parse()?,
            "--parts" => o.parts = value.split(',').map(str::to_owned).collect(),
            "--baseline" => {
                let (label, path) = value.split_once('=').context("--baseline NAME=PATH (an elevate binary)")?;
                o.baseline = Some((label.to_owned(), path.to_owned()));
            }
            "--activity" => {
                let (files, per_file) = value.split_once('x').context("--activity FILESxRECORDS, e.g. 5000x200")?;
                (o.activity_files, o.activity_per_file) = (files.parse()?, per_file.parse()?);
            }
            other => bail!(
                "unknown option {other}; options: --db sqlite,postgres --latency-ms 50 --load-seconds 10 \
                 --concurrency 32 --mass 1000,10000 --graph-concurrency 64 --worker-concurrency 256 --burst 1536 \
                 --paced 10000 --parts api,activity --activity 5000x200 --baseline NAME=PATH"
            ),
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let bin = std::env::var("ELEVATE_BIN").unwrap_or_else(|_| "target/release/elevate".into());
    if o.parts.iter().any(|p| p == "api") {
        println!(
            "Graph test server latency {} ms per call; Elevate's graph.max_concurrency {}, worker.concurrency {}; \
             HTTP load {} s per call type at concurrency {}.\n",
            o.latency.as_millis(),
            o.graph_concurrency,
            o.worker_concurrency,
            o.load_seconds,
            o.concurrency
        );
        for backend in &o.backends {
            // The baseline is not put under the write quota: a build without pacing may take
            // longer than the wait allows, and the row has no "before" to compare anyway.
            let before = match &o.baseline {
                Some((label, path)) => Some((label, run(&o, Path::new(path), backend, false).await?)),
                None => None,
            };
            let after = run(&o, Path::new(&bin), backend, true).await?;
            match before {
                None => after.print(backend),
                Some((label, before)) => after.print_against(backend, label, &before),
            }
        }
    }
    if o.parts.iter().any(|p| p == "activity") {
        activity::run(o.activity_files, o.activity_per_file, Path::new(&bin)).await?;
    }
    Ok(())
}

async fn run(o: &Options, bin: &Path, backend: &str, paced: bool) -> anyhow::Result<Report> {
    let users = o.mass.iter().copied().max().unwrap_or(0).max(1000);
    let mut b = Bench::start(o, bin, backend, users).await?;
    let mut r = Report::default();
    r.add("start-up to ready (empty database)", format!("{:.0} ms", b.startup.as_secs_f64() * 1000.0), None);
    r.add("idle RSS after start-up", format!("{:.1} MB", b.rss_kb("VmRSS") as f64 / 1024.0), None);

    let api = b.api.clone();
    let users = b.users.clone();
    let filed = load(o.concurrency, Some(Duration::from_secs(o.load_seconds)), usize::MAX, move |i| {
        api.clone().file("Manual", users[i % users.len()].clone(), 3600)
    })
    .await;
    filed.add_to(&mut r, "POST /api/v1/requests (pending)");
    let ids = Arc::new(filed.ids.clone());
    let (api, got_ids) = (b.api.clone(), ids.clone());
    let got = load(o.concurrency, Some(Duration::from_secs(o.load_seconds)), usize::MAX, move |i| {
        api.clone().get(got_ids[i % got_ids.len()].clone())
    })
    .await;
    got.add_to(&mut r, "GET /api/v1/requests/{id}");
    // The burst is fixed (not whatever filing managed in its 10 s): the lag compares.
    let (api, approve_ids) = (b.api.clone(), ids.clone());
    let burst = o.burst.min(ids.len());
    let approved = load(o.concurrency, None, burst, move |i| api.clone().approve(approve_ids[i].clone())).await;
    approved.add_to(&mut r, "POST /api/v1/requests/{id}/approve");
    b.wait_for_count("SELECT count(*) FROM requests WHERE status = 'approved'", 0, "activations").await?;
    let lag = b.grant_lag().await?;
    r.lag(&format!("grant lag, final approval → membership confirmed ({} grants)", lag.len()), &lag);

    for &n in &o.mass {
        let lag = b.expiries(n, Duration::ZERO).await?;
        r.lag(&format!("revocation lag, {n} grants expiring in the same second"), &lag);
    }
    let lag = b.expiries(600, Duration::from_millis(50)).await?;
    r.lag("revocation lag, steady stream (600 expiries, one every 50 ms)", &lag);
    if paced && o.paced > 0 {
        let quota = WriteQuota::GRAPH;
        let throttled = b.graph.count_status(429);
        let batches = b.graph.state().batches;
        b.quota = Some(quota);
        let lag = b.expiries(o.paced, Duration::ZERO).await?;
        b.quota = None;
        let (throttled, batches) = (b.graph.count_status(429) - throttled, b.graph.state().batches - batches);
        let rate = f64::from(quota.writes) / quota.per.as_secs_f64();
        let allowed = (o.paced as f64 - f64::from(quota.writes)).max(0.0) / rate;
        r.lag(
            &format!(
                "revocation lag under Graph's write quota ({} writes per {} s), {} grants expiring in the same second \
                 (the quota allows the last after {allowed:.0} s; {throttled} answers 429, {batches} $batch requests)",
                quota.writes,
                quota.per.as_secs(),
                o.paced
            ),
            &lag,
        );
    }
    r.add("peak RSS", format!("{:.1} MB", b.rss_kb("VmHWM") as f64 / 1024.0), None);
    b.stop().await;
    Ok(r)
}

/// One backend's measures, in order: what each row shows, and the number that compares.
#[derive(Default)]
struct Report {
    rows: Vec<(String, String, Option<Key>)>,
}

/// What a row is compared by between two builds.
#[derive(Clone, Copy)]
enum Key {
    /// Calls per second: more is better.
    PerSecond(f64),
    /// The 99th percentile, in ms: less is better.
    P99(f64),
}

impl Report {
    fn add(&mut self, name: &str, text: String, key: Option<Key>) {
        self.rows.push((name.to_owned(), text, key));
    }

    fn lag(&mut self, name: &str, seconds: &[f64]) {
        self.add(name, spread(seconds), percentile(seconds, 0.99).map(Key::P99));
    }

    fn print(&self, backend: &str) {
        println!("### {backend}\n\n| measure | result |\n| --- | --- |");
        for (name, text, _) in &self.rows {
            println!("| {name} | {text} |");
        }
        println!();
    }

    /// Both builds side by side, measured in this run, and the ratio of the compared numbers
    /// (after / before: above 1 is better for calls per second, below 1 for lags).
    fn print_against(&self, backend: &str, label: &str, before: &Report) {
        println!("### {backend}: {label} (before) and this build (after)\n");
        println!("| measure | before | after | after / before |\n| --- | --- | --- | --- |");
        for (name, text, key) in &self.rows {
            // Rows are matched by what they measure; a count in the name (grants) may differ.
            let stem = |n: &str| n.split(" (").next().unwrap_or(n).to_owned();
            let earlier = before.rows.iter().find(|(n, ..)| stem(n) == stem(name));
            let ratio = match (earlier.and_then(|(_, _, k)| *k), key) {
                (Some(Key::PerSecond(b)), Some(Key::PerSecond(a))) | (Some(Key::P99(b)), Some(Key::P99(a)))
                    if b > 0.0 =>
                {
                    format!("{:.2}", a / b)
                }
                _ => String::new(),
            };
            let was = earlier.map_or("", |(_, t, _)| t.as_str());
            println!("| {name} | {was} | {text} | {ratio} |");
        }
        println!();
    }
}

/// Elevate's API as the benchmark calls it.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    address: String,
    bot: String,
    admin: String,
    approver: String,
}

/// One call's outcome: success, and the id it returned (when it returns one).
type Outcome = (bool, Option<String>);

impl Api {
    async fn file(self, profile: &'static str, user: String, seconds: i64) -> Outcome {
        let body = json!({ "profile": profile, "duration_seconds": seconds, "requester": user });
        let resp = self.http.post(format!("{}/api/v1/requests", self.address)).bearer_auth(&self.bot).json(&body);
        match resp.send().await {
            Ok(r) if r.status().as_u16() == 201 => {
                let id = r.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_owned));
                (id.is_some(), id)
            }
            _ => (false, None),
        }
    }

    async fn get(self, id: String) -> Outcome {
        let resp =
            self.http.get(format!("{}/api/v1/requests/{id}", self.address)).bearer_auth(&self.admin).send().await;
        (resp.is_ok_and(|r| r.status().is_success()), None)
    }

    async fn approve(self, id: String) -> Outcome {
        let url = format!("{}/api/v1/requests/{id}/approve", self.address);
        let resp = self.http.post(url).bearer_auth(&self.approver).json(&json!({})).send().await;
        (resp.is_ok_and(|r| r.status().is_success()), None)
    }
}

struct Load {
    latencies: Vec<Duration>,
    failed: usize,
    elapsed: Duration,
    ids: Vec<String>,
}

impl Load {
    fn add_to(&self, report: &mut Report, name: &str) {
        let secs: Vec<f64> = self.latencies.iter().map(Duration::as_secs_f64).collect();
        let rate = self.latencies.len() as f64 / self.elapsed.as_secs_f64();
        let text = format!("{rate:.0} calls/s · latency {} · {} failed", spread(&secs), self.failed);
        report.add(name, text, Some(Key::PerSecond(rate)));
    }
}

/// Runs `op(0)`, `op(1)`, … on `concurrency` workers until `time` is up or `count` calls ran.
async fn load<F, Fut>(concurrency: usize, time: Option<Duration>, count: usize, op: F) -> Load
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((Vec::new(), 0usize, Vec::new())));
    let started = Instant::now();
    let deadline = time.map(|t| started + t);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, next, results) = (op.clone(), next.clone(), results.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || deadline.is_some_and(|d| Instant::now() >= d) {
                        return;
                    }
                    let call = Instant::now();
                    let (ok, id) = op(i).await;
                    let took = call.elapsed();
                    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                    if ok {
                        r.0.push(took);
                    } else {
                        r.1 += 1;
                    }
                    r.2.extend(id);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let (latencies, failed, ids) = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    Load { latencies, failed, elapsed, ids }
}

/// The `q` quantile of seconds, in milliseconds.
fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len().checked_sub(1)?) as f64 * q).round() as usize;
    Some(v[i] * 1000.0)
}

/// `p50 · p99 · max` of seconds, in milliseconds.
fn spread(values: &[f64]) -> String {
    match (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) {
        (Some(p50), Some(p99), Some(max)) => format!("p50 {p50:.0} ms · p99 {p99:.0} ms · max {max:.0} ms"),
        _ => "no samples".into(),
    }
}

struct Bench {
    graph: GraphServer,
    latency: Duration,
    /// Graph's write quota, enforced while expiries are measured (`--paced`).
    quota: Option<WriteQuota>,
    users: Arc<Vec<String>>,
    api: Api,
    db: DatabaseConnection,
    admin_db: Option<(String, String)>,
    child: Child,
    pid: u32,
    startup: Duration,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start(o: &Options, bin: &Path, backend: &str, users: usize) -> anyhow::Result<Self> {
        let graph = GraphServer::start().await;
        let names: Vec<String> = (0..users).map(|i| format!("user{i}@bench.example.com")).collect();
        let ids: Vec<String> = names.iter().map(|u| graph.add_user(u)).collect();
        graph.add_group("Crowd", &ids.iter().map(String::as_str).collect::<Vec<_>>());
        graph.add_group("Bench-Auto", &[]);
        graph.add_group("Bench-Manual", &[]);
        graph.add_user(APPROVER);
        let dir = tempfile::tempdir()?;
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, POLICY)?;
        let (db_url, admin_db) = match backend {
            "sqlite" => (format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()), None),
            "postgres" => {
                let name = format!("elevate_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&o.postgres).await.context("connecting to PostgreSQL")?;
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                admin.close().await?;
                let (base, _) = o.postgres.rsplit_once('/').context("PostgreSQL URL without a database")?;
                (format!("{base}/{name}"), Some((o.postgres.clone(), name)))
            }
            other => bail!("--db: {other} is neither sqlite nor postgres"),
        };
        let config = dir.path().join("elevate.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[server]
bind = "127.0.0.1:0"
[database]
url = "{db_url}"
max_connections = 16
[policy]
path = "{policy}"
[auth]
token_secret = "{SECRET}"
[directory]
kind = "graph"
[graph]
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
authority_url = "{authority}"
base_url = "{base}"
max_concurrency = {graph_concurrency}
[worker]
concurrency = {worker_concurrency}
reconcile_interval = "1h"
# The load comes from one address and a few users: measure throughput, not the abuse limits.
[limits]
per_ip_per_second = 0
per_caller_per_second = 0
max_pending_per_user = 0
[log]
level = "warn"
"#,
                policy = policy.display(),
                authority = graph.authority_url,
                base = graph.base_url,
                graph_concurrency = o.graph_concurrency,
                worker_concurrency = o.worker_concurrency,
            ),
        )?;
        graph.set_faults(Faults { latency: o.latency, ..Default::default() });
        let started = Instant::now();
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("server.log"))?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} (run scripts/bench, which builds it)", bin.display()))?;
        let pid = child.id().context("no pid")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let address = loop {
            match lines.next_line().await? {
                Some(line) if line.starts_with("listening on ") => {
                    break line["listening on ".len()..].trim().to_owned();
                }
                Some(_) => {}
                None => bail!("elevate exited; see {}", dir.path().join("server.log").display()),
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
        while !http.get(format!("{address}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let startup = started.elapsed();
        let sign = |sub: &str, roles: &[&str], scope: Option<&str>| {
            let now = chrono::Utc::now().timestamp();
            let claims = json!({ "iss": "elevate", "aud": "elevate-api", "sub": sub, "iat": now, "nbf": now,
                "exp": now + 86400, "jti": uuid::Uuid::new_v4().to_string(), "roles": roles, "scope": scope });
            let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).context("key")?;
            jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).context("token")
        };
        let api = Api {
            http,
            address,
            bot: sign("bot@example.com", &["requester"], Some("delegate"))?,
            admin: sign("admin@example.com", &["admin"], None)?,
            approver: sign(APPROVER, &["approver"], None)?,
        };
        let db = Database::connect(&db_url).await?;
        Ok(Self {
            graph,
            latency: o.latency,
            quota: None,
            users: Arc::new(names),
            api,
            db,
            admin_db,
            child,
            pid,
            startup,
            _dir: dir,
        })
    }

    fn rss_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    async fn numbers(&self, sql: &str) -> anyhow::Result<Vec<i64>> {
        let rows = self.db.query_all_raw(Statement::from_string(self.db.get_database_backend(), sql)).await?;
        rows.iter().map(|r| r.try_get_by_index::<i64>(0).map_err(Into::into)).collect()
    }

    async fn wait_for_count(&self, sql: &str, wanted: i64, what: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(900);
        while self.numbers(sql).await?.first().copied().unwrap_or(-1) != wanted {
            if Instant::now() > deadline {
                bail!("waited 15 minutes for {what}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Seconds from the final approval to the membership confirmed, per Manual grant.
    async fn grant_lag(&self) -> anyhow::Result<Vec<f64>> {
        let lags = self
            .numbers(
                "SELECT r.activated_at - (SELECT max(d.decided_at) FROM decisions d WHERE d.request_id = r.id) \
                 FROM requests r WHERE r.profile = 'Manual' AND r.activated_at IS NOT NULL",
            )
            .await?;
        Ok(lags.into_iter().map(|ms| ms as f64 / 1000.0).collect())
    }

    /// `n` active grants (set up with Graph at full speed) whose expiries are then moved to
    /// one instant (`spacing` zero) or to a stream `spacing` apart; returns each grant's
    /// revocation lag (expires_at → membership confirmed removed) in seconds.
    async fn expiries(&mut self, n: usize, spacing: Duration) -> anyhow::Result<Vec<f64>> {
        self.graph.set_faults(Faults::default());
        let batch_start = chrono::Utc::now().timestamp_millis();
        let (api, users) = (self.api.clone(), self.users.clone());
        let filed = load(64, None, n, move |i| api.clone().file("Auto", users[i].clone(), 8 * 3600)).await;
        if filed.failed > 0 {
            bail!("{} of {n} grants could not be filed", filed.failed);
        }
        let batch = format!("profile = 'Auto' AND created_at >= {batch_start}");
        self.wait_for_count(
            &format!("SELECT count(*) FROM requests WHERE {batch} AND status <> 'active'"),
            0,
            "activations",
        )
        .await?;
        self.graph.set_faults(Faults { latency: self.latency, write_quota: self.quota, ..Default::default() });
        // Far enough ahead for the worker to have looked at the outbox again (poll 2s).
        let at = (chrono::Utc::now().timestamp_millis() / 1000 + 6) * 1000;
        let step = i64::try_from(spacing.as_millis())?;
        let ids = self.strings(&format!("SELECT id FROM requests WHERE {batch} ORDER BY id")).await?;
        let chunk = if step == 0 { ids.len().max(1) } else { 1 };
        // One transaction: a commit per grant of a stream took longer than the lead on SQLite.
        let tx = self.db.begin().await?;
        for (k, group) in ids.chunks(chunk).enumerate() {
            let when = at + step * i64::try_from(k)?;
            elevate_tests::expiry::set(&tx, group, when).await?;
        }
        tx.commit().await?;
        if chrono::Utc::now().timestamp_millis() > at - 2500 {
            bail!("moving {n} expiries took too long to measure from the instant chosen");
        }
        self.wait_for_count(
            &format!("SELECT count(*) FROM requests WHERE {batch} AND ended_at IS NULL"),
            0,
            "revocations",
        )
        .await?;
        let lags = self.numbers(&format!("SELECT ended_at - expires_at FROM requests WHERE {batch}")).await?;
        Ok(lags.into_iter().map(|ms| ms as f64 / 1000.0).collect())
    }

    async fn strings(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        let rows = self.db.query_all_raw(Statement::from_string(self.db.get_database_backend(), sql)).await?;
        rows.iter().map(|r| r.try_get_by_index::<String>(0).map_err(Into::into)).collect()
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = self.db.close().await;
        if let Some((admin_url, name)) = self.admin_db.take()
            && let Ok(admin) = Database::connect(&admin_url).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}
