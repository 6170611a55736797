//! Prometheus metrics, served at `GET /metrics`. Names start with `elevate_`. Counters and
//! histograms are recorded as things happen; the gauges (requests by status, active grants,
//! jobs by state) are read from the database at each scrape, so every replica reports the
//! shared truth.
use std::{sync::LazyLock, time::Duration};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Calls to outside systems, recorded by the providers themselves (they know no `Broker`):
/// by provider (`graph`, `aws`), operation and outcome (`ok`, `error`). `None` only if the
/// constant names below were invalid.
static PROVIDER_CALLS: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    let opts = HistogramOpts::new("elevate_provider_call_duration_seconds", "Calls to Microsoft Graph and AWS")
        .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
    HistogramVec::new(opts, &["provider", "operation", "outcome"]).ok()
});

/// Records one provider call.
pub fn observe_call(provider: &str, operation: &str, ok: bool, took: Duration) {
    if let Some(calls) = PROVIDER_CALLS.as_ref() {
        calls.with_label_values(&[provider, operation, if ok { "ok" } else { "error" }]).observe(took.as_secs_f64());
    }
}

/// The state read from the database at a scrape.
#[derive(Debug, Default)]
pub struct LiveCounts {
    pub requests_by_status: Vec<(String, i64)>,
    pub grants_active: i64,
    /// (`due`, `running`, `failed`) → count.
    pub jobs: Vec<(&'static str, i64)>,
}

pub struct Metrics {
    registry: Registry,
    /// Members found in a mapped group without a grant, by group and reconcile mode.
    pub drift_found: IntCounterVec,
    /// `expires_at` → membership removal confirmed, by side (`entra`, `identity_center`).
    pub revocation_lag: HistogramVec,
    /// Final approval → membership confirmed.
    pub grant_lag: Histogram,
    /// Decisions recorded, by `approve`/`deny`.
    pub decisions: IntCounterVec,
    /// Job attempts, by kind and outcome (`done`, `retry`, `failed`).
    pub job_attempts: IntCounterVec,
    /// Times the worker looked for due jobs: it should follow the jobs, never spin.
    pub worker_claims: IntCounter,
    requests: IntGaugeVec,
    grants_active: IntGauge,
    jobs: IntGaugeVec,
}

fn lag_buckets() -> Vec<f64> {
    vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 2400.0]
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let drift_found = IntCounterVec::new(
            Opts::new("elevate_drift_found_total", "Group members found without a grant by reconciliation"),
            &["group", "mode"],
        )?;
        let revocation_lag = HistogramVec::new(
            HistogramOpts::new(
                "elevate_revocation_lag_seconds",
                "Time from a grant's expiry to its membership confirmed removed",
            )
            .buckets(lag_buckets()),
            &["side"],
        )?;
        let grant_lag = Histogram::with_opts(
            HistogramOpts::new("elevate_grant_lag_seconds", "Time from the final approval to the membership confirmed")
                .buckets(lag_buckets()),
        )?;
        let decisions =
            IntCounterVec::new(Opts::new("elevate_decisions_total", "Approval decisions recorded"), &["decision"])?;
        let job_attempts = IntCounterVec::new(
            Opts::new("elevate_job_attempts_total", "Outbox job attempts by kind and outcome"),
            &["kind", "outcome"],
        )?;
        let worker_claims = IntCounter::new("elevate_worker_claims_total", "Times the worker looked for due jobs")?;
        let requests = IntGaugeVec::new(Opts::new("elevate_requests", "Requests by status"), &["status"])?;
        let grants_active = IntGauge::new("elevate_grants_active", "Grants now active")?;
        let jobs = IntGaugeVec::new(Opts::new("elevate_jobs", "Outbox jobs due, running or failed"), &["state"])?;
        let collectors: [Box<dyn prometheus::core::Collector>; 9] = [
            Box::new(drift_found.clone()),
            Box::new(revocation_lag.clone()),
            Box::new(grant_lag.clone()),
            Box::new(decisions.clone()),
            Box::new(job_attempts.clone()),
            Box::new(worker_claims.clone()),
            Box::new(requests.clone()),
            Box::new(grants_active.clone()),
            Box::new(jobs.clone()),
        ];
        for c in collectors.into_iter().chain(PROVIDER_CALLS.clone().map(|c| Box::new(c) as Box<_>)) {
            registry.register(c)?;
        }
        Ok(Self {
            registry,
            drift_found,
            revocation_lag,
            grant_lag,
            decisions,
            job_attempts,
            worker_claims,
            requests,
            grants_active,
            jobs,
        })
    }

    /// Records how long after `expires_at` a side's removal was confirmed (expired grants only).
    pub fn observe_revocation_lag(&self, side: &str, expires_at: Option<i64>, removed_at: i64) {
        if let Some(expires_at) = expires_at.filter(|e| *e <= removed_at) {
            self.revocation_lag.with_label_values(&[side]).observe((removed_at - expires_at) as f64 / 1000.0);
        }
    }

    /// Records how long after `approved_at` the membership was confirmed.
    pub fn observe_grant_lag(&self, approved_at: i64, confirmed_at: i64) {
        self.grant_lag.observe((confirmed_at - approved_at).max(0) as f64 / 1000.0);
    }

    /// The text exposition format, with the gauges set from `live`.
    pub fn render(&self, live: &LiveCounts) -> String {
        self.requests.reset();
        for (status, n) in &live.requests_by_status {
            self.requests.with_label_values(&[status.as_str()]).set(*n);
        }
        self.grants_active.set(live.grants_active);
        for (state, n) in &live.jobs {
            self.jobs.with_label_values(&[state]).set(*n);
        }
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format; an empty answer would show it.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
