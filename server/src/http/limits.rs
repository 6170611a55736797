//! Abuse limits on requests: per client address (every route but health and metrics) and per
//! authenticated API caller, each a token bucket (GCRA, the `governor` crate). Over a limit the
//! answer is 429 with `Retry-After`. Limits are per replica.
use std::{hash::Hash, net::IpAddr, num::NonZeroU32, time::Duration};

use actix_web::{
    Error,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use super::{AppState, problem::ApiError};
use crate::config::LimitSettings;

/// Keys kept before forgetting those whose buckets are full again.
const TIDY_ABOVE: usize = 10_000;

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_caller: Option<DefaultKeyedRateLimiter<String>>,
}

fn limiter<K: Hash + Eq + Clone>(per_second: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

/// `Ok`, or how many whole seconds to wait (at least 1).
fn check<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), u64> {
    if limiter.len() > TIDY_ABOVE {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait: Duration = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
    })
}

impl Limits {
    /// Zero for a rate turns that limit off.
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            per_ip: limiter(settings.per_ip_per_second, settings.per_ip_burst),
            per_caller: limiter(settings.per_caller_per_second, settings.per_caller_burst),
        }
    }

    pub fn check_caller(&self, upn: &str) -> Result<(), ApiError> {
        match &self.per_caller {
            Some(limiter) => check(limiter, &upn.to_owned())
                .map_err(|retry_after| ApiError::TooManyRequests { scope: "from this caller", retry_after }),
            None => Ok(()),
        }
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.per_ip {
            Some(limiter) => check(limiter, &ip)
                .map_err(|retry_after| ApiError::TooManyRequests { scope: "from this address", retry_after }),
            None => Ok(()),
        }
    }
}

/// Middleware: the per-address limit, before anything else runs.
pub async fn per_address(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let exempt = matches!(req.path(), "/healthz" | "/readyz" | "/metrics");
    let limited = match (exempt, req.app_data::<web::Data<AppState>>(), req.peer_addr()) {
        (false, Some(state), Some(peer)) => state.limits.check_ip(peer.ip()).err(),
        _ => None,
    };
    match limited {
        Some(refusal) => Ok(req.error_response(refusal).map_into_right_body()),
        None => next.call(req).await.map(ServiceResponse::map_into_left_body),
    }
}
