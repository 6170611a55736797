//! Prometheus metrics, served at `GET /metrics`. Names start with `elevate_`.
use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    /// Members found in a mapped group without a grant, by group and reconcile mode.
    pub drift_found: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let drift_found = IntCounterVec::new(
            Opts::new("elevate_drift_found_total", "Group members found without a grant by reconciliation"),
            &["group", "mode"],
        )?;
        registry.register(Box::new(drift_found.clone()))?;
        Ok(Self { registry, drift_found })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format; an empty answer would show it.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
