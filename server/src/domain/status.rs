//! The request lifecycle as an explicit state machine (README, "API": how requests move).
pub use entity::requests::RequestStatus;

/// Something that happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEvent {
    /// The last approval the rule needs was given (or the profile approves automatically).
    Approve,
    /// The same, for a window that opens later (`start_at` ahead): the request waits.
    Schedule,
    /// A scheduled request's window opened.
    Start,
    Deny,
    Cancel,
    /// Nobody decided before the profile's `decision_timeout`.
    Timeout,
    /// The directory confirmed the membership.
    Activate,
    /// The grant's window ran out.
    Expire,
    Revoke,
    /// The directory refused the membership for good.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request that is {from} cannot be {}", event.past_tense())]
pub struct TransitionError {
    pub from: RequestStatus,
    pub event: RequestEvent,
}

/// The request lifecycle's transitions: the one place that says which exist.
pub trait Lifecycle: Sized {
    fn on(self, event: RequestEvent) -> Result<Self, TransitionError>;
}

impl Lifecycle for RequestStatus {
    fn on(self, event: RequestEvent) -> Result<RequestStatus, TransitionError> {
        use RequestEvent as E;
        use RequestStatus as S;
        let next = match (self, event) {
            (S::Pending, E::Approve) => S::Approved,
            (S::Pending, E::Schedule) => S::Scheduled,
            (S::Scheduled, E::Start) => S::Approved,
            (S::Scheduled, E::Cancel) => S::Cancelled,
            (S::Scheduled, E::Revoke) => S::Revoked,
            // At its start, what the approval rested on no longer holds (the profile, the
            // requester's eligibility or directory object changed).
            (S::Scheduled, E::Fail) => S::Failed,
            // Its whole window passed before Elevate could open it (down all that time).
            (S::Scheduled, E::Expire) => S::Expired,
            (S::Pending, E::Deny) => S::Denied,
            (S::Pending, E::Cancel) => S::Cancelled,
            (S::Pending, E::Timeout) => S::TimedOut,
            (S::Approved, E::Activate) => S::Active,
            // An approved grant expires too when its window (opened at the first attempt to
            // add) ran out before the directory confirmed the membership.
            (S::Approved | S::Active, E::Expire) => S::Expired,
            (S::Approved | S::Active, E::Revoke) => S::Revoked,
            (S::Approved | S::Active, E::Fail) => S::Failed,
            (from, event) => return Err(TransitionError { from, event }),
        };
        Ok(next)
    }
}

impl RequestEvent {
    fn past_tense(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Schedule => "scheduled",
            Self::Start => "started",
            Self::Deny => "denied",
            Self::Cancel => "cancelled",
            Self::Timeout => "timed out",
            Self::Activate => "activated",
            Self::Expire => "expired",
            Self::Revoke => "revoked",
            Self::Fail => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Lifecycle, RequestEvent as E, RequestStatus as S};

    #[test]
    fn terminal_states_accept_no_event() {
        let events = [
            E::Approve,
            E::Schedule,
            E::Start,
            E::Deny,
            E::Cancel,
            E::Timeout,
            E::Activate,
            E::Expire,
            E::Revoke,
            E::Fail,
        ];
        for status in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in events {
                assert!(status.on(event).is_err(), "{status} accepted {event:?}");
            }
        }
    }

    #[test]
    fn happy_path_and_refusals() {
        assert_eq!(S::Pending.on(E::Approve), Ok(S::Approved));
        assert_eq!(S::Approved.on(E::Activate), Ok(S::Active));
        assert_eq!(S::Active.on(E::Expire), Ok(S::Expired));
        assert!(S::Active.on(E::Cancel).is_err());
        assert!(S::Pending.on(E::Revoke).is_err());
        assert_eq!(S::Pending.on(E::Schedule), Ok(S::Scheduled));
        assert_eq!(S::Scheduled.on(E::Start), Ok(S::Approved));
        assert!(S::Scheduled.on(E::Activate).is_err(), "a scheduled request activates only after its start");
        assert!(S::Approved.on(E::Start).is_err());
        let err = S::Cancelled.on(E::Approve).unwrap_err();
        assert_eq!(err.to_string(), "a request that is cancelled cannot be approved");
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
    }
}
