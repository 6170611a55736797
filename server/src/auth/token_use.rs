//! API-token use in the audit log: the first use of each token, and again at most once an
//! hour per replica, so the log shows which credential acted without an event per call (each
//! audited change already names its actor).
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

const EVERY: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct TokenUse {
    seen: Mutex<HashMap<String, Instant>>,
}

impl TokenUse {
    /// Should this use of token `jti` be recorded? Yes the first time, and an hour after the
    /// last record.
    pub fn worth_recording(&self, jti: &str) -> bool {
        let Ok(mut seen) = self.seen.lock() else { return false };
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < EVERY);
        match seen.get(jti) {
            Some(_) => false,
            None => {
                seen.insert(jti.to_owned(), now);
                true
            }
        }
    }
}
