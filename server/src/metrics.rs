//! Prometheus metrics, served at `GET /metrics`. Names start with `elevate_`.
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    /// Members found in a mapped group without a grant, by group and reconcile mode.
    pub drift_found: IntCounterVec,
    /// `expires_at` → membership removal confirmed, by side (`entra`, `identity_center`).
    pub revocation_lag: HistogramVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let drift_found = IntCounterVec::new(
            Opts::new("elevate_drift_found_total", "Group members found without a grant by reconciliation"),
            &["group", "mode"],
        )?;
        registry.register(Box::new(drift_found.clone()))?;
        let revocation_lag = HistogramVec::new(
            HistogramOpts::new(
                "elevate_revocation_lag_seconds",
                "Time from a grant's expiry to its membership confirmed removed",
            )
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 2400.0]),
            &["side"],
        )?;
        registry.register(Box::new(revocation_lag.clone()))?;
        Ok(Self { registry, drift_found, revocation_lag })
    }

    /// Records how long after `expires_at` a side's removal was confirmed (expired grants only).
    pub fn observe_revocation_lag(&self, side: &str, expires_at: Option<i64>, removed_at: i64) {
        if let Some(expires_at) = expires_at.filter(|e| *e <= removed_at) {
            self.revocation_lag.with_label_values(&[side]).observe((removed_at - expires_at) as f64 / 1000.0);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format; an empty answer would show it.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
