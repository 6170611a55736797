//! The activity part of the benchmark: a busy account's day of CloudTrail logs in moto's S3
//! (`SyntheticDay`), and `elevate aws activity` reading one session's calls from it, for its
//! one-hour window and for the whole day: wall time, files read, the process's peak RSS, and
//! the calls found checked against those written.
use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use chrono::{DateTime, Days, SecondsFormat, Utc};
use elevate_tests::cloudtrail::{self, BUSY_ROLE, SyntheticDay, Trail};
use serde_json::Value;
use tokio::{process::Command, task::JoinSet};

const ACCOUNT: &str = "123456789012";
const SESSIONS: usize = 20;
/// Uploads at once.
const UPLOADS: usize = 16;

pub async fn run(files: usize, per_file: usize, bin: &Path) -> anyhow::Result<()> {
    let moto_bin = std::env::var("ELEVATE_TEST_MOTO_SERVER").unwrap_or_else(|_| ".venv/bin/moto_server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let _moto = Command::new(&moto_bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("{moto_bin} does not start: scripts/test installs moto into .venv"))?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{url}/moto-api/")).await.is_err() {
        if Instant::now() > deadline {
            bail!("moto did not come up");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let trail = std::sync::Arc::new(Trail::create(&url, "bench-cloudtrail").await?);
    let midnight = Utc::now().date_naive().and_hms_opt(0, 0, 0).context("midnight")?.and_utc();
    let day = std::sync::Arc::new(SyntheticDay {
        day: midnight.checked_sub_days(Days::new(1)).context("yesterday")?,
        account: ACCOUNT.into(),
        files,
        per_file,
        sessions: SESSIONS,
    });

    let started = Instant::now();
    let mut written = [0u64; SESSIONS];
    let mut bytes = 0usize;
    let mut uploads = JoinSet::new();
    for i in 0..files {
        if uploads.len() >= UPLOADS {
            let (size, counts) = uploads.join_next().await.context("an upload")???;
            bytes += size;
            written.iter_mut().zip(counts).for_each(|(w, c): (&mut u64, u64)| *w += c);
        }
        let (day, trail) = (day.clone(), trail.clone());
        uploads.spawn(async move {
            let file = tokio::task::spawn_blocking(move || day.file(i)).await??;
            let key = cloudtrail::key(ACCOUNT, file.region, file.written, &format!("{i:06}"));
            let size = file.gzipped.len();
            let body = aws_sdk_s3::primitives::ByteStream::from(file.gzipped);
            trail.client.put_object().bucket(&trail.bucket).key(key).body(body).send().await?;
            anyhow::Ok((size, file.calls_of_sessions))
        });
    }
    while let Some(done) = uploads.join_next().await {
        let (size, counts) = done??;
        bytes += size;
        written.iter_mut().zip(counts).for_each(|(w, c)| *w += c);
    }
    println!(
        "### CloudTrail activity\n\nA synthetic day: {files} log files of {per_file} records ({} records, {:.0} MB gzipped) \
         in two regions, {SESSIONS} sessions of interest; written to moto's S3 in {:.0} s.\n",
        files * per_file,
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    println!("| measure | result |\n| --- | --- |");

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("elevate.toml");
    std::fs::write(dir.path().join("policy.toml"), "")?;
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}/elevate.db?mode=rwc\"\n[policy]\npath = \"{}/policy.toml\"\n\
             [auth]\ntoken_secret = \"bench-secret-0123456789abcdef0123456789abcdef\"\n[log]\nlevel = \"warn\"\n\
             [aws]\nregion = \"us-east-1\"\n[[aws.accounts]]\naccount_id = \"{ACCOUNT}\"\n\
             saml_provider_arn = \"arn:aws:iam::{ACCOUNT}:saml-provider/AzureAD\"\n{}",
            dir.path().display(),
            dir.path().display(),
            trail.config(&url, "15m", "5m")
        ),
    )?;
    let s = SESSIONS / 2;
    let (session, from, to) = day.session(s);
    let whole_day = (day.day, day.day + chrono::Duration::hours(24) - chrono::Duration::milliseconds(1));
    for (label, (from, to)) in [("its 1-hour window", (from, to)), ("the whole day", whole_day)] {
        let Reading { took, peak_kb, cpu, found } = read(bin, &config, &session, from, to).await?;
        let calls = found["calls"].as_u64().unwrap_or(0);
        if calls != written[s] {
            bail!("{label}: found {calls} calls of {session}, {} were written", written[s]);
        }
        println!(
            "| activity of one session, {label}: `elevate aws activity` | {:.0} ms ({:.0} ms of it Elevate's CPU) · {} of {files} files read · {calls} calls found (all written) · peak RSS {:.1} MB |",
            took.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() * 1000.0,
            found["files_read"],
            peak_kb as f64 / 1024.0
        );
    }
    println!();
    Ok(())
}

/// One run of `elevate aws activity`.
struct Reading {
    took: Duration,
    peak_kb: u64,
    /// The process's own CPU time (user and system; the rest of the wall time it waited on S3).
    cpu: Duration,
    found: Value,
}

/// Runs `elevate aws activity` for one session and window.
async fn read(
    bin: &Path,
    config: &Path,
    session: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Reading> {
    let started = Instant::now();
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{BUSY_ROLE}");
    let (from, to) =
        (from.to_rfc3339_opts(SecondsFormat::Millis, true), to.to_rfc3339_opts(SecondsFormat::Millis, true));
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(["aws", "activity", "--role-arn", &role_arn, "--session", session, "--from", &from, "--to", &to])
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id().context("no pid")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let output = tokio::spawn(async move {
        let mut text = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut text).await.map(|_| text)
    });
    let (mut peak, mut cpu_ticks) = (0, 0);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
        peak = peak.max(hwm.unwrap_or(0));
        // utime and stime: fields 14 and 15, the 12th and 13th after the parenthesised name.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').collect()).unwrap_or_default();
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (tick(11), tick(12)) {
            cpu_ticks = cpu_ticks.max(user + system);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    let text = output.await??;
    if !status.success() {
        bail!("elevate aws activity failed: {}", String::from_utf8_lossy(&text));
    }
    Ok(Reading {
        took,
        peak_kb: peak,
        cpu: Duration::from_millis(cpu_ticks * 10),
        found: serde_json::from_slice(&text)?,
    })
}
