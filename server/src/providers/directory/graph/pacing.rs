//! Pacing against Graph's limits. Graph meters an application's writes in a tenant with a
//! token bucket ("3,000 requests per 2 minutes and 30 seconds", identity and access service
//! limits), says when more than 0.8 of it is spent (`x-ms-throttle-limit-percentage`) and
//! answers 429 with `Retry-After` once it is empty. Elevate keeps the same bucket on its side
//! from the moment Graph says either, so a mass expiry then goes out at the rate Graph accepts
//! instead of as a storm of refused calls; while Graph says nothing, writes are not held back
//! (a tenant whose quota is larger, or a test server without one, is not slowed down). While
//! the bucket counts, removals may spend it to the last token and additions leave a tenth of
//! it to them (removals first: access that must end is never queued behind access being
//! granted); once it is full again, it stops counting.
//!
//! A 429 on a write pauses every write until its `Retry-After`, a 429 on a read every read:
//! one shared pause, not one per call, and never longer than `MAX_PAUSE` (a call that was
//! told to wait longer gives up, and its job is rescheduled: an absurd `Retry-After` never
//! stalls every other call).
use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

/// Graph's documented write quota per application and tenant.
const WRITES: f64 = 3000.0;
const PER: Duration = Duration::from_secs(150);
/// The share of the bucket that only removals may spend.
const REMOVALS_ONLY: f64 = 0.1;

/// The longest shared pause.
const MAX_PAUSE: Duration = Duration::from_secs(10);

pub struct Pacing {
    /// `None` while Graph has not said the quota runs short.
    bucket: Mutex<Option<Bucket>>,
    /// Every write waits until then, and every read until the second: Graph said so.
    paused_until: Mutex<[Option<Instant>; 2]>,
}

/// Tokens left as of `at`; below zero, writes already promised a place in the queue.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A write's place in the bucket's queue.
pub enum Turn {
    /// A token is taken: go after this wait (a removal queued behind other removals).
    Go(Duration),
    /// No token is taken: ask again after this wait (an addition never takes a place ahead of
    /// removals that come after it).
    Later(Duration),
    /// Not before this long: the call gives up, and the job that made it is rescheduled.
    TooFar(Duration),
}

impl Default for Pacing {
    fn default() -> Self {
        Self { bucket: Mutex::new(None), paused_until: Mutex::default() }
    }
}

impl Pacing {
    fn rate() -> f64 {
        WRITES / PER.as_secs_f64()
    }

    /// A token for one write (`removal` or not), waiting no longer than `patience`.
    pub fn reserve(&self, removal: bool, patience: Duration) -> Turn {
        let Ok(mut counting) = self.bucket.lock() else { return Turn::Go(Duration::ZERO) };
        let Some(b) = counting.as_mut() else { return Turn::Go(Duration::ZERO) };
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * Self::rate()).min(WRITES);
        b.at = now;
        if b.tokens >= WRITES {
            // Full again: Graph's own bucket is too; stop counting until Graph speaks again.
            *counting = None;
            return Turn::Go(Duration::ZERO);
        }
        // What must be left in the bucket after this write.
        let floor = if removal { 0.0 } else { WRITES * REMOVALS_ONLY };
        let short = floor - (b.tokens - 1.0);
        let wait = if short > 0.0 { Duration::from_secs_f64(short / Self::rate()) } else { Duration::ZERO };
        if wait > patience {
            return Turn::TooFar(wait);
        }
        if !removal && !wait.is_zero() {
            return Turn::Later(wait);
        }
        b.tokens -= 1.0;
        Turn::Go(wait)
    }

    /// Graph answered a write saying `used` of the quota is spent (0.8 to 1.8): the bucket
    /// counts from what is left.
    pub fn spent(&self, used: f64) {
        self.start_counting(WRITES * (1.0 - used));
    }

    fn start_counting(&self, tokens: f64) {
        if let Ok(mut counting) = self.bucket.lock() {
            let at = Instant::now();
            let tokens = counting.as_ref().map_or(tokens, |b| b.tokens.min(tokens));
            *counting = Some(Bucket { tokens, at });
        }
    }

    /// Graph refused a `write` (or a read) with 429: every call of the kind waits
    /// `retry_after`; when the write quota is `spent`, Graph's bucket is empty whatever ours says.
    pub fn throttled(&self, write: bool, retry_after: Duration, spent: bool) {
        if spent {
            self.start_counting(0.0);
        }
        let until = Instant::now() + retry_after.min(MAX_PAUSE);
        if let Ok(mut paused) = self.paused_until.lock() {
            let slot = &mut paused[usize::from(!write)];
            *slot = Some(slot.map_or(until, |p| p.max(until)));
        }
    }

    /// Waits out the shared pause of writes (or reads), if one runs.
    pub async fn wait_pause(&self, write: bool) {
        let until = self.paused_until.lock().ok().and_then(|p| p[usize::from(!write)]);
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
    }
}
