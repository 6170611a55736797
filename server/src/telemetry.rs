//! Logging with `tracing`: text or JSON on stderr, filtered by `log.level`.
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogFormat, LogSettings};

pub fn init(settings: &LogSettings) {
    // sqlx logs every statement at INFO.
    let filter = EnvFilter::try_new(format!("{},sqlx=warn", settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
