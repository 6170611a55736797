//! API-token use in the audit log: the first use of each token, and again at most once an
//! hour per replica, so the log shows which credential acted without an event per call (each
//! audited change already names its actor).
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

const EVERY: Duration = Duration::from_secs(3600);
/// How often tokens last recorded more than [`EVERY`] ago are forgotten. Every call takes the
/// lock, so forgetting walks all tokens seen in the hour only now and then, never per call.
const FORGET_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct TokenUse {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// When each token's use was last recorded.
    recorded: HashMap<String, Instant>,
    forgotten_at: Option<Instant>,
}

impl TokenUse {
    /// Should this use of token `jti` be recorded? Yes the first time, and an hour after the
    /// last record.
    pub fn worth_recording(&self, jti: &str) -> bool {
        self.worth_recording_at(jti, Instant::now())
    }

    fn worth_recording_at(&self, jti: &str, now: Instant) -> bool {
        // A poisoned lock only held this bookkeeping: recording again is harmless.
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.forgotten_at.is_none_or(|at| now.duration_since(at) >= FORGET_EVERY) {
            seen.recorded.retain(|_, at| now.duration_since(*at) < EVERY);
            seen.forgotten_at = Some(now);
        }
        match seen.recorded.get(jti) {
            Some(at) if now.duration_since(*at) < EVERY => false,
            _ => {
                seen.recorded.insert(jti.to_owned(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_recorded_on_first_use_and_again_an_hour_after() {
        let uses = TokenUse::default();
        let start = Instant::now();
        assert!(uses.worth_recording_at("a", start));
        assert!(!uses.worth_recording_at("a", start + Duration::from_secs(1)));
        assert!(uses.worth_recording_at("b", start + Duration::from_secs(2)), "another token is its own");
        assert!(!uses.worth_recording_at("a", start + EVERY - Duration::from_secs(1)));
        assert!(uses.worth_recording_at("a", start + EVERY));
        assert!(!uses.worth_recording_at("a", start + EVERY + Duration::from_secs(1)));
    }

    #[test]
    fn tokens_not_used_for_an_hour_are_forgotten() {
        let uses = TokenUse::default();
        let start = Instant::now();
        for n in 0..100 {
            uses.worth_recording_at(&format!("t{n}"), start);
        }
        uses.worth_recording_at("late", start + EVERY + FORGET_EVERY);
        let recorded = uses.seen.lock().unwrap().recorded.keys().cloned().collect::<Vec<_>>();
        assert_eq!(recorded, ["late"]);
    }
}
